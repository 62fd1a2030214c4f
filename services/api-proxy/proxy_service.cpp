// SPDX-License-Identifier: Apache-2.0
#include "proxy_service.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/http_error.hpp>

#include "connection_queue.hpp"
#include "route_table.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using std::chrono::milliseconds;

/// Idle upstream connections kept for keep-alive; more parallel requests open more.
constexpr size_t kMaxIdleClients = 16;
/// Connecting to the upstream (on loopback, normally) never deserves the whole request timeout.
constexpr milliseconds kMaxConnectTimeout{5000};
/// After an error answer whose request body was not read, the client gets this long to read
/// the answer (it was told Connection: close) before the connection is shut down.
constexpr milliseconds kCloseLinger{1000};
/// How long past its deadline the watchdog waits before it cuts a connection, so that a late
/// body is answered 408 by the body reader rather than just disconnected.
constexpr milliseconds kCutGrace{500};
/// Threads answering 503 and connections waiting for them; beyond that a connection is closed
/// before the TLS handshake.
constexpr size_t kRejectThreads = 2;
constexpr size_t kMaxRejecting = 64;

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

/// Header names listed in a Connection header are hop-by-hop too (RFC 9110 §7.6.1).
bool listedInConnection(const httplib::Headers& headers, std::string_view name) {
    const auto range = headers.equal_range("Connection");
    for (auto it = range.first; it != range.second; ++it) {
        std::string_view v = it->second;
        while (!v.empty()) {
            const auto comma = v.find(',');
            auto token = v.substr(0, comma);
            const auto b = token.find_first_not_of(" \t");
            const auto e = token.find_last_not_of(" \t");
            if (b != std::string_view::npos) token = token.substr(b, e - b + 1);
            if (equalsIgnoreCase(token, name)) return true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

httplib::Headers forwardable(const httplib::Headers& in) {
    httplib::Headers out;
    for (const auto& [name, value] : in) {
        if (isHopByHopHeader(name) || listedInConnection(in, name)) continue;
        // httplib's server adds these to what it parsed; they never came from the client.
        if (equalsIgnoreCase(name, "REMOTE_ADDR") || equalsIgnoreCase(name, "REMOTE_PORT") ||
            equalsIgnoreCase(name, "LOCAL_ADDR") || equalsIgnoreCase(name, "LOCAL_PORT")) {
            continue;
        }
        out.emplace(name, value);
    }
    return out;
}

std::string metricMethod(const std::string& method) {
    static constexpr std::array kKnown{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (const char* m : kKnown) {
        if (method == m) return method;
    }
    return "other";
}

std::vector<std::string> headerValues(const httplib::Headers& headers, const char* name) {
    std::vector<std::string> out;
    const auto range = headers.equal_range(name);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
}

std::string_view trim(std::string_view v) {
    const auto b = v.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    const auto e = v.find_last_not_of(" \t");
    return v.substr(b, e - b + 1);
}

/// A client-supplied string for a log line: at most `max` bytes, control and non-ASCII bytes as
/// \xHH, so that a hostile request cannot forge or flood log lines.
std::string printable(std::string_view text, size_t max = 200) {
    std::string out;
    for (const char c : text.substr(0, max)) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '\\') {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out.push_back(c);
        }
    }
    if (text.size() > max) out += "...";
    return out;
}

/// Methods the proxy forwards (the PowerDNS API's); others (TRACE, CONNECT...) get 405.
bool forwardedMethod(const std::string& method) {
    static constexpr std::array kMethods{"GET",   "HEAD",   "POST",   "PUT",
                                         "PATCH", "DELETE", "OPTIONS"};
    return std::any_of(kMethods.begin(), kMethods.end(),
                       [&](const char* m) { return method == m; });
}

/// Methods whose body httplib reads (its expect_content); a body on any other is not read.
bool bodyMethod(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

/// Suspends a connection's client deadline while the proxy itself works (the upstream call has
/// its own timeout) and gives the client a fresh one afterwards, for taking the answer.
class ProxyWorking final {
public:
    ProxyWorking(ClientDeadlines& deadlines, const SSL* conn) : deadlines_(deadlines), conn_(conn) {
        deadlines_.suspend(conn_);
    }
    ~ProxyWorking() { deadlines_.extend(conn_); }
    ProxyWorking(const ProxyWorking&) = delete;
    ProxyWorking& operator=(const ProxyWorking&) = delete;

private:
    ClientDeadlines& deadlines_;
    const SSL* conn_;
};

std::string randomInstanceId() {
    std::random_device rd;
    std::uniform_int_distribution<uint64_t> dist;
    return fmt::format("{:016x}", dist(rd));
}

}  // namespace

bool isHopByHopHeader(std::string_view name) {
    static constexpr std::array kHopByHop{"Connection",
                                          "Keep-Alive",
                                          "Proxy-Connection",
                                          "Proxy-Authenticate",
                                          "Proxy-Authorization",
                                          "TE",
                                          "Trailer",
                                          "Transfer-Encoding",
                                          "Upgrade",
                                          "Host",
                                          "Content-Length",
                                          "Accept-Encoding"};
    for (const char* h : kHopByHop) {
        if (equalsIgnoreCase(name, h)) return true;
    }
    return false;
}

BodyFraming requestBodyFraming(const std::vector<std::string>& content_length,
                               const std::vector<std::string>& transfer_encoding,
                               size_t body_limit) {
    if (!transfer_encoding.empty()) {
        // Both headers: a request-smuggling classic (RFC 9112 §6.1 lets a server reject it).
        if (!content_length.empty()) return BodyFraming::Invalid;
        std::vector<std::string_view> codings;
        for (const auto& value : transfer_encoding) {
            std::string_view v = value;
            while (true) {
                const auto comma = v.find(',');
                if (auto t = trim(v.substr(0, comma)); !t.empty()) codings.push_back(t);
                if (comma == std::string_view::npos) break;
                v.remove_prefix(comma + 1);
            }
        }
        // httplib decodes chunked only; a body in any other coding could not be delimited.
        if (codings.size() == 1 && equalsIgnoreCase(codings.front(), "chunked")) {
            return BodyFraming::Chunked;
        }
        return BodyFraming::Unsupported;
    }
    if (content_length.empty()) return BodyFraming::None;
    // Every value (and list element, RFC 9110 §8.6) must be the same decimal number.
    std::optional<uint64_t> length;
    for (const auto& value : content_length) {
        std::string_view v = value;
        while (true) {
            const auto comma = v.find(',');
            const auto t = trim(v.substr(0, comma));
            if (t.empty() || t.size() > 19 ||
                !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                return BodyFraming::Invalid;
            }
            uint64_t n = 0;
            for (const char c : t) n = n * 10 + static_cast<uint64_t>(c - '0');
            if (length && *length != n) return BodyFraming::Invalid;
            length = n;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    if (*length == 0) return BodyFraming::None;
    return *length > body_limit ? BodyFraming::TooLarge : BodyFraming::Length;
}

int retryAfterSeconds(milliseconds queue_timeout) {
    const auto secs = (queue_timeout.count() + 999) / 1000;
    return static_cast<int>(std::clamp<int64_t>(secs, 1, 3600));
}

int upstreamFailureStatus(httplib::Error error, milliseconds elapsed, milliseconds timeout) {
    if (error == httplib::Error::ConnectionTimeout) return 504;
    // httplib 0.11 reports a read timeout as a plain Read error: tell it by the time taken.
    if ((error == httplib::Error::Read || error == httplib::Error::Write) &&
        elapsed + milliseconds{50} >= timeout) {
        return 504;
    }
    return 502;
}

ProxyService::ProxyService(ApiProxySettings settings, std::unique_ptr<common::NatsBus> bus,
                           common::MetricsRegistry& metrics, std::string instance_id)
    : settings_(std::move(settings)),
      bus_(std::move(bus)),
      metrics_(metrics),
      upstream_errors_(metrics.counter("pdns_distribute_api_proxy_upstream_errors_total",
                                       "Requests the upstream PowerDNS API did not answer")),
      events_upsert_(metrics.counter("pdns_distribute_api_proxy_events_total",
                                     "Zone events produced by API calls", {{"op", "upsert"}})),
      events_delete_(metrics.counter("pdns_distribute_api_proxy_events_total",
                                     "Zone events produced by API calls", {{"op", "delete"}})),
      unresolved_(metrics.counter(
          "pdns_distribute_api_proxy_unresolved_total",
          "Successful zone-changing calls whose zone could not be determined (no event)")) {
    publisher_ = std::make_unique<EventPublisher>(
        *bus_, clock_,
        EventPublisherSettings{.group = settings_.group,
                               .instance = std::move(instance_id),
                               .publish_timeout = settings_.publish_timeout,
                               .retry_capacity = settings_.retry_queue},
        EventPublisherMetrics::create(metrics));

    certificate_ = std::make_unique<CertificateRenewer>(
        CertificateSource{
            .state_dir = settings_.tls.state_dir,
            .cert_file = settings_.tls.cert_file,
            .key_file = settings_.tls.key_file,
            .sans = settings_.tls.san,
            .options = {.validity = std::chrono::duration_cast<std::chrono::seconds>(
                            settings_.tls.validity),
                        .renew_before = std::chrono::duration_cast<std::chrono::seconds>(
                            settings_.tls.renew_before)}},
        clock_, CertificateMetrics::create(metrics));
    const auto& certificate = certificate_->paths();
    server_ = std::make_unique<httplib::SSLServer>(certificate.cert_file.c_str(),
                                                   certificate.key_file.c_str());
    if (!server_->is_valid()) {
        throw std::runtime_error(fmt::format(
            "cannot set up TLS with certificate '{}' and key '{}' (rejected by the TLS library); "
            "check the [tls] section",
            certificate.cert_file.string(), certificate.key_file.string()));
    }
    configureServerContext(server_->ssl_context(), settings_.tls.client_ca_file);
    certificate_->live().install(server_->ssl_context());
    deadlines_ = std::make_unique<ClientDeadlines>(settings_.client_timeout, kCutGrace, clock_,
                                                   ClientDeadlineMetrics::create(metrics));
    installClientHooks(server_->ssl_context(), *deadlines_);

    const ConnectionQueueSettings queue{.workers = static_cast<size_t>(settings_.max_connections),
                                        .max_queued = static_cast<size_t>(settings_.max_queued),
                                        .queue_timeout = settings_.queue_timeout,
                                        .reject_threads = kRejectThreads,
                                        .max_rejecting = kMaxRejecting};
    const auto queue_metrics = ConnectionQueueMetrics::create(metrics);
    // httplib owns the queue it gets from this factory (its API takes a raw pointer).
    server_->new_task_queue = [this, queue, queue_metrics] {
        return new ConnectionQueue(queue, clock_, queue_metrics);
    };
    // httplib checks a declared Content-Length against this itself (and drains such a body
    // before its 413, keeping the connection usable); chunked bodies are checked while read.
    server_->set_payload_max_length(settings_.body_limit_bytes);
    // Per recv()/send(); the whole of each phase is bounded by ClientDeadlines.
    const auto client_timeout = settings_.client_timeout;
    server_->set_read_timeout(static_cast<time_t>(client_timeout.count() / 1000),
                              static_cast<time_t>((client_timeout.count() % 1000) * 1000));
    server_->set_write_timeout(static_cast<time_t>(client_timeout.count() / 1000),
                               static_cast<time_t>((client_timeout.count() % 1000) * 1000));
    // An idle keep-alive connection holds a worker: never longer than the client timeout.
    server_->set_keep_alive_timeout(
        std::clamp<time_t>(static_cast<time_t>(client_timeout.count() / 1000), 1, 5));
    server_->set_expect_100_continue_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
            return expectContinue(req, res);
        });
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        return preRoute(req, res) ? httplib::Server::HandlerResponse::Handled
                                  : httplib::Server::HandlerResponse::Unhandled;
    });
    // Requests without a body never get here (preRoute answers them); these read the body.
    const auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
        handleWithBody(req, res, reader);
    };
    server_->Post(".*", with_body);
    server_->Put(".*", with_body);
    server_->Patch(".*", with_body);
    server_->Delete(".*", with_body);
    server_->set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, const std::exception_ptr& ep) {
            std::string what = "unknown exception";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            spdlog::error("request {} '{}' failed (bug: {})", req.method, req.path, what);
            res.status = 500;
            res.set_content(nlohmann::json{{"error", "internal proxy error"}}.dump(),
                            "application/json");
            countRequest(req.method, 500);
        });

    auto hp = common::parseHostPort(settings_.listen);
    if (!hp) {
        throw std::runtime_error(fmt::format("cannot listen on '{}' ({}); check proxy.listen",
                                             settings_.listen, hp.error().message));
    }
    if (hp->port == 0) {
        port_ = server_->bind_to_any_port(hp->host);
    } else {
        port_ = server_->bind_to_port(hp->host, hp->port) ? hp->port : -1;
    }
    if (port_ <= 0) {
        throw std::runtime_error(fmt::format("cannot listen on '{}' ({}); check proxy.listen",
                                             settings_.listen,
                                             errno != 0 ? std::strerror(errno) : "bind failed"));
    }
}

