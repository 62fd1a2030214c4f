// SPDX-License-Identifier: Apache-2.0
#include "native.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_key.hpp>

#include "soa_poller.hpp"

namespace pdns_distribute::bench {

using namespace std::chrono_literals;

namespace {

/// The name server every benchmark zone lists; the autoprimary registration must name it
/// without the trailing dot (pdns 4.7 compares it so; `pdnsutil add-autoprimary` stores the dot).
constexpr const char* kNameServer = "ns1.pdd.test";

/// True when both a UDP and a TCP socket can bind ip:53 right now.
bool port53Free(const std::string& ip) {
    for (const int type : {SOCK_DGRAM, SOCK_STREAM}) {
        const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(53);
        const bool ok = ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) == 1 &&
                        ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
        ::close(fd);
        if (!ok) return false;
    }
    return true;
}

}  // namespace

e2e::HttpResult pdnsApi(const e2e::PdnsServer& server, const std::string& method,
                        const std::string& path, const std::string& body) {
    httplib::Client c(server.apiUrl());
    c.set_read_timeout(120, 0);
    const httplib::Headers headers{{"X-API-Key", server.apiKey()}};
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
        r = c.Get(path, headers);
    } else if (method == "POST") {
        r = c.Post(path, headers, body, "application/json");
    } else if (method == "PUT") {
        r = c.Put(path, headers, body, "application/json");
    } else if (method == "PATCH") {
        r = c.Patch(path, headers, body, "application/json");
    } else if (method == "DELETE") {
        r = c.Delete(path, headers, body, "application/json");
    }
    if (!r) return e2e::HttpResult{.status = 0, .body = {}, .error = httplib::to_string(r.error())};
    return e2e::HttpResult{.status = r->status, .body = r->body, .error = {}};
}

NativeSecondaries::NativeSecondaries(NativeOptions o) : options(o) {
    for (int i = 0; i < options.secondaries; ++i) {
        servers.push_back(std::make_unique<e2e::PdnsServer>(
            e2e::PdnsOptions{.role = e2e::PdnsRole::Secondary,
                             .listen_ipv6 = false,
                             .ipv6_only = false,
                             .extra_settings = secondarySettings(options.autoprimary),
                             .name = fmt::format("native-secondary{}", i + 1)}));
    }
}

std::vector<std::string> NativeSecondaries::secondarySettings(bool autoprimary) {
    return {
        // The communicator wakes once per cycle to act on queued NOTIFYs and zone checks; 1 s is
        // the smallest value pdns 4.7 accepts.
        "xfr-cycle-interval=1",
        "retrieval-threads=8",
        "allow-notify-from=127.0.0.0/8",
        autoprimary ? "autosecondary=yes" : "autosecondary=no",
    };
}

void NativeSecondaries::start() {
    if (options.autoprimary) {
        if (::geteuid() != 0) {
            throw std::runtime_error(
                "--native-autoprimary needs root (the primary must listen on port 53; pdns 4.7 "
                "autoprimary transfers from the NOTIFY's source address on port 53)");
        }
        std::mt19937 rng{std::random_device{}()};
        std::uniform_int_distribution<int> octet(1, 254);
        for (int attempt = 0; attempt < 20 && autoprimary_ip_.empty(); ++attempt) {
            const auto ip = fmt::format("127.53.{}.{}", octet(rng), octet(rng));
            if (port53Free(ip)) autoprimary_ip_ = ip;
        }
        if (autoprimary_ip_.empty()) {
            throw std::runtime_error("cannot find a free 127.53.x.y:53 for the autoprimary");
        }
    }
    for (auto& s : servers) s->start();
}

std::vector<std::string> NativeSecondaries::primarySettings() const {
    std::string targets;
    for (const auto& s : servers) {
        targets += fmt::format("{}127.0.0.1:{}", targets.empty() ? "" : ",", s->dnsPort());
    }
    std::vector<std::string> lines{
        "also-notify=" + targets,
        // The primary looks for zones (and the producer catalog) whose serial moved once per
        // cycle and NOTIFYs then, besides our explicit notify.
        "xfr-cycle-interval=1",
    };
    if (!autoprimary_ip_.empty()) {
        lines.push_back(fmt::format("local-address=127.0.0.1, {}:53", autoprimary_ip_));
        lines.push_back("query-local-address=" + autoprimary_ip_);
    }
    return lines;
}

