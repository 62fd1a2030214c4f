// SPDX-License-Identifier: Apache-2.0
#include "parking.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "manual_clock.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

using namespace std::chrono_literals;

class ParkingTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("pdd-parking-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    testing::ManualClock clock_;
};

TEST_F(ParkingTest, Park_DueOnlyAfterBackoff_ThenHandedOutOnce) {
    ParkingTable t(dir_ / "parked.json", clock_, 5s, 60s);
    t.park("a.test.", common::ZoneOp::Upsert, "boom");
    EXPECT_TRUE(t.takeDue().empty());
    clock_.advance(5s);
    auto due = t.takeDue();
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].zone, "a.test.");
    EXPECT_EQ(due[0].last_error, "boom");
    EXPECT_TRUE(t.takeDue().empty());
}

TEST_F(ParkingTest, Park_Repeated_BackoffDoublesUpToCap) {
    ParkingTable t({}, clock_, 5s, 12s);
    t.park("a.test.", common::ZoneOp::Upsert, "1");
    t.park("a.test.", common::ZoneOp::Upsert, "2");  // attempts 2: 10 s
    clock_.advance(9s);
    EXPECT_TRUE(t.takeDue().empty());
    clock_.advance(1s);
    EXPECT_EQ(t.takeDue().size(), 1u);
    t.park("a.test.", common::ZoneOp::Upsert, "3");  // attempts 3: 20 s capped at 12 s
    clock_.advance(12s);
    EXPECT_EQ(t.takeDue().size(), 1u);
}

TEST_F(ParkingTest, Persisted_ReloadedAfterRestart) {
    {
        ParkingTable t(dir_ / "parked.json", clock_, 5s, 60s);
        t.park("a.test.", common::ZoneOp::Delete, "budget");
        t.park("b.test.", common::ZoneOp::Upsert, "x");
        EXPECT_TRUE(t.clear("b.test."));
    }
    ParkingTable t(dir_ / "parked.json", clock_, 5s, 60s);
    t.load();
    auto all = t.all();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].zone, "a.test.");
    EXPECT_EQ(all[0].op, common::ZoneOp::Delete);
    EXPECT_EQ(all[0].last_error, "budget");
}

TEST_F(ParkingTest, CorruptFile_MovedAsideAndStartsEmpty) {
    {
        std::ofstream out(dir_ / "parked.json");
        out << "{not json";
    }
    ParkingTable t(dir_ / "parked.json", clock_, 5s, 60s);
    t.load();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(std::filesystem::exists(dir_ / "parked.json.corrupt"));
}

TEST_F(ParkingTest, OutOfRangeNumbers_EntrySkippedOthersKept) {
    {
        std::ofstream out(dir_ / "parked.json");
        out << R"({"zones":[)"
            << R"({"zone":"neg.test.","op":"upsert","attempts":-5,"next_attempt":0,"last_error":""},)"
            << R"({"zone":"huge.test.","op":"upsert","attempts":1,"next_attempt":1e300,"last_error":""},)"
            << R"({"zone":"far.test.","op":"upsert","attempts":1,"next_attempt":9223372036854775807,"last_error":""},)"
            << R"({"zone":"ok.test.","op":"delete","attempts":2,"next_attempt":0,"last_error":"e"}]})";
    }
    ParkingTable t(dir_ / "parked.json", clock_, 5s, 60s);
    t.load();
    auto all = t.all();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].zone, "ok.test.");
    // The kept entry still parks and backs off normally.
    t.park("ok.test.", common::ZoneOp::Delete, "again");
    EXPECT_EQ(t.all()[0].attempts, 3);
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