ProxyService::~ProxyService() { stop(); }

void ProxyService::start() {
    publisher_->startWorker();
    deadlines_->startWatchdog();
    listener_ = std::jthread([this] {
        if (!server_->listen_after_bind()) {
            spdlog::error("HTTPS listener on '{}' stopped unexpectedly", settings_.listen);
        }
    });
    renewal_ = std::jthread([this](const std::stop_token& stop) {
        std::mutex mutex;
        std::condition_variable_any wake;  // only the stop token wakes it early
        std::unique_lock lock(mutex);
        while (!stop.stop_requested()) {
            static_cast<void>(
                wake.wait_for(lock, stop, settings_.tls.check_interval, [] { return false; }));
            if (stop.stop_requested()) break;
            static_cast<void>(certificate_->check());
        }
    });
    spdlog::info("api-proxy listening on https://{} (port {}), forwarding to '{}'",
                 settings_.listen, port_, settings_.upstream_url);
}

void ProxyService::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (renewal_.joinable()) {
        renewal_.request_stop();
        renewal_.join();
    }
    // In-flight requests finish (and publish) before the thread pool joins; connections
    // waiting for their client are closed rather than left to their keep-alive timeout.
    if (server_) server_->stop();
    if (deadlines_) deadlines_->cutWaiting();
    if (listener_.joinable()) listener_.join();
    if (deadlines_) deadlines_->stopWatchdog();
    if (publisher_) publisher_->stopWorker();
    publisher_.reset();
    if (bus_) bus_->close();
}

