// SPDX-License-Identifier: Apache-2.0
#include "lanes.hpp"

#include <array>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "manual_clock.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

using namespace std::chrono_literals;

class FakeDelivery final : public common::Delivery {
public:
    explicit FakeDelivery(std::string msg_id) {
        message_.headers.emplace_back("Nats-Msg-Id", std::move(msg_id));
    }
    [[nodiscard]] const common::BusMessage& message() const override { return message_; }
    [[nodiscard]] uint64_t streamSequence() const override { return 1; }
    [[nodiscard]] uint64_t deliveryCount() const override { return 1; }
    [[nodiscard]] uint64_t pendingBehind() const override { return 0; }
    common::Status ack() override { return {}; }
    common::Status nak(std::chrono::milliseconds /*delay*/) override { return {}; }
    common::Status term() override { return {}; }
    common::Status inProgress() override { return {}; }

private:
    common::BusMessage message_;
};

common::ZoneEvent event(const std::string& zone, const std::string& at,
                        common::ZoneOp op = common::ZoneOp::Upsert,
                        common::EventCause cause = common::EventCause::Api) {
    return common::ZoneEvent{.zone = zone,
                             .op = op,
                             .serial = std::nullopt,
                             .apex = std::nullopt,
                             .cause = cause,
                             .at = at};
}

constexpr const char* kT1 = "2026-01-01T00:00:01.000Z";
constexpr const char* kT2 = "2026-01-01T00:00:02.000Z";
constexpr const char* kT3 = "2026-01-01T00:00:03.000Z";

class LaneSchedulerTest : public ::testing::Test {
protected:
    // A stream event with its delivery, as the durable consumer hands it over.
    void stream(const std::string& zone, const std::string& msg_id, const char* at = kT1,
                common::ZoneOp op = common::ZoneOp::Upsert) {
        lanes_.add(event(zone, at, op), EventSource::Stream, msg_id,
                   std::make_shared<FakeDelivery>(msg_id));
    }
    void priority(const std::string& zone, const std::string& msg_id, const char* at = kT1,
                  common::ZoneOp op = common::ZoneOp::Upsert) {
        lanes_.add(event(zone, at, op), EventSource::Priority, msg_id);
    }
    std::optional<LaneJob> take(Lane lane) { return lanes_.take(lane, {}, 0ms); }

    testing::ManualClock clock_;
    LaneScheduler lanes_{clock_, LaneSettings{.dedup_ttl = 10min, .dedup_capacity = 1000}};
};

TEST_F(LaneSchedulerTest, PriorityEvent_OvertakesLongBulkQueue) {
    for (int i = 0; i < 5000; ++i) {
        stream("bulk" + std::to_string(i) + ".test.", "c.hk." + std::to_string(i));
    }
    priority("hot.test.", "proxy-a.1");
    EXPECT_EQ(lanes_.depth(Lane::Priority), 1u);
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 5000u);
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->zone, "hot.test.");
    EXPECT_EQ(job->lane, Lane::Priority);
    EXPECT_EQ(job->source, EventSource::Priority);
    EXPECT_EQ(job->msg_id, "proxy-a.1");
    EXPECT_TRUE(job->deliveries.empty());
    EXPECT_FALSE(job->covered);
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 5000u);
}

TEST_F(LaneSchedulerTest, EachLane_TakesOnlyItsOwnQueue) {
    priority("hot.test.", "proxy-a.1");
    EXPECT_FALSE(take(Lane::Bulk));
    stream("cold.test.", "c.hk.1");
    auto hot = take(Lane::Priority);
    ASSERT_TRUE(hot);
    EXPECT_EQ(hot->zone, "hot.test.");
    auto bulk = take(Lane::Bulk);
    ASSERT_TRUE(bulk);
    EXPECT_EQ(bulk->zone, "cold.test.");
    EXPECT_FALSE(take(Lane::Priority));
}

TEST_F(LaneSchedulerTest, ZoneBusyInBulk_PriorityEventWaitsThenGoesNextInPriorityLane) {
    stream("z.test.", "c.hk.1", kT1);
    for (int i = 0; i < 10; ++i) stream("o" + std::to_string(i) + ".test.", "c.hk.x");
    auto bulk = take(Lane::Bulk);
    ASSERT_TRUE(bulk);
    ASSERT_EQ(bulk->zone, "z.test.");
    priority("z.test.", "proxy-a.9", kT2);
    EXPECT_FALSE(take(Lane::Priority)) << "one zone, two workers";
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 10u);
    lanes_.finish(*bulk, true);
    auto next = take(Lane::Priority);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->zone, "z.test.");
    EXPECT_EQ(next->msg_id, "proxy-a.9");
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 10u);
}

