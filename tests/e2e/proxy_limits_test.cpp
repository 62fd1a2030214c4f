// SPDX-License-Identifier: Apache-2.0
// The api-proxy under hostile clients and a bad upstream (issue 4): oversize bodies, slow
// clients, a hung or refusing upstream, more clients than workers, client certificates, and
// its own certificate renewed or replaced while it runs, on
// a real nats-server and the real pdns-api-proxy. The upstream is an httplib server inside the
// test that can be told to hang or to answer slowly.
//
// "Nothing published" is read from the proxy's own event counter (every event it decides to send
// counts there, including those it would queue for retry) and from the PDNS_ZONES stream itself
// (the last message of the zone's subject); the oversize-body test ends with a positive control
// that does publish, so both checks are shown able to see an event.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "harness.hpp"

namespace pdns_distribute::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

milliseconds since(steady_clock::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
}

std::string zonePath(const std::string& zone) { return "/api/v1/servers/localhost/zones/" + zone; }

std::string rrsetPatch(const std::string& zone, size_t padding = 0) {
    nlohmann::json body = {{"rrsets",
                            {{{"name", "www." + zone},
                              {"type", "A"},
                              {"ttl", 300},
                              {"changetype", "REPLACE"},
                              {"records", {{{"content", "192.0.2.1"}, {"disabled", false}}}},
                              {"comments", nlohmann::json::array()}}}}};
    if (padding > 0) body["padding"] = std::string(padding, 'x');
    return body.dump();
}

/// The upstream PowerDNS API stand-in: answers like pdns (204 for PATCH, 201 for POST…),
/// counts what reaches it, and holds requests whose path starts with a given prefix until
/// release() (a hung upstream), or delays them.
class Upstream {
public:
    Upstream() {
        const auto reply = [this](int status, const char* body) {
            return [this, status, body](const httplib::Request& req, httplib::Response& res) {
                onRequest(req);
                res.status = status;
                if (body != nullptr) res.set_content(body, "application/json");
            };
        };
        server_.Get(".*", reply(200, R"({"ok":true})"));
        server_.Patch(".*", reply(204, nullptr));
        server_.Put(".*", reply(200, R"({"result":"Rectified"})"));
        server_.Delete(".*", reply(204, nullptr));
        server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
            onRequest(req);
            res.status = 201;
            res.set_content(req.body, "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("cannot bind the upstream stand-in");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        if (!waitUntil([this] { return server_.is_running(); }, 5s)) {
            throw std::runtime_error("upstream stand-in did not start");
        }
    }
    ~Upstream() {
        release();
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;

    [[nodiscard]] std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
    /// Requests whose path starts with `prefix` wait until release().
    void hangOn(const std::string& prefix) {
        const std::lock_guard lock(mutex_);
        hang_prefix_ = prefix;
    }
    /// Requests whose path starts with `prefix` are answered after `delay`.
    void delayOn(const std::string& prefix, milliseconds delay) {
        const std::lock_guard lock(mutex_);
        delay_prefix_ = prefix;
        delay_ = delay;
    }
    void release() {
        {
            const std::lock_guard lock(mutex_);
            released_ = true;
        }
        cv_.notify_all();
    }
    [[nodiscard]] int requests() const { return requests_.load(); }
    [[nodiscard]] size_t lastBodySize() {
        const std::lock_guard lock(mutex_);
        return last_body_size_;
    }

private:
    void onRequest(const httplib::Request& req) {
        std::unique_lock lock(mutex_);
        ++requests_;
        last_body_size_ = req.body.size();
        if (!hang_prefix_.empty() && req.path.starts_with(hang_prefix_)) {
            cv_.wait_for(lock, 60s, [this] { return released_; });
        } else if (!delay_prefix_.empty() && req.path.starts_with(delay_prefix_)) {
            // The simulated upstream's own latency, not a test waiting for something.
            cv_.wait_for(lock, delay_, [this] { return released_; });
        }
    }

    httplib::Server server_;
    std::thread thread_;
    int port_ = 0;
    std::atomic<int> requests_{0};
    std::mutex mutex_;
    std::condition_variable cv_;
    std::string hang_prefix_;
    std::string delay_prefix_;
    milliseconds delay_{0};
    bool released_ = false;
    size_t last_body_size_ = 0;
};

struct SslCtxFree {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
    void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};

/// A certificate's serial number as hex, "" without a certificate.
std::string serialText(const X509* cert) {
    if (cert == nullptr) return {};
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn{
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr), &BN_free};
    char* hex = bn ? BN_bn2hex(bn.get()) : nullptr;
    if (hex == nullptr) return {};
    std::string out{hex};
    OPENSSL_free(hex);
    return out;
}