common::HealthReport ProxyService::health() {
    common::HealthReport report;
    const auto depth = publisher_ ? publisher_->queueDepth() : 0;
    const bool connected = bus_ && bus_->connected();
    report.details = {{"retry_queue", depth}, {"nats_connected", connected}};
    if (!connected) {
        report.level = common::HealthLevel::Critical;
    } else if (depth > 0) {
        report.level = common::HealthLevel::Warn;
    }
    return report;
}

std::unique_ptr<httplib::Client> ProxyService::acquireClient() {
    {
        auto idle = idle_clients_.lock();
        if (!idle->empty()) {
            auto c = std::move(idle->back());
            idle->pop_back();
            return c;
        }
    }
    auto client = std::make_unique<httplib::Client>(settings_.upstream_url);
    const auto timeout = settings_.upstream_timeout;
    const auto connect = std::min(timeout, kMaxConnectTimeout);
    client->set_connection_timeout(static_cast<time_t>(connect.count() / 1000),
                                   static_cast<time_t>((connect.count() % 1000) * 1000));
    client->set_read_timeout(static_cast<time_t>(timeout.count() / 1000),
                             static_cast<time_t>((timeout.count() % 1000) * 1000));
    client->set_write_timeout(static_cast<time_t>(timeout.count() / 1000),
                              static_cast<time_t>((timeout.count() % 1000) * 1000));
    client->set_keep_alive(true);
    client->set_url_encode(false);  // forward the target exactly as the client sent it
    client->set_decompress(false);  // and the body exactly as the upstream sent it
    client->set_compress(false);
    return client;
}