TEST_F(LaneSchedulerTest, ZoneBusyInPriority_StreamEventWaits) {
    priority("z.test.", "proxy-a.1", kT1);
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    stream("z.test.", "c.hk.5", kT2);
    EXPECT_FALSE(take(Lane::Bulk));
    EXPECT_TRUE(lanes_.contains("z.test."));
    lanes_.finish(*job, true);
    auto next = take(Lane::Bulk);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->msg_id, "c.hk.5");
    EXPECT_FALSE(next->covered);
    lanes_.finish(*next, true);
    EXPECT_FALSE(lanes_.contains("z.test."));
}

TEST_F(LaneSchedulerTest, ZoneQueuedInBulk_IsPromotedWithItsDeliveries) {
    stream("a.test.", "c.hk.1");
    stream("b.test.", "c.hk.2");
    stream("c.test.", "c.hk.3");
    priority("b.test.", "proxy-a.4", kT2);
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 2u);
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->zone, "b.test.");
    EXPECT_EQ(job->msg_id, "proxy-a.4");
    EXPECT_EQ(job->deliveries.size(), 1u) << "the older stream message settles with it";
    auto first = take(Lane::Bulk);
    auto second = take(Lane::Bulk);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->zone, "a.test.");
    EXPECT_EQ(second->zone, "c.test.");
    EXPECT_FALSE(take(Lane::Bulk));
}

TEST_F(LaneSchedulerTest, StreamCopyOfAppliedPriorityMessage_IsCoveredAndRidesThePriorityLane) {
    for (int i = 0; i < 100; ++i) stream("o" + std::to_string(i) + ".test.", "c.hk.x");
    priority("z.test.", "proxy-a.7");
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    lanes_.finish(*job, true);
    stream("z.test.", "proxy-a.7");
    EXPECT_EQ(lanes_.depth(Lane::Bulk), 100u);
    auto dup = take(Lane::Priority);
    ASSERT_TRUE(dup);
    EXPECT_EQ(dup->source, EventSource::Stream);
    EXPECT_TRUE(dup->covered);
    EXPECT_EQ(dup->deliveries.size(), 1u);
}

TEST_F(LaneSchedulerTest, StreamCopyArrivingWhileThePriorityApplyRuns_WaitsAndIsCovered) {
    priority("z.test.", "proxy-a.7");
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    stream("z.test.", "proxy-a.7");
    EXPECT_FALSE(take(Lane::Priority));
    EXPECT_FALSE(take(Lane::Bulk));
    lanes_.finish(*job, true);
    EXPECT_FALSE(take(Lane::Bulk));
    auto dup = take(Lane::Priority);
    ASSERT_TRUE(dup);
    EXPECT_TRUE(dup->covered);
    EXPECT_EQ(dup->deliveries.size(), 1u);
}

TEST_F(LaneSchedulerTest, FailedPriorityApply_LeavesTheStreamDeliveryToDoTheWork) {
    priority("z.test.", "proxy-a.7");
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    lanes_.finish(*job, false);
    EXPECT_FALSE(lanes_.contains("z.test."));
    stream("z.test.", "proxy-a.7");
    EXPECT_FALSE(take(Lane::Priority));
    auto bulk = take(Lane::Bulk);
    ASSERT_TRUE(bulk);
    EXPECT_FALSE(bulk->covered);
    EXPECT_EQ(bulk->deliveries.size(), 1u);
}

TEST_F(LaneSchedulerTest, FailedPriorityApply_StreamCopyArrivedMeanwhile_GoesToBulkUncovered) {
    priority("z.test.", "proxy-a.7");
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    stream("z.test.", "proxy-a.7");
    lanes_.finish(*job, false);
    EXPECT_FALSE(take(Lane::Priority));
    auto bulk = take(Lane::Bulk);
    ASSERT_TRUE(bulk);
    EXPECT_FALSE(bulk->covered);
}

