// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <pdns_distribute/common/zone_event.hpp>

#include "event_publisher.hpp"
#include "fake_stream_publisher.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using common::ZoneOp;
using std::chrono::milliseconds;

constexpr milliseconds kInitial{100};
constexpr milliseconds kMax{1600};

class EventPublisherTest : public ::testing::Test {
protected:
    EventPublisher& make(size_t capacity = 100) {
        publisher_ = std::make_unique<EventPublisher>(
            bus_, clock_,
            EventPublisherSettings{.group = "default",
                                   .instance = "inst",
                                   .publish_timeout = milliseconds{500},
                                   .retry_capacity = capacity,
                                   .retry_initial_backoff = kInitial,
                                   .retry_max_backoff = kMax},
            EventPublisherMetrics{.published = published_,
                                  .publish_failures = failures_,
                                  .retry_queue_depth = depth_,
                                  .dropped = dropped_});
        return *publisher_;
    }

    milliseconds untilNextAttempt() {
        return std::chrono::duration_cast<milliseconds>(publisher_->nextAttempt() -
                                                        clock_.steady());
    }

    testing::FakeStreamPublisher bus_;
    testing::ManualClock clock_;
    common::Counter published_;
    common::Counter failures_;
    common::Gauge depth_;
    common::Counter dropped_;
    std::unique_ptr<EventPublisher> publisher_;
};

TEST_F(EventPublisherTest, Publish_Acked_SendsEventWithSubjectMsgIdAndTimeout) {
    auto& p = make();
    EXPECT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Published);
    const auto attempts = bus_.attempts();
    ASSERT_EQ(attempts.size(), 1U);
    EXPECT_EQ(attempts[0].subject, "pdns.zones.default.example.org");
    EXPECT_EQ(attempts[0].options.msg_id, "inst.1");
    EXPECT_EQ(attempts[0].options.timeout, milliseconds{500});
    EXPECT_FALSE(attempts[0].options.expected_last_subject_seq);
    auto event = common::parseZoneEvent(attempts[0].data);
    ASSERT_TRUE(event) << event.error().message;
    EXPECT_EQ(event->zone, "example.org.");
    EXPECT_EQ(event->op, ZoneOp::Upsert);
    EXPECT_EQ(event->cause, common::EventCause::Api);
    EXPECT_FALSE(event->serial);
    EXPECT_FALSE(event->apex);
    EXPECT_EQ(event->at, common::rfc3339Millis(clock_.system()));
    EXPECT_NE(attempts[0].data.find("\"serial\":null"), std::string::npos);
    EXPECT_EQ(published_.value(), 1U);
    EXPECT_EQ(p.queueDepth(), 0U);
}

TEST_F(EventPublisherTest, Publish_Delete_OpDeleteAndEncodedSubject) {
    auto& p = make();
    EXPECT_EQ(p.publish("0/26.2.0.192.in-addr.arpa.", ZoneOp::Delete), PublishOutcome::Published);
    const auto attempts = bus_.attempts();
    ASSERT_EQ(attempts.size(), 1U);
    EXPECT_EQ(attempts[0].subject, "pdns.zones.default.0%2F26.2.0.192.in-addr.arpa");
    auto event = common::parseZoneEvent(attempts[0].data);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->op, ZoneOp::Delete);
}

TEST_F(EventPublisherTest, Publish_Twice_DistinctMsgIds) {
    auto& p = make();
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Published);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Published);
    const auto attempts = bus_.attempts();
    ASSERT_EQ(attempts.size(), 2U);
    EXPECT_EQ(attempts[0].options.msg_id, "inst.1");
    EXPECT_EQ(attempts[1].options.msg_id, "inst.2");
}

TEST_F(EventPublisherTest, FormatRfc3339_UtcWithMillis) {
    const auto t = std::chrono::system_clock::time_point{std::chrono::milliseconds{1790000000123}};
    EXPECT_EQ(common::rfc3339Millis(t), "2026-09-21T14:13:20.123Z");
    EXPECT_EQ(common::rfc3339Millis(std::chrono::system_clock::time_point{}),
              "1970-01-01T00:00:00.000Z");
}

