// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tombstone purge planning (DESIGN §7): a zone deletion leaves a `delete` event as the last
// message of its subject in PDNS_ZONES. Once it is older than the minimum age and every durable
// consumer that would deliver it has acked it, it has done its job and can be purged. Pure logic:
// the caller lists the tombstones and the consumers' ack floors and performs the purges.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/bus.hpp>

namespace pdns_distribute::health_checker {

/// A `delete` zone event stored as the last message of its subject.
struct Tombstone {
    std::string zone;
    std::string subject;
    uint64_t sequence = 0;                     ///< stream sequence
    std::chrono::system_clock::time_point at;  ///< the event's `at`
};

/// NATS subject matching: tokens split on '.', `*` matches exactly one token, `>` (last token
/// only) matches one or more remaining tokens; any other token matches literally. An empty filter
/// matches every subject (a consumer without a filter subject sees the whole stream).
[[nodiscard]] bool subjectMatches(std::string_view filter, std::string_view subject);

/// The tombstone carried by a stream message, or nullopt when the message is not a `delete`
/// zone event or its `at` does not parse (such a message is never planned for purging).
[[nodiscard]] std::optional<Tombstone> tombstoneFrom(const common::StreamMessage& message);

/// The candidates to purge, in their input order: those old enough (now - at >= min_age) that
/// every consumer in `consumers` whose filter covers the subject has acked
/// (ack_floor_stream_seq >= sequence).
///
/// - No consumer covers the subject: purged. Nobody is left to tell; a node added later starts
///   with a new durable that replays the stream, and a zone it never had needs no deletion.
/// - A covering consumer whose ack floor is below the sequence blocks the purge even when it
///   reports nothing pending (num_pending == 0, num_ack_pending == 0). Everything in its filter
///   at or below the floor is acked, so a floor >= the sequence proves delivery. A lower floor
///   may only lag (the server need not advance it over messages outside the filter) or may mean
///   the consumer never got the tombstone (created after it, a start sequence past it) or holds
///   an earlier message unsettled; these counters cannot tell which. The floor catches up at the
///   consumer's next ack in its filter. Keeping a stray tombstone costs one small message;
///   purging one a node still needs leaves a deleted zone served there.
[[nodiscard]] std::vector<Tombstone> tombstonesToPurge(
    const std::vector<Tombstone>& candidates, const std::vector<common::ConsumerFloor>& consumers,
    std::chrono::system_clock::time_point now, std::chrono::milliseconds min_age);

}  // namespace pdns_distribute::health_checker
