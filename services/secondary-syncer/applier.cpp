// SPDX-License-Identifier: Apache-2.0
#include "applier.hpp"

#include <spdlog/spdlog.h>

#include "config.hpp"
#include "sweep.hpp"

namespace pdns_distribute::secondary_syncer {

namespace {

using common::ManifestStatus;

ApplyResult fail(Outcome o, std::string why) {
    return ApplyResult{.outcome = o, .error = std::move(why)};
}

// Local pdns failures are transient unless the API says the request itself is wrong.
Outcome classify(const common::Error& e) {
    if (e.code.starts_with("http-4") && e.code != "http-404") return Outcome::Park;
    return Outcome::Retry;
}

}  // namespace

bool DeleteBudget::tryTake(size_t managed_zones) {
    const auto now = clock_.steady();
    auto taken = taken_.lock();
    while (!taken->empty() && now - taken->front() >= window_) taken->pop_front();
    const auto allowed =
        std::max<int64_t>(min_, static_cast<int64_t>(managed_zones) * percent_ / 100);
    if (static_cast<int64_t>(taken->size()) >= allowed) return false;
    taken->push_back(now);
    return true;
}

std::string_view toString(Outcome o) {
    switch (o) {
        case Outcome::Applied:
            return "applied";
        case Outcome::Deleted:
            return "deleted";
        case Outcome::Skipped:
            return "skipped";
        case Outcome::Retry:
            return "retry";
        case Outcome::Park:
            return "park";
    }
    return "?";
}

Applier::Applier(ApplierSettings settings, ZoneDataSource& data, common::PdnsApi& api,
                 common::ApexProbe& local_dns, TransferServer& listener, DeleteBudget& budget,
                 LateFlush& late_flush, const common::Clock& clock, Sleeper sleeper)
    : settings_(std::move(settings)),
      data_(data),
      api_(api),
      local_dns_(local_dns),
      listener_(listener),
      budget_(budget),
      late_flush_(late_flush),
      clock_(clock),
      sleep_(std::move(sleeper)) {}

bool Applier::recentlyVerified(const common::ZoneEvent& e) {
    if (e.cause == common::EventCause::Resync || e.cause == common::EventCause::Policy)
        return false;
    if (!e.serial || !e.apex) return false;
    const auto apex = common::Hash128::fromHex(*e.apex);
    if (!apex) return false;
    auto v = verified_.lock();
    auto it = v->find(e.zone);
    return it != v->end() && it->second.serial == *e.serial && it->second.apex == *apex &&
           clock_.steady() - it->second.at < settings_.verified_memory;
}

ApplyResult Applier::apply(const common::ZoneEvent& event, FlushMode flush) {
    const auto start = clock_.steady();
    if (event.op == common::ZoneOp::Upsert && recentlyVerified(event)) {
        return ApplyResult{.outcome = Outcome::Skipped};
    }
    if (event.op == common::ZoneOp::Delete && !listener_.serves(event.zone)) {
        auto local = api_.getZone(event.zone);
        if (!local && local.error().code == "not-found") {
            return ApplyResult{.outcome = Outcome::Skipped};
        }
    }
    auto fetched = data_.fetch(event.zone, event.at);
    ApplyResult r;
    if (!fetched) {
        r = fail(fetched.error().code == "refused" ? Outcome::Park : Outcome::Retry,
                 fetched.error().message);
    } else {
        switch (fetched->manifest.status) {
            case ManifestStatus::Present:
                r = upsert(event.zone, *fetched, flush);
                break;
            case ManifestStatus::Absent:
                if (event.op == common::ZoneOp::Upsert) {
                    // One signal only: the stream wants the zone. Never delete on it.
                    r = fail(Outcome::Park,
                             "the primary says the zone is absent, but the event is an upsert");
                } else {
                    r = remove(event.zone, *fetched);
                }
                break;
            case ManifestStatus::Error:
                r = fail(Outcome::Park,
                         "the zone-provider answered an error: " + fetched->manifest.reason);
                break;
        }
    }
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady() - start);
    return r;
}