TEST_F(EventPublisherTest, Publish_Fails_QueuedAndRetriedWithSameMsgId) {
    auto& p = make();
    bus_.failNext(1);
    EXPECT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Queued);
    EXPECT_EQ(p.queueDepth(), 1U);
    EXPECT_EQ(depth_.value(), 1.0);
    EXPECT_EQ(failures_.value(), 1U);
    EXPECT_EQ(published_.value(), 0U);

    // Not before the backoff.
    EXPECT_EQ(p.drainOnce(), 0U);
    EXPECT_EQ(bus_.attempts().size(), 1U);

    clock_.advance(kInitial);
    EXPECT_EQ(p.drainOnce(), 1U);
    const auto attempts = bus_.attempts();
    ASSERT_EQ(attempts.size(), 2U);
    EXPECT_TRUE(attempts[1].acked);
    EXPECT_EQ(attempts[1].options.msg_id, attempts[0].options.msg_id);
    EXPECT_EQ(attempts[1].data, attempts[0].data);
    EXPECT_EQ(attempts[1].subject, attempts[0].subject);
    EXPECT_EQ(p.queueDepth(), 0U);
    EXPECT_EQ(depth_.value(), 0.0);
    EXPECT_EQ(published_.value(), 1U);
}

TEST_F(EventPublisherTest, RetryBackoff_JitteredDoublingAndCapped) {
    auto& p = make();
    bus_.failNext(1000);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Queued);
    // Scheduled at enqueue with the initial backoff, then grows after each failed retry.
    milliseconds base = kInitial;
    for (int i = 0; i < 8; ++i) {
        const auto wait = untilNextAttempt();
        EXPECT_GE(wait, base / 2) << "retry " << i;
        EXPECT_LE(wait, base) << "retry " << i;
        clock_.advance(wait);
        EXPECT_EQ(p.drainOnce(), 0U);
        if (i > 0) base = std::min(base * 2, kMax);
    }
    EXPECT_EQ(bus_.attempts().size(), 9U);
    EXPECT_LE(untilNextAttempt(), kMax);
    EXPECT_EQ(p.queueDepth(), 1U);
    EXPECT_EQ(failures_.value(), 9U);
}

TEST_F(EventPublisherTest, RetrySuccess_ResetsBackoff) {
    auto& p = make();
    bus_.failNext(4);
    ASSERT_EQ(p.publish("a.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    for (int i = 0; i < 3; ++i) {
        clock_.advance(kMax);
        EXPECT_EQ(p.drainOnce(), 0U);
    }
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 1U);
    bus_.failNext(1);
    ASSERT_EQ(p.publish("b.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    EXPECT_LE(untilNextAttempt(), kInitial);
}

TEST_F(EventPublisherTest, QueueFull_DropsOldest) {
    auto& p = make(/*capacity=*/3);
    bus_.failNext(4);
    for (const char* z : {"a.example.", "b.example.", "c.example.", "d.example."}) {
        ASSERT_EQ(p.publish(z, ZoneOp::Upsert), PublishOutcome::Queued);
    }
    EXPECT_EQ(p.queueDepth(), 3U);
    EXPECT_EQ(dropped_.value(), 1U);
    EXPECT_EQ(depth_.value(), 3.0);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 3U);
    const auto acked = bus_.acked();
    ASSERT_EQ(acked.size(), 3U);
    EXPECT_EQ(acked[0].subject, "pdns.zones.default.b.example");
    EXPECT_EQ(acked[1].subject, "pdns.zones.default.c.example");
    EXPECT_EQ(acked[2].subject, "pdns.zones.default.d.example");
}

TEST_F(EventPublisherTest, QueueFullOnRetry_DropsTheRetriedOldest) {
    auto& p = make(/*capacity=*/1);
    bus_.failNext(1);
    ASSERT_EQ(p.publish("a.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    EXPECT_EQ(p.queueDepth(), 1U);
    bus_.failNext(1);
    ASSERT_EQ(p.publish("b.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    EXPECT_EQ(p.queueDepth(), 1U);
    EXPECT_EQ(dropped_.value(), 1U);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 1U);
    ASSERT_EQ(bus_.acked().size(), 1U);
    EXPECT_EQ(bus_.acked()[0].subject, "pdns.zones.default.b.example");
}

TEST_F(EventPublisherTest, NewerEventForZone_SupersedesQueuedOne) {
    auto& p = make();
    bus_.failNext(1);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Queued);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Delete), PublishOutcome::Published);
    EXPECT_EQ(p.queueDepth(), 0U);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 0U);
    const auto acked = bus_.acked();
    ASSERT_EQ(acked.size(), 1U);
    auto event = common::parseZoneEvent(acked[0].data);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->op, ZoneOp::Delete);
}