void NativeSecondaries::attach(const e2e::PdnsServer& primary) {
    const nlohmann::json producer = {
        {"name", kCatalogZone},
        {"kind", "Producer"},
        {"soa_edit_api", ""},
        {"rrsets",
         {{{"name", kCatalogZone},
           {"type", "SOA"},
           {"ttl", 60},
           {"records",
            {{{"content", "ns1.pdd.test. hostmaster.pdd.test. 1 60 60 60 60"},
              {"disabled", false}}}}},
          {{"name", kCatalogZone},
           {"type", "NS"},
           {"ttl", 60},
           {"records", {{{"content", "ns1.pdd.test."}, {"disabled", false}}}}}}}};
    auto r = pdnsApi(primary, "POST", "/api/v1/servers/localhost/zones", producer.dump());
    if (r.status != 201) {
        throw std::runtime_error(fmt::format("cannot create the producer catalog zone ({} {}{})",
                                             r.status, r.body, r.error));
    }
    const std::string master = autoprimary_ip_.empty()
                                   ? fmt::format("127.0.0.1:{}", primary.dnsPort())
                                   : autoprimary_ip_ + ":53";
    std::vector<DnsTarget> targets;
    for (auto& s : servers) {
        if (options.autoprimary) {
            const auto sql = fmt::format(
                "INSERT INTO supermasters(ip, nameserver, account) VALUES('{}', '{}', '');",
                autoprimary_ip_, kNameServer);
            const auto done = e2e::runCommand({"sqlite3", s->databasePath(), sql});
            if (done.exit_code != 0) {
                throw std::runtime_error("cannot register the autoprimary: " + done.err);
            }
        }
        const nlohmann::json consumer = {
            {"name", kCatalogZone}, {"kind", "Consumer"}, {"masters", {master}}};
        r = pdnsApi(*s, "POST", "/api/v1/servers/localhost/zones", consumer.dump());
        if (r.status != 201) {
            throw std::runtime_error(fmt::format(
                "cannot create the consumer catalog zone ({} {}{})", r.status, r.body, r.error));
        }
        targets.push_back(
            DnsTarget{.address = "127.0.0.1", .port = static_cast<uint16_t>(s->dnsPort())});
    }
    SoaPoller poller(targets, 200ms);
    for (size_t i = 0; i < servers.size(); ++i) {
        if (!e2e::waitUntil(
                [&] { return poller.queryOne(i, kCatalogZone).status == SoaStatus::Served; }, 30s,
                20ms)) {
            throw std::runtime_error(
                fmt::format("native secondary {} never served the catalog:\n{}", i + 1,
                            servers[i]->process().logTail()));
        }
    }
}

Notifier::Notifier(std::string api_url, std::string api_key)
    : api_url_(std::move(api_url)),
      api_key_(std::move(api_key)),
      thread_([this](const std::stop_token& stop) { run(stop); }) {}

Notifier::~Notifier() {
    thread_.request_stop();
    cv_.notify_all();
}

void Notifier::push(const std::string& zone) {
    {
        auto state = state_.lock();
        state->queue.push_back(zone);
    }
    cv_.notify_all();
}

void Notifier::drain() {
    auto state = state_.lock();
    cv_.wait(state.lock(), [&] { return state->queue.empty() && state->busy == 0; });
}

size_t Notifier::failures() const { return state_.lock()->failures; }

size_t Notifier::sent() const { return state_.lock()->sent; }

void Notifier::run(const std::stop_token& stop) {
    httplib::Client client(api_url_);
    client.set_keep_alive(true);
    client.set_read_timeout(10, 0);
    const httplib::Headers headers{{"X-API-Key", api_key_}};
    for (;;) {
        std::string zone;
        {
            auto state = state_.lock();
            if (!cv_.wait(state.lock(), stop, [&] { return !state->queue.empty(); })) return;
            zone = std::move(state->queue.front());
            state->queue.pop_front();
            ++state->busy;
        }
        const auto r = client.Put(fmt::format("/api/v1/servers/localhost/zones/{}/notify",
                                              common::encodePdnsZoneId(zone)),
                                  headers, "", "application/json");
        {
            auto state = state_.lock();
            --state->busy;
            ++state->sent;
            if (!r || r->status != 200) ++state->failures;
        }
        cv_.notify_all();
    }
}

}  // namespace pdns_distribute::bench
