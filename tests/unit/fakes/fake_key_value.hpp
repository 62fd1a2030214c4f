// SPDX-License-Identifier: Apache-2.0
#pragma once
// In-memory KeyValue with revisions, like a JetStream KV bucket with history 1 (no TTL: tests
// expire entries with expire()). failNext() makes the next call fail as if NATS were away.

#include <map>
#include <mutex>
#include <string>

#include <pdns_distribute/common/bus.hpp>

namespace pdns_distribute::testing {

class FakeKeyValue final : public common::KeyValue {
public:
    common::Result<uint64_t> create(const std::string& key, std::string_view value) override {
        std::lock_guard lock(mutex_);
        if (auto e = takeFailure()) return *e;
        if (entries_.contains(key)) return common::Error{.message = "key exists", .code = "exists"};
        entries_[key] = common::KvEntry{.value = std::string(value), .revision = ++revision_};
        return revision_;
    }
    common::Result<uint64_t> update(const std::string& key, std::string_view value,
                                    uint64_t expected_revision) override {
        std::lock_guard lock(mutex_);
        if (auto e = takeFailure()) return *e;
        auto it = entries_.find(key);
        if (it == entries_.end() || it->second.revision != expected_revision) {
            return common::Error{.message = "wrong last sequence", .code = "conflict"};
        }
        it->second = common::KvEntry{.value = std::string(value), .revision = ++revision_};
        return revision_;
    }
    common::Result<std::optional<common::KvEntry>> get(const std::string& key) override {
        std::lock_guard lock(mutex_);
        if (auto e = takeFailure()) return *e;
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::optional<common::KvEntry>{};
        return std::optional<common::KvEntry>{it->second};
    }
    common::Status erase(const std::string& key) override {
        std::lock_guard lock(mutex_);
        if (auto e = takeFailure()) return *e;
        entries_.erase(key);
        return {};
    }

    /// The bucket's TTL ran out for this key.
    void expire(const std::string& key) {
        std::lock_guard lock(mutex_);
        entries_.erase(key);
    }
    /// Another writer puts the key (e.g. a competing health-checker).
    void overwrite(const std::string& key, const std::string& value) {
        std::lock_guard lock(mutex_);
        entries_[key] = common::KvEntry{.value = value, .revision = ++revision_};
    }
    void failNext(int n = 1) {
        std::lock_guard lock(mutex_);
        failures_ = n;
    }

private:
    std::optional<common::Error> takeFailure() {
        if (failures_ == 0) return std::nullopt;
        --failures_;
        return common::Error{.message = "nats: timeout", .code = "timeout"};
    }
    std::mutex mutex_;
    std::map<std::string, common::KvEntry> entries_;
    uint64_t revision_ = 0;
    int failures_ = 0;
};

}  // namespace pdns_distribute::testing