/// The serial of the (first) certificate in a PEM file, "" when it holds none.
std::string serialOfFile(const std::string& path) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_file(path.c_str(), "r"), &BIO_free};
    if (!bio) return {};
    std::unique_ptr<X509, X509Free> cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
    ERR_clear_error();
    return serialText(cert.get());
}

/// A TLS client that writes raw bytes (partial requests, trickles, chunked bodies) and reads
/// raw answers, with the proxy's certificate verified (not verified with an empty ca_file).
class TlsConn {
public:
    struct Read {
        std::string data;
        bool closed = false;  ///< the proxy closed the connection (or reset it)
    };

    TlsConn(int port, const std::string& ca_file) {
        ctx_.reset(SSL_CTX_new(TLS_client_method()));
        if (!ctx_ || (!ca_file.empty() &&
                      SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr) != 1)) {
            throw std::runtime_error("cannot set up the test TLS client");
        }
        SSL_CTX_set_verify(ctx_.get(), ca_file.empty() ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                           nullptr);
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            throw std::runtime_error("cannot connect to the proxy");
        }
        setReceiveTimeout(10s);
        ssl_.reset(SSL_new(ctx_.get()));
        SSL_set_fd(ssl_.get(), fd_);
    }
    ~TlsConn() {
        ssl_.reset();
        if (fd_ >= 0) ::close(fd_);
    }
    TlsConn(const TlsConn&) = delete;
    TlsConn& operator=(const TlsConn&) = delete;

    bool handshake() {
        const bool ok = SSL_connect(ssl_.get()) == 1;
        ERR_clear_error();
        return ok;
    }
    bool write(std::string_view data) {
        const bool ok = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
                        static_cast<int>(data.size());
        ERR_clear_error();
        return ok;
    }
    /// Reads until one whole answer (head and Content-Length body) is in, the connection is
    /// closed, or `timeout` passes.
    Read readAnswer(milliseconds timeout);
    /// The serial of the certificate the proxy presented (after handshake()).
    [[nodiscard]] std::string peerSerial() const {
        std::unique_ptr<X509, X509Free> peer{SSL_get1_peer_certificate(ssl_.get())};
        return serialText(peer.get());
    }

