// SPDX-License-Identifier: Apache-2.0
#pragma once
// Slow clients (DESIGN §6 "connections are bounded"). httplib's own read timeout bounds each
// recv(), not a request: a client that trickles one byte a second keeps a worker forever. So the
// proxy gives every TLS connection a deadline, kept here: `timeout` for the TLS handshake and the
// first request's headers, a fresh `timeout` for the body once the headers are in (the body
// reader answers 408 past it), none while the proxy waits for the upstream (upstream_timeout
// bounds that), and a fresh `timeout` after each answer for taking it and sending the next
// request. A watchdog thread shuts down (both directions) the socket of a connection `grace`
// past its deadline, which ends whatever httplib was waiting for on it.
//
// Connections are keyed by their SSL object: the TLS hook registers one when its handshake starts
// (on the worker thread, where httplib also runs the handlers) and forgets it when httplib frees
// it, which happens before httplib closes the socket, so the watchdog never touches a closed (and
// possibly reused) descriptor.

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <unordered_map>

#include <openssl/types.h>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/metrics.hpp>

namespace pdns_distribute::api_proxy {

struct ClientDeadlineMetrics {
    common::Counter& cut;         ///< connections shut down by the watchdog
    common::Counter& tls_alerts;  ///< fatal TLS alerts sent (failed handshakes, bad certificates)
    [[nodiscard]] static ClientDeadlineMetrics create(common::MetricsRegistry& registry);
};

class ClientDeadlines {
public:
    /// Thread-safe; the watchdog starts with startWatchdog() and stops in stopWatchdog() or the
    /// destructor.
    ClientDeadlines(std::chrono::milliseconds timeout, std::chrono::milliseconds grace,
                    const common::Clock& clock, ClientDeadlineMetrics metrics);
    ~ClientDeadlines();
    ClientDeadlines(const ClientDeadlines&) = delete;
    ClientDeadlines& operator=(const ClientDeadlines&) = delete;

    void startWatchdog();
    void stopWatchdog();

    /// The TLS handshake of `conn` on socket `fd` starts: the deadline is now + timeout. False
    /// (and the old deadline kept) when `conn` is known already: a renegotiation buys no time.
    bool begin(const SSL* conn, int fd);
    /// The deadline of `conn` becomes now + timeout. No effect on an unknown connection.
    void extend(const SSL* conn);
    /// `conn` has no deadline until the next extend() (the proxy is working, not the client).
    void suspend(const SSL* conn);
    /// `conn` is shut down `delay` from now, whatever the client does (after a 503: the answer
    /// has been written by then, and the client was told to close).
    void closeAfter(const SSL* conn, std::chrono::milliseconds delay);
    /// `conn` is being freed; called before its socket is closed.
    void forget(const SSL* conn);
    /// The proxy sent a fatal TLS alert on socket `fd` (a failed handshake: no or a bad client
    /// certificate, no shared cipher...): counted, and logged at a limited rate.
    void fatalAlertSent(int fd, const std::string& description);

    /// Shuts down the socket of every connection past deadline + grace (once each); returns how
    /// many. Called by the watchdog every 100 ms, and by tests.
    size_t cutExpired();
    /// Shuts down every connection that waits for its client (all but those the proxy is
    /// working on), for a prompt stop: httplib notices a stopped server only between requests,
    /// after up to a keep-alive timeout. Returns how many.
    size_t cutWaiting();
    /// Connections known (registered and not forgotten).
    [[nodiscard]] size_t tracked();
    [[nodiscard]] std::chrono::milliseconds timeout() const { return timeout_; }

private:
    struct Entry {
        int fd = -1;
        std::chrono::steady_clock::time_point deadline;
        bool suspended = false;
        bool cut = false;
    };
    using Map = std::unordered_map<const SSL*, Entry>;

    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds grace_;
    const common::Clock& clock_;
    ClientDeadlineMetrics metrics_;
    common::LogLimiter log_limiter_{std::chrono::seconds{10}};
    common::LogLimiter alert_limiter_{std::chrono::seconds{10}};
    common::Guarded<Map> entries_;
    std::jthread watchdog_;
};

/// Installs the TLS hooks on the server context: at each handshake start the connection is
/// registered with `deadlines` (or, on a thread running a ConnectionMode::Drop job, its socket is
/// shut down so the handshake fails at once), fatal alerts are reported to it, and it is
/// forgotten when OpenSSL frees it.
/// `deadlines` must outlive every connection of `ctx`.
void installClientHooks(SSL_CTX* ctx, ClientDeadlines& deadlines);

}  // namespace pdns_distribute::api_proxy
