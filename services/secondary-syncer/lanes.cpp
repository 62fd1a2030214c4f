// SPDX-License-Identifier: Apache-2.0
#include "lanes.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

namespace pdns_distribute::secondary_syncer {

namespace {

struct MsgId {
    std::string_view publisher;
    uint64_t counter = 0;
};

// `<instance>.<counter>` as common::MsgIdGenerator builds them; nullopt for any other shape.
std::optional<MsgId> parseMsgId(std::string_view id) {
    const auto dot = id.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == id.size()) return std::nullopt;
    const auto digits = id.substr(dot + 1);
    MsgId m{.publisher = id.substr(0, dot), .counter = 0};
    const auto* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, m.counter);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return m;
}

}  // namespace

std::string_view toString(Lane lane) { return lane == Lane::Priority ? "priority" : "bulk"; }

AppliedMsgIds::AppliedMsgIds(const common::Clock& clock, std::chrono::milliseconds ttl,
                             size_t capacity)
    : clock_(clock), ttl_(ttl), capacity_(std::max<size_t>(capacity, 1)) {}

void AppliedMsgIds::expire() {
    const auto now = clock_.steady();
    while (!order_.empty() && (now - order_.front().at >= ttl_ || order_.size() > capacity_)) {
        const auto& o = order_.front();
        auto it = by_zone_.find(o.zone);
        // A zone remembered again later has a newer entry in order_: keep it.
        if (it != by_zone_.end() && it->second.generation == o.generation) by_zone_.erase(it);
        order_.pop_front();
    }
}

void AppliedMsgIds::remember(const std::string& zone, const std::string& msg_id) {
    if (msg_id.empty()) return;
    const auto now = clock_.steady();
    const auto generation = ++generation_;
    by_zone_[zone] = Entry{.msg_id = msg_id, .at = now, .generation = generation};
    order_.push_back(Order{.zone = zone, .at = now, .generation = generation});
    expire();
}

bool AppliedMsgIds::covers(const std::string& zone, const std::string& msg_id) {
    if (msg_id.empty()) return false;
    expire();
    const auto it = by_zone_.find(zone);
    if (it == by_zone_.end()) return false;
    if (it->second.msg_id == msg_id) return true;
    const auto applied = parseMsgId(it->second.msg_id);
    const auto asked = parseMsgId(msg_id);
    return applied && asked && applied->publisher == asked->publisher &&
           asked->counter <= applied->counter;
}

LaneScheduler::LaneScheduler(const common::Clock& clock, LaneSettings settings)
    : state_(State(AppliedMsgIds(clock, settings.dedup_ttl, settings.dedup_capacity))) {}

bool LaneScheduler::supersedes(EventSource source, const common::ZoneEvent& event,
                               const Pending& current) {
    const bool synthetic = source == EventSource::Parking || source == EventSource::Sweep;
    if (synthetic) return false;
    if (current.source == EventSource::Parking || current.source == EventSource::Sweep) return true;
    if (source == EventSource::Stream && current.source == EventSource::Stream) return true;
    // A priority event against another real one: they come by different paths, so their order of
    // arrival says nothing; the publisher's timestamps do.
    const auto incoming = common::parseRfc3339(event.at);
    const auto held = common::parseRfc3339(current.event.at);
    if (!incoming || !held) return source == EventSource::Stream;
    return *incoming > *held;
}

void LaneScheduler::place(Locked& state, const std::string& zone, Slot& slot) {
    if (slot.busy) return;  // finish() queues it
    if (slot.queued == Lane::Bulk && slot.priority) {
        auto& bulk = state->bulk;
        if (auto it = std::find(bulk.begin(), bulk.end(), zone); it != bulk.end()) bulk.erase(it);
        slot.queued.reset();
    }
    if (slot.queued) return;
    const auto lane = slot.priority ? Lane::Priority : Lane::Bulk;
    (lane == Lane::Priority ? state->priority : state->bulk).push_back(zone);
    slot.queued = lane;
    (lane == Lane::Priority ? priority_cv_ : bulk_cv_).notify_one();
}

