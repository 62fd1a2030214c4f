// SPDX-License-Identifier: Apache-2.0
#include "late_flush.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fake_pdns_api.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

using namespace std::chrono_literals;

class DelayedCacheFlusherTest : public ::testing::Test {
protected:
    testing::ManualClock clock_;
    testing::FakePdnsApi api_;
    DelayedCacheFlusher flusher_{api_, clock_, 250ms};  // never started: the test drives it
};

TEST_F(DelayedCacheFlusherTest, FlushesOnlyOnceDueAndOnlyOnce) {
    flusher_.schedule("a.example.");
    clock_.advance(100ms);
    flusher_.schedule("b.example.");
    const auto next = flusher_.flushDue();
    EXPECT_EQ(api_.count("flushCache"), 0);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next - clock_.steady(), 150ms);  // a.example. is due first

    clock_.advance(150ms);
    EXPECT_TRUE(flusher_.flushDue());  // b.example. still pending
    EXPECT_EQ(api_.calls(), std::vector<std::string>{"flushCache a.example."});
    EXPECT_EQ(flusher_.pending(), 1u);

    clock_.advance(100ms);
    EXPECT_FALSE(flusher_.flushDue());
    EXPECT_EQ(api_.count("flushCache"), 2);
    EXPECT_EQ(flusher_.pending(), 0u);
    EXPECT_FALSE(flusher_.flushDue());
    EXPECT_EQ(api_.count("flushCache"), 2);
}

// A zone applied again before its late flush: one flush, `delay` after the last apply.
TEST_F(DelayedCacheFlusherTest, ScheduledAgain_PostponedNotDoubled) {
    flusher_.schedule("a.example.");
    clock_.advance(200ms);
    flusher_.schedule("a.example.");
    clock_.advance(100ms);
    (void)flusher_.flushDue();
    EXPECT_EQ(api_.count("flushCache"), 0);
    clock_.advance(150ms);
    (void)flusher_.flushDue();
    EXPECT_EQ(api_.count("flushCache"), 1);
}

// A bootstrap's worth of zones due in one pass: one flush of the whole cache, not one per zone;
// a pass with fewer due flushes each zone.
TEST_F(DelayedCacheFlusherTest, ManyDueAtOnce_OneWholeCacheFlush) {
    for (size_t i = 0; i < DelayedCacheFlusher::kWholeCacheAt; ++i) {
        flusher_.schedule("z" + std::to_string(i) + ".example.");
    }
    clock_.advance(100ms);
    flusher_.schedule("late.example.");
    clock_.advance(150ms);
    EXPECT_TRUE(flusher_.flushDue());  // late.example. is not due yet
    EXPECT_EQ(api_.calls(), std::vector<std::string>{"flushCache ."});
    EXPECT_EQ(flusher_.pending(), 1u);

    clock_.advance(100ms);
    EXPECT_FALSE(flusher_.flushDue());
    EXPECT_EQ(api_.calls(), (std::vector<std::string>{"flushCache .", "flushCache late.example."}));
}

TEST_F(DelayedCacheFlusherTest, OneFewerThanTheThreshold_FlushedEach) {
    for (size_t i = 0; i + 1 < DelayedCacheFlusher::kWholeCacheAt; ++i) {
        flusher_.schedule("z" + std::to_string(i) + ".example.");
    }
    clock_.advance(250ms);
    EXPECT_FALSE(flusher_.flushDue());
    EXPECT_EQ(api_.count("flushCache"), static_cast<int>(DelayedCacheFlusher::kWholeCacheAt) - 1);
    const auto calls = api_.calls();
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "flushCache ."), 0);
}

TEST_F(DelayedCacheFlusherTest, FailedFlush_IsDroppedNotRetried) {
    api_.failNext("flushCache", common::Error{.message = "HTTP 500", .code = "http-500"});
    flusher_.schedule("a.example.");
    clock_.advance(250ms);
    EXPECT_FALSE(flusher_.flushDue());
    EXPECT_EQ(flusher_.pending(), 0u);
}

// The thread: started and stopped with a zone still pending (real time is not advanced by the
// manual clock, so nothing is due); stop() returns promptly and drops it.
TEST_F(DelayedCacheFlusherTest, StartStop_WithWorkPending) {
    flusher_.start();
    flusher_.schedule("a.example.");
    flusher_.stop();
    EXPECT_EQ(api_.count("flushCache"), 0);
    EXPECT_EQ(flusher_.pending(), 1u);
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
