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
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/metrics.hpp>

#include "client_deadlines.hpp"
#include "config.hpp"
#include "event_publisher.hpp"
#include "tls.hpp"

namespace httplib {
class Client;
class ContentReader;
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

/// How a request's body is framed (RFC 9112 §6), decided from its headers before any of it is
/// read. `content_length` and `transfer_encoding` hold every value of those headers.
enum class BodyFraming {
    None,         ///< no body: neither header, or Content-Length 0
    Length,       ///< Content-Length within the limit
    Chunked,      ///< Transfer-Encoding: chunked (its size is checked while reading)
    TooLarge,     ///< Content-Length above the limit: 413
    Invalid,      ///< unparsable or conflicting Content-Length, or both headers: 400
    Unsupported,  ///< a transfer coding other than chunked alone: 501
};
[[nodiscard]] BodyFraming requestBodyFraming(const std::vector<std::string>& content_length,
                                             const std::vector<std::string>& transfer_encoding,
                                             size_t body_limit);

/// Seconds for the Retry-After of a 503: the queue timeout rounded up, at least 1.
[[nodiscard]] int retryAfterSeconds(std::chrono::milliseconds queue_timeout);

class ProxyService final : public common::Service {
public:
    /// Ensures and loads the TLS certificate and binds the listen address (throws
    /// std::runtime_error when it cannot). Owns the bus and closes it at stop().
    ProxyService(ApiProxySettings settings, std::unique_ptr<common::NatsBus> bus,
                 common::MetricsRegistry& metrics, std::string instance_id);
    ~ProxyService() override;

    void start() override;
    void stop() override;
    [[nodiscard]] common::HealthReport health() override;

    /// The bound port (useful when listening on port 0).
    [[nodiscard]] int port() const { return port_; }

private:
    /// Runs after the headers, before any body is read: answers what needs no body (503 on
    /// the reject lane, framing errors, requests without a body); true when it answered.
    bool preRoute(const httplib::Request& req, httplib::Response& res);
    /// Requests with a body: reads it within body_limit_bytes and client_timeout, then forwards.
    void handleWithBody(const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& reader);
    /// Answers 100 Continue, or at once 503 (reject lane) or 413 (declared body too large).
    int expectContinue(const httplib::Request& req, httplib::Response& res);
    /// Forwards the request with `body` upstream and publishes the zone event after a 2xx.
    void forward(const httplib::Request& req, std::string body, httplib::Response& res);
    /// An error answer from the proxy itself (JSON, like PowerDNS's own errors). With `close`,
    /// the connection is closed shortly after: the client may still be sending a body that was
    /// not read.
    void answerError(const httplib::Request& req, httplib::Response& res, int status,
                     const std::string& message, bool close);
    void countRequest(const std::string& method, int status);
    std::unique_ptr<httplib::Client> acquireClient();
    void releaseClient(std::unique_ptr<httplib::Client> client);

    ApiProxySettings settings_;
    std::unique_ptr<common::NatsBus> bus_;
    common::MetricsRegistry& metrics_;
    common::SystemClock clock_;
    std::unique_ptr<EventPublisher> publisher_;
    /// Before server_: its certificate callback uses the renewer's LiveCertificate.
    std::unique_ptr<CertificateRenewer> certificate_;
    std::jthread renewal_;  ///< calls certificate_->check() every tls.check_interval
    std::unique_ptr<httplib::SSLServer> server_;
    common::Guarded<std::vector<std::unique_ptr<httplib::Client>>> idle_clients_;
    common::Counter& upstream_errors_;
    common::Counter& events_upsert_;
    common::Counter& events_delete_;
    common::Counter& unresolved_;
    std::unique_ptr<ClientDeadlines> deadlines_;
    common::LogLimiter refused_log_{std::chrono::seconds{10}};
    int port_ = 0;
    std::jthread listener_;
    bool stopped_ = false;
};

/// The factory runDaemon calls: TLS certificate, NATS connection, stream, publisher, server.
[[nodiscard]] std::unique_ptr<common::Service> makeProxyService(const ApiProxySettings& settings,
                                                                common::DaemonContext& context);

}  // namespace pdns_distribute::api_proxy