void LaneScheduler::add(const common::ZoneEvent& event, EventSource source, std::string msg_id,
                        DeliveryPtr delivery) {
    auto state = state_.lock();
    auto& slot = state->slots[event.zone];
    const bool priority =
        source == EventSource::Priority ||
        (source == EventSource::Stream && state->applied.covers(event.zone, msg_id));
    if (!slot.latest || supersedes(source, event, *slot.latest)) {
        slot.latest = Pending{.event = event, .source = source, .msg_id = std::move(msg_id)};
    }
    if (delivery) {
        slot.waiting.push_back(std::move(delivery));
        ++state->held;
    }
    slot.priority = slot.priority || priority;
    place(state, event.zone, slot);
}

std::optional<LaneJob> LaneScheduler::take(Lane lane, const std::stop_token& stop,
                                           std::chrono::milliseconds wait) {
    auto state = state_.lock();
    auto& queue = lane == Lane::Priority ? state->priority : state->bulk;
    auto& cv = lane == Lane::Priority ? priority_cv_ : bulk_cv_;
    if (!cv.wait_for(state.lock(), stop, wait, [&] { return !queue.empty(); }) ||
        stop.stop_requested()) {
        return std::nullopt;
    }
    const std::string zone = std::move(queue.front());
    queue.pop_front();
    auto& slot = state->slots[zone];
    assert(slot.latest && !slot.busy);
    slot.queued.reset();
    slot.busy = true;
    slot.priority = false;
    LaneJob job{.zone = zone,
                .event = std::move(slot.latest->event),
                .source = slot.latest->source,
                .msg_id = std::move(slot.latest->msg_id),
                .lane = lane,
                .covered = false,
                .deliveries = slot.waiting};
    job.covered = state->applied.covers(zone, job.msg_id);
    slot.latest.reset();
    slot.in_flight = std::move(slot.waiting);
    slot.waiting.clear();
    return job;
}

void LaneScheduler::finish(const LaneJob& job, bool succeeded) {
    auto state = state_.lock();
    // Either lane: the stream usually delivers an api event before the core subscription's copy
    // reaches the priority lane when the bulk lane is idle, and that copy must not apply it again.
    if (succeeded) state->applied.remember(job.zone, job.msg_id);
    auto it = state->slots.find(job.zone);
    if (it == state->slots.end()) return;  // cleared at stop
    auto& slot = it->second;
    slot.busy = false;
    state->held -= slot.in_flight.size();
    slot.in_flight.clear();
    if (!slot.latest) {
        assert(slot.waiting.empty());
        state->slots.erase(it);
        return;
    }
    // The stream's copy of what the priority lane just applied: ack it soon, not behind the bulk
    // lane's backlog.
    if (slot.latest->source == EventSource::Stream &&
        state->applied.covers(job.zone, slot.latest->msg_id)) {
        slot.priority = true;
    }
    place(state, job.zone, slot);
}

size_t LaneScheduler::depth(Lane lane) {
    auto state = state_.lock();
    return lane == Lane::Priority ? state->priority.size() : state->bulk.size();
}

size_t LaneScheduler::heldDeliveries() { return state_.lock()->held; }

bool LaneScheduler::contains(const std::string& zone) {
    return state_.lock()->slots.contains(zone);
}

std::vector<LaneScheduler::DeliveryPtr> LaneScheduler::deliveries() {
    std::vector<DeliveryPtr> all;
    auto state = state_.lock();
    for (const auto& [zone, slot] : state->slots) {
        all.insert(all.end(), slot.in_flight.begin(), slot.in_flight.end());
        all.insert(all.end(), slot.waiting.begin(), slot.waiting.end());
    }
    return all;
}

std::vector<LaneScheduler::DeliveryPtr> LaneScheduler::clear() {
    std::vector<DeliveryPtr> untouched;
    auto state = state_.lock();
    for (auto& [zone, slot] : state->slots) {
        untouched.insert(untouched.end(), slot.waiting.begin(), slot.waiting.end());
    }
    state->slots.clear();
    state->priority.clear();
    state->bulk.clear();
    state->held = 0;
    return untouched;
}

}  // namespace pdns_distribute::secondary_syncer