void ProxyService::releaseClient(std::unique_ptr<httplib::Client> client) {
    auto idle = idle_clients_.lock();
    if (idle->size() < kMaxIdleClients) idle->push_back(std::move(client));
}

void ProxyService::countRequest(const std::string& method, int status) {
    metrics_
        .counter("pdns_distribute_api_proxy_requests_total", "Requests answered by the proxy",
                 {{"method", metricMethod(method)}, {"code", std::to_string(status)}})
        .inc();
}

void ProxyService::answerError(const httplib::Request& req, httplib::Response& res, int status,
                               const std::string& message, bool close) {
    res.status = status;
    res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
    // Bad or slow input from outside: counted by status in requests_total; logged at a
    // limited rate, as a flood of such requests must not flood the log.
    uint64_t suppressed = 0;
    if (refused_log_.allowAt(clock_.steady(), &suppressed)) {
        spdlog::info("{} '{}' refused with {} ({}){}", printable(req.method, 16),
                     printable(req.target), status, message,
                     suppressed > 0 ? fmt::format(" ({} more since the last report)", suppressed)
                                    : std::string{});
    }
    if (close) {
        res.set_header("Connection", "close");
        deadlines_->closeAfter(req.ssl, kCloseLinger);
    }
    countRequest(req.method, status);
}

