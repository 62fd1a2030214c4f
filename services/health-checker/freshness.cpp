// SPDX-License-Identifier: Apache-2.0
#include "freshness.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <ratio>

#include <pdns_distribute/common/dns.hpp>

namespace pdns_distribute::health_checker {

namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

/// pdns 4.7 bounds its signature windows by the start of the week, time - time % (7 * 86400):
/// Thursday 00:00 UTC, since 1970-01-01 was a Thursday.
using Weeks = std::chrono::duration<int64_t, std::ratio<int64_t{7} * 86400>>;

/// Window used when the stream event does not tell how long the nodes' signatures last.
constexpr std::chrono::hours kUnknownExpirySpread{24};

}  // namespace

milliseconds spreadOffset(std::string_view zone, milliseconds window) {
    if (window.count() <= 0) return milliseconds{0};
    const std::array<std::byte, 16> hash = common::blake2b128(common::asBytes(zone));
    // Read the bytes explicitly little-endian so the offset does not depend on the host.
    uint64_t value = 0;
    for (size_t i = 0; i < 8; ++i) {
        value |= static_cast<uint64_t>(std::to_integer<uint8_t>(hash[i])) << (8 * i);
    }
    // The modulo bias is below window / 2^64: irrelevant for windows of days in milliseconds.
    return milliseconds{static_cast<int64_t>(value % static_cast<uint64_t>(window.count()))};
}

system_clock::time_point expiryTime(uint32_t rrsig_time, system_clock::time_point now) {
    const int64_t now_secs =
        std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
    // RFC 4034 §3.1.5: compare modulo 2^32; the distance to now is a signed 32-bit value.
    const auto now32 = static_cast<uint32_t>(now_secs);
    const auto delta = static_cast<int32_t>(static_cast<uint32_t>(rrsig_time - now32));
    return system_clock::time_point{std::chrono::seconds{now_secs + delta}};
}

void FreshnessPlanner::noteResigned(const std::string& zone, const std::string& new_apex,
                                    std::optional<uint32_t> old_expiry) {
    const TimePoint now = clock_.system();
    TimePoint due = now;
    if (old_expiry) {
        const TimePoint deadline = expiryTime(*old_expiry, now) - settings_.expiry_margin;
        if (deadline > now) {
            const milliseconds window = std::min<milliseconds>(
                settings_.spread, std::chrono::floor<milliseconds>(deadline - now));
            due = now + spreadOffset(zone, window);
        }
    } else {
        due = now + spreadOffset(zone, std::min(settings_.spread, kUnknownExpirySpread));
    }
    const std::lock_guard lock(mutex_);
    scheduleLocked(zone, new_apex, due);
}

void FreshnessPlanner::noteWeeklySerialJump(const std::string& zone, const std::string& new_apex) {
    const TimePoint due = clock_.system() + spreadOffset(zone, settings_.soa_edit_spread);
    const std::lock_guard lock(mutex_);
    scheduleLocked(zone, new_apex, due);
}

bool FreshnessPlanner::inWeeklyWindow() const {
    const TimePoint now = clock_.system();
    const auto boundary = std::chrono::floor<Weeks>(now);
    return now - boundary < settings_.soa_edit_spread;
}

std::vector<FreshnessPlanner::Due> FreshnessPlanner::takeDue(size_t max) {
    const TimePoint now = clock_.system();
    std::vector<Due> out;
    const std::lock_guard lock(mutex_);
    while (out.size() < max && !order_.empty() && order_.begin()->first <= now) {
        auto node = order_.extract(order_.begin());
        std::string& zone = node.value().second;
        auto entry = entries_.find(zone);
        assert(entry != entries_.end() && "order_ and entries_ hold the same zones");
        out.push_back(Due{.zone = std::move(zone), .apex = std::move(entry->second.apex)});
        entries_.erase(entry);
    }
    return out;
}

void FreshnessPlanner::forget(const std::string& zone) {
    const std::lock_guard lock(mutex_);
    const auto it = entries_.find(zone);
    if (it == entries_.end()) return;
    order_.erase({it->second.due, zone});
    entries_.erase(it);
}

size_t FreshnessPlanner::pending() const {
    const std::lock_guard lock(mutex_);
    return entries_.size();
}

std::optional<system_clock::time_point> FreshnessPlanner::dueAt(const std::string& zone) const {
    const std::lock_guard lock(mutex_);
    const auto it = entries_.find(zone);
    if (it == entries_.end()) return std::nullopt;
    return it->second.due;
}

void FreshnessPlanner::scheduleLocked(const std::string& zone, const std::string& apex,
                                      TimePoint due) {
    const auto it = entries_.find(zone);
    if (it == entries_.end()) {
        entries_.emplace(zone, Entry{.apex = apex, .due = due});
        order_.emplace(due, zone);
        return;
    }
    // Re-noting never delays a zone: each reconcile pass computes a later due time for the same
    // apex, and keeping it would push the zone out forever. A sooner one (a new apex, or an
    // expiry now known to be close) wins; the apex is always the latest seen.
    Entry& entry = it->second;
    entry.apex = apex;
    if (due < entry.due) {
        order_.erase({entry.due, zone});
        entry.due = due;
        order_.emplace(due, zone);
    }
}

}  // namespace pdns_distribute::health_checker
