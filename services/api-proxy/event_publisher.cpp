// SPDX-License-Identifier: Apache-2.0
#include "event_publisher.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::api_proxy {
namespace {

using std::chrono::milliseconds;

/// Events a single drainOnce() call publishes at most, so that stop stays prompt.
constexpr size_t kMaxPerDrain = 256;
/// The worker re-checks its stop token and the queue at least this often.
constexpr milliseconds kMaxWorkerWait{1000};
constexpr milliseconds kBusyPause{20};

}  // namespace

EventPublisherMetrics EventPublisherMetrics::create(common::MetricsRegistry& registry) {
    return EventPublisherMetrics{
        .published = registry.counter("pdns_distribute_api_proxy_published_total",
                                      "Zone events acked by JetStream"),
        .publish_failures =
            registry.counter("pdns_distribute_api_proxy_publish_failures_total",
                             "Zone event publish attempts that failed or timed out"),
        .retry_queue_depth = registry.gauge("pdns_distribute_api_proxy_retry_queue_depth",
                                            "Zone events waiting for a publish retry"),
        .dropped = registry.counter("pdns_distribute_api_proxy_dropped_total",
                                    "Zone events dropped because the retry queue was full"),
    };
}

EventPublisher::EventPublisher(common::StreamPublisher& bus, const common::Clock& clock,
                               EventPublisherSettings settings, EventPublisherMetrics metrics)
    : bus_(bus),
      clock_(clock),
      settings_(std::move(settings)),
      metrics_(metrics),
      msg_ids_(settings_.instance) {
    if (settings_.retry_capacity == 0) settings_.retry_capacity = 1;
    state_.lock()->backoff = settings_.retry_initial_backoff;
}

EventPublisher::~EventPublisher() {
    stopWorker();
    const auto depth = queueDepth();
    if (depth > 0) {
        spdlog::warn(
            "{} zone events still queued at stop were not published; the reconcile will "
            "republish them",
            depth);
    }
}

common::Result<common::PubAck> EventPublisher::send(const Pending& p) {
    common::PublishOptions options;
    options.msg_id = p.msg_id;
    options.timeout = settings_.publish_timeout;
    return bus_.publish(p.subject, p.payload, options);
}

void EventPublisher::updateDepth(Locked& state) {
    metrics_.retry_queue_depth.set(static_cast<double>(state->queue.size()));
}

void EventPublisher::forget(Locked& state, const Pending& p) {
    const auto it = state->newest.find(p.subject);
    if (it != state->newest.end() && it->second == p.seq) state->newest.erase(it);
}

void EventPublisher::scheduleRetry(Locked& state, bool grow) {
    // Full jitter over the upper half: [backoff/2, backoff].
    const auto base = state->backoff.count();
    std::uniform_int_distribution<int64_t> dist(base / 2, std::max<int64_t>(base, 1));
    state->next_attempt = clock_.steady() + milliseconds{dist(state->rng)};
    if (grow) state->backoff = std::min(state->backoff * 2, settings_.retry_max_backoff);
}

void EventPublisher::enqueue(Locked& state, Pending p, bool front) {
    if (state->queue.size() >= settings_.retry_capacity) {
        // Drop the oldest: newer events carry the more recent intent. When re-inserting at the
        // front the oldest is `p` itself.
        const Pending& victim = front ? p : state->queue.front();
        forget(state, victim);
        metrics_.dropped.inc();
        spdlog::error(
            "cannot publish zone event zone='{}' op={} msg_id={} (retry queue full, capacity {}); "
            "dropped, the health-checker's reconcile will republish it; check the NATS connection",
            victim.zone, common::toString(victim.op), victim.msg_id, settings_.retry_capacity);
        if (front) {
            updateDepth(state);
            return;
        }
        state->queue.pop_front();  // `victim` refers to it: drop it only now
    }
    const bool was_empty = state->queue.empty();
    if (front) {
        state->queue.push_front(std::move(p));
    } else {
        state->queue.push_back(std::move(p));
    }
    if (was_empty) scheduleRetry(state, /*grow=*/false);
    updateDepth(state);
    cv_.notify_all();
}

