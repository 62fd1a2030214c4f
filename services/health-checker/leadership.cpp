// SPDX-License-Identifier: Apache-2.0
#include "leadership.hpp"

#include <spdlog/spdlog.h>

namespace pdns_distribute::health_checker {

bool Leadership::tick() {
    std::lock_guard lock(mutex_);
    const auto now = clock_.steady();
    if (held_) {
        auto r = kv_.update(key_, instance_, revision_);
        if (r) {
            revision_ = *r;
            renewed_ = now;
        } else if (r.error().code == "conflict") {
            spdlog::error("leadership lost: the lock '{}' was taken over", key_);
            held_ = false;
        } else if (now - renewed_ >= ttl_ / 2) {
            spdlog::error("leadership given up: cannot renew the lock '{}' ({})", key_,
                          r.error().message);
            held_ = false;
        } else {
            spdlog::warn("cannot renew the leadership lock '{}' ({})", key_, r.error().message);
        }
    }
    if (!held_) {
        auto r = kv_.create(key_, instance_);
        if (r) {
            held_ = true;
            revision_ = *r;
            renewed_ = now;
            holder_ = instance_;
            spdlog::warn("this health-checker ({}) is now the leader", instance_);
        } else if (r.error().code == "exists") {
            auto current = kv_.get(key_);
            if (current && *current) holder_ = (*current)->value;
        } else {
            spdlog::warn("cannot take the leadership lock '{}' ({})", key_, r.error().message);
        }
    }
    return held_ && now - renewed_ < ttl_ / 2;
}

bool Leadership::leading() const {
    std::lock_guard lock(mutex_);
    return held_ && clock_.steady() - renewed_ < ttl_ / 2;
}

std::string Leadership::holder() const {
    std::lock_guard lock(mutex_);
    return holder_;
}

void Leadership::release() {
    std::lock_guard lock(mutex_);
    if (!held_) return;
    held_ = false;
    if (auto s = kv_.erase(key_); !s) {
        spdlog::warn("cannot release the leadership lock '{}' ({})", key_, s.error().message);
    }
}

}  // namespace pdns_distribute::health_checker
