// SPDX-License-Identifier: Apache-2.0
#pragma once
// Leadership between health-checkers (DESIGN §7): a lock in KV bucket PDNS_LEADER, whose
// per-bucket TTL expires a dead leader's entry; renewed every TTL/3 with the expected revision.
// A leader whose renewal fails, or is more than TTL/2 late, stops acting at once; a standby
// creates the key as soon as it is gone. Stream writes are conditional besides, so a deposed
// leader's late writes fail. Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>

namespace pdns_distribute::health_checker {

class Leadership {
public:
    Leadership(common::KeyValue& kv, std::string key, std::string instance,
               std::chrono::milliseconds ttl, const common::Clock& clock)
        : kv_(kv), key_(std::move(key)), instance_(std::move(instance)), ttl_(ttl), clock_(clock) {}

    /// Acquires or renews; call every ttl()/3. Returns leading().
    bool tick();
    /// True while the lock is ours and its last renewal is less than TTL/2 old.
    [[nodiscard]] bool leading() const;
    /// The instance that held the lock when last seen ("" when unknown).
    [[nodiscard]] std::string holder() const;
    /// Gives the lock up (clean stop), so a standby takes over at its next tick.
    void release();
    [[nodiscard]] std::chrono::milliseconds ttl() const { return ttl_; }

private:
    common::KeyValue& kv_;
    std::string key_;
    std::string instance_;
    std::chrono::milliseconds ttl_;
    const common::Clock& clock_;
    mutable std::mutex mutex_;  // guards the fields below
    bool held_ = false;
    uint64_t revision_ = 0;
    std::chrono::steady_clock::time_point renewed_;
    std::string holder_;
};

}  // namespace pdns_distribute::health_checker
