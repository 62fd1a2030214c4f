// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reconcile (DESIGN §7): compare what the primary serves with the desired state in PDNS_ZONES
// (the mirror) and plan the conditional publishes that close the gap — changes that bypassed the
// api-proxy (pdnsutil, SQL, the primary's own API port, key operations that keep the serial).
// Deletions are the dangerous direction: never from an empty listing, a failed canary, or a
// listing that lost more than hold_percent % or hold_zones zones; those are held until an
// operator approves them. Pure logic; thread-safe (one mutex).

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/zone_event.hpp>

#include "mirror.hpp"

namespace pdns_distribute::health_checker {

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
                                     const MirrorTable& mirror, uint64_t horizon = UINT64_MAX);
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
