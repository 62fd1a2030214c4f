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
#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::health_checker {

/// What the primary was last seen serving for a zone, and the mirror sequence that look covers.
struct PrimaryLook {
    uint32_t serial = 0;
    common::Hash128 content;
    uint64_t sequence = 0;
    common::Hash128 apex;
    std::optional<uint32_t> expiry;

    [[nodiscard]] static PrimaryLook from(const common::ApexFingerprint& fp, uint64_t sequence);
};

/// The latest event per zone, as read from the stream.
struct MirrorEntry {
    common::ZoneOp op = common::ZoneOp::Upsert;
    std::optional<uint32_t> serial;
    std::optional<common::Hash128> apex;  ///< nullopt too when the event's was not 32 hex digits
    uint64_t sequence = 0;
    std::optional<common::Hash128> content;
    std::optional<uint32_t> expiry;
    std::optional<std::chrono::system_clock::time_point> at;  ///< nullopt when unparsable
    /// The primary's last look, kept across upserts (its sequence says which event it covers;
    /// older than `sequence`: not known yet) and dropped by a delete. Kept here rather than in a
    /// map of its own: one entry and one copy of the name per zone.
    std::optional<PrimaryLook> look;
};

/// In-memory mirror of PDNS_ZONES. Thread-safe.
class ZoneMirror {
public:
    void apply(const common::ZoneEvent& event, uint64_t sequence);
    void markSynced() { synced_ = true; }
    [[nodiscard]] bool synced() const { return synced_; }
    [[nodiscard]] std::map<std::string, MirrorEntry> snapshot() const;
    /// Calls `fn(entries)` under the mirror's lock (no copy; `fn` must not call back into it).
    void withEntries(
        const std::function<void(const std::map<std::string, MirrorEntry>&)>& fn) const;
    /// The highest stream sequence applied so far (0: none).
    [[nodiscard]] uint64_t lastSequence() const;
    /// Calls `fn(zone, entry)` for every zone in order, under the mirror's lock (no copy; `fn`
    /// must not call back into the mirror).
    void forEach(const std::function<void(const std::string&, const MirrorEntry&)>& fn) const;
    [[nodiscard]] size_t size() const;
    /// The stream sequence of the zone's latest event (0: none).
    [[nodiscard]] uint64_t sequenceOf(const std::string& zone) const;
    /// Drops a zone whose tombstone was purged from the stream (if still at that sequence).
    void erase(const std::string& zone, uint64_t sequence);
    /// Records a look at the primary for a zone the mirror has (ignored otherwise: no event can
    /// be covered by it yet). `only_if_newer`: kept only when it covers the kept one's event or a
    /// later one.
    void setLook(const std::string& zone, const PrimaryLook& look, bool only_if_newer = false);
    [[nodiscard]] std::optional<PrimaryLook> look(const std::string& zone) const;

private:
    mutable std::mutex mutex_;  // guards entries_
    std::map<std::string, MirrorEntry> entries_;
    uint64_t last_sequence_ = 0;
    std::atomic<bool> synced_{false};
};

struct PrimaryZone {
    std::string name;  ///< canonical
    uint32_t serial = 0;
    std::optional<common::Hash128> apex;     ///< nullopt when it could not be read
    std::optional<common::Hash128> content;  ///< ApexFingerprint::contentHash()
    std::optional<uint32_t> expiry;          ///< earliest RRSIG(SOA) expiry (signed zones)
    bool dnssec = false;                     ///< pdns lists it as signed
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
    /// identity and canary zone were verified just before it was read. Zones whose event in
    /// `mirror` came after `horizon` (the last sequence applied before the listing was read)
    /// are left alone: the listing may predate that event.
    [[nodiscard]] ReconcilePlan plan(const std::vector<PrimaryZone>& primary, bool canary_ok,
                                     const std::map<std::string, MirrorEntry>& mirror,
                                     uint64_t horizon = UINT64_MAX);
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
