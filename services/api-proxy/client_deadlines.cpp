// SPDX-License-Identifier: Apache-2.0
#include "client_deadlines.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "connection_queue.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kWatchdogPoll{100};

/// "address:port" of the socket's peer, or "unknown".
std::string peerOf(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
        return fmt::format("{}:{}", text, ntohs(in->sin_port));
    }
    if (addr.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
        return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
    }
    return "unknown";
}

// OpenSSL ex_data slots: on the context, the ClientDeadlines; on each connection, the same
// pointer once registered, so that the free callback knows whom to tell.
void onSslFree(void* parent, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
               void* /*argp*/) noexcept {
    if (ptr == nullptr || parent == nullptr) return;
    try {
        static_cast<ClientDeadlines*>(ptr)->forget(static_cast<const SSL*>(parent));
    } catch (...) {
        // forget() only locks a mutex; nothing useful to do if even that fails.
    }
}

int connectionIndex() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &onSslFree);
    return index;
}

int contextIndex() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// OpenSSL's info callback; runs inside SSL_accept, SSL_read and SSL_write on the thread that
/// runs the connection job.
void onTlsInfo(const SSL* ssl, int where, int ret) noexcept {
    const bool start = (where & SSL_CB_HANDSHAKE_START) != 0;
    const bool fatal_alert = (where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT &&
                             (ret >> 8) == SSL3_AL_FATAL;  // ret: level << 8 | description
    if (!start && !fatal_alert) return;
    const int fd = SSL_get_fd(ssl);
    if (fd < 0) return;
    if (start && currentConnectionMode() == ConnectionMode::Drop) {
        // Ends the handshake at its first read, without a worker and without waiting.
        ::shutdown(fd, SHUT_RDWR);
        return;
    }
    auto* deadlines =
        static_cast<ClientDeadlines*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), contextIndex()));
    if (deadlines == nullptr) return;
    if (fatal_alert) {
        try {
            // OpenSSL 3.0 names no TLS 1.3 alert (e.g. 116, certificate_required): add the code,
            // and the certificate check's own verdict when there was one.
            auto why = fmt::format("{}, TLS alert {}", SSL_alert_desc_string_long(ret), ret & 0xff);
            if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
                why +=
                    fmt::format("; client certificate: {}", X509_verify_cert_error_string(verify));
            }
            deadlines->fatalAlertSent(fd, why);
        } catch (...) {
            // Only a log line lost.
        }
        return;
    }
    try {
        if (deadlines->begin(ssl, fd)) {
            // OpenSSL passes the connection const to info callbacks; it is httplib's mutable
            // object, and ex_data is the only per-connection slot freed with it.
            SSL_set_ex_data(const_cast<SSL*>(ssl), connectionIndex(), deadlines);
        }
    } catch (const std::exception& e) {
        spdlog::error("cannot track a TLS connection's deadline ({}); closing it", e.what());
        ::shutdown(fd, SHUT_RDWR);
    }
}

}  // namespace

ClientDeadlineMetrics ClientDeadlineMetrics::create(common::MetricsRegistry& registry) {
    return ClientDeadlineMetrics{
        .cut = registry.counter("pdns_distribute_api_proxy_client_timeouts_total",
                                "Connections closed because the client was too slow"),
        .tls_alerts = registry.counter(
            "pdns_distribute_api_proxy_tls_failures_total",
            "TLS connections refused with a fatal alert (e.g. missing or untrusted client "
            "certificate)"),
    };
}

ClientDeadlines::ClientDeadlines(milliseconds timeout, milliseconds grace,
                                 const common::Clock& clock, ClientDeadlineMetrics metrics)
    : timeout_(timeout), grace_(grace), clock_(clock), metrics_(metrics) {}

ClientDeadlines::~ClientDeadlines() { stopWatchdog(); }