TEST_F(LaneSchedulerTest, BulkApplied_CoreCopyArrivingLater_IsCoveredInThePriorityLane) {
    stream("z.test.", "proxy-a.7");
    auto job = take(Lane::Bulk);
    ASSERT_TRUE(job);
    lanes_.finish(*job, true);
    priority("z.test.", "proxy-a.7");
    auto copy = take(Lane::Priority);
    ASSERT_TRUE(copy);
    EXPECT_TRUE(copy->covered) << "the priority lane would apply the same change again";
    lanes_.finish(*copy, true);
    // A failed bulk apply records nothing: the core copy then does the work.
    stream("y.test.", "proxy-a.9");
    auto failed = take(Lane::Bulk);
    ASSERT_TRUE(failed);
    lanes_.finish(*failed, false);
    priority("y.test.", "proxy-a.9");
    auto retry = take(Lane::Priority);
    ASSERT_TRUE(retry);
    EXPECT_FALSE(retry->covered);
}

TEST_F(LaneSchedulerTest, OlderStreamMessageOfTheSamePublisher_IsCovered_OthersAreNot) {
    priority("z.test.", "proxy-a.7");
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    lanes_.finish(*job, true);
    for (const auto* id : {"proxy-a.7", "proxy-a.3"}) {
        stream("z.test.", id);
        auto j = take(Lane::Priority);
        ASSERT_TRUE(j) << id;
        EXPECT_TRUE(j->covered) << id;
        lanes_.finish(*j, true);
    }
    for (const auto* id : {"proxy-a.8", "proxy-b.3", "checker.1", ""}) {
        stream("z.test.", id);
        auto j = take(Lane::Bulk);
        ASSERT_TRUE(j) << id;
        EXPECT_FALSE(j->covered) << id;
        lanes_.finish(*j, true);
    }
    stream("other.test.", "proxy-a.7");
    auto other = take(Lane::Bulk);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->covered) << "remembered per zone";
}

TEST_F(LaneSchedulerTest, OlderStreamEvent_DoesNotReplaceANewerPriorityEvent) {
    priority("z.test.", "proxy-a.8", kT2, common::ZoneOp::Delete);
    stream("z.test.", "proxy-a.7", kT1, common::ZoneOp::Upsert);
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->event.op, common::ZoneOp::Delete);
    EXPECT_EQ(job->msg_id, "proxy-a.8");
    EXPECT_EQ(job->deliveries.size(), 1u);
}

TEST_F(LaneSchedulerTest, NewerStreamEvent_ReplacesAnOlderPriorityEvent) {
    priority("z.test.", "proxy-a.7", kT1, common::ZoneOp::Upsert);
    stream("z.test.", "proxy-a.8", kT3, common::ZoneOp::Delete);
    auto job = take(Lane::Priority);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->event.op, common::ZoneOp::Delete);
    EXPECT_EQ(job->source, EventSource::Stream);
}

TEST_F(LaneSchedulerTest, SyntheticEvents_NeverReplaceRealOnes_PriorityReplacesThem) {
    stream("a.test.", "c.hk.1", kT1, common::ZoneOp::Delete);
    lanes_.add(event("a.test.", "", common::ZoneOp::Upsert, common::EventCause::Resync),
               EventSource::Sweep);
    lanes_.add(event("b.test.", "", common::ZoneOp::Upsert, common::EventCause::Resync),
               EventSource::Parking);
    priority("b.test.", "proxy-a.2", kT1, common::ZoneOp::Delete);
    auto a = take(Lane::Bulk);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->event.op, common::ZoneOp::Delete);
    EXPECT_EQ(a->source, EventSource::Stream);
    EXPECT_FALSE(take(Lane::Bulk));
    auto b = take(Lane::Priority);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->source, EventSource::Priority);
    EXPECT_EQ(b->event.op, common::ZoneOp::Delete);
}

TEST_F(LaneSchedulerTest, HeldDeliveries_CountedUntilFinished_ClearReturnsTheUntaken) {
    stream("a.test.", "c.hk.1");
    stream("a.test.", "c.hk.2");
    stream("b.test.", "c.hk.3");
    EXPECT_EQ(lanes_.heldDeliveries(), 3u);
    auto a = take(Lane::Bulk);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->deliveries.size(), 2u);
    EXPECT_EQ(lanes_.heldDeliveries(), 3u);
    EXPECT_EQ(lanes_.deliveries().size(), 3u);
    lanes_.finish(*a, true);
    EXPECT_EQ(lanes_.heldDeliveries(), 1u);
    EXPECT_EQ(lanes_.clear().size(), 1u);
    EXPECT_EQ(lanes_.heldDeliveries(), 0u);
    EXPECT_FALSE(take(Lane::Bulk));
}

