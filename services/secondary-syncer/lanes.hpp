// SPDX-License-Identifier: Apache-2.0
#pragma once
// The syncer's two lanes (DESIGN §5.2): a per-zone scheduler that feeds a bulk worker pool (the
// durable consumer, parking retries, the startup sweep) and a small priority pool (api events
// heard on a core subscription, applied at once). One zone is never taken up by two workers at
// once, whatever the lane: a zone busy in one lane waits, and a priority event for a busy zone
// makes the priority lane take it up next; a zone queued in the bulk lane moves to the priority
// lane when a priority event arrives for it. The scheduler remembers the Nats-Msg-Id of events
// either lane applied, so the other copy of the same message (stream or core subscription) arriving
// later is recognised (the caller acks it without work). Thread-safe; owns no threads.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::secondary_syncer {

enum class Lane { Priority, Bulk };
[[nodiscard]] std::string_view toString(Lane lane);

/// Where an event came from. Real events (stream, priority) always win over synthetic ones
/// (parking retries, the startup sweep and resync requests) for the same zone.
enum class EventSource { Stream, Priority, Parking, Sweep };

/// Nats-Msg-Id values of events applied (either lane), one per zone, kept for `ttl` and for
/// at most `capacity` zones (the oldest go first). A message id covers itself and every earlier id
/// of the same publisher instance (`<instance>.<counter>`, the counter counting up per process):
/// that publisher's earlier event for the zone is older than the state the priority lane applied.
/// Not thread-safe (the scheduler holds it under its lock).
class AppliedMsgIds {
public:
    AppliedMsgIds(const common::Clock& clock, std::chrono::milliseconds ttl, size_t capacity);
    void remember(const std::string& zone, const std::string& msg_id);
    /// True when an event of `zone` with `msg_id` is already applied (never for an empty id).
    [[nodiscard]] bool covers(const std::string& zone, const std::string& msg_id);
    [[nodiscard]] size_t size() const { return by_zone_.size(); }

private:
    void expire();
    struct Entry {
        std::string msg_id;
        std::chrono::steady_clock::time_point at;
        uint64_t generation = 0;
    };
    struct Order {
        std::string zone;
        std::chrono::steady_clock::time_point at;
        uint64_t generation = 0;
    };
    const common::Clock& clock_;
    std::chrono::milliseconds ttl_;
    size_t capacity_;
    uint64_t generation_ = 0;
    std::unordered_map<std::string, Entry> by_zone_;
    std::deque<Order> order_;  ///< insertion order, for expiry and eviction
};

/// One zone taken up by a worker: the event to apply and the stream deliveries to settle after.
struct LaneJob {
    std::string zone;
    common::ZoneEvent event;
    EventSource source = EventSource::Stream;
    std::string msg_id;  ///< the event's Nats-Msg-Id; empty for synthetic events
    Lane lane = Lane::Bulk;
    /// The event's message id was already applied (by either lane) when taken up.
    bool covered = false;
    std::vector<std::shared_ptr<common::Delivery>> deliveries;
};

struct LaneSettings {
    std::chrono::milliseconds dedup_ttl{std::chrono::minutes{10}};
    size_t dedup_capacity = 100'000;
};

class LaneScheduler {
public:
    using DeliveryPtr = std::shared_ptr<common::Delivery>;

    LaneScheduler(const common::Clock& clock, LaneSettings settings);

    /// Adds an event for its zone with the stream delivery that carried it (if any). The zone is
    /// queued in the priority lane for a Priority event, or a Stream event whose message id is
    /// already covered (the caller acks it without work); otherwise in the bulk lane. Per zone
    /// the newest event wins: a stream event replaces a stream or synthetic one; between a
    /// priority and another real event the later `at` wins (ties keep the one in hand), since
    /// the stream may deliver an older message after the core subscription heard a newer one.
    void add(const common::ZoneEvent& event, EventSource source, std::string msg_id = {},
             DeliveryPtr delivery = nullptr);

    /// Takes up the next zone of `lane`, waiting at most `wait` (or until stop is requested).
    /// The zone stays busy until finish(). Workers of one lane never take from the other.
    [[nodiscard]] std::optional<LaneJob> take(Lane lane, const std::stop_token& stop,
                                              std::chrono::milliseconds wait);

    /// Releases the job's zone; `succeeded` (applied, deleted or skipped) records its message
    /// id. Events that arrived meanwhile queue the zone again.
    void finish(const LaneJob& job, bool succeeded);

    /// Zones waiting in `lane`.
    [[nodiscard]] size_t depth(Lane lane);
    /// Stream deliveries held (waiting or being worked on), for max_ack_pending.
    [[nodiscard]] size_t heldDeliveries();
    /// True while the zone is queued or being worked on.
    [[nodiscard]] bool contains(const std::string& zone);
    /// Every delivery held, for keep-alive (InProgress).
    [[nodiscard]] std::vector<DeliveryPtr> deliveries();
    /// Drops every queued zone (at stop, after the workers ended) and returns the deliveries no
    /// worker took up.
    [[nodiscard]] std::vector<DeliveryPtr> clear();

private:
    struct Pending {
        common::ZoneEvent event;
        EventSource source = EventSource::Stream;
        std::string msg_id;
    };
    struct Slot {
        bool busy = false;
        std::optional<Lane> queued;
        bool priority = false;  ///< take it up in the priority lane next
        std::optional<Pending> latest;
        std::vector<DeliveryPtr> waiting;
        std::vector<DeliveryPtr> in_flight;
    };
    struct State {
        explicit State(AppliedMsgIds a) : applied(std::move(a)) {}
        std::map<std::string, Slot, std::less<>> slots;
        std::deque<std::string> priority;
        std::deque<std::string> bulk;
        AppliedMsgIds applied;
        size_t held = 0;
    };
    using Locked = common::Guarded<State>::Locked;

    static bool supersedes(EventSource source, const common::ZoneEvent& event,
                           const Pending& current);
    void place(Locked& state, const std::string& zone, Slot& slot);

    common::Guarded<State> state_;
    std::condition_variable_any priority_cv_;
    std::condition_variable_any bulk_cv_;
};

}  // namespace pdns_distribute::secondary_syncer
