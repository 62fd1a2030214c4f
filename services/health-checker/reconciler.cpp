// SPDX-License-Identifier: Apache-2.0
#include "reconciler.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace pdns_distribute::health_checker {

ReconcilePlan Reconciler::plan(const std::vector<PrimaryZone>& primary, bool canary_ok,
                               const MirrorTable& mirror, uint64_t horizon) {
    ReconcilePlan plan;
    const auto at = common::rfc3339Millis(clock_.system());
    // The listed names, sorted (views into `primary`: a set would copy every name).
    std::vector<std::string_view> listed;
    listed.reserve(primary.size());
    for (const auto& z : primary) listed.emplace_back(z.name);
    std::sort(listed.begin(), listed.end());
    const auto isListed = [&](std::string_view zone) {
        return std::binary_search(listed.begin(), listed.end(), zone);
    };
    for (const auto& z : primary) {
        const auto it = mirror.find(z.name);
        if (it && it->sequence > horizon) continue;  // newer than the list
        const bool in_sync = it && it->op == common::ZoneOp::Upsert && it->serial == z.serial &&
                             (!z.apex || it->apex == z.apex);
        if (in_sync) continue;
        const bool was_upsert = it && it->op == common::ZoneOp::Upsert;
        if (was_upsert && z.apex && z.content && it->content == z.content &&
            it->serial == z.serial) {
            plan.resigned.push_back(
                Resigned{.zone = z.name, .apex = z.apex->hex(), .old_expiry = it->expiry});
            continue;
        }
        const bool maybe_weekly = was_upsert && it->serial && it->serial != z.serial &&
                                  it->expiry && z.expiry && it->expiry != z.expiry;
        plan.publishes.push_back(
            PlannedPublish{.event = common::ZoneEvent{.zone = z.name,
                                                      .op = common::ZoneOp::Upsert,
                                                      .serial = z.serial,
                                                      .apex = common::hexOf(z.apex),
                                                      .cause = common::EventCause::Reconcile,
                                                      .at = at,
                                                      .content = common::hexOf(z.content),
                                                      .expiry = z.expiry},
                           .expected_sequence = it ? it->sequence : 0,
                           .maybe_weekly = maybe_weekly});
    }

    // Zones the mirror has and the listing lacks, with the sequence a delete must follow.
    std::vector<std::pair<std::string, uint64_t>> gone;
    size_t live = 0;
    mirror.forEach([&](std::string_view zone, const MirrorEntry& entry) {
        if (entry.op != common::ZoneOp::Upsert || entry.sequence > horizon) return;
        ++live;
        if (!isListed(zone)) gone.emplace_back(zone, entry.sequence);
    });
    // In name order, as the listing would have them.
    std::sort(gone.begin(), gone.end());

    std::lock_guard lock(mutex_);
    // Zones that came back are no longer candidates.
    std::erase_if(held_, [&](const std::string& z) { return isListed(z); });
    if (held_.empty()) hold_reason_.clear();

    std::string reason;
    if (!gone.empty()) {
        if (primary.empty()) {
            reason = "the primary lists no zones at all";
        } else if (!canary_ok) {
            reason = "the primary's identity or canary zone could not be verified";
        } else if (static_cast<int64_t>(gone.size()) * 100 >
                       static_cast<int64_t>(live) * settings_.hold_percent ||
                   static_cast<int64_t>(gone.size()) > settings_.hold_zones) {
            reason =
                fmt::format("{} of {} zones vanished from the primary at once (limit {} % or {})",
                            gone.size(), live, settings_.hold_percent, settings_.hold_zones);
        }
    }
    // An approval covers exactly the zones held when it was given.
    const auto approved = std::move(approved_);
    approved_.clear();
    for (const auto& [zone, sequence] : gone) {
        const bool hold = !approved.contains(zone) && (!reason.empty() || held_.contains(zone));
        if (hold) {
            if (held_.insert(zone).second) plan.newly_held.push_back(zone);
            continue;
        }
        held_.erase(zone);
        plan.publishes.push_back(
            PlannedPublish{.event = common::ZoneEvent{.zone = zone,
                                                      .op = common::ZoneOp::Delete,
                                                      .serial = std::nullopt,
                                                      .apex = std::nullopt,
                                                      .cause = common::EventCause::Reconcile,
                                                      .at = at},
                           .expected_sequence = sequence});
    }
    if (!reason.empty() && !plan.newly_held.empty()) hold_reason_ = reason;
    if (held_.empty()) hold_reason_.clear();
    return plan;
}

size_t Reconciler::approve() {
    std::lock_guard lock(mutex_);
    approved_ = held_;
    return approved_.size();
}

std::vector<std::string> Reconciler::held() const {
    std::lock_guard lock(mutex_);
    return {held_.begin(), held_.end()};
}

std::string Reconciler::holdReason() const {
    std::lock_guard lock(mutex_);
    return hold_reason_;
}

}  // namespace pdns_distribute::health_checker