TEST_F(LaneSchedulerTest, Take_ReturnsAtOnceWhenStopIsRequested) {
    std::stop_source stop;
    stop.request_stop();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(lanes_.take(Lane::Bulk, stop.get_token(), 30s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(LaneSchedulerTest, ConcurrentWorkers_NeverHoldOneZoneTwice) {
    constexpr int kZones = 16;
    std::array<std::atomic<int>, kZones> busy{};
    std::atomic<int> overlaps{0};
    std::atomic<int> done{0};
    auto worker = [&](Lane lane, const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto job = lanes_.take(lane, st, 20ms);
            if (!job) continue;
            const int z = std::stoi(job->zone.substr(1));
            if (busy[static_cast<size_t>(z)].fetch_add(1) != 0) ++overlaps;
            std::this_thread::yield();
            busy[static_cast<size_t>(z)].fetch_sub(1);
            lanes_.finish(*job, true);
            ++done;
        }
    };
    {
        std::vector<std::jthread> workers;
        workers.reserve(6);
        for (int i = 0; i < 2; ++i) {
            workers.emplace_back([&](const std::stop_token& st) { worker(Lane::Priority, st); });
        }
        for (int i = 0; i < 4; ++i) {
            workers.emplace_back([&](const std::stop_token& st) { worker(Lane::Bulk, st); });
        }
        for (int i = 0; i < 20000; ++i) {
            const auto zone = "z" + std::to_string(i % kZones);
            const auto id = "p." + std::to_string(i);
            if (i % 3 == 0) {
                priority(zone, id, kT2);
            } else {
                stream(zone, id, kT2);
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while ((lanes_.heldDeliveries() > 0 || lanes_.depth(Lane::Priority) > 0 ||
                lanes_.depth(Lane::Bulk) > 0) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
        }
    }
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_GT(done.load(), 0);
    EXPECT_EQ(lanes_.heldDeliveries(), 0u);
}

TEST(AppliedMsgIdsTest, ForgetsAfterTtl) {
    testing::ManualClock clock;
    AppliedMsgIds ids(clock, 10min, 100);
    ids.remember("z.test.", "proxy-a.7");
    clock.advance(9min);
    EXPECT_TRUE(ids.covers("z.test.", "proxy-a.7"));
    clock.advance(1min);
    EXPECT_FALSE(ids.covers("z.test.", "proxy-a.7"));
    EXPECT_EQ(ids.size(), 0u);
}

TEST(AppliedMsgIdsTest, BoundedInSize_OldestGoFirst) {
    testing::ManualClock clock;
    AppliedMsgIds ids(clock, 10min, 3);
    for (int i = 0; i < 5; ++i) {
        ids.remember("z" + std::to_string(i), "p." + std::to_string(i));
        clock.advance(1s);
    }
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_FALSE(ids.covers("z0", "p.0"));
    EXPECT_FALSE(ids.covers("z1", "p.1"));
    EXPECT_TRUE(ids.covers("z4", "p.4"));
    // Remembering a zone again keeps its newest entry when the older one is evicted.
    ids.remember("z2", "p.9");
    ids.remember("z5", "p.5");
    ids.remember("z6", "p.6");
    EXPECT_TRUE(ids.covers("z2", "p.9"));
}

TEST(AppliedMsgIdsTest, OddMessageIds_OnlyMatchExactly) {
    testing::ManualClock clock;
    AppliedMsgIds ids(clock, 10min, 10);
    ids.remember("z", "no-counter");
    EXPECT_TRUE(ids.covers("z", "no-counter"));
    EXPECT_FALSE(ids.covers("z", "no-counter.1"));
    ids.remember("z", "a.12x");
    EXPECT_FALSE(ids.covers("z", "a.1"));
    ids.remember("z", ".5");
    EXPECT_FALSE(ids.covers("z", ".4"));
    EXPECT_FALSE(ids.covers("z", ""));
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
