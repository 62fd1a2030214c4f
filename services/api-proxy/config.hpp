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
    /// PEM CA certificate(s); when set, every client must present a certificate chaining to one
    /// of them (mutual TLS). Empty: no client certificates asked for.
    std::string client_ca_file;
    /// Lifetime of a generated certificate, and how long before its expiry it is renewed.
    std::chrono::milliseconds validity{std::chrono::hours{24 * 90}};
    std::chrono::milliseconds renew_before{std::chrono::hours{24 * 30}};
    /// How often the running proxy renews a generated certificate that is due and reloads the
    /// certificate files when they changed on disk.
    std::chrono::milliseconds check_interval{std::chrono::hours{1}};
};

struct ApiProxySettings {
    std::string listen = "127.0.0.1:8443";
    std::string upstream_url = "http://127.0.0.1:8081";
    std::chrono::milliseconds upstream_timeout{30000};
    size_t body_limit_bytes = size_t{16} * 1024 * 1024;
    int max_connections = 32;  ///< size of the HTTPS worker pool
    /// Connections accepted while every worker is busy that wait for one; more get 503 at once.
    int max_queued = 64;
    /// How long a connection may wait for a worker before it is answered 503.
    std::chrono::milliseconds queue_timeout{5000};
    /// How long a client may take to send a request's headers, then its body, and to take the
    /// answer; slower clients get 408 or have their connection closed.
    std::chrono::milliseconds client_timeout{30000};
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
