// SPDX-License-Identifier: Apache-2.0
#pragma once
// Guarded<T>: a value reachable only through a lock handle (STYLE §3 "Shared state").

#include <mutex>
#include <utility>

namespace pdns_distribute::common {

template <typename T>
class Guarded {
public:
    Guarded() = default;
    explicit Guarded(T value) : value_(std::move(value)) {}

    class Locked {
    public:
        Locked(std::mutex& m, T& v) : lock_(m), value_(v) {}
        T& operator*() { return value_; }
        T* operator->() { return &value_; }
        std::unique_lock<std::mutex>& lock() { return lock_; }

    private:
        std::unique_lock<std::mutex> lock_;
        T& value_;
    };

    [[nodiscard]] Locked lock() { return Locked(mutex_, value_); }

private:
    std::mutex mutex_;
    T value_{};
};

}  // namespace pdns_distribute::common
