// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/config.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/signing.hpp>

namespace pdns_distribute::secondary_syncer {

/// The account value that marks a zone in the local PowerDNS as managed by us.
inline constexpr std::string_view kManagedAccount = "pdns-distribute";

struct TrustedKeyFile {
    std::string file;
    std::string not_after;  ///< RFC 3339, empty for no expiry
};

struct SyncerSettings {
    std::string node_id;  ///< defaults to the host name with other characters replaced by '-'
    std::string group = "default";
    std::string state_dir = "/var/lib/pdns-distribute/secondary-syncer";
    std::string listen = "127.0.0.1:5300";  ///< AXFR listener; the local pdns transfers from it
    std::vector<std::string> allow{"127.0.0.1", "::1"};
    std::string pdns_dns = "127.0.0.1:53";  ///< where the local pdns answers DNS
    std::vector<TrustedKeyFile> trusted_keys;
    uint64_t max_zone_bytes = 256ULL * 1024 * 1024;
    std::chrono::milliseconds request_timeout{10000};
    std::chrono::milliseconds apply_timeout{30000};
    std::chrono::milliseconds ack_wait{60000};
    std::chrono::milliseconds heartbeat{5000};
    std::chrono::milliseconds scan_interval{60000};
    int64_t scan_rate = 500;
    int64_t max_ack_pending = 1000;
    int workers = 8;
    int priority_workers = 2;  ///< the priority lane's pool (DESIGN §5.2); 0: no priority lane
    int64_t delete_budget_min = 100;
    int64_t delete_budget_percent = 5;
    std::chrono::milliseconds delete_budget_window{600000};
    std::chrono::milliseconds park_backoff_max{600000};
};

struct Settings {
    SyncerSettings syncer;
    int kv_replicas = 1;  ///< of PDNS_NODES when this syncer creates it
    common::PdnsApiSettings pdns;
    common::NatsSettings nats;
};

[[nodiscard]] Settings readSettings(common::ConfigSection root);
/// Warnings for --check-config (e.g. a node id like "localhost").
[[nodiscard]] std::vector<std::string> checkSettings(const Settings& settings);
/// Loads every trusted key file; throws std::runtime_error naming the file.
[[nodiscard]] std::vector<common::TrustedKey> loadTrustedKeys(const SyncerSettings& settings);

}  // namespace pdns_distribute::secondary_syncer
