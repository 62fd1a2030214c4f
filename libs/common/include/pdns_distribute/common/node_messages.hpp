// SPDX-License-Identifier: Apache-2.0
#pragma once
// Messages between the syncers and the health-checker on `pdns.node.<node>.*` (DESIGN §3):
// heartbeat, state (bucket digests, then one bucket's zones), applied reports and resync
// requests. Parsing is strict about types and lenient about unknown fields (newer peers).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

/// `pdns.node.<node>.<kind>` for kind in heartbeat, state, applied, resync.
[[nodiscard]] std::string nodeSubject(std::string_view node, std::string_view kind);
/// pdns.node.<node>.reply.<token>: where a node answers the health-checker's requests (its NATS
/// user may publish there, and nowhere else outside its own subjects).
[[nodiscard]] std::string nodeReplySubject(std::string_view node, std::string_view token);

struct Heartbeat {
    std::string node;
    std::string instance;
    std::string version;
    uint64_t zones = 0;   ///< managed zones the local pdns serves
    uint64_t parked = 0;  ///< zones in the parking table
    std::string digest;   ///< ZoneDigest::totalHex() of what the node serves
    double load1 = 0;
    uint32_t cores = 0;
    std::string since;            ///< RFC 3339: when this instance started
    uint64_t interval_ms = 5000;  ///< heartbeat period; liveness allows 3 missed
    bool scanned = false;         ///< the digest covers a complete look at the local pdns
    uint64_t backlog = 0;         ///< zones queued in the node's lanes, not yet taken up
    /// More queued than the node's workers hold (a bootstrap, a mass change): its digest moves
    /// with every apply, and the health-checker leaves it alone until it has caught up.
    bool catching_up = false;
};
[[nodiscard]] std::string serializeHeartbeat(const Heartbeat& h);
[[nodiscard]] Result<Heartbeat> parseHeartbeat(std::string_view json);

/// What a node serves for one zone (a `state` bucket reply lists these).
struct ServedZone {
    std::string zone;
    std::optional<uint32_t> serial;      ///< nullopt: the local pdns does not serve it
    std::optional<std::string> content;  ///< ApexFingerprint::contentHex()
    std::optional<std::string> apex;     ///< ApexFingerprint::hex()
    std::optional<uint32_t> expiry;      ///< earliest RRSIG(SOA) expiration
    std::string error;                   ///< last error applying or checking it
};

/// Exactly one of: bucket digests (all, or the range first/count), the 64 group digests, or the
/// zones of one bucket.
struct StateRequest {
    bool buckets = false;            ///< ask for bucket digests [first, first + count)
    std::optional<uint32_t> bucket;  ///< or the zones of one bucket
    bool groups = false;             ///< or the 64 group digests (ZoneDigest::group)
    uint32_t first = 0;
    uint32_t count = 4096;
};
[[nodiscard]] std::string serializeStateRequest(const StateRequest& r);
[[nodiscard]] Result<StateRequest> parseStateRequest(std::string_view json);

struct BucketReply {
    uint32_t bucket = 0;
    std::vector<ServedZone> zones;
};
[[nodiscard]] std::string serializeBucketReply(const BucketReply& r);
[[nodiscard]] Result<BucketReply> parseBucketReply(std::string_view json);

struct AppliedReport {
    std::string zone;
    std::optional<uint32_t> serial;
    std::string apex;
    std::string op;                   ///< applied, deleted, retry, park
    int64_t apply_ms = 0;             ///< taking the zone up → served
    std::optional<int64_t> event_ms;  ///< event `at` → served (propagation), when known
    std::string error;
};
[[nodiscard]] std::string serializeAppliedReport(const AppliedReport& r);
[[nodiscard]] Result<AppliedReport> parseAppliedReport(std::string_view json);

struct ResyncRequest {
    std::vector<std::string> zones;  ///< canonical names
    bool all = false;
};
[[nodiscard]] std::string serializeResyncRequest(const ResyncRequest& r);
[[nodiscard]] Result<ResyncRequest> parseResyncRequest(std::string_view json);

struct ResyncReply {
    uint64_t accepted = 0;
    std::string error;
};
[[nodiscard]] std::string serializeResyncReply(const ResyncReply& r);
[[nodiscard]] Result<ResyncReply> parseResyncReply(std::string_view json);

}  // namespace pdns_distribute::common
