// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reconcile (DESIGN §7): compare what the primary serves with the desired state in PDNS_ZONES
// (the mirror) and plan the conditional publishes that close the gap — changes that bypassed the
// api-proxy (pdnsutil, SQL, the primary's own API port, key operations that keep the serial).
// Deletions are the dangerous direction: never from an empty listing, a failed canary, or a
// listing that lost more than hold_percent % or hold_zones zones; those are held until an
// operator approves them. Pure logic; thread-safe (one mutex).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::health_checker {

/// The latest event per zone, as read from the stream.
struct MirrorEntry {
    common::ZoneOp op = common::ZoneOp::Upsert;
    std::optional<uint32_t> serial;
    std::optional<common::Hash128> apex;  ///< nullopt too when the event's was not 32 hex digits
    uint64_t sequence = 0;
    std::optional<common::Hash128> content;
    std::optional<uint32_t> expiry;
    std::optional<std::chrono::system_clock::time_point> at;  ///< nullopt when unparsable
};

/// In-memory mirror of PDNS_ZONES. Thread-safe.
class ZoneMirror {
public:
    void apply(const common::ZoneEvent& event, uint64_t sequence);
    void markSynced() { synced_ = true; }
    [[nodiscard]] bool synced() const { return synced_; }
    [[nodiscard]] std::map<std::string, MirrorEntry> snapshot() const;
    /// Calls `fn(zone, entry)` for every zone in order, under the mirror's lock (no copy; `fn`
    /// must not call back into the mirror).
    void forEach(const std::function<void(const std::string&, const MirrorEntry&)>& fn) const;
    [[nodiscard]] size_t size() const;
    /// The stream sequence of the zone's latest event (0: none).
    [[nodiscard]] uint64_t sequenceOf(const std::string& zone) const;
    /// Drops a zone whose tombstone was purged from the stream (if still at that sequence).
    void erase(const std::string& zone, uint64_t sequence);

private:
    mutable std::mutex mutex_;  // guards entries_
    std::map<std::string, MirrorEntry> entries_;
    std::atomic<bool> synced_{false};
};

struct PrimaryZone {
    std::string name;  ///< canonical
    uint32_t serial = 0;
    std::optional<common::Hash128> apex;     ///< nullopt when it could not be read
    std::optional<common::Hash128> content;  ///< ApexFingerprint::contentHash()
    std::optional<uint32_t> expiry;          ///< earliest RRSIG(SOA) expiry (signed zones)
};

struct PlannedPublish {
    common::ZoneEvent event;
    uint64_t expected_sequence = 0;  ///< ExpectLastSubjectSeq (0: no message yet)
    /// Serial and signature windows moved together, keys did not: possibly the weekly SOA-EDIT
    /// INCEPTION-* jump, which the caller may spread instead of publishing at once.
    bool maybe_weekly = false;
};

/// Same serial and content, only the signatures' validity windows moved (re-signing): not
/// published at once but planned for DNSSEC freshness.
struct Resigned {
    std::string zone;
    std::string apex;                    ///< the primary's new full apex
    std::optional<uint32_t> old_expiry;  ///< of what the stream (and so the nodes) carry
};

struct ReconcilePlan {
    std::vector<PlannedPublish> publishes;
    std::vector<Resigned> resigned;
    std::vector<std::string> newly_held;
};

struct ReconcilerSettings {
    int64_t hold_percent = 1;
    int64_t hold_zones = 100;
};

class Reconciler {
public:
    Reconciler(ReconcilerSettings settings, const common::Clock& clock)
        : settings_(settings), clock_(clock) {}

    /// Plans one pass. `primary` is the complete listing; `canary_ok` says whether the primary's
    /// identity and canary zone were verified just before it was read.
    [[nodiscard]] ReconcilePlan plan(const std::vector<PrimaryZone>& primary, bool canary_ok,
                                     const std::map<std::string, MirrorEntry>& mirror);
    /// Operator approval: the next plan() publishes the deletions held now, for zones still
    /// absent. Returns how many were approved.
    size_t approve();
    [[nodiscard]] std::vector<std::string> held() const;
    [[nodiscard]] std::string holdReason() const;

private:
    ReconcilerSettings settings_;
    const common::Clock& clock_;
    mutable std::mutex mutex_;  // guards held_, hold_reason_, approved_
    std::set<std::string> held_;
    std::string hold_reason_;
    std::set<std::string> approved_;
};

}  // namespace pdns_distribute::health_checker
