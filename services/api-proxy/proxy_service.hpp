// SPDX-License-Identifier: Apache-2.0
#pragma once
// The api-proxy service (DESIGN §6): an HTTPS server that forwards every request unchanged
// (minus hop-by-hop headers) to the primary's PowerDNS API and, after a 2xx on a zone-changing
// route, publishes the zone event before answering, so that a client that sees 2xx knows the
// event is on the stream or in the retry queue.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/metrics.hpp>

#include "config.hpp"
#include "event_publisher.hpp"
#include "tls.hpp"

namespace httplib {
class Client;
class SSLServer;
struct Request;
struct Response;
enum class Error;
}  // namespace httplib

namespace pdns_distribute::api_proxy {

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those httplib computes itself (Host,
/// Content-Length); also Accept-Encoding, so that upstream bodies arrive uncompressed and pass
/// through byte for byte. Case-insensitive.
[[nodiscard]] bool isHopByHopHeader(std::string_view name);

/// The status the proxy answers when the upstream call failed: 504 when it timed out, 502
/// otherwise.
[[nodiscard]] int upstreamFailureStatus(httplib::Error error, std::chrono::milliseconds elapsed,
                                        std::chrono::milliseconds timeout);

class ProxyService final : public common::Service {
public:
    /// Binds the listen address (throws std::runtime_error when it cannot). Owns the bus and
    /// closes it at stop().
    ProxyService(ApiProxySettings settings, std::unique_ptr<common::NatsBus> bus,
                 common::MetricsRegistry& metrics, const CertificatePaths& certificate,
                 std::string instance_id);
    ~ProxyService() override;

    void start() override;
    void stop() override;
    [[nodiscard]] common::HealthReport health() override;

    /// The bound port (useful when listening on port 0).
    [[nodiscard]] int port() const { return port_; }

private:
    void handle(const httplib::Request& req, httplib::Response& res);
    void countRequest(const std::string& method, int status);
    std::unique_ptr<httplib::Client> acquireClient();
    void releaseClient(std::unique_ptr<httplib::Client> client);

    ApiProxySettings settings_;
    std::unique_ptr<common::NatsBus> bus_;
    common::MetricsRegistry& metrics_;
    common::SystemClock clock_;
    std::unique_ptr<EventPublisher> publisher_;
    std::unique_ptr<httplib::SSLServer> server_;
    common::Guarded<std::vector<std::unique_ptr<httplib::Client>>> idle_clients_;
    common::Counter& upstream_errors_;
    common::Counter& events_upsert_;
    common::Counter& events_delete_;
    common::Counter& unresolved_;
    int port_ = 0;
    std::jthread listener_;
    bool stopped_ = false;
};

/// The factory runDaemon calls: TLS certificate, NATS connection, stream, publisher, server.
[[nodiscard]] std::unique_ptr<common::Service> makeProxyService(const ApiProxySettings& settings,
                                                                common::DaemonContext& context);

}  // namespace pdns_distribute::api_proxy
