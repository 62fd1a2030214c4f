// SPDX-License-Identifier: Apache-2.0
#include "proxy_service.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/http_error.hpp>

#include "route_table.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using std::chrono::milliseconds;

/// Idle upstream connections kept for keep-alive; more parallel requests open more.
constexpr size_t kMaxIdleClients = 16;
/// Connecting to the upstream (on loopback, normally) never deserves the whole request timeout.
constexpr milliseconds kMaxConnectTimeout{5000};

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
                           common::MetricsRegistry& metrics, const CertificatePaths& certificate,
                           std::string instance_id)
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

    server_ = std::make_unique<httplib::SSLServer>(certificate.cert_file.c_str(),
                                                   certificate.key_file.c_str());
    if (!server_->is_valid()) {
        throw std::runtime_error(fmt::format(
            "cannot set up TLS with certificate '{}' and key '{}' (rejected by the TLS library); "
            "check the [tls] section",
            certificate.cert_file.string(), certificate.key_file.string()));
    }
    const auto threads = static_cast<size_t>(settings_.max_connections);
    // httplib owns the queue it gets from this factory (its API takes a raw pointer).
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_payload_max_length(settings_.body_limit_bytes);
    server_->set_keep_alive_timeout(5);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings_.upstream_timeout);
    server_->set_read_timeout(std::max<time_t>(5, static_cast<time_t>(secs.count())), 0);
    server_->set_write_timeout(std::max<time_t>(5, static_cast<time_t>(secs.count())), 0);
    const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
        handle(req, res);
    };
    server_->Get(".*", handler);  // GET and HEAD
    server_->Post(".*", handler);
    server_->Put(".*", handler);
    server_->Patch(".*", handler);
    server_->Delete(".*", handler);
    server_->Options(".*", handler);
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
    listener_ = std::jthread([this] {
        if (!server_->listen_after_bind()) {
            spdlog::error("HTTPS listener on '{}' stopped unexpectedly", settings_.listen);
        }
    });
    spdlog::info("api-proxy listening on https://{} (port {}), forwarding to '{}'",
                 settings_.listen, port_, settings_.upstream_url);
}

void ProxyService::stop() {
    if (stopped_) return;
    stopped_ = true;
    // In-flight requests finish (and publish) before the thread pool joins.
    if (server_) server_->stop();
    if (listener_.joinable()) listener_.join();
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

void ProxyService::handle(const httplib::Request& req, httplib::Response& res) {
    httplib::Request up;
    up.method = req.method;
    up.path = req.target;
    up.headers = forwardable(req.headers);
    up.body = req.body;

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
    const auto certificate = ensureCertificate(settings.tls.state_dir, settings.tls.cert_file,
                                               settings.tls.key_file, settings.tls.san);
    auto bus = common::NatsBus::connect(settings.nats);
    common::StreamSettings stream;
    stream.replicas = settings.stream_replicas;
    if (auto st = bus->ensureStream(stream); !st) {
        throw std::runtime_error(
            fmt::format("cannot set up stream '{}' ({})", stream.name, st.error().message));
    }
    // Message ids only need to be unique per logical publish; a fresh random instance id per
    // process start gives that without state on disk.
    return std::make_unique<ProxyService>(settings, std::move(bus), context.metrics, certificate,
                                          "api-proxy-" + randomInstanceId());
}

}  // namespace pdns_distribute::api_proxy
