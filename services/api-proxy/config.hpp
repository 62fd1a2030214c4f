// SPDX-License-Identifier: Apache-2.0
#pragma once
// The api-proxy's settings, read once at start-up from its TOML file (sections [proxy], [tls],
// [nats], [stream]). Unknown keys are errors (common::ConfigReader::finish).

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/config.hpp>

namespace pdns_distribute::api_proxy {

struct TlsSettings {
    std::string cert_file;  ///< both empty: generate a self-signed certificate in state_dir
    std::string key_file;
    std::string state_dir = "/var/lib/pdns-distribute/api-proxy";
    std::vector<std::string> san{"localhost", "127.0.0.1", "::1"};
};

struct ApiProxySettings {
    std::string listen = "127.0.0.1:8443";
    std::string upstream_url = "http://127.0.0.1:8081";
    std::chrono::milliseconds upstream_timeout{30000};
    size_t body_limit_bytes = size_t{16} * 1024 * 1024;
    int max_connections = 32;  ///< size of the HTTPS worker pool
    std::string group = "default";
    std::chrono::milliseconds publish_timeout{500};
    size_t retry_queue = 10000;
    TlsSettings tls;
    common::NatsSettings nats;
    int stream_replicas = 1;
};

/// Reads and validates every key; throws common::ConfigError naming the key and the range.
[[nodiscard]] ApiProxySettings readApiProxySettings(common::ConfigSection root);

}  // namespace pdns_distribute::api_proxy
