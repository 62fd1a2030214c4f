// SPDX-License-Identifier: Apache-2.0
#pragma once
// Publishes zone events to PDNS_ZONES for the api-proxy (DESIGN §6): synchronously, waiting for
// the JetStream ack at most publish_timeout; what is not acked goes to a bounded in-memory retry
// queue that keeps each event's Nats-Msg-Id, drained with capped, jittered backoff. A crash loses
// the queue; the health-checker's reconcile covers that.
//
// Ordering per zone: a newer event for a zone supersedes its queued ones, and two publishes of
// one zone never run at once, so an older event can never land after a newer one.
//
// Thread-safe. publish() is called from the HTTP worker threads, drainOnce() by the retry worker
// (or a test).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/metrics.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::api_proxy {

struct EventPublisherSettings {
    std::string group = "default";
    std::string instance;  ///< Nats-Msg-Id prefix, unique per process
    std::chrono::milliseconds publish_timeout{500};
    size_t retry_capacity = 10000;
    std::chrono::milliseconds retry_initial_backoff{250};
    std::chrono::milliseconds retry_max_backoff{10000};
};

/// The publisher's metrics; references stay owned by a MetricsRegistry (or a test).
struct EventPublisherMetrics {
    common::Counter& published;         ///< pdns_distribute_api_proxy_published_total
    common::Counter& publish_failures;  ///< pdns_distribute_api_proxy_publish_failures_total
    common::Gauge& retry_queue_depth;   ///< pdns_distribute_api_proxy_retry_queue_depth
    common::Counter& dropped;           ///< pdns_distribute_api_proxy_dropped_total

    static EventPublisherMetrics create(common::MetricsRegistry& registry);
};

enum class PublishOutcome {
    Published,  ///< acked by JetStream
    Queued,     ///< not acked in time; in the retry queue
};

class EventPublisher {
public:
    EventPublisher(common::StreamPublisher& bus, const common::Clock& clock,
                   EventPublisherSettings settings, EventPublisherMetrics metrics);
    /// Stops the worker if it runs; queued events are lost (logged).
    ~EventPublisher();
    EventPublisher(const EventPublisher&) = delete;
    EventPublisher& operator=(const EventPublisher&) = delete;

    /// Builds the event (cause api, serial and apex null, at = now) and publishes it, waiting at
    /// most publish_timeout for the ack; queues it for retry otherwise.
    PublishOutcome publish(const std::string& zone, common::ZoneOp op);

    /// One retry pass: if the backoff has elapsed, publishes queued events in order until one
    /// fails (then backs off) or the queue is empty. Returns how many were published.
    size_t drainOnce();

    /// Starts/stops the retry worker thread (drainOnce plus bounded waits).
    void startWorker();
    void stopWorker();

    [[nodiscard]] size_t queueDepth();
    /// When the next retry may happen (meaningful only while the queue is not empty).
    [[nodiscard]] std::chrono::steady_clock::time_point nextAttempt();

private:
    struct Pending {
        std::string zone;
        common::ZoneOp op = common::ZoneOp::Upsert;
        std::string subject;
        std::string payload;
        std::string msg_id;
        uint64_t seq = 0;  ///< order of publish() calls, to tell newer from older
    };
    struct State {
        std::deque<Pending> queue;
        /// subject -> seq of its newest event that is queued or being published.
        std::unordered_map<std::string, uint64_t> newest;
        std::unordered_set<std::string> in_flight;
        uint64_t next_seq = 0;
        std::chrono::steady_clock::time_point next_attempt{};
        std::chrono::milliseconds backoff{0};
        std::mt19937_64 rng{std::random_device{}()};
    };
    using Locked = common::Guarded<State>::Locked;

    [[nodiscard]] common::Result<common::PubAck> send(const Pending& p);
    /// Called with the lock held after a failed attempt of `p`.
    void enqueue(Locked& state, Pending p, bool front);
    static void forget(Locked& state, const Pending& p);
    void scheduleRetry(Locked& state, bool grow);
    void updateDepth(Locked& state);
    void run(const std::stop_token& stop);

    common::StreamPublisher& bus_;
    const common::Clock& clock_;
    EventPublisherSettings settings_;
    EventPublisherMetrics metrics_;
    common::MsgIdGenerator msg_ids_;

    common::Guarded<State> state_;
    std::condition_variable_any cv_;  // waits on state_'s mutex
    std::jthread worker_;
};

}  // namespace pdns_distribute::api_proxy