int ProxyService::expectContinue(const httplib::Request& req, httplib::Response& res) {
    if (currentConnectionMode() == ConnectionMode::Reject) {
        res.set_header("Retry-After", std::to_string(retryAfterSeconds(settings_.queue_timeout)));
        answerError(req, res, 503, "proxy busy (every worker is in use); retry later", true);
        return 503;
    }
    const auto framing = requestBodyFraming(headerValues(req.headers, "Content-Length"),
                                            headerValues(req.headers, "Transfer-Encoding"),
                                            settings_.body_limit_bytes);
    if (framing == BodyFraming::TooLarge) {
        // The client has not sent the body and will not: the connection stays in step.
        answerError(req, res, 413,
                    fmt::format("request body larger than the proxy's limit of {} bytes",
                                settings_.body_limit_bytes),
                    false);
        return 413;
    }
    return 100;
}

bool ProxyService::preRoute(const httplib::Request& req, httplib::Response& res) {
    if (currentConnectionMode() == ConnectionMode::Reject) {
        res.set_header("Retry-After", std::to_string(retryAfterSeconds(settings_.queue_timeout)));
        answerError(req, res, 503, "proxy busy (every worker is in use); retry later", true);
        return true;
    }
    if (!forwardedMethod(req.method)) {
        answerError(req, res, 405,
                    fmt::format("method '{}' not allowed", printable(req.method, 16)), true);
        return true;
    }
    const auto framing = requestBodyFraming(headerValues(req.headers, "Content-Length"),
                                            headerValues(req.headers, "Transfer-Encoding"),
                                            settings_.body_limit_bytes);
    switch (framing) {
        case BodyFraming::Invalid:
            answerError(req, res, 400, "invalid request body framing (Content-Length)", true);
            return true;
        case BodyFraming::Unsupported:
            answerError(req, res, 501, "unsupported Transfer-Encoding (only chunked)", true);
            return true;
        case BodyFraming::None:
            // httplib would wait for the end of the connection for a PUT without a length;
            // RFC 9112 §6.3: no Content-Length and no Transfer-Encoding means no body.
            forward(req, {}, res);
            return true;
        case BodyFraming::Length:
        case BodyFraming::Chunked:
        case BodyFraming::TooLarge:
            break;
    }
    if (!bodyMethod(req.method)) {
        answerError(req, res, 400, fmt::format("a {} request cannot carry a body", req.method),
                    true);
        return true;
    }
    // httplib would hand a multipart body to its form parser, not to the proxy.
    if (req.get_header_value("Content-Type").starts_with("multipart/form-data")) {
        answerError(req, res, 415, "multipart bodies are not accepted", true);
        return true;
    }
    deadlines_->extend(req.ssl);  // the body gets a full client_timeout of its own
    return false;
}

void ProxyService::handleWithBody(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    const auto started = clock_.steady();
    const auto deadline = started + settings_.client_timeout;
    const auto limit = settings_.body_limit_bytes;
    std::string body;
    bool too_large = false;
    bool late = false;
    const bool read = reader([&](const char* data, size_t size) {
        if (clock_.steady() > deadline) {
            late = true;
            return false;
        }
        if (too_large || body.size() + size > limit) {
            // Read on and discard (within the deadline), so that the 413 reaches a client that
            // is still sending, on a connection still in step.
            too_large = true;
            body.clear();
            return true;
        }
        body.append(data, size);
        return true;
    });
    const auto framing = requestBodyFraming(headerValues(req.headers, "Content-Length"),
                                            headerValues(req.headers, "Transfer-Encoding"), limit);
    if (too_large || framing == BodyFraming::TooLarge) {
        // httplib drains a declared oversize body itself and then fails the read.
        answerError(req, res, 413,
                    fmt::format("request body larger than the proxy's limit of {} bytes", limit),
                    !read);
        return;
    }
    if (!read) {
        if (late || clock_.steady() - started >= settings_.client_timeout) {
            answerError(req, res, 408,
                        fmt::format("request body not received within {} ms",
                                    settings_.client_timeout.count()),
                        true);
        } else {
            answerError(req, res, 400, "cannot read the request body", true);
        }
        return;
    }
    forward(req, std::move(body), res);
}