ApplyResult Applier::upsert(const std::string& zone, const FetchedZone& fetched, FlushMode flush) {
    const auto& m = fetched.manifest;
    const bool known = listener_.serves(zone);
    auto served = std::make_shared<ServedBody>();
    served->zone = zone;
    served->bytes = fetched.body->bytes;
    served->digest = m.digest;
    served->serial = m.serial;
    listener_.serve(std::move(served));

    bool park = false;
    if (auto s = ensureLocalZone(zone, known, &park); !s) {
        return fail(park ? Outcome::Park : classify(s.error()), s.error().message);
    }
    const auto deadline = clock_.steady() + settings_.apply_timeout;
    common::Result<common::ApexFingerprint> served_fp = common::makeError("not transferred");
    for (;;) {
        if (auto s = transfer(zone, m.digest); !s) return fail(Outcome::Retry, s.error().message);
        served_fp =
            waitServed(zone, m.apex, std::min(deadline, clock_.steady() + settings_.serve_wait));
        if (served_fp || clock_.steady() >= deadline) break;
        spdlog::warn(
            "zone '{}': the local pdns does not serve the body it transferred; "
            "transferring again ({})",
            zone, served_fp.error().message);
    }
    if (!served_fp) return fail(Outcome::Retry, served_fp.error().message);
    // pdns answers in several threads, and an answer computed before the transfer committed (a
    // REFUSED for a zone it did not have yet, or the old serial) can reach the packet cache after
    // pdns's own purge at the commit, to be served for the cache's whole TTL: a flush now, and
    // one a little later for such an answer that lands later still (late_flush.hpp), off this
    // apply's path.
    if (flush == FlushMode::Immediate) (void)api_.flushCache(zone);
    late_flush_.schedule(zone);
    // The local pdns has the data now: keeping the whole body would hold every zone's data in
    // this process (at 100,000 zones, hundreds of MB). Its SOA answers the refresh checks.
    listener_.retire(zone, m.digest);
    if (const auto apex = common::Hash128::fromHex(m.apex)) {
        auto v = verified_.lock();
        (*v)[zone] = Verified{.serial = m.serial, .apex = *apex, .at = clock_.steady()};
    }
    return ApplyResult{.outcome = Outcome::Applied,
                       .serial = m.serial,
                       .apex = m.apex,
                       .served = std::move(*served_fp)};
}

bool Applier::verifiedWithin(const std::string& zone, std::chrono::milliseconds within) {
    auto v = verified_.lock();
    const auto it = v->find(zone);
    return it != v->end() && clock_.steady() - it->second.at < within;
}

void Applier::forgetVerified(std::chrono::milliseconds older_than) {
    const auto keep =
        std::max<std::chrono::steady_clock::duration>(older_than, settings_.verified_memory);
    const auto now = clock_.steady();
    auto v = verified_.lock();
    std::erase_if(*v, [&](const auto& entry) { return now - entry.second.at >= keep; });
}

common::Status Applier::ensureLocalZone(const std::string& zone, bool known, bool* park) {
    const auto spec = managedZoneSpec(zone, settings_.master, settings_.tsig_key_id);
    // A zone the listener does not serve yet is most likely new here (a bootstrap, a create):
    // create it straight away, and read it first only when pdns says it exists (409). One API
    // call less per new zone; an existing zone costs one refused create more.
    if (!known) {
        auto created = api_.createSecondaryZone(spec);
        if (created) return {};
        if (created.error().code != "http-409") {
            return common::Error{.message = "cannot create the local secondary zone (" +
                                            created.error().message + ")",
                                 .code = created.error().code};
        }
    }
    auto local = api_.getZone(zone);
    if (!local) {
        if (local.error().code != "not-found") {
            return common::Error{
                .message = "cannot read local zone (" + local.error().message + ")",
                .code = local.error().code};
        }
        if (auto s = api_.createSecondaryZone(spec); !s) {
            return common::Error{
                .message = "cannot create the local secondary zone (" + s.error().message + ")",
                .code = s.error().code};
        }
        return {};
    }
    if (local->account != kManagedAccount) {
        *park = true;
        return common::makeError(
            "name clash: the local pdns has the zone with account '{}', not managed by "
            "pdns-distribute; delete it locally or set its account to '{}'",
            local->account, kManagedAccount);
    }
    // A zone without our key (made by a version without TSIG, or before the key was renamed)
    // gets it here, before the retrieve: the listener answers only signed transfer requests.
    if (local->kind != "Slave" || local->masters != spec.masters ||
        local->tsig_master_key_ids != spec.tsig_master_key_ids) {
        if (auto s = api_.updateSecondaryZone(spec); !s) {
            return common::Error{
                .message = "cannot update the local secondary zone (" + s.error().message + ")",
                .code = s.error().code};
        }
    }
    return {};
}

