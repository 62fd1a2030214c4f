// SPDX-License-Identifier: Apache-2.0
#include "late_flush.hpp"

#include <vector>

#include <spdlog/spdlog.h>

namespace pdns_distribute::secondary_syncer {

DelayedCacheFlusher::DelayedCacheFlusher(common::PdnsApi& api, const common::Clock& clock,
                                         std::chrono::milliseconds delay)
    : api_(api), clock_(clock), delay_(delay) {}

DelayedCacheFlusher::~DelayedCacheFlusher() { stop(); }

void DelayedCacheFlusher::schedule(const std::string& zone) {
    {
        std::lock_guard lock(mutex_);
        due_[zone] = clock_.steady() + delay_;
    }
    cv_.notify_one();
}

std::optional<std::chrono::steady_clock::time_point> DelayedCacheFlusher::flushDue() {
    std::vector<std::string> now_due;
    std::optional<std::chrono::steady_clock::time_point> next;
    {
        std::lock_guard lock(mutex_);
        const auto now = clock_.steady();
        for (auto it = due_.begin(); it != due_.end();) {
            if (it->second <= now) {
                now_due.push_back(it->first);
                it = due_.erase(it);
            } else {
                next = next ? std::min(*next, it->second) : it->second;
                ++it;
            }
        }
    }
    for (const auto& zone : now_due) {
        // Best effort: the zone is served correctly either way; a failed flush only leaves a
        // stale cached answer to its TTL.
        if (auto s = api_.flushCache(zone); !s) {
            spdlog::debug("late cache flush of '{}' failed ({})", zone, s.error().message);
        }
    }
    return next;
}

size_t DelayedCacheFlusher::pending() {
    std::lock_guard lock(mutex_);
    return due_.size();
}

void DelayedCacheFlusher::start() {
    thread_ = std::jthread([this](const std::stop_token& st) { run(st); });
}

void DelayedCacheFlusher::stop() {
    thread_.request_stop();
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void DelayedCacheFlusher::run(const std::stop_token& st) {
    while (!st.stop_requested()) {
        const auto next = flushDue();
        std::unique_lock lock(mutex_);
        // A zone scheduled meanwhile is due `delay_` from now at the earliest: waiting until
        // `next` (or `delay_`) never oversleeps one.
        const auto wait =
            next ? std::max(std::chrono::steady_clock::duration::zero(), *next - clock_.steady())
                 : std::chrono::steady_clock::duration(delay_);
        cv_.wait_for(lock, st, wait, [] { return false; });
    }
}

}  // namespace pdns_distribute::secondary_syncer
