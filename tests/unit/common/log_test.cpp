// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <stdexcept>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/log.hpp>

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;
using Tp = std::chrono::steady_clock::time_point;

TEST(LogLimiter, First_Passes) {
    LogLimiter l(1s);
    uint64_t suppressed = 99;
    EXPECT_TRUE(l.allowAt(Tp{} + 100s, &suppressed));
    EXPECT_EQ(suppressed, 0U);
}

TEST(LogLimiter, WithinInterval_SuppressedAndCounted) {
    LogLimiter l(1s);
    const Tp t0 = Tp{} + 100s;
    EXPECT_TRUE(l.allowAt(t0));
    EXPECT_FALSE(l.allowAt(t0 + 1ms));
    EXPECT_FALSE(l.allowAt(t0 + 500ms));
    EXPECT_FALSE(l.allowAt(t0 + 999ms));
    uint64_t suppressed = 0;
    EXPECT_TRUE(l.allowAt(t0 + 1s, &suppressed));
    EXPECT_EQ(suppressed, 3U);
}

TEST(LogLimiter, AfterPass_CountResets) {
    LogLimiter l(1s);
    const Tp t0 = Tp{} + 100s;
    EXPECT_TRUE(l.allowAt(t0));
    EXPECT_FALSE(l.allowAt(t0 + 1ms));
    EXPECT_TRUE(l.allowAt(t0 + 2s));
    uint64_t suppressed = 7;
    EXPECT_TRUE(l.allowAt(t0 + 4s, &suppressed));
    EXPECT_EQ(suppressed, 0U);
}

TEST(LogLimiter, IntervalMeasuredFromLastPass) {
    LogLimiter l(1s);
    const Tp t0 = Tp{} + 100s;
    EXPECT_TRUE(l.allowAt(t0));
    EXPECT_TRUE(l.allowAt(t0 + 1500ms));
    EXPECT_FALSE(l.allowAt(t0 + 2s));  // only 500 ms after the last pass
}

TEST(LogLimiter, RealClock_SecondCallSuppressed) {
    LogLimiter l(1h);
    EXPECT_TRUE(l.allow());
    EXPECT_FALSE(l.allow());
}

TEST(SetupLogging, UnknownLevel_Throws) {
    EXPECT_THROW(setupLogging("t", LogSettings{.level = "verbose", .format = "text"}),
                 std::runtime_error);
}

TEST(SetupLogging, UnknownFormat_Throws) {
    EXPECT_THROW(setupLogging("t", LogSettings{.level = "info", .format = "xml"}),
                 std::runtime_error);
}

TEST(SetupLogging, Valid_InstallsNamedLoggerAtLevel) {
    setupLogging("pdns-test-daemon", LogSettings{.level = "warn", .format = "json"});
    EXPECT_EQ(spdlog::default_logger()->name(), "pdns-test-daemon");
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
    setupLogging("pdns-test-daemon", LogSettings{.level = "debug", .format = "text"});
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
}

TEST(SetupLogging, Json_OneEscapedObjectPerLine) {
    setupLogging("jd", LogSettings{.level = "info", .format = "json"});
    ::testing::internal::CaptureStderr();
    spdlog::info("zone 'a\"b' line\nnext");
    const std::string out = ::testing::internal::GetCapturedStderr();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back(), '\n');
    EXPECT_EQ(out.find('\n'), out.size() - 1);  // exactly one line
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j.at("level"), "info");
    EXPECT_EQ(j.at("logger"), "jd");
    EXPECT_EQ(j.at("msg"), "zone 'a\"b' line\nnext");
    EXPECT_TRUE(j.at("time").get<std::string>().ends_with("Z"));
}

}  // namespace
}  // namespace pdns_distribute::common
