// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/zone_event.hpp>

#include <ctime>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point utc(int year, int month, int day, int hour, int minute,
                                          int second) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

TEST(ParseRfc3339, WithAndWithoutMillis_Parses) {
    EXPECT_EQ(parseRfc3339("2026-11-26T13:04:55Z"), utc(2026, 11, 26, 13, 4, 55));
    EXPECT_EQ(parseRfc3339("2026-11-26T13:04:55.123Z"), utc(2026, 11, 26, 13, 4, 55) + 123ms);
}

TEST(ParseRfc3339, RoundTripOfRfc3339Millis_GivesSameTime) {
    const auto t = utc(2031, 2, 3, 4, 5, 6) + 789ms;
    EXPECT_EQ(parseRfc3339(rfc3339Millis(t)), t);
}

// Found by fuzz_zone_key: strptime takes any year 0..9999, but system_clock (nanoseconds in 64
// bits) only spans 1678..2262; from_time_t overflowed (undefined behaviour) instead of refusing.
TEST(ParseRfc3339, YearOutsideClockRange_Refused) {
    EXPECT_FALSE(parseRfc3339("2-11-26T13:04:55Z"));
    EXPECT_FALSE(parseRfc3339("0001-01-01T00:00:00Z"));
    EXPECT_FALSE(parseRfc3339("1677-01-01T00:00:00Z"));
    EXPECT_FALSE(parseRfc3339("2263-01-01T00:00:00Z"));
    EXPECT_FALSE(parseRfc3339("9999-12-31T23:59:59.999Z"));
    EXPECT_EQ(parseRfc3339("1678-01-01T00:00:00Z"), utc(1678, 1, 1, 0, 0, 0));
    EXPECT_EQ(parseRfc3339("2262-01-01T00:00:00Z"), utc(2262, 1, 1, 0, 0, 0));
}

TEST(ParseRfc3339, TextAfterEmbeddedNul_Refused) {
    EXPECT_FALSE(parseRfc3339(std::string("2026-11-26T13:04:55Z\0junk", 25)));
    EXPECT_FALSE(parseRfc3339("2026-11-26T13:04:55Zjunk"));
    EXPECT_FALSE(parseRfc3339("2026-11-26T13:04:55"));
}

TEST(ParseZoneEvent, SerializedEvent_ParsesBack) {
    const ZoneEvent e{.zone = "example.org.",
                      .op = ZoneOp::Delete,
                      .serial = 42,
                      .apex = "00112233445566778899aabbccddeeff",
                      .cause = EventCause::Resync,
                      .at = "2026-11-26T13:04:55.123Z"};
    const auto parsed = parseZoneEvent(serializeZoneEvent(e));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->zone, e.zone);
    EXPECT_EQ(parsed->op, e.op);
    EXPECT_EQ(parsed->serial, e.serial);
    EXPECT_EQ(parsed->apex, e.apex);
    EXPECT_EQ(parsed->cause, e.cause);
    EXPECT_EQ(parsed->at, e.at);
}

// Found by fuzz_zone_key: nlohmann's get<int>() casts a float that does not fit (undefined
// behaviour), so numbers must be type-checked first.
TEST(ParseZoneEvent, VersionNotTheInteger1_Refused) {
    for (const char* v : {"1e300", "1.0", "-1", "2", "\"1\"", "18446744073709551617"}) {
        const auto parsed =
            parseZoneEvent(fmt::format(R"({{"v":{},"zone":"example.org.","op":"upsert"}})", v));
        ASSERT_FALSE(parsed) << v;
        EXPECT_EQ(parsed.error().message, "unsupported zone event version") << v;
    }
    EXPECT_FALSE(parseZoneEvent(R"({"zone":"example.org.","op":"upsert"})"));
}

TEST(ParseZoneEvent, SerialNotAnInteger_Refused) {
    for (const char* serial : {"1e300", "-1e300", "42.5", "\"42\"", "true"}) {
        EXPECT_FALSE(parseZoneEvent(
            fmt::format(R"({{"v":1,"zone":"example.org.","op":"upsert","serial":{}}})", serial)))
            << serial;
    }
    for (const char* serial : {"-1", "4294967296", "18446744073709551615"}) {
        EXPECT_FALSE(parseZoneEvent(
            fmt::format(R"({{"v":1,"zone":"example.org.","op":"upsert","serial":{}}})", serial)))
            << serial;
    }
    const auto max =
        parseZoneEvent(R"({"v":1,"zone":"example.org.","op":"upsert","serial":4294967295})");
    ASSERT_TRUE(max) << max.error().message;
    EXPECT_EQ(max->serial, 4294967295U);
}

TEST(ZoneEventContentTest, ContentAndExpiryRoundTripAndAreOptional) {
    ZoneEvent e{.zone = "a.test.",
                .op = ZoneOp::Upsert,
                .serial = 3,
                .apex = "ab",
                .cause = EventCause::Reconcile,
                .at = "2026-11-26T10:00:00.000Z",
                .content = "cd",
                .expiry = 4000000000u};
    auto back = parseZoneEvent(serializeZoneEvent(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->content, "cd");
    EXPECT_EQ(back->expiry, 4000000000u);
    e.content.reset();
    e.expiry.reset();
    const auto text = serializeZoneEvent(e);
    EXPECT_EQ(text.find("content"), std::string::npos);
    back = parseZoneEvent(text);
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->content);
    EXPECT_FALSE(back->expiry);
    // An out-of-range expiry is ignored, not wrapped.
    back = parseZoneEvent(R"({"v":1,"zone":"a.","op":"upsert","serial":null,"expiry":4294967296})");
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->expiry);
}

}  // namespace
}  // namespace pdns_distribute::common