TEST_F(EventPublisherTest, NewerEventFailsToo_OnlyNewestQueued) {
    auto& p = make();
    bus_.failNext(2);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Queued);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Delete), PublishOutcome::Queued);
    EXPECT_EQ(p.queueDepth(), 1U);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 1U);
    const auto acked = bus_.acked();
    ASSERT_EQ(acked.size(), 1U);
    EXPECT_EQ(acked[0].options.msg_id, "inst.2");
    auto event = common::parseZoneEvent(acked[0].data);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->op, ZoneOp::Delete);
}

TEST_F(EventPublisherTest, Drain_KeepsOrderAcrossZones) {
    auto& p = make();
    bus_.failNext(3);
    for (const char* z : {"a.example.", "b.example.", "c.example."}) {
        ASSERT_EQ(p.publish(z, ZoneOp::Upsert), PublishOutcome::Queued);
    }
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 3U);
    const auto acked = bus_.acked();
    ASSERT_EQ(acked.size(), 3U);
    EXPECT_EQ(acked[0].options.msg_id, "inst.1");
    EXPECT_EQ(acked[1].options.msg_id, "inst.2");
    EXPECT_EQ(acked[2].options.msg_id, "inst.3");
}

TEST_F(EventPublisherTest, DrainFailure_StopsPassAndKeepsHeadFirst) {
    auto& p = make();
    bus_.failNext(2);
    ASSERT_EQ(p.publish("a.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    ASSERT_EQ(p.publish("b.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    bus_.failNext(1);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 0U);
    EXPECT_EQ(bus_.attempts().size(), 3U);  // one attempt, then back off
    EXPECT_EQ(p.queueDepth(), 2U);
    clock_.advance(kMax);
    EXPECT_EQ(p.drainOnce(), 2U);
    const auto acked = bus_.acked();
    ASSERT_EQ(acked.size(), 2U);
    EXPECT_EQ(acked[0].subject, "pdns.zones.default.a.example");
}

TEST_F(EventPublisherTest, DirectSuccess_PullsRetryForward) {
    auto& p = make();
    bus_.failNext(1);
    ASSERT_EQ(p.publish("a.example.", ZoneOp::Upsert), PublishOutcome::Queued);
    EXPECT_GT(untilNextAttempt(), milliseconds{0});
    ASSERT_EQ(p.publish("b.example.", ZoneOp::Upsert), PublishOutcome::Published);
    EXPECT_LE(untilNextAttempt(), milliseconds{0});
    EXPECT_EQ(p.drainOnce(), 1U);
    EXPECT_EQ(p.queueDepth(), 0U);
}

TEST(EventPublisherWorker, QueuedEvent_PublishedByWorker) {
    testing::FakeStreamPublisher bus;
    common::SystemClock clock;
    common::Counter published, failures, dropped;
    common::Gauge depth;
    EventPublisher p(bus, clock,
                     EventPublisherSettings{.group = "default",
                                            .instance = "inst",
                                            .publish_timeout = milliseconds{500},
                                            .retry_capacity = 10,
                                            .retry_initial_backoff = milliseconds{2},
                                            .retry_max_backoff = milliseconds{4}},
                     EventPublisherMetrics{.published = published,
                                           .publish_failures = failures,
                                           .retry_queue_depth = depth,
                                           .dropped = dropped});
    p.startWorker();
    bus.failNext(2);
    ASSERT_EQ(p.publish("example.org.", ZoneOp::Upsert), PublishOutcome::Queued);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (published.value() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_EQ(published.value(), 1U);
    EXPECT_EQ(p.queueDepth(), 0U);
    p.stopWorker();
    EXPECT_EQ(bus.attempts().size(), 3U);
}

}  // namespace
}  // namespace pdns_distribute::api_proxy
