// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <string>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/config.hpp>
#include <pdns_distribute/common/pdns_api.hpp>

namespace pdns_distribute::health_checker {

struct Settings {
    std::string group = "default";
    int stream_replicas = 1;
    std::chrono::milliseconds reconcile_interval{30000};
    std::string primary_dns = "127.0.0.1:53";
    std::string canary_zone;
    int64_t hold_percent = 1;
    int64_t hold_zones = 100;
    int64_t publish_rate = 200;  ///< reconcile publishes per second at most
    std::chrono::milliseconds event_check_wait{20000};
    std::chrono::milliseconds resync_backoff_max{600000};
    std::chrono::milliseconds leader_ttl{10000};
    int64_t max_buckets_per_check = 256;
    std::chrono::milliseconds tombstone_age{std::chrono::hours{24 * 7}};
    bool nsec3_policy = true;
    std::string nsec3_param = "1 0 0 -";
    common::PdnsApiSettings pdns;
    common::NatsSettings nats;
};

[[nodiscard]] Settings readSettings(common::ConfigSection root);
/// "1 0 0 -": algorithm 1 (SHA-1, the only one), flags 0/1, iterations ≤ 500, salt '-' or hex.
[[nodiscard]] bool validNsec3Param(std::string_view text);

}  // namespace pdns_distribute::health_checker