private:
    void setReceiveTimeout(milliseconds t) const {
        timeval tv{.tv_sec = static_cast<time_t>(t.count() / 1000),
                   .tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    static bool answerComplete(const std::string& data) {
        const auto end = data.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        const auto head = data.substr(0, end);
        size_t length = 0;
        if (const auto cl = head.find("Content-Length: "); cl != std::string::npos) {
            length = std::stoul(head.substr(cl + 16));
        }
        return data.size() >= end + 4 + length;
    }
    Read read(milliseconds timeout) {
        Read out;
        const auto deadline = steady_clock::now() + timeout;
        setReceiveTimeout(100ms);
        while (steady_clock::now() < deadline) {
            char buf[4096];
            const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
            if (n > 0) {
                out.data.append(buf, static_cast<size_t>(n));
                if (answerComplete(out.data)) break;
                continue;
            }
            const int err = SSL_get_error(ssl_.get(), n);
            ERR_clear_error();
            if (err == SSL_ERROR_WANT_READ) continue;  // receive timeout: poll again
            out.closed = true;
            break;
        }
        setReceiveTimeout(10s);
        return out;
    }

    std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
    std::unique_ptr<SSL, SslFree> ssl_;
    int fd_ = -1;
};

TlsConn::Read TlsConn::readAnswer(milliseconds timeout) { return read(timeout); }

int statusOf(const std::string& answer) {
    if (!answer.starts_with("HTTP/1.1 ") || answer.size() < 12) return 0;
    return std::stoi(answer.substr(9, 3));
}

struct ProxyOptions {
    std::string upstream_url;
    std::string upstream_timeout = "5s";
    size_t body_limit = 4096;
    int max_connections = 4;
    int max_queued = 8;
    std::string queue_timeout = "10s";
    std::string client_timeout = "10s";
    std::string client_ca_file;
    /// Client certificate the readiness probe uses (with client_ca_file).
    std::string probe_cert;
    std::string probe_key;
    /// The proxy's own certificate (empty: generated in the state directory).
    std::string cert_file;
    std::string key_file;
    /// More lines for the [tls] section.
    std::string tls_extra;
};

/// A pdns-api-proxy process with its own config and state directory.
class Proxy {
public:
    Proxy(const NatsServer& nats, ProxyOptions options)
        : nats_url_(nats.url()), options_(std::move(options)) {}
    ~Proxy() { dumpLogsIfFailed(60); }
    Proxy(const Proxy&) = delete;
    Proxy& operator=(const Proxy&) = delete;

    std::string writeConfig() {
        port_ = freeTcpPort();
        http_port_ = freeTcpPort();
        return dir_.writeFile(
            "api-proxy.toml",
            fmt::format("[log]\nlevel = \"debug\"\n[http]\nlisten = \"127.0.0.1:{}\"\n"
                        "[proxy]\nlisten = \"127.0.0.1:{}\"\nupstream_url = \"{}\"\n"
                        "upstream_timeout = \"{}\"\nbody_limit_bytes = {}\n"
                        "max_connections = {}\nmax_queued = {}\nqueue_timeout = \"{}\"\n"
                        "client_timeout = \"{}\"\n"
                        "[tls]\nstate_dir = \"{}\"\nclient_ca_file = \"{}\"\n"
                        "cert_file = \"{}\"\nkey_file = \"{}\"\n{}"
                        "[nats]\nurls = [\"{}\"]\n",
                        http_port_, port_, options_.upstream_url, options_.upstream_timeout,
                        options_.body_limit, options_.max_connections, options_.max_queued,
                        options_.queue_timeout, options_.client_timeout, dir_.file("state"),
                        options_.client_ca_file, options_.cert_file, options_.key_file,
                        options_.tls_extra, nats_url_));
    }

    /// Starts and waits until an HTTPS request gets an answer (any status). Retries with new
    /// ports when the process exits at once (a port taken in between).
    void start() {
        for (int attempt = 0; attempt < 3; ++attempt) {
            const auto config = writeConfig();
            process_.start({daemonBinary("pdns-api-proxy"), "--config", config}, {},
                           dir_.file("api-proxy.log"), "api-proxy");
            const bool up = waitUntil(
                [&] {
                    if (!process_.running()) return true;
                    auto c = client(options_.probe_cert, options_.probe_key);
                    c->set_connection_timeout(0, 300000);
                    return static_cast<bool>(c->Get("/ready"));
                },
                20s, 50ms);
            if (up && process_.running()) return;
            process_.stop();
        }
        throw std::runtime_error("api-proxy did not start:\n" + process_.logTail());
    }

    int stop() { return process_.stop(); }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string caFile() const {
        return options_.cert_file.empty() ? dir_.file("state/api-proxy.crt") : options_.cert_file;
    }
    ChildProcess& process() { return process_; }

    std::unique_ptr<httplib::SSLClient> client(const std::string& cert = {},
                                               const std::string& key = {}) const {
        auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_)
                              : std::make_unique<httplib::SSLClient>("127.0.0.1", port_, cert, key);
        c->set_ca_cert_path(caFile().c_str());
        c->enable_server_certificate_verification(true);
        c->set_read_timeout(15, 0);
        return c;
    }

    httplib::Result patchZone(const std::string& zone, size_t padding = 0) const {
        return client()->Patch(zonePath(zone), {{"X-API-Key", "test"}}, rrsetPatch(zone, padding),
                               "application/json");
    }

    /// Value of one series of the proxy's /metrics (0 when absent).
    [[nodiscard]] double metric(const std::string& series) const {
        httplib::Client c("127.0.0.1", http_port_);
        auto r = c.Get("/metrics");
        if (!r || r->status != 200) return -1;
        const auto& text = r->body;
        for (size_t at = 0; at < text.size();) {
            const auto end = std::min(text.find('\n', at), text.size());
            const std::string_view line(text.data() + at, end - at);
            if (line.starts_with(series + " ")) {
                return std::stod(std::string(line.substr(series.size() + 1)));
            }
            at = end + 1;
        }
        return 0;
    }
    [[nodiscard]] double eventsProduced() const {
        return metric(R"(pdns_distribute_api_proxy_events_total{op="upsert"})") +
               metric(R"(pdns_distribute_api_proxy_events_total{op="delete"})");
    }

private:
    std::string nats_url_;
    ProxyOptions options_;
    TempDir dir_{"pdd-proxy"};
    ChildProcess process_;
    int port_ = 0;
    int http_port_ = 0;
};

class ProxyLimitsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // The raw TLS client writes to connections the proxy has closed.
        std::signal(SIGPIPE, SIG_IGN);
        nats_ = new NatsServer("nats-server");
        nats_->start();
        common::NatsSettings settings;
        settings.urls = {nats_->url()};
        settings.name = "proxy-limits-test";
        bus_ = common::NatsBus::connect(settings).release();
    }
    static void TearDownTestSuite() {
        if (bus_ != nullptr) bus_->close();
        delete bus_;
        bus_ = nullptr;
        delete nats_;
        nats_ = nullptr;
    }
    void TearDown() override {
        if (HasFailure()) dumpLogsIfFailed(80);
    }

    std::unique_ptr<Proxy> startProxy(ProxyOptions options) {
        if (options.upstream_url.empty()) options.upstream_url = upstream_.url();
        auto p = std::make_unique<Proxy>(*nats_, std::move(options));
        p->start();
        return p;
    }

    /// The last zone event stored for `zone`, if any (a direct stream read).
    static std::optional<common::StreamMessage> lastEvent(const std::string& zone) {
        auto r = bus_->lastMessage("PDNS_ZONES", common::zoneEventSubject("default", zone));
        if (!r) throw std::runtime_error("cannot read the stream: " + r.error().message);
        return *r;
    }

    /// Nothing was published for `zone` by `proxy`: no event produced (queued ones included)
    /// and none stored in the stream.
    static void expectNothingPublished(const Proxy& proxy, const std::string& zone) {
        EXPECT_EQ(proxy.eventsProduced(), 0);
        EXPECT_FALSE(lastEvent(zone).has_value()) << "an event for " << zone << " is stored";
    }

    static inline NatsServer* nats_ = nullptr;
    static inline common::NatsBus* bus_ = nullptr;
    Upstream upstream_;
};

// --- request bodies ---

TEST_F(ProxyLimitsTest, OversizeBody_Answered413_NothingForwardedNorPublished) {
    auto proxy = startProxy({.body_limit = 4096});
    const int before = upstream_.requests();

    auto r = proxy->patchZone("big.limits.test.", 8192);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("4096 bytes"), std::string::npos) << r->body;
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "big.limits.test.");

    // Positive control: the same call within the limit is forwarded and published, and both
    // checks above see it.
    auto ok = proxy->patchZone("big.limits.test.");
    ASSERT_TRUE(ok) << httplib::to_string(ok.error());
    EXPECT_EQ(ok->status, 204);
    EXPECT_EQ(upstream_.requests(), before + 1);
    EXPECT_EQ(proxy->eventsProduced(), 1);
    EXPECT_TRUE(lastEvent("big.limits.test.").has_value());
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, OversizeChunkedBody_Answered413) {
    auto proxy = startProxy({.body_limit = 4096});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    std::string request =
        "PATCH " + zonePath("chunked.limits.test.") +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) request += "800\r\n" + std::string(2048, 'x') + "\r\n";
    request += "0\r\n\r\n";
    ASSERT_TRUE(conn.write(request));
    const auto answer = conn.readAnswer(10s);
    EXPECT_EQ(statusOf(answer.data), 413) << answer.data;
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "chunked.limits.test.");
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, OversizeBodyWithExpectContinue_Answered413WithoutTheBody) {
    auto proxy = startProxy({.body_limit = 4096});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    ASSERT_TRUE(conn.write("PATCH " + zonePath("expect.limits.test.") +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\n"
                           "Content-Type: application/json\r\nContent-Length: 1000000\r\n"
                           "Expect: 100-continue\r\n\r\n"));
    const auto answer = conn.readAnswer(10s);  // no byte of the body was sent
    EXPECT_EQ(statusOf(answer.data), 413) << answer.data;
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "expect.limits.test.");
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, BodyAtTheLimit_Forwarded) {
    auto proxy = startProxy({.body_limit = 4096});
    std::string body = rrsetPatch("edge.limits.test.", 1);
    body = rrsetPatch("edge.limits.test.", 4096 - body.size() + 1);
    ASSERT_EQ(body.size(), 4096U);
    auto r = proxy->client()->Patch(zonePath("edge.limits.test."), {{"X-API-Key", "test"}}, body,
                                    "application/json");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(upstream_.lastBodySize(), 4096U);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, PutWithoutContentLength_ForwardedAtOnce) {
    // RFC 9112 §6.3: no Content-Length and no Transfer-Encoding is an empty body. httplib alone
    // would wait for the connection to end (the client timeout) and answer 400.
    auto proxy = startProxy({.client_timeout = "20s"});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    const auto t0 = steady_clock::now();
    ASSERT_TRUE(conn.write("PUT " + zonePath("rectify.limits.test.") +
                           "/rectify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\n\r\n"));
    const auto answer = conn.readAnswer(15s);
    EXPECT_EQ(statusOf(answer.data), 200) << answer.data;
    EXPECT_LT(since(t0), 5s);
    EXPECT_EQ(upstream_.requests(), before + 1);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, ContentLengthWithTransferEncoding_Refused400) {
    auto proxy = startProxy({});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    ASSERT_TRUE(conn.write("PATCH " + zonePath("smuggle.limits.test.") +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\n"
                           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    const auto answer = conn.readAnswer(10s);
    EXPECT_EQ(statusOf(answer.data), 400) << answer.data;
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "smuggle.limits.test.");
    EXPECT_EQ(proxy->stop(), 0);
}

// --- slow clients ---

TEST_F(ProxyLimitsTest, StalledBody_Answered408OrClosed_NothingForwarded) {
    auto proxy = startProxy({.client_timeout = "1s"});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    const auto t0 = steady_clock::now();
    ASSERT_TRUE(conn.write("PATCH " + zonePath("stall.limits.test.") +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\n"
                           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                           "{\"rrsets\":"));
    const auto answer = conn.readAnswer(15s);
    const auto elapsed = since(t0);
    EXPECT_TRUE(statusOf(answer.data) == 408 || (answer.data.empty() && answer.closed))
        << answer.data;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 6s);
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "stall.limits.test.");
    EXPECT_EQ(proxy->stop(), 0);
}

