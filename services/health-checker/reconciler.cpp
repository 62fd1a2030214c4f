// SPDX-License-Identifier: Apache-2.0
#include "reconciler.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace pdns_distribute::health_checker {

PrimaryLook PrimaryLook::from(const common::ApexFingerprint& fp, uint64_t sequence) {
    return PrimaryLook{.serial = fp.serial,
                       .content = fp.contentHash(),
                       .sequence = sequence,
                       .apex = fp.hash(),
                       .expiry = fp.earliestExpiry()};
}

void ZoneMirror::apply(const common::ZoneEvent& event, uint64_t sequence) {
    std::lock_guard lock(mutex_);
    auto& entry = entries_[event.zone];
    std::optional<PrimaryLook> look;
    if (event.op == common::ZoneOp::Upsert) look = entry.look;
    last_sequence_ = std::max(last_sequence_, sequence);
    entry = MirrorEntry{.op = event.op,
                        .serial = event.serial,
                        .apex = common::hashOf(event.apex),
                        .sequence = sequence,
                        .content = common::hashOf(event.content),
                        .expiry = event.expiry,
                        .at = common::parseRfc3339(event.at),
                        .look = look};
}

void ZoneMirror::withEntries(
    const std::function<void(const std::map<std::string, MirrorEntry>&)>& fn) const {
    std::lock_guard lock(mutex_);
    fn(entries_);
}

uint64_t ZoneMirror::lastSequence() const {
    std::lock_guard lock(mutex_);
    return last_sequence_;
}

void ZoneMirror::setLook(const std::string& zone, const PrimaryLook& look, bool only_if_newer) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(zone);
    if (it == entries_.end()) return;
    auto& kept = it->second.look;
    if (only_if_newer && kept && kept->sequence > look.sequence) return;
    kept = look;
}

std::optional<PrimaryLook> ZoneMirror::look(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(zone);
    if (it == entries_.end()) return std::nullopt;
    return it->second.look;
}

std::map<std::string, MirrorEntry> ZoneMirror::snapshot() const {
    std::lock_guard lock(mutex_);
    return entries_;
}

void ZoneMirror::forEach(
    const std::function<void(const std::string&, const MirrorEntry&)>& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [zone, entry] : entries_) fn(zone, entry);
}

uint64_t ZoneMirror::sequenceOf(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(zone);
    return it == entries_.end() ? 0 : it->second.sequence;
}

void ZoneMirror::erase(const std::string& zone, uint64_t sequence) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(zone);
    if (it != entries_.end() && it->second.sequence == sequence) entries_.erase(it);
}

size_t ZoneMirror::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

ReconcilePlan Reconciler::plan(const std::vector<PrimaryZone>& primary, bool canary_ok,
                               const std::map<std::string, MirrorEntry>& mirror, uint64_t horizon) {
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
        auto it = mirror.find(z.name);
        if (it != mirror.end() && it->second.sequence > horizon) continue;  // newer than the list
        const bool in_sync = it != mirror.end() && it->second.op == common::ZoneOp::Upsert &&
                             it->second.serial == z.serial &&
                             (!z.apex || it->second.apex == z.apex);
        if (in_sync) continue;
        const bool was_upsert = it != mirror.end() && it->second.op == common::ZoneOp::Upsert;
        if (was_upsert && z.apex && z.content && it->second.content == z.content &&
            it->second.serial == z.serial) {
            plan.resigned.push_back(
                Resigned{.zone = z.name, .apex = z.apex->hex(), .old_expiry = it->second.expiry});
            continue;
        }
        const bool maybe_weekly = was_upsert && it->second.serial &&
                                  it->second.serial != z.serial && it->second.expiry && z.expiry &&
                                  it->second.expiry != z.expiry;
        plan.publishes.push_back(
            PlannedPublish{.event = common::ZoneEvent{.zone = z.name,
                                                      .op = common::ZoneOp::Upsert,
                                                      .serial = z.serial,
                                                      .apex = common::hexOf(z.apex),
                                                      .cause = common::EventCause::Reconcile,
                                                      .at = at,
                                                      .content = common::hexOf(z.content),
                                                      .expiry = z.expiry},
                           .expected_sequence = it == mirror.end() ? 0 : it->second.sequence,
                           .maybe_weekly = maybe_weekly});
    }

    std::vector<std::string> gone;
    size_t live = 0;
    for (const auto& [zone, entry] : mirror) {
        if (entry.op != common::ZoneOp::Upsert || entry.sequence > horizon) continue;
        ++live;
        if (!isListed(zone)) gone.push_back(zone);
    }

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
    for (const auto& zone : gone) {
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
                           .expected_sequence = mirror.at(zone).sequence});
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
