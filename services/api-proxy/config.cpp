// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <fmt/format.h>

#include <pdns_distribute/common/daemon.hpp>

namespace pdns_distribute::api_proxy {
namespace {

bool isToken(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

ApiProxySettings readApiProxySettings(common::ConfigSection root) {
    ApiProxySettings s;
    auto proxy = root.section("proxy", "The HTTPS reverse proxy in front of the PowerDNS API");
    s.listen = proxy.getString(
        "listen", s.listen, "Address and port the HTTPS proxy listens on (host:port, [v6]:port)");
    if (auto hp = common::parseHostPort(s.listen); !hp) {
        proxy.fail("listen", fmt::format("invalid value '{}' ({}); expected host:port or [v6]:port",
                                         s.listen, hp.error().message));
    }
    s.upstream_url = proxy.getString("upstream_url", s.upstream_url,
                                     "Base URL of the primary's PowerDNS API, without /api/v1");
    if (!s.upstream_url.starts_with("http://") && !s.upstream_url.starts_with("https://")) {
        proxy.fail("upstream_url",
                   fmt::format("invalid value '{}'; expected http://host:port or https://host:port",
                               s.upstream_url));
    }
    s.upstream_timeout =
        proxy.getDuration("upstream_timeout", s.upstream_timeout,
                          "How long one upstream API call may take (answers 504 after)",
                          std::chrono::milliseconds{100}, std::chrono::hours{1});
    s.body_limit_bytes = static_cast<size_t>(proxy.getInt(
        "body_limit_bytes", static_cast<int64_t>(s.body_limit_bytes),
        "Largest request body accepted (larger ones get 413)", 1024, int64_t{1} << 31));
    s.max_connections =
        static_cast<int>(proxy.getInt("max_connections", s.max_connections,
                                      "Connections served in parallel (worker threads)", 1, 1024));
    s.max_queued = static_cast<int>(proxy.getInt(
        "max_queued", s.max_queued,
        "Connections that may wait for a busy worker; more are answered 503 with Retry-After", 0,
        65536));
    s.queue_timeout = proxy.getDuration(
        "queue_timeout", s.queue_timeout,
        "How long a connection may wait for a worker before it is answered 503 with Retry-After",
        std::chrono::milliseconds{100}, std::chrono::minutes{10});
    s.client_timeout = proxy.getDuration(
        "client_timeout", s.client_timeout,
        "Per-phase limit for slow clients: headers, body, taking the answer (408 or connection "
        "closed)",
        std::chrono::milliseconds{500}, std::chrono::hours{1});
    s.group = proxy.getString("group", s.group, "Nameserver group token used in event subjects");
    if (!isToken(s.group)) {
        proxy.fail("group", fmt::format("invalid value '{}'; expected [A-Za-z0-9_-]+", s.group));
    }
    s.publish_timeout = proxy.getDuration(
        "publish_timeout", s.publish_timeout,
        "How long a request waits for the JetStream ack of its zone event before queueing it",
        std::chrono::milliseconds{10}, std::chrono::milliseconds{60000});
    s.retry_queue = static_cast<size_t>(
        proxy.getInt("retry_queue", static_cast<int64_t>(s.retry_queue),
                     "Zone events kept for retry while NATS is unreachable (oldest dropped beyond)",
                     1, 10'000'000));

    auto tls = root.section("tls", "The proxy's TLS certificate and client authentication");
    s.tls.cert_file = tls.getString("cert_file", s.tls.cert_file,
                                    "PEM certificate (chain); empty: generate a self-signed one");
    s.tls.key_file = tls.getString("key_file", s.tls.key_file, "PEM private key for cert_file");
    if (s.tls.cert_file.empty() != s.tls.key_file.empty()) {
        tls.fail(s.tls.cert_file.empty() ? "cert_file" : "key_file",
                 "cert_file and key_file must be set together");
    }
    s.tls.state_dir = tls.getString("state_dir", s.tls.state_dir,
                                    "Directory for the generated certificate and key");
    s.tls.san =
        tls.getStringList("san", s.tls.san, "Names and addresses of the generated certificate");
    if (s.tls.san.empty()) tls.fail("san", "at least one name or address is needed");
    s.tls.client_ca_file = tls.getString(
        "client_ca_file", s.tls.client_ca_file,
        "PEM CA certificate(s) that client certificates must chain to (empty: no client "
        "certificates)");
    s.tls.validity =
        tls.getDuration("validity", s.tls.validity, "Lifetime of a generated certificate",
                        std::chrono::hours{1}, std::chrono::hours{24 * 3650});
    s.tls.renew_before = tls.getDuration(
        "renew_before", s.tls.renew_before,
        "A generated certificate is renewed when it expires within this (at most validity; "
        "equal to validity renews at every check)",
        std::chrono::milliseconds{0}, std::chrono::hours{24 * 3650});
    if (s.tls.renew_before > s.tls.validity) {
        tls.fail("renew_before",
                 fmt::format("invalid value '{}'; expected at most tls.validity ('{}')",
                             common::formatDuration(s.tls.renew_before),
                             common::formatDuration(s.tls.validity)));
    }
    s.tls.check_interval = tls.getDuration(
        "check_interval", s.tls.check_interval,
        "How often the running proxy renews a generated certificate that is due, and reloads "
        "cert_file/key_file (or the generated files) when they changed on disk",
        std::chrono::seconds{1}, std::chrono::hours{24});

    s.nats = common::readNatsSettings(root.section("nats", "NATS connection"));
    if (s.nats.name.empty()) s.nats.name = "pdns-api-proxy";
    auto stream = root.section("stream", "The PDNS_ZONES stream, created if missing");
    s.stream_replicas = static_cast<int>(stream.getInt(
        "replicas", s.stream_replicas, "Stream replicas (1, or 3 on a cluster)", 1, 5));
    return s;
}

}  // namespace pdns_distribute::api_proxy
