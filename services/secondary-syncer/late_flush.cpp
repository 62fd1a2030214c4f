// SPDX-License-Identifier: Apache-2.0
#include "late_flush.hpp"

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

namespace pdns_distribute::secondary_syncer {

DelayedCacheFlusher::DelayedCacheFlusher(common::PdnsApi& api, const common::Clock& clock,
                                         std::chrono::milliseconds delay, size_t whole_cache_at)
    : api_(api),
      clock_(clock),
      delay_(delay),
      whole_cache_at_(std::max<size_t>(whole_cache_at, 1)) {}

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
    // Best effort: the zones are served correctly either way; a failed flush only leaves a stale
    // cached answer to its TTL.
    if (now_due.size() >= whole_cache_at_) {
        if (auto s = api_.flushCache("."); !s) {
            spdlog::debug("late cache flush of the whole cache ({} zones) failed ({})",
                          now_due.size(), s.error().message);
        }
        return next;
    }
    for (const auto& zone : now_due) {
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
        // At most one pass per `delay_`, so that zones applied in quick succession are flushed
        // together: a zone's late flush comes `delay_` to 2 × `delay_` after its apply.
        const std::chrono::steady_clock::duration wait =
            next ? std::max<std::chrono::steady_clock::duration>(delay_, *next - clock_.steady())
                 : delay_;
        cv_.wait_for(lock, st, wait, [] { return false; });
    }
}

}  // namespace pdns_distribute::secondary_syncer