/// Writes `prefix`, then one byte at a time, each after 200 ms of waiting for an answer, until
/// an answer arrives, the connection is closed or `limit` passes. One thread does both: an SSL
/// object must not be read and written concurrently.
TlsConn::Read trickle(TlsConn& conn, const std::string& prefix, milliseconds limit) {
    TlsConn::Read out;
    const auto deadline = steady_clock::now() + limit;
    if (!conn.write(prefix)) return conn.readAnswer(1s);
    while (steady_clock::now() < deadline) {
        out = conn.readAnswer(200ms);
        if (!out.data.empty() || out.closed) return out;
        if (!conn.write("a")) return conn.readAnswer(1s);
    }
    return out;
}

TEST_F(ProxyLimitsTest, TricklingHeaders_Disconnected) {
    auto proxy = startProxy({.client_timeout = "1s"});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    const auto t0 = steady_clock::now();
    const auto read = trickle(conn, "GET /api/v1/servers/localhost HTTP/1.1\r\nX-Trickle: ", 15s);
    const auto elapsed = since(t0);
    EXPECT_TRUE(read.closed);
    EXPECT_EQ(read.data, "");
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 6s);
    EXPECT_EQ(upstream_.requests(), before);
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_client_timeouts_total"), 1);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, TricklingBody_Answered408OrClosed_NothingForwarded) {
    auto proxy = startProxy({.client_timeout = "1s"});
    const int before = upstream_.requests();
    TlsConn conn(proxy->port(), proxy->caFile());
    ASSERT_TRUE(conn.handshake());
    const auto t0 = steady_clock::now();
    const auto answer =
        trickle(conn,
                "PATCH " + zonePath("trickle.limits.test.") +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: test\r\n"
                    "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                15s);
    const auto elapsed = since(t0);
    EXPECT_TRUE(statusOf(answer.data) == 408 || (answer.data.empty() && answer.closed))
        << answer.data;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 6s);
    EXPECT_EQ(upstream_.requests(), before);
    expectNothingPublished(*proxy, "trickle.limits.test.");
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, SlowClientsOnEveryWorker_OthersStillServed) {
    // Two workers, both taken by clients that trickle their headers forever (each byte well
    // within the per-read timeout). A normal client must still get its answer.
    auto proxy = startProxy({.max_connections = 2, .queue_timeout = "30s", .client_timeout = "1s"});
    std::vector<std::unique_ptr<TlsConn>> slow;
    std::vector<std::future<TlsConn::Read>> tricklers;
    for (int i = 0; i < 2; ++i) {
        slow.push_back(std::make_unique<TlsConn>(proxy->port(), proxy->caFile()));
        ASSERT_TRUE(slow.back()->handshake());  // a worker runs each handshake
        tricklers.push_back(std::async(std::launch::async, trickle, std::ref(*slow.back()),
                                       "GET /slow HTTP/1.1\r\nX-A: ", 20s));
    }
    const auto t0 = steady_clock::now();
    auto r = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    const auto elapsed = since(t0);
    for (auto& t : tricklers) EXPECT_TRUE(t.get().closed);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(elapsed, 8s);
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_client_timeouts_total"), 2);
    EXPECT_EQ(proxy->stop(), 0);
}

