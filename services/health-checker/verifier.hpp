// SPDX-License-Identifier: Apache-2.0
#pragma once
// Verify (DESIGN §7): what every secondary serves, compared with what the primary serves for
// every zone the stream wants, without querying secondaries over DNS. Nodes send a heartbeat
// with a digest of what they serve; a node whose digest differs from the desired one is asked
// for its 4,096 bucket digests, then only for the zones of differing buckets. A zone that stays
// different longer than event_check_wait gets a targeted resync, retried with capped backoff.
// Nodes that miss 3 heartbeats are inactive and cost nothing. Pure logic over a Clock.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/zone_digest.hpp>

namespace pdns_distribute::health_checker {

/// What the primary serves for a zone the stream wants.
struct DesiredZone {
    uint32_t serial = 0;
    common::Hash128 content;  ///< ApexFingerprint::contentHash()
};

/// The desired state of one verification round, indexed by bucket. Zones the stream wants whose
/// primary state is not known yet are "unknown": never reported as divergent either way.
///
/// Built again from the mirror after every reconcile pass, so it is kept compact: every name once
/// in one buffer, and per zone a small fixed entry in its bucket's sorted vector (no string or
/// tree node per zone: ~100,000 small allocations per rebuild left the heap fragmented).
class DesiredState {
public:
    /// A zone of a bucket: where its name is in the state's buffer, and what the primary serves.
    struct Entry {
        uint32_t name_at = 0;
        uint32_t name_size = 0;
        DesiredZone zone;
    };
    /// A bucket's zones in name order.
    using Bucket = std::vector<Entry>;

    DesiredState();
    /// Sizes every bucket and the name buffer for the zones about to be set (`per_bucket[k]`
    /// zones in bucket k, `name_bytes` of names in all), so a rebuild leaves no growth slack
    /// behind. A hint: set() still grows them when more come.
    void reserve(const std::vector<uint32_t>& per_bucket, size_t name_bytes);
    void set(std::string_view zone, DesiredZone z);
    /// The same for a caller that has the zone's bucket already (`bucket` must be
    /// ZoneDigest::bucketOf(zone)).
    void set(size_t bucket, std::string_view zone, DesiredZone z);
    void setUnknown(std::string_view zone);

    [[nodiscard]] const common::ZoneDigest& digest() const { return digest_; }
    [[nodiscard]] const Bucket& bucket(size_t k) const { return buckets_.at(k); }
    /// The name of an entry of one of this state's buckets.
    [[nodiscard]] std::string_view name(const Entry& e) const {
        return std::string_view(names_).substr(e.name_at, e.name_size);
    }
    /// The zone's entry in `bucket` (one of this state's), nullptr when not wanted.
    [[nodiscard]] const DesiredZone* find(const Bucket& bucket, std::string_view zone) const;
    [[nodiscard]] bool unknown(std::string_view zone) const { return unknown_.contains(zone); }
    [[nodiscard]] std::optional<DesiredZone> find(std::string_view zone) const;
    [[nodiscard]] size_t size() const { return size_; }

private:
    /// Where `zone` is, or would go, in `bucket` (name order).
    [[nodiscard]] size_t positionOf(const Bucket& bucket, std::string_view zone) const;

    std::vector<Bucket> buckets_;
    std::string names_;  ///< every wanted zone's name once, back to back
    std::set<std::string, std::less<>> unknown_;
    common::ZoneDigest digest_;
    size_t size_ = 0;
};

struct VerifierSettings {
    std::chrono::milliseconds event_check_wait{20000};
    std::chrono::milliseconds resync_backoff_max{600000};
    int missed_heartbeats = 3;  ///< inactive after this many heartbeat intervals of silence
};

struct Divergence {
    std::string node;
    std::string zone;
    std::optional<uint32_t> wanted_serial;  ///< nullopt: the zone is not wanted
    std::optional<uint32_t> served_serial;  ///< nullopt: not served
    std::string wanted_content;
    std::string served_content;
    std::string error;
    std::chrono::steady_clock::time_point first_seen;
    std::chrono::steady_clock::time_point next_resync;
    int resyncs = 0;
};

struct NodeStatus {
    common::Heartbeat heartbeat;
    std::chrono::system_clock::time_point last_heartbeat;
    std::chrono::milliseconds heartbeat_age{0};
    bool active = false;
    bool examined = false;  ///< the current digest difference has been looked into
    bool in_sync = false;
    size_t out_of_sync = 0;
    std::chrono::milliseconds max_lag{0};
};

class Verifier {
public:
    Verifier(VerifierSettings settings, const common::Clock& clock)
        : settings_(settings), clock_(clock) {}

    void heartbeat(const common::Heartbeat& h);
    /// Active nodes that need a look: their digest differs from the desired one and either
    /// digest changed since they were last examined. Nodes whose digest matches are in sync
    /// (their divergences are resolved here).
    [[nodiscard]] std::vector<std::string> nodesToExamine(const std::string& desired_digest);
    /// Records an examination: `differing` are the buckets that differ from the desired ones
    /// (divergences elsewhere are resolved); compareBucket() follows for each of them.
    void examined(const std::string& node, const std::string& node_digest,
                  const std::string& desired_digest, const std::vector<size_t>& differing);
    /// Compares one bucket of a node with the desired state of that bucket; returns the
    /// divergences that are new (not known before this look).
    std::vector<Divergence> compareBucket(const std::string& node, const common::BucketReply& reply,
                                          const DesiredState& desired);
    /// Divergences older than event_check_wait whose backoff has elapsed, per active node that
    /// is not catching up (its heartbeat says it still reads a backlog); each returned one
    /// counts as resynced now (next try after a doubled wait).
    [[nodiscard]] std::map<std::string, std::vector<std::string>> dueResyncs();
    /// A divergence found stale on closer look (e.g. the desired state was behind) is dropped.
    void resolve(const std::string& node, const std::string& zone);
    /// The served side of a divergence, to check it against a fresh look at the primary.
    [[nodiscard]] std::optional<Divergence> divergence(const std::string& node,
                                                       const std::string& zone) const;

    [[nodiscard]] std::vector<NodeStatus> nodes() const;
    [[nodiscard]] std::vector<Divergence> divergences() const;

private:
    struct Node {
        common::Heartbeat heartbeat;
        std::chrono::steady_clock::time_point last_seen;
        std::chrono::system_clock::time_point last_seen_wall;
        std::string examined_node_digest;
        std::string examined_desired_digest;
        std::set<size_t> differing;
        std::map<std::string, Divergence> divergences;
    };
    [[nodiscard]] bool active(const Node& n) const;

    VerifierSettings settings_;
    const common::Clock& clock_;
    mutable std::mutex mutex_;  // guards nodes_
    std::map<std::string, Node> nodes_;
};

}  // namespace pdns_distribute::health_checker