PublishOutcome EventPublisher::publish(const std::string& zone, common::ZoneOp op) {
    common::ZoneEvent event;
    event.zone = zone;
    event.op = op;
    event.cause = common::EventCause::Api;
    event.at = common::rfc3339Millis(clock_.system());
    Pending p{.zone = zone,
              .op = op,
              .subject = common::zoneEventSubject(settings_.group, zone),
              .payload = common::serializeZoneEvent(event),
              .msg_id = msg_ids_.next(),
              .seq = 0};
    {
        auto state = state_.lock();
        p.seq = ++state->next_seq;
        state->newest[p.subject] = p.seq;
        // This event supersedes queued ones for the zone: only the latest message per subject
        // counts, and an older one published later would undo it.
        const auto before = state->queue.size();
        std::erase_if(state->queue, [&](const Pending& q) { return q.subject == p.subject; });
        if (state->queue.size() != before) updateDepth(state);
        // Wait for a publish of the same zone already under way (bounded by its own timeout).
        const bool free = cv_.wait_for(state.lock(), settings_.publish_timeout * 4,
                                       [&] { return !state->in_flight.contains(p.subject); });
        if (!free) {
            spdlog::warn(
                "zone event zone='{}' msg_id={} published while an older publish of the "
                "zone is still under way",
                zone, p.msg_id);
        }
        state->in_flight.insert(p.subject);
    }
    auto ack = send(p);
    auto state = state_.lock();
    state->in_flight.erase(p.subject);
    cv_.notify_all();
    if (ack) {
        metrics_.published.inc();
        forget(state, p);
        if (!state->queue.empty()) {
            // The bus is back: retry the queue now rather than after its backoff.
            state->backoff = settings_.retry_initial_backoff;
            state->next_attempt = clock_.steady();
            cv_.notify_all();
        }
        spdlog::debug("published zone event zone='{}' op={} msg_id={} seq={}", zone,
                      common::toString(op), p.msg_id, ack->sequence);
        return PublishOutcome::Published;
    }
    metrics_.publish_failures.inc();
    spdlog::warn("cannot publish zone event zone='{}' op={} msg_id={} ({}); queued for retry", zone,
                 common::toString(op), p.msg_id, ack.error().message);
    const auto newest = state->newest.find(p.subject);
    if (newest != state->newest.end() && newest->second == p.seq) {
        enqueue(state, std::move(p), /*front=*/false);
    }
    return PublishOutcome::Queued;
}

size_t EventPublisher::drainOnce() {
    size_t published = 0;
    while (published < kMaxPerDrain) {
        Pending p;
        {
            auto state = state_.lock();
            if (state->queue.empty()) break;
            if (clock_.steady() < state->next_attempt) break;
            const auto it = std::find_if(
                state->queue.begin(), state->queue.end(),
                [&](const Pending& q) { return !state->in_flight.contains(q.subject); });
            if (it == state->queue.end()) break;
            p = std::move(*it);
            state->queue.erase(it);
            state->in_flight.insert(p.subject);
            updateDepth(state);
        }
        auto ack = send(p);
        auto state = state_.lock();
        state->in_flight.erase(p.subject);
        cv_.notify_all();
        if (ack) {
            metrics_.published.inc();
            forget(state, p);
            state->backoff = settings_.retry_initial_backoff;
            ++published;
            spdlog::info("published queued zone event zone='{}' op={} msg_id={}", p.zone,
                         common::toString(p.op), p.msg_id);
            continue;
        }
        metrics_.publish_failures.inc();
        spdlog::warn("cannot publish queued zone event zone='{}' msg_id={} ({}); retrying later",
                     p.zone, p.msg_id, ack.error().message);
        const auto newest = state->newest.find(p.subject);
        if (newest != state->newest.end() && newest->second == p.seq) {
            enqueue(state, std::move(p), /*front=*/true);
        }
        scheduleRetry(state, /*grow=*/true);
        break;
    }
    return published;
}

void EventPublisher::run(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
        drainOnce();
        auto state = state_.lock();
        auto wait = kMaxWorkerWait;
        if (!state->queue.empty()) {
            const auto until =
                std::chrono::duration_cast<milliseconds>(state->next_attempt - clock_.steady());
            wait = std::clamp(until, milliseconds{1}, kMaxWorkerWait);
        }
        // Wakes early when a retry becomes due or the schedule changes (an event queued into an
        // empty queue, a successful direct publish pulling the retry forward).
        const bool was_empty = state->queue.empty();
        const auto planned = state->next_attempt;
        const auto wake = [&] {
            if (state->queue.empty() != was_empty || state->next_attempt != planned) return true;
            return !state->queue.empty() && clock_.steady() >= state->next_attempt;
        };
        if (wake()) {
            // Still due right after a pass: its zones were busy with direct publishes, or the
            // pass hit its batch limit. Pause briefly instead of spinning.
            cv_.wait_for(state.lock(), stop, kBusyPause, [] { return false; });
        } else {
            cv_.wait_for(state.lock(), stop, wait, wake);
        }
    }
}

void EventPublisher::startWorker() {
    if (worker_.joinable()) return;
    worker_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void EventPublisher::stopWorker() {
    if (!worker_.joinable()) return;
    worker_.request_stop();
    cv_.notify_all();
    worker_.join();
}

size_t EventPublisher::queueDepth() { return state_.lock()->queue.size(); }

std::chrono::steady_clock::time_point EventPublisher::nextAttempt() {
    return state_.lock()->next_attempt;
}

}  // namespace pdns_distribute::api_proxy