// --- a bad upstream ---

TEST_F(ProxyLimitsTest, HungUpstream_ZoneChange_Answered504_NothingPublished) {
    upstream_.hangOn(zonePath("hung.limits.test."));
    auto proxy = startProxy({.upstream_timeout = "1s"});
    const int before = upstream_.requests();
    const auto t0 = steady_clock::now();
    auto r = proxy->patchZone("hung.limits.test.");
    const auto elapsed = since(t0);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 504) << r->body;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 6s);
    EXPECT_EQ(upstream_.requests(), before + 1);  // it did reach the upstream
    upstream_.release();  // the upstream answers 204 now, to a proxy that gave up
    expectNothingPublished(*proxy, "hung.limits.test.");
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_upstream_errors_total"), 1);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, RefusingUpstream_ZoneChange_Answered502_NothingPublished) {
    // A port nobody listens on: connections are refused.
    auto proxy = startProxy({.upstream_url = fmt::format("http://127.0.0.1:{}", freeTcpPort())});
    auto r = proxy->patchZone("refused.limits.test.");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 502) << r->body;
    expectNothingPublished(*proxy, "refused.limits.test.");
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_upstream_errors_total"), 1);
    EXPECT_EQ(proxy->stop(), 0);
}

// --- more clients than workers ---

/// GET `path` through the proxy on another thread.
std::future<httplib::Result> getAsync(const Proxy& proxy, const std::string& path) {
    return std::async(std::launch::async, [&proxy, path] {
        return proxy.client()->Get(path, {{"X-API-Key", "test"}});
    });
}

TEST_F(ProxyLimitsTest, EveryWorkerBusyAndNoQueue_Answered503WithRetryAfter) {
    upstream_.hangOn("/hang");
    auto proxy = startProxy({.max_connections = 1, .max_queued = 0, .queue_timeout = "2s"});
    const int before = upstream_.requests();
    auto busy = getAsync(*proxy, "/hang");
    ASSERT_TRUE(waitUntil([&] { return upstream_.requests() == before + 1; }, 10s));

    const auto t0 = steady_clock::now();
    auto r = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Retry-After"), "2");
    EXPECT_LT(since(t0), 3s);
    EXPECT_EQ(upstream_.requests(), before + 1);

    upstream_.release();
    auto first = busy.get();
    ASSERT_TRUE(first) << httplib::to_string(first.error());
    EXPECT_EQ(first->status, 200);
    auto again = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    ASSERT_TRUE(again) << httplib::to_string(again.error());
    EXPECT_EQ(again->status, 200);
    EXPECT_GE(proxy->metric(
                  R"(pdns_distribute_api_proxy_connections_rejected_total{reason="queue_full"})"),
              1);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, EveryWorkerBusy_QueuedClientServedWhenOneFrees) {
    upstream_.hangOn("/hang");
    auto proxy = startProxy({.max_connections = 1, .max_queued = 4, .queue_timeout = "30s"});
    const int before = upstream_.requests();
    auto busy = getAsync(*proxy, "/hang");
    ASSERT_TRUE(waitUntil([&] { return upstream_.requests() == before + 1; }, 10s));
    auto queued = getAsync(*proxy, "/api/v1/servers/localhost");
    ASSERT_TRUE(waitUntil(
        [&] { return proxy->metric("pdns_distribute_api_proxy_connections_waiting") == 1; }, 10s));
    EXPECT_EQ(upstream_.requests(), before + 1);  // the queued one waits

    upstream_.release();
    auto first = busy.get();
    auto second = queued.get();
    ASSERT_TRUE(first) << httplib::to_string(first.error());
    ASSERT_TRUE(second) << httplib::to_string(second.error());
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(second->status, 200);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, EveryWorkerBusy_QueuedClientAnswered503AfterQueueTimeout) {
    upstream_.hangOn("/hang");
    auto proxy = startProxy({.max_connections = 1, .max_queued = 4, .queue_timeout = "500ms"});
    const int before = upstream_.requests();
    auto busy = getAsync(*proxy, "/hang");
    ASSERT_TRUE(waitUntil([&] { return upstream_.requests() == before + 1; }, 10s));

    const auto t0 = steady_clock::now();
    auto r = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    const auto elapsed = since(t0);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_GE(elapsed, 400ms);
    EXPECT_LT(elapsed, 3s);
    EXPECT_GE(
        proxy->metric(
            R"(pdns_distribute_api_proxy_connections_rejected_total{reason="queue_timeout"})"),
        1);
    upstream_.release();
    auto first = busy.get();
    ASSERT_TRUE(first) << httplib::to_string(first.error());
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, ConnectionFlood_EveryClientAnswered200Or503) {
    upstream_.delayOn("/slow", 300ms);
    auto proxy = startProxy({.max_connections = 2, .max_queued = 2, .queue_timeout = "2s"});
    std::vector<std::future<httplib::Result>> clients;
    clients.reserve(40);
    for (int i = 0; i < 40; ++i) clients.push_back(getAsync(*proxy, "/slow"));
    int ok = 0;
    int busy = 0;
    for (auto& c : clients) {
        auto r = c.get();
        ASSERT_TRUE(r) << httplib::to_string(r.error());
        ASSERT_TRUE(r->status == 200 || r->status == 503) << r->status;
        (r->status == 200 ? ok : busy)++;
    }
    EXPECT_GE(ok, 2);
    EXPECT_GE(busy, 1);
    EXPECT_TRUE(proxy->process().running());
    auto after = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    ASSERT_TRUE(after) << httplib::to_string(after.error());
    EXPECT_EQ(after->status, 200);
    EXPECT_EQ(proxy->stop(), 0);
}

