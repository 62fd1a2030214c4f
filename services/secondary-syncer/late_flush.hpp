// SPDX-License-Identifier: Apache-2.0
#pragma once
// A second flush of a zone from the local pdns's caches, some time after an apply (DESIGN §5.5).
// pdns purges a zone from its caches when it commits a transfer, but it answers in several
// threads: an answer computed from the data before the commit (a REFUSED for a zone that did not
// exist yet, the old serial, a deleted zone) can be stored in the packet cache after that purge,
// and would be served for the cache's whole TTL (20 s by default). Under load such an answer can
// land well after the commit (measured: 5 of 3,000 zones in a bootstrap on two saturated cores,
// each served stale for 20 s), so the flush that removes it runs `delay` after the apply, on its
// own thread, off the apply's path.
//
// Each flush costs the local pdns more than its answer suggests: a thread, a backend and a walk
// of every shard of its packet and query caches (measured: ~20 % of a joining pdns's CPU in a
// 3,000-zone bootstrap went to these walks). So the thread runs at most once per `delay`, and
// when `whole_cache_at` or more zones are due in one pass (a bootstrap, a mass change) it
// flushes the whole cache once (`.`) instead of each zone: one API call instead of dozens, at
// the price of pdns refilling its cache, at most once per `delay` and only while zones arrive
// that fast.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/pdns_api.hpp>

namespace pdns_distribute::secondary_syncer {

/// Port the applier uses.
class LateFlush {
public:
    virtual ~LateFlush() = default;
    /// Flushes `zone` from the local pdns's caches later; scheduling a zone again postpones it.
    virtual void schedule(const std::string& zone) = 0;
};

/// Flushes each scheduled zone once, `delay` after it was last scheduled. Thread-safe; start()
/// runs the thread, stop() (or the destructor) ends it and drops what is still pending.
class DelayedCacheFlusher final : public LateFlush {
public:
    static constexpr size_t kWholeCacheAt = 16;

    DelayedCacheFlusher(common::PdnsApi& api, const common::Clock& clock,
                        std::chrono::milliseconds delay, size_t whole_cache_at = kWholeCacheAt);
    ~DelayedCacheFlusher() override;
    DelayedCacheFlusher(const DelayedCacheFlusher&) = delete;
    DelayedCacheFlusher& operator=(const DelayedCacheFlusher&) = delete;

    void schedule(const std::string& zone) override;
    /// Flushes every zone due by clock.steady() (the whole cache once if `whole_cache_at` or more
    /// are due); returns when the next one is due, if any.
    std::optional<std::chrono::steady_clock::time_point> flushDue();
    [[nodiscard]] size_t pending();

    void start();
    void stop();

private:
    void run(const std::stop_token& st);

    common::PdnsApi& api_;
    const common::Clock& clock_;
    std::chrono::milliseconds delay_;
    size_t whole_cache_at_;
    std::mutex mutex_;  // guards due_
    std::condition_variable_any cv_;
    std::map<std::string, std::chrono::steady_clock::time_point> due_;
    std::jthread thread_;  // last: stopped before the rest goes away
};

}  // namespace pdns_distribute::secondary_syncer
