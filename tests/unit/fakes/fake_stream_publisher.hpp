// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <pdns_distribute/common/bus.hpp>

namespace pdns_distribute::testing {

/// A StreamPublisher that records every publish attempt and acks it, unless told to fail the
/// next N attempts (error code "timeout", as when no ack comes in time). Thread-safe.
class FakeStreamPublisher final : public common::StreamPublisher {
public:
    struct Attempt {
        std::string subject;
        std::string data;
        common::PublishOptions options;
        bool acked = false;
    };

    [[nodiscard]] common::Result<common::PubAck> publish(
        const std::string& subject, std::string_view data,
        const common::PublishOptions& options) override {
        std::lock_guard lock(mutex_);
        const bool fail = fail_next_ > 0;
        if (fail) --fail_next_;
        attempts_.push_back(Attempt{
            .subject = subject, .data = std::string{data}, .options = options, .acked = !fail});
        if (fail) return common::Error{"no ack for publish (timeout)", "timeout"};
        return common::PubAck{.sequence = ++sequence_, .duplicate = false};
    }

    void failNext(int n) {
        std::lock_guard lock(mutex_);
        fail_next_ = n;
    }

    /// Every attempt, acked or not, in order.
    [[nodiscard]] std::vector<Attempt> attempts() const {
        std::lock_guard lock(mutex_);
        return attempts_;
    }

    /// Only the acked attempts, in order (what the stream holds, ignoring dedup).
    [[nodiscard]] std::vector<Attempt> acked() const {
        std::lock_guard lock(mutex_);
        std::vector<Attempt> out;
        for (const auto& a : attempts_) {
            if (a.acked) out.push_back(a);
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<Attempt> attempts_;
    int fail_next_ = 0;
    uint64_t sequence_ = 0;
};

}  // namespace pdns_distribute::testing