// --- client certificates ---

/// A CA and a client certificate it issued, made with the openssl CLI in `dir`.
struct TestPki {
    std::string ca_cert;
    std::string client_cert;
    std::string client_key;
};

TestPki makePki(const TempDir& dir, const std::string& name) {
    const auto run = [](const std::vector<std::string>& argv) {
        const auto r = runCommand(argv);
        if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
    };
    TestPki pki{.ca_cert = dir.file(name + "-ca.crt"),
                .client_cert = dir.file(name + "-client.crt"),
                .client_key = dir.file(name + "-client.key")};
    const auto ca_key = dir.file(name + "-ca.key");
    const auto csr = dir.file(name + "-client.csr");
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-out", pki.ca_cert, "-days", "2", "-subj",
         "/CN=" + name + " test CA"});
    run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", pki.client_key, "-out", csr, "-subj", "/CN=" + name + " client"});
    run({"openssl", "x509", "-req", "-in", csr, "-CA", pki.ca_cert, "-CAkey", ca_key,
         "-CAcreateserial", "-out", pki.client_cert, "-days", "2"});
    return pki;
}

TEST_F(ProxyLimitsTest, ClientCertificate_OnlyTheConfiguredCaGetsThrough) {
    TempDir pki_dir("pdd-pki");
    const auto good = makePki(pki_dir, "good");
    const auto other = makePki(pki_dir, "other");
    auto proxy = startProxy({.client_ca_file = good.ca_cert,
                             .probe_cert = good.client_cert,
                             .probe_key = good.client_key});
    const int before = upstream_.requests();

    auto none = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    EXPECT_FALSE(none) << "answered " << none->status << " without a client certificate";
    auto foreign = proxy->client(other.client_cert, other.client_key)
                       ->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    EXPECT_FALSE(foreign) << "answered " << foreign->status << " to another CA's certificate";
    EXPECT_EQ(upstream_.requests(), before);

    auto r = proxy->client(good.client_cert, good.client_key)
                 ->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(upstream_.requests(), before + 1);
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_tls_failures_total"), 2);
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, ClientCaFileUnusable_StartupFailsNamingIt) {
    TempDir dir("pdd-badca");
    const auto missing = dir.file("missing-ca.pem");
    const auto garbage = dir.writeFile("garbage-ca.pem", "this is not a certificate\n");
    for (const auto& ca : {missing, garbage}) {
        Proxy proxy(*nats_, {.upstream_url = upstream_.url(), .client_ca_file = ca});
        const auto config = proxy.writeConfig();
        const auto check =
            runCommand({daemonBinary("pdns-api-proxy"), "--config", config, "--check-config"});
        EXPECT_NE(check.exit_code, 0);
        EXPECT_NE((check.err + check.out).find(ca), std::string::npos) << check.err << check.out;

        proxy.process().start({daemonBinary("pdns-api-proxy"), "--config", config}, {},
                              dir.file("start.log"), "api-proxy");
        const auto status = proxy.process().waitExit(20s);
        ASSERT_TRUE(status.has_value()) << "the proxy kept running with an unusable CA file";
        EXPECT_EQ(*status, 1);
        EXPECT_NE(proxy.process().logTail().find(ca), std::string::npos)
            << proxy.process().logTail();
    }
}