void ProxyService::forward(const httplib::Request& req, std::string body, httplib::Response& res) {
    const ProxyWorking working(*deadlines_, req.ssl);
    httplib::Request up;
    up.method = req.method;
    up.path = req.target;
    up.headers = forwardable(req.headers);
    up.body = std::move(body);

    const auto started = std::chrono::steady_clock::now();
    auto client = acquireClient();
    auto result = client->send(up);
    if (!result) {
        const auto elapsed =
            std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
        const int status =
            upstreamFailureStatus(result.error(), elapsed, settings_.upstream_timeout);
        upstream_errors_.inc();
        spdlog::warn("cannot forward {} '{}' to '{}' ({}); answered {}", req.method, req.path,
                     settings_.upstream_url, common::describeHttpError(result.error()), status);
        res.status = status;
        res.set_content(
            nlohmann::json{{"error", fmt::format("upstream PowerDNS API {} ({})",
                                                 status == 504 ? "timed out" : "unreachable",
                                                 common::describeHttpError(result.error()))}}
                .dump(),
            "application/json");
        countRequest(req.method, status);
        return;
    }
    releaseClient(std::move(client));
    auto& answer = result.value();
    res.status = answer.status;
    res.reason = answer.reason;
    for (const auto& [name, value] : answer.headers) {
        if (isHopByHopHeader(name) || listedInConnection(answer.headers, name)) continue;
        res.headers.emplace(name, value);
    }
    res.body = std::move(answer.body);
    // Method, path and status only: headers (X-API-Key) and bodies are never logged.
    spdlog::debug(
        "{} '{}' -> {} ({} bytes, {} ms)", req.method, req.path, res.status, res.body.size(),
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started)
            .count());

    const auto verdict = classify(req.method, req.target, res.status, res.body);
    if (verdict.change) {
        const auto& change = *verdict.change;
        (change.op == common::ZoneOp::Delete ? events_delete_ : events_upsert_).inc();
        const auto outcome = publisher_->publish(change.zone, change.op);
        spdlog::info("zone '{}' {} via {} {} ({})", change.zone, common::toString(change.op),
                     req.method, req.path,
                     outcome == PublishOutcome::Published ? "event published" : "event queued");
    } else if (!verdict.unresolved.empty()) {
        unresolved_.inc();
        spdlog::warn(
            "{} '{}' answered {} but names no zone ({}); no event, the reconcile will "
            "catch the change",
            req.method, req.path, res.status, verdict.unresolved);
    }
    countRequest(req.method, res.status);
}

std::unique_ptr<common::Service> makeProxyService(const ApiProxySettings& settings,
                                                  common::DaemonContext& context) {
    // Before connecting: a certificate problem fails start-up at once. The service loads it
    // again (unchanged by then) and keeps it current.
    static_cast<void>(ensureCertificate(
        settings.tls.state_dir, settings.tls.cert_file, settings.tls.key_file, settings.tls.san,
        {.validity = std::chrono::duration_cast<std::chrono::seconds>(settings.tls.validity),
         .renew_before =
             std::chrono::duration_cast<std::chrono::seconds>(settings.tls.renew_before)}));
    if (!settings.tls.client_ca_file.empty()) {
        static_cast<void>(checkClientCaFile(settings.tls.client_ca_file));  // before connecting
    }
    auto bus = common::NatsBus::connect(settings.nats);
    common::StreamSettings stream;
    stream.replicas = settings.stream_replicas;
    if (auto st = bus->ensureStream(stream); !st) {
        throw std::runtime_error(
            fmt::format("cannot set up stream '{}' ({})", stream.name, st.error().message));
    }
    // Message ids only need to be unique per logical publish; a fresh random instance id per
    // process start gives that without state on disk.
    return std::make_unique<ProxyService>(settings, std::move(bus), context.metrics,
                                          "api-proxy-" + randomInstanceId());
}

}  // namespace pdns_distribute::api_proxy
