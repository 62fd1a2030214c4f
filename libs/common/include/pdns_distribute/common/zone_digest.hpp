// SPDX-License-Identifier: Apache-2.0
#pragma once
// Bucketed digest of a set of (zone, content fingerprint) pairs (DESIGN §7 verify): each zone
// contributes BLAKE2b-128(zone ‖ 0 ‖ content) by XOR to one of 4,096 buckets chosen by the zone
// name alone, so the desired state and a node's state can be compared with one 16-byte digest,
// then bucket by bucket, then zone by zone, and updated in O(1) per zone change.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/hash128.hpp>

namespace pdns_distribute::common {

class ZoneDigest {
public:
    static constexpr size_t kBuckets = 4096;
    using Hash = std::array<uint8_t, 16>;

    /// The bucket a zone always falls in (canonical name).
    [[nodiscard]] static size_t bucketOf(std::string_view zone);
    [[nodiscard]] static Hash contribution(std::string_view zone, std::string_view content);

    /// Adds (or, applied again with the same arguments, removes: XOR) one zone.
    void toggle(std::string_view zone, std::string_view content);
    /// The same with the content fingerprint held as bytes (hashed as its 32 hex digits).
    void toggle(std::string_view zone, const Hash128& content);
    /// The same for a caller that has the zone's bucket already (`bucket` must be
    /// bucketOf(zone)): one hash of the name fewer.
    void toggle(size_t bucket, std::string_view zone, const Hash128& content);

    [[nodiscard]] const Hash& bucket(size_t k) const { return buckets_.at(k); }
    /// XOR of all buckets, as 32 hex digits.
    [[nodiscard]] std::string totalHex() const;
    /// All buckets as 4,096 × 32 hex digits (the `state` reply).
    [[nodiscard]] std::string bucketsHex() const;
    /// Parses bucketsHex() output; nullopt on any other length or a non-hex digit.
    [[nodiscard]] static std::optional<ZoneDigest> fromBucketsHex(std::string_view hex);
    /// Buckets that differ between the two digests, ascending.
    [[nodiscard]] std::vector<size_t> differingBuckets(const ZoneDigest& other) const;

    // Two-level comparison: 64 groups of 64 consecutive buckets, a group's hash being the XOR of
    // its buckets. A checker compares the groups (2 KiB), then only the buckets of the groups
    // that differ (2 KiB each), instead of all 4,096 buckets (128 KiB).
    static constexpr size_t kGroups = 64;
    static constexpr size_t kGroupSize = kBuckets / kGroups;
    [[nodiscard]] Hash group(size_t g) const;
    /// All group hashes as 64 × 32 hex digits.
    [[nodiscard]] std::string groupsHex() const;
    /// Buckets [first, first + count) as count × 32 hex digits (count clipped to the end).
    [[nodiscard]] std::string bucketsHex(size_t first, size_t count) const;
    /// Parses exactly `count` hashes of 32 hex digits each; nullopt otherwise.
    [[nodiscard]] static std::optional<std::vector<Hash>> parseHashes(std::string_view hex,
                                                                      size_t count);
    [[nodiscard]] static std::string hex(const Hash& h);

    bool operator==(const ZoneDigest&) const = default;

private:
    std::array<Hash, kBuckets> buckets_{};
    Hash total_{};
};

}  // namespace pdns_distribute::common
