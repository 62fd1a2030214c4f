// SPDX-License-Identifier: Apache-2.0
#pragma once
// What this node's pdns serves, zone by zone, as last seen (after an apply, or by the periodic
// look at the local DNS), and the bucketed digest of it that heartbeats carry (DESIGN §7
// verify). Zones the local pdns does not serve stay listed with an error but contribute nothing
// to the digest, so a missing zone is a difference. Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/zone_digest.hpp>

namespace pdns_distribute::secondary_syncer {

struct ServedState {
    std::optional<uint32_t> serial;  ///< nullopt: not served
    common::Hash128 content;         ///< ApexFingerprint::contentHash() when served
    common::Hash128 apex;            ///< ApexFingerprint::hash() when served
    std::optional<uint32_t> expiry;
    std::string error;

    [[nodiscard]] static ServedState from(const common::ApexFingerprint& fp);
    [[nodiscard]] static ServedState missing(std::string error);
};

class ServedTable {
public:
    /// Records what the zone serves now; returns the zone's new version.
    uint64_t set(const std::string& zone, ServedState state);
    /// Records a look that started at `version` unless something newer was recorded meanwhile.
    bool setIfVersion(const std::string& zone, ServedState state, uint64_t version);
    /// Keeps what is served, notes the last error (e.g. an apply that failed).
    void setError(const std::string& zone, const std::string& error);
    void erase(const std::string& zone);
    /// Marks every zone unserved (the local pdns does not answer at all).
    void markAllUnserved(const std::string& error);

    /// 0 for an unknown zone.
    [[nodiscard]] uint64_t version(const std::string& zone) const;
    [[nodiscard]] std::vector<std::string> zones() const;
    /// The zones of digest bucket k (ZoneDigest::bucketOf), in name order.
    [[nodiscard]] std::vector<std::string> zonesIn(uint32_t k) const;
    [[nodiscard]] size_t servedCount() const;
    /// Zones listed (served or not).
    [[nodiscard]] size_t size() const;
    [[nodiscard]] std::string digestHex() const;
    [[nodiscard]] std::string bucketsHex() const;
    /// Buckets [first, first + count) (ZoneDigest::bucketsHex).
    [[nodiscard]] std::string bucketsHex(size_t first, size_t count) const;
    /// The 64 group digests (ZoneDigest::groupsHex).
    [[nodiscard]] std::string groupsHex() const;
    [[nodiscard]] common::BucketReply bucket(uint32_t k) const;

private:
    struct Entry {
        ServedState state;
        uint64_t version = 0;
    };
    using Zones = std::map<std::string, Entry>;
    void replace(const std::string& zone, Entry& entry, ServedState state);
    Zones::iterator insert(const std::string& zone);
    void erase(Zones::iterator it);

    mutable std::mutex mutex_;  // guards everything below
    Zones zones_;
    // The zones of each digest bucket (their keys in zones_, which std::map keeps in place), so a
    // bucket request costs its few zones, not a walk of every zone.
    std::vector<std::vector<const std::string*>> by_bucket_ =
        std::vector<std::vector<const std::string*>>(common::ZoneDigest::kBuckets);
    size_t served_ = 0;  // entries with a serial
    common::ZoneDigest digest_;
    uint64_t next_version_ = 1;
};

}  // namespace pdns_distribute::secondary_syncer
