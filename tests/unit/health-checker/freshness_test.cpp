// SPDX-License-Identifier: Apache-2.0
// DNSSEC freshness planning: weekly re-signing spread over a window and bounded by the old
// signatures' expiry, the weekly SOA-EDIT window, and RRSIG time arithmetic, on a manual clock.

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "freshness.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::health_checker {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

using TimePoint = system_clock::time_point;

/// A Thursday 00:00 UTC: the pdns 4.7 weekly signature boundary.
const TimePoint kThursday = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};

uint32_t rrsigTime(TimePoint t) {
    return static_cast<uint32_t>(
        std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
}

TimePoint atSeconds(int64_t secs) { return TimePoint{std::chrono::seconds{secs}}; }

std::string zoneName(int i) { return "zone" + std::to_string(i) + ".example."; }

class FreshnessTest : public ::testing::Test {
protected:
    FreshnessTest() { clock_.setSystem(kThursday + 10min); }

    /// Re-notes `count` zones as re-signed with old signatures expiring at `old_expiry`.
    void resignMany(int count, TimePoint old_expiry) {
        for (int i = 0; i < count; ++i) {
            planner_.noteResigned(zoneName(i), "apex-new-" + std::to_string(i),
                                  rrsigTime(old_expiry));
        }
    }

    /// Advances the clock slice by slice, draining what is due; returns the count per slice.
    std::vector<size_t> drainBySlice(std::chrono::hours slice, int slices) {
        std::vector<size_t> counts;
        for (int s = 0; s < slices; ++s) {
            clock_.advance(slice);
            counts.push_back(planner_.takeDue(std::numeric_limits<size_t>::max()).size());
        }
        return counts;
    }

    testing::ManualClock clock_;
    FreshnessPlanner planner_{FreshnessSettings{}, clock_};
};

TEST(SpreadOffsetTest, SpreadOffset_SameZone_StableBlake2bValue) {
    // Expected values from an independent BLAKE2b-128 (Python hashlib), first 8 bytes little
    // endian, modulo the window: the plan must not change between runs, builds or hosts.
    EXPECT_EQ(spreadOffset("example.org.", 72h), std::chrono::milliseconds{162916167});
    EXPECT_EQ(spreadOffset("a.", 1s), std::chrono::milliseconds{648});
    EXPECT_EQ(spreadOffset("example.org.", 72h), spreadOffset("example.org.", 72h));
}

TEST(SpreadOffsetTest, SpreadOffset_EmptyOrNegativeWindow_Zero) {
    EXPECT_EQ(spreadOffset("example.org.", 0ms), 0ms);
    EXPECT_EQ(spreadOffset("example.org.", -5ms), 0ms);
    EXPECT_EQ(spreadOffset("example.org.", 1ms), 0ms);
}

TEST(SpreadOffsetTest, SpreadOffset_ManyZones_WithinWindow) {
    const std::chrono::milliseconds window = 10s;
    for (int i = 0; i < 1000; ++i) {
        const auto offset = spreadOffset(zoneName(i), window);
        EXPECT_GE(offset, 0ms);
        EXPECT_LT(offset, window);
    }
}

TEST(ExpiryTimeTest, ExpiryTime_NearNow_FutureAndPast) {
    const TimePoint now = atSeconds(1'790'000'000) + 500ms;
    EXPECT_EQ(expiryTime(1'790'001'000U, now), atSeconds(1'790'001'000));
    EXPECT_EQ(expiryTime(1'789'999'000U, now), atSeconds(1'789'999'000));
}

TEST(ExpiryTimeTest, ExpiryTime_BeforeThe2106Wrap_ExpiryAfterItLiesInTheFuture) {
    constexpr int64_t kWrap = int64_t{1} << 32;  // 2106-02-07 06:28:16 UTC
    const TimePoint now = atSeconds(kWrap - 100);
    EXPECT_EQ(expiryTime(50U, now), atSeconds(kWrap + 50));
    EXPECT_EQ(expiryTime(static_cast<uint32_t>(kWrap - 200), now), atSeconds(kWrap - 200));
}

TEST(ExpiryTimeTest, ExpiryTime_AfterThe2106Wrap_ExpiryBeforeItLiesInThePast) {
    constexpr int64_t kWrap = int64_t{1} << 32;
    const TimePoint now = atSeconds(kWrap + 100);
    EXPECT_EQ(expiryTime(static_cast<uint32_t>(kWrap - 200), now), atSeconds(kWrap - 200));
    EXPECT_EQ(expiryTime(14U * 86400U, now), atSeconds(kWrap + int64_t{14} * 86400));
}

TEST(ExpiryTimeTest, ExpiryTime_HalfTheRingAway_EdgesFollowSerialArithmetic) {
    const int64_t now_secs = 1'790'000'000;
    const TimePoint now = atSeconds(now_secs);
    constexpr int64_t kHalf = int64_t{1} << 31;
    EXPECT_EQ(expiryTime(static_cast<uint32_t>(now_secs + kHalf - 1), now),
              atSeconds(now_secs + kHalf - 1));
    EXPECT_EQ(expiryTime(static_cast<uint32_t>(now_secs + kHalf), now),
              atSeconds(now_secs - kHalf));
}

TEST_F(FreshnessTest, NoteResigned_TenThousandZones_SpreadOverTheWindow) {
    constexpr int kZones = 10'000;
    const TimePoint start = clock_.system();
    const TimePoint old_expiry = kThursday + 14 * 24h;  // pdns 4.7: boundary + two weeks
    resignMany(kZones, old_expiry);
    ASSERT_EQ(planner_.pending(), static_cast<size_t>(kZones));
    for (int i = 0; i < kZones; ++i) {
        const auto due = planner_.dueAt(zoneName(i));
        ASSERT_TRUE(due.has_value());
        EXPECT_GE(*due, start);
        EXPECT_LT(*due, start + 72h);
        EXPECT_LE(*due, old_expiry - 72h);
    }

    const std::vector<size_t> counts = drainBySlice(1h, 72);
    const double average = static_cast<double>(kZones) / 72.0;
    size_t total = 0;
    for (size_t c : counts) {
        total += c;
        EXPECT_LE(static_cast<double>(c), 3.0 * average);
        EXPECT_GE(static_cast<double>(c), average / 3.0);
    }
    EXPECT_EQ(total, static_cast<size_t>(kZones));
    EXPECT_EQ(planner_.pending(), 0U);
}

TEST_F(FreshnessTest, NoteResigned_ExpirySoonerThanSpreadPlusMargin_SpreadBeforeDeadline) {
    constexpr int kZones = 10'000;
    const TimePoint start = clock_.system();
    const TimePoint old_expiry = start + 72h + 24h;  // deadline: one day from now
    resignMany(kZones, old_expiry);
    for (int i = 0; i < kZones; ++i) {
        const auto due = planner_.dueAt(zoneName(i));
        ASSERT_TRUE(due.has_value());
        EXPECT_LE(*due, old_expiry - 72h);
    }
    // Spread over the day that is left rather than piled up on the deadline.
    const std::vector<size_t> counts = drainBySlice(1h, 24);
    const double average = static_cast<double>(kZones) / 24.0;
    for (size_t c : counts) EXPECT_LE(static_cast<double>(c), 3.0 * average);
    EXPECT_EQ(planner_.pending(), 0U);
}

TEST_F(FreshnessTest, NoteResigned_ExpiryWithinMargin_DueImmediately) {
    const TimePoint now = clock_.system();
    planner_.noteResigned("soon.example.", "apex-soon", rrsigTime(now + 48h));
    planner_.noteResigned("expired.example.", "apex-expired", rrsigTime(now - 1h));
    planner_.noteResigned("edge.example.", "apex-edge", rrsigTime(now + 72h));
    EXPECT_EQ(planner_.dueAt("soon.example."), now);
    EXPECT_EQ(planner_.dueAt("expired.example."), now);
    EXPECT_EQ(planner_.dueAt("edge.example."), now);

    const auto due = planner_.takeDue(10);
    ASSERT_EQ(due.size(), 3U);
    std::vector<std::string> zones;
    zones.reserve(due.size());
    for (const auto& d : due) zones.push_back(d.zone);
    std::sort(zones.begin(), zones.end());
    EXPECT_EQ(zones,
              (std::vector<std::string>{"edge.example.", "expired.example.", "soon.example."}));
}

TEST_F(FreshnessTest, NoteResigned_ExpiryAcrossThe2106Wrap_NotTreatedAsExpired) {
    constexpr int64_t kWrap = int64_t{1} << 32;
    clock_.setSystem(atSeconds(kWrap - 86400));
    const TimePoint now = clock_.system();
    const uint32_t wrapped_expiry = 13U * 86400U;  // 14 days from now, past the wrap
    planner_.noteResigned("example.org.", "apex", wrapped_expiry);
    EXPECT_EQ(planner_.dueAt("example.org."), now + spreadOffset("example.org.", 72h));
}

TEST_F(FreshnessTest, NoteResigned_UnknownExpiry_SpreadOverADay) {
    const TimePoint now = clock_.system();
    for (int i = 0; i < 1000; ++i) {
        planner_.noteResigned(zoneName(i), "apex", std::nullopt);
        const auto due = planner_.dueAt(zoneName(i));
        ASSERT_TRUE(due.has_value());
        EXPECT_EQ(*due, now + spreadOffset(zoneName(i), 24h));
        EXPECT_LT(*due, now + 24h);
    }
}

TEST_F(FreshnessTest, TakeDue_NotYetDue_ReturnsNothingUntilDueTime) {
    const TimePoint now = clock_.system();
    planner_.noteResigned("example.org.", "apex-1", rrsigTime(now + 14 * 24h));
    const TimePoint due = *planner_.dueAt("example.org.");
    ASSERT_GT(due, now);  // the stable offset of this name is ~45 h

    clock_.setSystem(due - 1ms);
    EXPECT_TRUE(planner_.takeDue(10).empty());
    EXPECT_EQ(planner_.pending(), 1U);

    clock_.setSystem(due);
    const auto taken = planner_.takeDue(10);
    ASSERT_EQ(taken.size(), 1U);
    EXPECT_EQ(taken[0].zone, "example.org.");
    EXPECT_EQ(taken[0].apex, "apex-1");
    EXPECT_EQ(planner_.pending(), 0U);
    EXPECT_FALSE(planner_.dueAt("example.org.").has_value());
}

TEST_F(FreshnessTest, TakeDue_MoreDueThanMax_CapsEarliestFirst) {
    resignMany(100, clock_.system() + 14 * 24h);
    clock_.advance(72h);
    std::vector<TimePoint> due_times;
    due_times.reserve(100);
    for (int i = 0; i < 100; ++i) due_times.push_back(*planner_.dueAt(zoneName(i)));
    std::sort(due_times.begin(), due_times.end());

    const auto first = planner_.takeDue(30);
    ASSERT_EQ(first.size(), 30U);
    EXPECT_EQ(planner_.pending(), 70U);
    // Every zone still planned is due no earlier than those just taken.
    for (int i = 0; i < 100; ++i) {
        const auto due = planner_.dueAt(zoneName(i));
        if (due) {
            EXPECT_GE(*due, due_times[29]);
        }
    }
    EXPECT_TRUE(planner_.takeDue(0).empty());
    EXPECT_EQ(planner_.takeDue(1000).size(), 70U);
    EXPECT_EQ(planner_.pending(), 0U);
}

TEST_F(FreshnessTest, Forget_PlannedZone_NeverComesDue) {
    resignMany(3, clock_.system() + 14 * 24h);
    planner_.forget(zoneName(1));
    planner_.forget("unknown.example.");
    EXPECT_EQ(planner_.pending(), 2U);
    EXPECT_FALSE(planner_.dueAt(zoneName(1)).has_value());

    clock_.advance(72h);
    const auto taken = planner_.takeDue(10);
    ASSERT_EQ(taken.size(), 2U);
    for (const auto& d : taken) EXPECT_NE(d.zone, zoneName(1));
}

TEST_F(FreshnessTest, NoteResigned_SameApexAgain_KeepsFirstDueTime) {
    const TimePoint expiry = clock_.system() + 14 * 24h;
    planner_.noteResigned("example.org.", "apex-1", rrsigTime(expiry));
    const TimePoint first = *planner_.dueAt("example.org.");
    // Later reconcile passes see the same apex: the zone must not slide further out each time.
    for (int pass = 0; pass < 10; ++pass) {
        clock_.advance(1h);
        planner_.noteResigned("example.org.", "apex-1", rrsigTime(expiry));
        EXPECT_EQ(planner_.dueAt("example.org."), first);
    }
    EXPECT_EQ(planner_.pending(), 1U);
}

TEST_F(FreshnessTest, NoteResigned_SameApexWithCloserExpiry_MovesDueEarlier) {
    const TimePoint now = clock_.system();
    planner_.noteResigned("example.org.", "apex-1", std::nullopt);
    ASSERT_GT(*planner_.dueAt("example.org."), now);
    // A later pass learns that the nodes' signatures expire within the margin.
    clock_.advance(1min);
    planner_.noteResigned("example.org.", "apex-1", rrsigTime(now + 48h));
    EXPECT_EQ(planner_.dueAt("example.org."), now + 1min);
}

TEST_F(FreshnessTest, NoteResigned_DifferentApexLater_KeepsEarlierDueAndNewApex) {
    const TimePoint expiry = clock_.system() + 14 * 24h;
    planner_.noteResigned("example.org.", "apex-1", rrsigTime(expiry));
    const TimePoint first = *planner_.dueAt("example.org.");
    clock_.advance(1h);  // the same offset from a later now lands later
    planner_.noteResigned("example.org.", "apex-2", rrsigTime(expiry));
    EXPECT_EQ(planner_.dueAt("example.org."), first);

    clock_.setSystem(first);
    const auto taken = planner_.takeDue(10);
    ASSERT_EQ(taken.size(), 1U);
    EXPECT_EQ(taken[0].apex, "apex-2");
}

TEST_F(FreshnessTest, NoteResigned_DifferentApexSooner_MovesDueEarlier) {
    const TimePoint now = clock_.system();
    planner_.noteResigned("example.org.", "apex-1", rrsigTime(now + 14 * 24h));
    ASSERT_GT(*planner_.dueAt("example.org."), now);
    // The primary changed again, and the nodes' signatures turn out to expire within the margin.
    planner_.noteResigned("example.org.", "apex-2", rrsigTime(now + 24h));
    EXPECT_EQ(planner_.dueAt("example.org."), now);
    const auto taken = planner_.takeDue(10);
    ASSERT_EQ(taken.size(), 1U);
    EXPECT_EQ(taken[0].apex, "apex-2");
}

TEST_F(FreshnessTest, NoteWeeklySerialJump_ManyZones_SpreadOverSoaEditWindow) {
    constexpr int kZones = 2400;
    const TimePoint now = clock_.system();
    for (int i = 0; i < kZones; ++i) planner_.noteWeeklySerialJump(zoneName(i), "apex");
    for (int i = 0; i < kZones; ++i) {
        EXPECT_EQ(planner_.dueAt(zoneName(i)), now + spreadOffset(zoneName(i), 24h));
    }
    const std::vector<size_t> counts = drainBySlice(1h, 24);
    const double average = static_cast<double>(kZones) / 24.0;
    for (size_t c : counts) {
        EXPECT_LE(static_cast<double>(c), 3.0 * average);
        EXPECT_GE(static_cast<double>(c), average / 3.0);
    }
    EXPECT_EQ(planner_.pending(), 0U);
}

TEST_F(FreshnessTest, NoteWeeklySerialJump_SameApexAgain_KeepsFirstDueTime) {
    planner_.noteWeeklySerialJump("example.org.", "apex-1");
    const TimePoint first = *planner_.dueAt("example.org.");
    clock_.advance(2h);
    planner_.noteWeeklySerialJump("example.org.", "apex-1");
    EXPECT_EQ(planner_.dueAt("example.org."), first);
}

TEST_F(FreshnessTest, InWeeklyWindow_AroundThursdayBoundary_OnlyTheDayAfter) {
    ASSERT_EQ(std::chrono::weekday{std::chrono::floor<std::chrono::days>(kThursday)},
              std::chrono::Thursday);
    clock_.setSystem(kThursday - 1s);
    EXPECT_FALSE(planner_.inWeeklyWindow());
    clock_.setSystem(kThursday - 6 * 24h);  // Friday: a day after the previous boundary
    EXPECT_FALSE(planner_.inWeeklyWindow());
    clock_.setSystem(kThursday);
    EXPECT_TRUE(planner_.inWeeklyWindow());
    clock_.setSystem(kThursday + 23h + 59min + 59s);
    EXPECT_TRUE(planner_.inWeeklyWindow());
    clock_.setSystem(kThursday + 24h);
    EXPECT_FALSE(planner_.inWeeklyWindow());
    clock_.setSystem(kThursday + 7 * 24h + 1h);  // the next Thursday
    EXPECT_TRUE(planner_.inWeeklyWindow());
}

TEST(FreshnessSettingsTest, InWeeklyWindow_WiderSoaEditSpread_FollowsSetting) {
    testing::ManualClock clock;
    const FreshnessPlanner planner(
        FreshnessSettings{.spread = 72h, .expiry_margin = 72h, .soa_edit_spread = 48h}, clock);
    clock.setSystem(kThursday + 30h);
    EXPECT_TRUE(planner.inWeeklyWindow());
    clock.setSystem(kThursday + 48h);
    EXPECT_FALSE(planner.inWeeklyWindow());
}

TEST_F(FreshnessTest, Planner_ConcurrentNotesAndTakes_EveryZoneTakenOnce) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 500;
    clock_.advance(1h);
    const TimePoint expired = clock_.system() - 1h;  // everything due at once
    std::vector<size_t> taken(kThreads, 0);
    {
        std::vector<std::jthread> threads;
        threads.reserve(kThreads);
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([this, t, expired, &taken] {
                for (int i = 0; i < kPerThread; ++i) {
                    planner_.noteResigned(zoneName(t * kPerThread + i), "apex", rrsigTime(expired));
                    taken[static_cast<size_t>(t)] += planner_.takeDue(3).size();
                }
            });
        }
    }
    size_t total = planner_.takeDue(std::numeric_limits<size_t>::max()).size();
    for (size_t n : taken) total += n;
    EXPECT_EQ(total, static_cast<size_t>(kThreads * kPerThread));
    EXPECT_EQ(planner_.pending(), 0U);
}

}  // namespace
}  // namespace pdns_distribute::health_checker