// --- the proxy's own certificate, renewed or replaced while it runs ---

/// The serial of the certificate a new TLS connection to `port` is served, "" on failure.
std::string servedSerial(int port) {
    TlsConn conn(port, "");
    return conn.handshake() ? conn.peerSerial() : std::string{};
}

TEST_F(ProxyLimitsTest, GeneratedCertificate_RenewedWhileRunning_NewConnectionsGetIt) {
    // renew_before = validity: every check finds the certificate due and renews it.
    auto proxy = startProxy(
        {.tls_extra = "validity = \"1h\"\nrenew_before = \"1h\"\ncheck_interval = \"1s\"\n"});
    TlsConn open(proxy->port(), "");
    ASSERT_TRUE(open.handshake());
    const auto first = open.peerSerial();
    ASSERT_FALSE(first.empty());

    std::string renewed;
    EXPECT_TRUE(waitUntil(
        [&] {
            renewed = servedSerial(proxy->port());
            return !renewed.empty() && renewed != first;
        },
        15s, 200ms))
        << "still serving " << first;
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_tls_reloads_total"), 1);
    EXPECT_EQ(proxy->metric("pdns_distribute_api_proxy_tls_reload_failures_total"), 0);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto expiry = proxy->metric("pdns_distribute_api_proxy_tls_cert_expiry_seconds");
    EXPECT_GT(expiry, static_cast<double>(now + 3500));
    EXPECT_LE(expiry, static_cast<double>(now + 3601));

    // The connection made before the renewal still works.
    ASSERT_TRUE(
        open.write("GET /api/v1/servers/localhost HTTP/1.1\r\nHost: x\r\nX-API-Key: test\r\n\r\n"));
    const auto answer = open.readAnswer(10s);
    EXPECT_EQ(statusOf(answer.data), 200) << answer.data;
    EXPECT_EQ(proxy->stop(), 0);
}

TEST_F(ProxyLimitsTest, ConfiguredCertificateReplacedOnDisk_Reloaded_BadFileKeepsTheOld) {
    TempDir dir("pdd-proxy-cert");
    const auto make = [&](const std::string& name) {
        const auto r = runCommand(
            {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", dir.file(name + ".key"), "-out", dir.file(name + ".crt"), "-days",
             "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=IP:127.0.0.1"});
        if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
    };
    make("a");
    make("b");
    const auto cert = dir.file("proxy.crt");
    const auto key = dir.file("proxy.key");
    std::filesystem::copy_file(dir.file("a.crt"), cert);
    std::filesystem::copy_file(dir.file("a.key"), key);
    const auto serial_a = serialOfFile(cert);
    const auto serial_b = serialOfFile(dir.file("b.crt"));
    ASSERT_FALSE(serial_a.empty());
    ASSERT_NE(serial_a, serial_b);
    auto proxy =
        startProxy({.cert_file = cert, .key_file = key, .tls_extra = "check_interval = \"1s\"\n"});
    EXPECT_EQ(servedSerial(proxy->port()), serial_a);

    // A broken file: counted, and the old certificate is still served.
    dir.writeFile("proxy.crt", "not a certificate\n");
    EXPECT_TRUE(waitUntil(
        [&] { return proxy->metric("pdns_distribute_api_proxy_tls_reload_failures_total") >= 1; },
        15s, 100ms));
    EXPECT_EQ(servedSerial(proxy->port()), serial_a);
    EXPECT_TRUE(proxy->process().running());

    // The operator puts a new pair in place.
    std::filesystem::copy_file(dir.file("b.key"), key,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir.file("b.crt"), cert,
                               std::filesystem::copy_options::overwrite_existing);
    std::string served;
    EXPECT_TRUE(waitUntil(
        [&] {
            served = servedSerial(proxy->port());
            return served == serial_b;
        },
        15s, 200ms))
        << "serving " << served;
    EXPECT_GE(proxy->metric("pdns_distribute_api_proxy_tls_reloads_total"), 1);
    auto r = proxy->client()->Get("/api/v1/servers/localhost", {{"X-API-Key", "test"}});
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(proxy->stop(), 0);
}

}  // namespace
}  // namespace pdns_distribute::e2e
