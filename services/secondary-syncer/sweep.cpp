// SPDX-License-Identifier: Apache-2.0
#include "sweep.hpp"

#include <algorithm>

#include "config.hpp"

namespace pdns_distribute::secondary_syncer {

namespace {

common::ZoneEvent resync(const std::string& zone, common::ZoneOp op) {
    return common::ZoneEvent{.zone = zone,
                             .op = op,
                             .serial = std::nullopt,
                             .apex = std::nullopt,
                             .cause = common::EventCause::Resync,
                             .at = {}};
}

}  // namespace

common::SecondaryZoneSpec managedZoneSpec(const std::string& zone, const std::string& master,
                                          const std::string& key_id) {
    return common::SecondaryZoneSpec{.name = zone,
                                     .masters = {master},
                                     .account = std::string(kManagedAccount),
                                     .tsig_master_key_ids = key_id.empty()
                                                                ? std::vector<std::string>{}
                                                                : std::vector<std::string>{key_id}};
}

bool isManagedZone(const common::PdnsZoneInfo& z, const std::string& master) {
    return z.account == kManagedAccount &&
           std::find(z.masters.begin(), z.masters.end(), master) != z.masters.end();
}

KeyPassResult ensureZoneKeys(common::PdnsApi& api, const std::vector<common::PdnsZoneInfo>& local,
                             const std::string& master, const std::string& key_id,
                             const std::function<bool()>& stop) {
    KeyPassResult r;
    for (const auto& listed : local) {
        if (!isManagedZone(listed, master)) continue;
        ++r.managed;
        if (stop()) {
            ++r.failed;
            continue;
        }
        auto z = api.getZone(listed.name);
        if (!z) {
            // Deleted meanwhile: nothing to fix.
            if (z.error().code != "not-found") ++r.failed;
            continue;
        }
        const auto spec = managedZoneSpec(listed.name, master, key_id);
        if (z->tsig_master_key_ids == spec.tsig_master_key_ids) continue;
        if (auto s = api.updateSecondaryZone(spec); !s) {
            ++r.failed;
            continue;
        }
        ++r.updated;
    }
    return r;
}

DesiredRead readDesired(common::StreamReader& reader, std::chrono::milliseconds slice,
                        std::chrono::milliseconds first_patience,
                        std::chrono::milliseconds stall_patience,
                        const std::function<bool()>& stop) {
    DesiredRead read;
    bool any = false;
    std::chrono::milliseconds waited{0};  // since the last delivery (or the start)
    while (!stop()) {
        auto m = reader.next(slice);
        if (!m) {
            waited += slice;
            // Nothing at all: an empty stream, or one too slow to deliver. Either way nothing
            // read says a local zone is unwanted (and an empty stream is no reason to empty a
            // node), so the read stays incomplete.
            if (!any && waited >= first_patience) break;
            if (any && waited >= stall_patience) break;  // stalled with messages pending
            continue;
        }
        any = true;
        waited = std::chrono::milliseconds{0};
        if (auto e = common::parseZoneEvent(m->message.data)) {
            read.zones[e->zone] =
                DesiredZone{.op = e->op, .serial = e->serial, .sequence = m->sequence};
        }
        if (m->pending == 0) {
            read.complete = true;
            break;
        }
    }
    return read;
}

SweepPlan planSweep(const std::map<std::string, DesiredZone>& desired,
                    const std::vector<common::PdnsZoneInfo>& local, const std::string& master,
                    bool complete, uint64_t delivered_through) {
    SweepPlan plan;
    std::map<std::string, const common::PdnsZoneInfo*> by_name;
    for (const auto& z : local) by_name[z.name] = &z;
    auto managed = [&](const common::PdnsZoneInfo& z) { return isManagedZone(z, master); };
    const auto coming = [&](const DesiredZone& want) { return want.sequence > delivered_through; };
    for (const auto& [zone, want] : desired) {
        if (want.op != common::ZoneOp::Upsert || coming(want)) continue;
        auto it = by_name.find(zone);
        if (it != by_name.end() && it->second->account != kManagedAccount) {
            plan.clashes.push_back(zone);  // someone else's zone: never touched
            continue;
        }
        // Missing locally, ours but pointing at another master, or at another (or unknown)
        // serial: fetch it again.
        const bool current = it != by_name.end() && managed(*it->second) && want.serial &&
                             *want.serial == it->second->serial;
        if (!current) plan.events.push_back(resync(zone, common::ZoneOp::Upsert));
    }
    for (const auto& z : local) {
        if (!complete) break;  // an unread zone is not an unwanted one
        if (!managed(z)) continue;
        auto it = desired.find(z.name);
        if (it != desired.end() && coming(it->second)) continue;
        if (it == desired.end() || it->second.op == common::ZoneOp::Delete) {
            plan.events.push_back(resync(z.name, common::ZoneOp::Delete));
        }
    }
    return plan;
}

size_t leaveInHand(SweepPlan& plan, const std::function<bool(const std::string&)>& in_hand) {
    return std::erase_if(plan.events, [&](const common::ZoneEvent& e) {
        return e.op == common::ZoneOp::Upsert && in_hand(e.zone);
    });
}

}  // namespace pdns_distribute::secondary_syncer