void ClientDeadlines::startWatchdog() {
    if (watchdog_.joinable()) return;
    watchdog_ = std::jthread([this](const std::stop_token& stop) {
        std::mutex m;
        std::condition_variable_any cv;
        while (!stop.stop_requested()) {
            cutExpired();
            std::unique_lock lock(m);
            cv.wait_for(lock, stop, kWatchdogPoll, [] { return false; });
        }
    });
}

void ClientDeadlines::stopWatchdog() {
    if (!watchdog_.joinable()) return;
    watchdog_.request_stop();
    watchdog_.join();
}

bool ClientDeadlines::begin(const SSL* conn, int fd) {
    auto entries = entries_.lock();
    return entries->try_emplace(conn, Entry{.fd = fd, .deadline = clock_.steady() + timeout_})
        .second;
}

void ClientDeadlines::extend(const SSL* conn) {
    auto entries = entries_.lock();
    if (auto it = entries->find(conn); it != entries->end()) {
        it->second.deadline = clock_.steady() + timeout_;
        it->second.suspended = false;
    }
}

void ClientDeadlines::suspend(const SSL* conn) {
    auto entries = entries_.lock();
    if (auto it = entries->find(conn); it != entries->end()) it->second.suspended = true;
}

void ClientDeadlines::closeAfter(const SSL* conn, milliseconds delay) {
    auto entries = entries_.lock();
    if (auto it = entries->find(conn); it != entries->end()) {
        // Without grace: deadline + grace is when the watchdog acts.
        it->second.deadline = clock_.steady() + delay - grace_;
        it->second.suspended = false;
    }
}

void ClientDeadlines::forget(const SSL* conn) { entries_.lock()->erase(conn); }

size_t ClientDeadlines::cutExpired() {
    std::vector<std::string> peers;
    {
        auto entries = entries_.lock();
        const auto now = clock_.steady();
        for (auto& [conn, entry] : *entries) {
            if (entry.cut || entry.suspended || now < entry.deadline + grace_) continue;
            // Under the lock: forget() runs before httplib closes the descriptor, so it is
            // still this connection's socket.
            peers.push_back(peerOf(entry.fd));
            // Counted before the close, so whoever sees the connection end sees it counted.
            metrics_.cut.inc();
            ::shutdown(entry.fd, SHUT_RDWR);
            entry.cut = true;
        }
    }
    if (peers.empty()) return 0;
    uint64_t suppressed = 0;
    if (log_limiter_.allowAt(clock_.steady(), &suppressed)) {
        spdlog::warn(
            "client '{}' too slow (no complete request or answer taken within {} ms); "
            "connection closed{}",
            peers.front(), timeout_.count(),
            peers.size() + suppressed > 1
                ? fmt::format(" ({} more since the last report)", peers.size() - 1 + suppressed)
                : std::string{});
    }
    return peers.size();
}

void ClientDeadlines::fatalAlertSent(int fd, const std::string& description) {
    metrics_.tls_alerts.inc();
    uint64_t suppressed = 0;
    if (!alert_limiter_.allowAt(clock_.steady(), &suppressed)) return;
    spdlog::warn("TLS connection from '{}' refused ({}){}", peerOf(fd), description,
                 suppressed > 0 ? fmt::format(" ({} more since the last report)", suppressed)
                                : std::string{});
}

size_t ClientDeadlines::cutWaiting() {
    auto entries = entries_.lock();
    size_t n = 0;
    for (auto& [conn, entry] : *entries) {
        if (entry.cut || entry.suspended) continue;
        ::shutdown(entry.fd, SHUT_RDWR);
        entry.cut = true;
        ++n;
    }
    return n;
}

size_t ClientDeadlines::tracked() { return entries_.lock()->size(); }

void installClientHooks(SSL_CTX* ctx, ClientDeadlines& deadlines) {
    static_cast<void>(connectionIndex());  // registers the free callback before any connection
    SSL_CTX_set_ex_data(ctx, contextIndex(), &deadlines);
    SSL_CTX_set_info_callback(ctx, &onTlsInfo);
}

}  // namespace pdns_distribute::api_proxy
