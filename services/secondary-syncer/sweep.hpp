// SPDX-License-Identifier: Apache-2.0
#pragma once
// The startup sweep (DESIGN §5.7): compare the zones this syncer manages in the local pdns with
// the desired state read from the stream, and plan the events that repair the difference — zones
// missing locally or at another serial get an upsert, managed zones no longer wanted get a delete
// (which still needs a signed absence). Zones the syncer does not manage are never touched; a
// wanted zone that exists locally unmanaged is reported as a clash. Pure function.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::secondary_syncer {

struct DesiredZone {
    common::ZoneOp op = common::ZoneOp::Upsert;
    std::optional<uint32_t> serial;
    uint64_t sequence = 0;  ///< the stream sequence of the zone's latest event
};

struct SweepPlan {
    std::vector<common::ZoneEvent> events;
    std::vector<std::string> clashes;  ///< wanted, but held locally by someone else
};

/// The local settings of a zone we manage: Slave, transferring from `master` with the TSIG key
/// `key_id` (pdns id; none when empty), carrying the account marker.
[[nodiscard]] common::SecondaryZoneSpec managedZoneSpec(const std::string& zone,
                                                        const std::string& master,
                                                        const std::string& key_id);

/// True when `z` is ours: the account marker and `master` among its masters.
[[nodiscard]] bool isManagedZone(const common::PdnsZoneInfo& z, const std::string& master);

struct KeyPassResult {
    size_t managed = 0;  ///< managed zones looked at
    size_t updated = 0;  ///< given the key
    size_t failed = 0;   ///< could not be read or updated (retried on the next pass or apply)
};

/// Gives every managed zone in `local` the TSIG key `key_id` as its AXFR-MASTER-TSIG (an upgrade
/// from a version without TSIG, or a renamed node). pdns 4.7 lists zones without their key ids,
/// so each managed zone is read, and only those without the key are updated. Stops early when
/// `stop` says so (the rest count as failed).
[[nodiscard]] KeyPassResult ensureZoneKeys(common::PdnsApi& api,
                                           const std::vector<common::PdnsZoneInfo>& local,
                                           const std::string& master, const std::string& key_id,
                                           const std::function<bool()>& stop);

/// What the stream wants, zone by zone, as read by the startup sweep.
struct DesiredRead {
    std::map<std::string, DesiredZone> zones;
    /// Read up to the end of the stream. Otherwise (it stalled with messages still pending) a
    /// zone missing from `zones` may just be unread: never a reason to delete.
    bool complete = false;
};

/// Reads every zone's latest event from `reader` (an ordered consumer over the node's group), in
/// waits of `slice` (so `stop` is heard within one). Complete when a message says nothing is
/// pending behind it. Nothing delivered within `first_patience`: empty and incomplete (an empty
/// stream and a stalled one look alike, and neither may empty a node). No delivery for
/// `stall_patience` while messages are still pending (a loaded server, a slow network): the read
/// gives up, incomplete. Time is counted in slices waited.
[[nodiscard]] DesiredRead readDesired(common::StreamReader& reader, std::chrono::milliseconds slice,
                                      std::chrono::milliseconds first_patience,
                                      std::chrono::milliseconds stall_patience,
                                      const std::function<bool()>& stop);

/// Deletions are planned only from a `complete` read of the stream. A zone whose latest event
/// comes after `delivered_through` (the last stream sequence the node's durable consumer has
/// delivered) is left alone, neither repaired nor deleted: the consumer has yet to deliver that
/// event, and applies it then. (A node joining a fleet would otherwise apply its whole backlog
/// twice, once from the sweep and once from the stream.)
[[nodiscard]] SweepPlan planSweep(const std::map<std::string, DesiredZone>& desired,
                                  const std::vector<common::PdnsZoneInfo>& local,
                                  const std::string& master, bool complete = true,
                                  uint64_t delivered_through = UINT64_MAX);

/// Drops the planned repairs (upserts) of zones `in_hand` says the node already has in hand:
/// queued or being applied from the stream, or applied since the local zones were listed (the
/// listing the plan was made from no longer shows them as they are). Deletions stay. Returns
/// how many were dropped. (Without it a joining node applied each zone its consumer delivered
/// during the sweep twice: 57 of 10,000 in a bootstrap.)
size_t leaveInHand(SweepPlan& plan, const std::function<bool(const std::string&)>& in_hand);

}  // namespace pdns_distribute::secondary_syncer
