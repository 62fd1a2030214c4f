// SPDX-License-Identifier: Apache-2.0
#pragma once
// The syncer's core (DESIGN §5.3–5.5): given a zone event, fetch and verify the zone data, then
// converge the local pdns to it and prove it serves it, or delete the zone on a verified absence
// within the delete budget. Owns no sockets or threads; every effect goes through a port.
// Thread-safe for different zones; the caller serialises work per zone.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/zone_event.hpp>

#include "axfr_listener.hpp"
#include "late_flush.hpp"
#include "zone_data_client.hpp"

namespace pdns_distribute::secondary_syncer {

/// Deletions allowed per window: max(min, percent % of managed zones). Thread-safe.
class DeleteBudget {
public:
    DeleteBudget(const common::Clock& clock, std::chrono::milliseconds window, int64_t min,
                 int64_t percent)
        : clock_(clock), window_(window), min_(min), percent_(percent) {}
    /// Takes one deletion from the budget if there is room.
    [[nodiscard]] bool tryTake(size_t managed_zones);

private:
    const common::Clock& clock_;
    std::chrono::milliseconds window_;
    int64_t min_;
    int64_t percent_;
    common::Guarded<std::deque<std::chrono::steady_clock::time_point>> taken_;
};

enum class Outcome {
    Applied,  ///< the local pdns serves the signed body
    Deleted,  ///< the zone was dropped on a verified absence
    Skipped,  ///< nothing to do
    Retry,    ///< likely transient (broker, provider or local pdns unavailable)
    Park,     ///< will not succeed by retrying at once (refusal, absent on upsert, clash, budget)
};
[[nodiscard]] std::string_view toString(Outcome o);

/// How hard an apply works to leave no stale answer in the local pdns's caches.
enum class FlushMode {
    /// A flush right after the served check passed, and the late one (late_flush.hpp).
    Immediate,
    /// The late flush only: one API call less per zone for a node catching up (a bootstrap, a
    /// mass change), where throughput counts and an answer cached early lives at most until the
    /// late flush.
    LateOnly,
};

struct ApplyResult {
    Outcome outcome = Outcome::Skipped;
    std::string error;  ///< why, for Retry and Park
    uint32_t serial = 0;
    std::string apex;
    std::chrono::milliseconds took{0};
    std::optional<common::ApexFingerprint> served;  ///< what the local pdns serves (Applied)
};

struct ApplierSettings {
    std::string master;  ///< "127.0.0.1:<listener port>", as the local pdns is told
    /// pdns id of the TSIG key every managed zone transfers with (its AXFR-MASTER-TSIG);
    /// empty only in tests that do not care.
    std::string tsig_key_id;
    std::chrono::milliseconds apply_timeout{30000};
    std::chrono::milliseconds retrieve_reissue{2000};
    /// A transfer the listener completed but the local pdns does not serve after this long is
    /// done again (pdns can fail to commit it, e.g. on a busy sqlite database).
    std::chrono::milliseconds serve_wait{3000};
    std::chrono::milliseconds apex_poll{5};
    std::chrono::hours verified_memory{1};
};

class Applier {
public:
    using Sleeper = std::function<void(std::chrono::milliseconds)>;
    Applier(ApplierSettings settings, ZoneDataSource& data, common::PdnsApi& api,
            common::ApexProbe& local_dns, TransferServer& listener, DeleteBudget& budget,
            LateFlush& late_flush, const common::Clock& clock, Sleeper sleeper);

    [[nodiscard]] ApplyResult apply(const common::ZoneEvent& event,
                                    FlushMode flush = FlushMode::Immediate);
    /// True when an apply proved what the local pdns serves for the zone less than `within` ago
    /// (the periodic scan need not look again yet).
    [[nodiscard]] bool verifiedWithin(const std::string& zone, std::chrono::milliseconds within);
    /// Forgets applies older than `older_than` and the verified memory both (neither
    /// verifiedWithin(older_than) nor the skip of a repeated event needs them any more).
    void forgetVerified(std::chrono::milliseconds older_than);

private:
    [[nodiscard]] ApplyResult upsert(const std::string& zone, const FetchedZone& fetched,
                                     FlushMode flush);
    [[nodiscard]] ApplyResult remove(const std::string& zone, const FetchedZone& fetched);
    /// `known`: the listener served the zone before this apply (then it is read first).
    [[nodiscard]] common::Status ensureLocalZone(const std::string& zone, bool known, bool* park);
    [[nodiscard]] common::Status transfer(const std::string& zone, const std::string& digest);
    [[nodiscard]] common::Result<common::ApexFingerprint> waitServed(
        const std::string& zone, const std::string& apex,
        std::chrono::steady_clock::time_point deadline);
    [[nodiscard]] bool recentlyVerified(const common::ZoneEvent& e);

    ApplierSettings settings_;
    ZoneDataSource& data_;
    common::PdnsApi& api_;
    common::ApexProbe& local_dns_;
    TransferServer& listener_;
    DeleteBudget& budget_;
    LateFlush& late_flush_;
    const common::Clock& clock_;
    Sleeper sleep_;
    struct Verified {
        uint32_t serial = 0;
        common::Hash128 apex;
        std::chrono::steady_clock::time_point at;
    };
    common::Guarded<std::map<std::string, Verified, std::less<>>> verified_;
};

}  // namespace pdns_distribute::secondary_syncer
