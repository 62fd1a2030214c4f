// SPDX-License-Identifier: Apache-2.0
#pragma once
// DNSSEC freshness planning (DESIGN §7). PowerDNS 4.7 re-signs every signed zone at the weekly
// boundary (Thursday 00:00 UTC): the RRSIG(SOA) inception and expiry move on while serial and keys
// stay, so the full apex of every signed zone changes at once. Publishing all of them at once is
// the "weekly storm" the design forbids. The planner instead gives each zone a due time spread
// over `spread` (never later than `expiry_margin` before the signatures the nodes carry expire);
// zones whose serial jumped at the boundary (SOA-EDIT INCEPTION-*) are spread over
// `soa_edit_spread`. Pure logic over a Clock; due times are wall-clock (system_clock) because
// they are bounded by RRSIG expiry, which is a wall-clock fact.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pdns_distribute/common/clock.hpp>

namespace pdns_distribute::health_checker {

struct FreshnessSettings {
    std::chrono::hours spread{72};           ///< re-signing publishes are spread over this
    std::chrono::hours expiry_margin{72};    ///< ...but due at least this long before old expiry
    std::chrono::hours soa_edit_spread{24};  ///< SOA-EDIT INCEPTION-* weekly serial jumps
};

/// Deterministic offset in [0, window) derived from the zone name (BLAKE2b-128, first 8 bytes read
/// little-endian), so it is the same on every run, host and architecture. 0 when window <= 0.
[[nodiscard]] std::chrono::milliseconds spreadOffset(std::string_view zone,
                                                     std::chrono::milliseconds window);

/// The wall-clock time of an RRSIG time field (seconds since the epoch modulo 2^32), taken as the
/// value within 2^31 seconds (~68 years) of `now` (RFC 4034 §3.1.5, serial arithmetic), so it
/// stays right across the 2106 wrap. Exactly 2^31 seconds away counts as in the past.
[[nodiscard]] std::chrono::system_clock::time_point expiryTime(
    uint32_t rrsig_time, std::chrono::system_clock::time_point now);

/// The plan of zones whose apex moved only by re-signing (or by a weekly SOA-EDIT serial jump),
/// with the time each should be republished. Thread-safe (one mutex). The caller publishes what
/// takeDue() returns, and calls forget() when the zone is published or deleted for another reason.
class FreshnessPlanner {
public:
    FreshnessPlanner(FreshnessSettings settings, const common::Clock& clock)
        : settings_(settings), clock_(clock) {}

    /// The primary serves `new_apex` (ApexFingerprint::hex()) for a zone whose stream event has
    /// the same content and only older signature windows. `old_expiry` is the earliest RRSIG(SOA)
    /// expiry the stream event (and so the nodes) carries, nullopt if unknown.
    /// With a deadline D = expiryTime(old_expiry) - expiry_margin, the zone is due at
    ///   now + spreadOffset(zone, min(spread, D - now))   (now itself once D has passed).
    /// The offset is taken within the shorter window rather than clamped to D, so zones sharing
    /// an expiry do not all pile up on D. Unknown expiry: now + spreadOffset(zone, min(spread,
    /// 24h)) — still no storm, and safe for any validity longer than 24h + margin (pdns 4.7 leaves
    /// the old signatures two weeks at the boundary).
    /// Re-noting keeps the earlier of the planned and the new due time (so a zone re-noted with
    /// the same apex on every pass keeps its first due time) and the latest apex.
    void noteResigned(const std::string& zone, const std::string& new_apex,
                      std::optional<uint32_t> old_expiry);
    /// A zone whose serial jumped because of SOA-EDIT INCEPTION-* at the weekly boundary (the
    /// caller checks inWeeklyWindow()): due at now + spreadOffset(zone, soa_edit_spread). Same
    /// re-noting rules as noteResigned().
    void noteWeeklySerialJump(const std::string& zone, const std::string& new_apex);
    /// True when now lies in [boundary, boundary + soa_edit_spread) for the most recent Thursday
    /// 00:00 UTC boundary (pdns 4.7 inception, a multiple of 7 days since the epoch, which was a
    /// Thursday) — the only time a serial jump on an INCEPTION-* zone is treated as weekly.
    [[nodiscard]] bool inWeeklyWindow() const;

    struct Due {
        std::string zone;
        std::string apex;  ///< the new_apex the zone was planned for
    };
    /// Up to `max` zones due now, earliest due first, removed from the plan.
    [[nodiscard]] std::vector<Due> takeDue(size_t max);
    /// The zone changed for another reason (a normal publish happened, or it was deleted).
    void forget(const std::string& zone);
    [[nodiscard]] size_t pending() const;
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> dueAt(
        const std::string& zone) const;

private:
    using TimePoint = std::chrono::system_clock::time_point;
    struct Entry {
        std::string apex;
        TimePoint due;
    };
    /// Applies the re-noting rules; requires mutex_ held.
    void scheduleLocked(const std::string& zone, const std::string& apex, TimePoint due);

    FreshnessSettings settings_;
    const common::Clock& clock_;
    mutable std::mutex mutex_;  // guards entries_ and order_
    std::map<std::string, Entry> entries_;
    std::set<std::pair<TimePoint, std::string>> order_;  // (due, zone) for every entry
};

}  // namespace pdns_distribute::health_checker