common::Status Applier::transfer(const std::string& zone, const std::string& digest) {
    const auto t0 = clock_.steady();
    const auto deadline = t0 + settings_.apply_timeout;
    while (clock_.steady() < deadline) {
        const auto retrieved_at = clock_.steady();
        if (auto s = api_.axfrRetrieve(zone); !s) {
            return common::Error{.message = "axfr-retrieve failed (" + s.error().message + ")",
                                 .code = s.error().code};
        }
        // pdns 4.7 silently drops a retrieve while a transfer of the zone runs, so a retrieve
        // that starts nothing within retrieve_reissue is issued again. A transfer of this body
        // that completed since t0 counts even if an earlier retrieve started it.
        const auto started_by = std::min(clock_.steady() + settings_.retrieve_reissue, deadline);
        switch (listener_.waitForTransfer(zone, digest, t0, retrieved_at, started_by, deadline)) {
            case TransferWait::Completed:
                return {};
            case TransferWait::Failed:
                sleep_(std::chrono::milliseconds{100});  // a broken-off transfer: don't spin
                break;
            case TransferWait::NotStarted:
                break;
        }
    }
    return common::makeError("the local pdns did not transfer the zone within {} ms",
                             settings_.apply_timeout.count());
}

common::Result<common::ApexFingerprint> Applier::waitServed(
    const std::string& zone, const std::string& apex,
    std::chrono::steady_clock::time_point deadline) {
    std::string last = "no answer yet";
    auto pause = settings_.apex_poll;
    for (int look = 0;; ++look) {
        // The looks go past pdns's packet cache (ApexQueries::PastPacketCache), and pdns purges
        // its caches for a zone when it commits a transfer, so the first two looks need no
        // flush of ours. The first usually comes before the commit (the listener's receipt is
        // for the last message sent; measured: 93 % of the first looks in a bootstrap), and a
        // flush before the second cost the local pdns a walk of all its cache shards per zone.
        // A second look that still meets something else may have met the backend query cache
        // holding an answer computed before the commit and stored after that purge: flush
        // before every further look.
        if (look >= 2) {
            if (auto s = api_.flushCache(zone); !s) {
                last = "cache flush failed: " + s.error().message;
            }
        }
        auto served = local_dns_.apex(zone);
        if (served && served->hex() == apex) return std::move(*served);
        if (served) {
            last = fmt::format("serves serial {} apex {}", served->serial, served->hex());
        } else {
            last = served.error().message;
        }
        if (clock_.steady() >= deadline) break;
        sleep_(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds{200});
    }
    return common::makeError("the local pdns does not serve the transferred zone ({})", last);
}

ApplyResult Applier::remove(const std::string& zone, const FetchedZone& fetched) {
    (void)fetched;
    auto local = api_.getZone(zone);
    if (!local) {
        if (local.error().code != "not-found") {
            return fail(Outcome::Retry, "cannot read the local zone: " + local.error().message);
        }
        listener_.withdraw(zone);  // already gone locally: nothing to delete
        verified_.lock()->erase(zone);
        return ApplyResult{.outcome = Outcome::Deleted};
    }
    if (local->account != kManagedAccount) {
        return fail(Outcome::Park,
                    "the local zone is not managed by pdns-distribute; not deleting it");
    }
    if (!budget_.tryTake(listener_.servedCount())) {
        return fail(Outcome::Park, "delete budget exhausted; deletion parked");
    }
    if (auto s = api_.deleteZone(zone); !s) {
        return fail(classify(s.error()), "cannot delete the local zone: " + s.error().message);
    }
    listener_.withdraw(zone);
    verified_.lock()->erase(zone);
    (void)api_.flushCache(zone);
    late_flush_.schedule(zone);  // an answer computed before the delete, cached after the flush
    return ApplyResult{.outcome = Outcome::Deleted};
}

}  // namespace pdns_distribute::secondary_syncer
