// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <atomic>
#include <chrono>

#include <pdns_distribute/common/clock.hpp>

namespace pdns_distribute::testing {

/// A clock that moves only when the test says so. Thread-safe.
class ManualClock final : public common::Clock {
public:
    [[nodiscard]] std::chrono::steady_clock::time_point steady() const override {
        return std::chrono::steady_clock::time_point{std::chrono::nanoseconds{steady_ns_.load()}};
    }
    [[nodiscard]] std::chrono::system_clock::time_point system() const override {
        return std::chrono::system_clock::time_point{
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds{system_ns_.load()})};
    }
    void advance(std::chrono::nanoseconds d) {
        steady_ns_ += d.count();
        system_ns_ += d.count();
    }
    void setSystem(std::chrono::system_clock::time_point t) {
        system_ns_ =
            std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    }

private:
    std::atomic<int64_t> steady_ns_{1'000'000'000};
    std::atomic<int64_t> system_ns_{1'790'000'000LL * 1'000'000'000LL};
};

}  // namespace pdns_distribute::testing
