// SPDX-License-Identifier: Apache-2.0
#pragma once
// Time source port (Envoy's TimeSource): logic reads time only through Clock so that unit tests
// drive it with ManualClock. steady() for timeouts and intervals, system() for wall-clock facts.

#include <chrono>

namespace pdns_distribute::common {

class Clock {
public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual std::chrono::steady_clock::time_point steady() const = 0;
    [[nodiscard]] virtual std::chrono::system_clock::time_point system() const = 0;
};

/// The real clocks. Thread-safe, stateless.
class SystemClock final : public Clock {
public:
    [[nodiscard]] std::chrono::steady_clock::time_point steady() const override {
        return std::chrono::steady_clock::now();
    }
    [[nodiscard]] std::chrono::system_clock::time_point system() const override {
        return std::chrono::system_clock::now();
    }
};

}  // namespace pdns_distribute::common
