// SPDX-License-Identifier: Apache-2.0
#include "fleet.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::e2e {

namespace {

HttpResult toResult(const httplib::Result& r) {
    if (!r) return HttpResult{.status = 0, .body = {}, .error = httplib::to_string(r.error())};
    return HttpResult{.status = r->status, .body = r->body, .error = {}};
}

template <typename C>
HttpResult send(C& c, const std::string& method, const std::string& path, const std::string& body,
                const std::string& api_key) {
    const httplib::Headers headers{{"X-API-Key", api_key}};
    if (method == "GET") return toResult(c.Get(path, headers));
    if (method == "DELETE") return toResult(c.Delete(path, headers, body, "application/json"));
    if (method == "POST") return toResult(c.Post(path, headers, body, "application/json"));
    if (method == "PUT") return toResult(c.Put(path, headers, body, "application/json"));
    if (method == "PATCH") return toResult(c.Patch(path, headers, body, "application/json"));
    return HttpResult{.status = 0, .body = {}, .error = "unknown method"};
}

// Normalised text of one RR; RRSIG keeps everything but the signature bytes.
std::string normalise(const common::RrView& rr) {
    std::string owner = common::wireToName(rr.owner);
    for (auto& c : owner) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto rdata = rr.rdata;
    if (rr.type == common::rrtype::kRrsig && rdata.size() > 18) {
        size_t pos = 18;  // covered, alg, labels, original TTL, expiration, inception, key tag
        while (pos < rdata.size()) {
            const auto len = std::to_integer<size_t>(rdata[pos]);
            pos += 1 + len;
            if (len == 0) break;
        }
        rdata = rdata.first(std::min(pos, rdata.size()));
    }
    return fmt::format("{} {} {} {} {}", owner, rr.type, rr.rclass, rr.ttl, common::toHex(rdata));
}

}  // namespace

bool waitHttpHealth(int port, std::chrono::milliseconds timeout) {
    return waitUntil(
        [&] {
            httplib::Client c("127.0.0.1", port);
            c.set_connection_timeout(0, 200000);
            auto r = c.Get("/health");
            return static_cast<bool>(r);
        },
        timeout, 50ms);
}

Fleet::Fleet(FleetOptions o)
    : nats("nats-server"),
      primary(PdnsOptions{.role = PdnsRole::Primary,
                          .listen_ipv6 = false,
                          .extra_settings = {},
                          .name = "pdns-primary"}),
      dir("pdd-fleet"),
      options(std::move(o)) {
    for (int i = 0; i < options.secondaries; ++i) {
        const bool v6 = options.ipv6_secondaries.contains(static_cast<size_t>(i));
        secondaries.push_back(std::make_unique<PdnsServer>(
            PdnsOptions{.role = PdnsRole::Secondary,
                        .listen_ipv6 = false,
                        .ipv6_only = v6,
                        .extra_settings = {},
                        .name = fmt::format("pdns-secondary{}", i + 1)}));
        syncers.push_back(std::make_unique<ChildProcess>());
    }
}

Fleet::~Fleet() { dumpLogsIfFailed(60); }

void Fleet::writeConfigs() {
    secret_key_file = dir.file("zonedata.key");
    public_key_file = dir.file("zonedata.pub");
    auto r = runCommand({daemonBinary("pdns-distribute"), "keygen", "--secret", secret_key_file,
                         "--public", public_key_file});
    if (r.exit_code != 0) throw std::runtime_error("keygen failed: " + r.err + r.out);
    proxy_port = freeTcpPort();
    provider_http_port_ = freeTcpPort();
    checker_http_port_ = freeTcpPort();
    const auto nats_section = natsSection();
    dir.writeFile(
        "api-proxy.toml",
        logSection() + fmt::format("[http]\nlisten = \"127.0.0.1:{}\"\n"
                                   "[proxy]\nlisten = \"127.0.0.1:{}\"\nupstream_url = \"{}\"\n"
                                   "[tls]\nstate_dir = \"{}\"\n[stream]\nreplicas = {}\n{}",
                                   freeTcpPort(), proxy_port, primary.apiUrl(),
                                   dir.file("proxy-state"), options.stream_replicas, nats_section));
    dir.writeFile("health-checker.toml", checkerConfig(checker_http_port_));
    for (size_t i = 0; i < secondaries.size(); ++i) {
        syncer_http_ports.push_back(freeTcpPort());
        syncer_listen_ports.push_back(freeDnsPort());
        dir.writeFile(fmt::format("syncer{}.toml", i + 1),
                      syncerConfig(i, fmt::format("sec{}", i + 1), syncer_http_ports[i],
                                   syncer_listen_ports[i]));
    }
}

std::string Fleet::natsSection() const {
    std::string urls;
    for (const auto& u :
         options.nats_urls.empty() ? std::vector<std::string>{nats.url()} : options.nats_urls) {
        urls += (urls.empty() ? "\"" : ", \"") + u + "\"";
    }
    if (options.nats_password.empty()) return fmt::format("[nats]\nurls = [{}]\n", urls);
    return fmt::format("[nats]\nurls = [{}]\nuser = \"pdd\"\npassword_file = \"{}\"\n", urls,
                       dir.file("nats-password"));
}

std::string Fleet::syncerNatsSection(bool ipv6) const {
    if (options.nats_password.empty() && !ipv6) return natsSection();
    const std::string url = ipv6 ? nats.urlV6() : nats.url();
    if (options.nats_password.empty()) return fmt::format("[nats]\nurls = [\"{}\"]\n", url);
    const auto host = url.substr(std::string("nats://").size());
    return fmt::format("[nats]\nurls = [\"nats://pdd:{}@{}\"]\n", options.nats_password, host);
}

std::string Fleet::logSection() const {
    return fmt::format("[log]\nlevel = \"{}\"\n", options.log_level);
}

std::string Fleet::checkerConfig(int http_port) const {
    return logSection() +
           fmt::format(
               "[http]\nlisten = \"127.0.0.1:{}\"\n"
               "[checker]\nreconcile_interval = \"{}ms\"\nprimary_dns = \"127.0.0.1:{}\"\n"
               "canary_zone = \"{}\"\nevent_check_wait = \"{}ms\"\nleader_ttl = \"{}ms\"\n"
               "nsec3_policy = {}\ntombstone_age = \"{}ms\"\n"
               "[stream]\nreplicas = {}\n"
               "[pdns]\nurl = \"{}\"\napi_key_file = \"{}\"\n{}",
               http_port, options.reconcile_interval.count(), primary.dnsPort(),
               options.canary_zone, options.event_check_wait.count(), options.leader_ttl.count(),
               options.nsec3_policy ? "true" : "false", options.tombstone_age.count(),
               options.stream_replicas, primary.apiUrl(), primary.apiKeyFile(), natsSection());
}

void Fleet::startSecondChecker() {
    checker2_http_port_ = freeTcpPort();
    const auto config = dir.writeFile("health-checker2.toml", checkerConfig(checker2_http_port_));
    startDaemon(checker2, "pdns-health-checker", config, "health-checker2");
    if (!waitHttpHealth(checker2_http_port_, 20s))
        throw std::runtime_error("second health-checker did not start");
}

std::string Fleet::syncerConfig(size_t i, const std::string& node_id, int http_port,
                                int listen_port, const std::string& state_name) {
    const bool v6 = options.ipv6_secondaries.contains(i);
    return logSection() +
           fmt::format(
               "[http]\nlisten = \"127.0.0.1:{}\"\n"
               "[syncer]\nnode_id = \"{}\"\nstate_dir = \"{}\"\nlisten = \"127.0.0.1:{}\"\n"
               "pdns_dns = \"{}:{}\"\napply_timeout = \"10s\"\nrequest_timeout = \"5s\"\n"
               "heartbeat = \"{}ms\"\nscan_interval = \"{}ms\"\n"
               "[[trusted_key]]\nfile = \"{}\"\n[kv]\nreplicas = {}\n"
               "[pdns]\nurl = \"{}\"\napi_key_file = \"{}\"\n{}",
               http_port, node_id, dir.file((state_name.empty() ? node_id : state_name) + "-state"),
               listen_port, v6 ? "[::1]" : "127.0.0.1", secondaries[i]->dnsPort(),
               options.heartbeat.count(), options.scan_interval.count(), public_key_file,
               options.stream_replicas, secondaries[i]->apiUrl(), secondaries[i]->apiKeyFile(),
               syncerNatsSection(v6));
}

void Fleet::startDaemon(ChildProcess& p, const std::string& binary, const std::string& config,
                        const std::string& name) {
    p.start({daemonBinary(binary), "--config", config}, {}, dir.file(name + ".log"), name);
}

void Fleet::startProvider(const std::string& server_id) {
    const auto config = dir.writeFile(
        "zone-provider.toml",
        logSection() +
            fmt::format("[http]\nlisten = \"127.0.0.1:{}\"\n"
                        "[provider]\nprimary_dns = \"127.0.0.1:{}\"\nsigning_key_file = \"{}\"\n"
                        "canary_zone = \"{}\"\n"
                        "[pdns]\nurl = \"{}\"\nserver_id = \"{}\"\napi_key_file = \"{}\"\n{}",
                        provider_http_port_, primary.dnsPort(), secret_key_file,
                        options.canary_zone, primary.apiUrl(), server_id, primary.apiKeyFile(),
                        natsSection()));
    startDaemon(provider, "pdns-zone-provider", config, "zone-provider");
    if (!waitHttpHealth(provider_http_port_, 20s))
        throw std::runtime_error("zone-provider did not start");
}

int Fleet::stopProvider() { return provider.stop(); }

void Fleet::start() {
    if (!options.nats_password.empty()) {
        dir.writeFile("nats-password", options.nats_password + "\n", 0600);
        nats.setConfig(fmt::format("authorization {{\n  user: pdd\n  password: \"{}\"\n}}\n",
                                   options.nats_password));
    }
    if (options.nats_urls.empty()) {
        nats.setDualStack(!options.ipv6_secondaries.empty());
        nats.start();
    }
    primary.start();
    for (auto& s : secondaries) s->start();
    writeConfigs();
    // The canary proves the primary's identity before anything is declared absent.
    auto canary = primaryApi("POST", "/api/v1/servers/localhost/zones",
                             nlohmann::json{{"name", options.canary_zone},
                                            {"kind", "Native"},
                                            {"nameservers", {"ns1." + options.canary_zone}}}
                                 .dump());
    if (canary.status != 201) throw std::runtime_error("cannot create canary zone: " + canary.body);
    startDaemon(checker, "pdns-health-checker", dir.file("health-checker.toml"), "health-checker");
    if (!waitHttpHealth(checker_http_port_, 20s))
        throw std::runtime_error("health-checker did not start");
    startDaemon(proxy, "pdns-api-proxy", dir.file("api-proxy.toml"), "api-proxy");
    if (!waitUntil([&] { return api("GET", "/api/v1/servers/localhost").status == 200; }, 20s,
                   50ms)) {
        throw std::runtime_error("api-proxy did not start");
    }
    startProvider();
    for (size_t i = 0; i < secondaries.size(); ++i) startSyncer(i);
}

void Fleet::startSyncer(size_t i) {
    startDaemon(*syncers[i], "pdns-secondary-syncer", dir.file(fmt::format("syncer{}.toml", i + 1)),
                fmt::format("syncer{}", i + 1));
    if (!waitHttpHealth(syncer_http_ports[i], 40s))
        throw std::runtime_error("syncer did not start");
}

int Fleet::stopSyncer(size_t i) { return syncers[i]->stop(); }

bool Fleet::stopDaemons() {
    bool ok = true;
    for (auto& s : syncers) {
        if (s->running()) ok = (s->stop() == 0) && ok;
    }
    for (auto* p : {&provider, &proxy, &checker, &checker2}) {
        if (p->running()) ok = (p->stop() == 0) && ok;
    }
    return ok;
}

HttpResult Fleet::api(const std::string& method, const std::string& path, const std::string& body) {
    httplib::SSLClient c("127.0.0.1", proxy_port);
    c.set_ca_cert_path(dir.file("proxy-state/api-proxy.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_read_timeout(120, 0);
    return send(c, method, path, body, primary.apiKey());
}

HttpResult Fleet::primaryApi(const std::string& method, const std::string& path,
                             const std::string& body) {
    httplib::Client c(primary.apiUrl());
    c.set_read_timeout(120, 0);
    return send(c, method, path, body, primary.apiKey());
}

HttpResult Fleet::createZone(const std::string& zone, const nlohmann::json& rrsets, bool dnssec) {
    nlohmann::json z = {
        {"name", zone}, {"kind", "Native"}, {"nameservers", {"ns1.pdd.test."}}, {"rrsets", rrsets}};
    if (dnssec) z["dnssec"] = true;
    return api("POST", "/api/v1/servers/localhost/zones", z.dump());
}

namespace {

// PATCH body replacing one A rrset.
std::string aRecordPatch(const std::string& name, const std::vector<std::string>& ips) {
    nlohmann::json records = nlohmann::json::array();
    for (const auto& ip : ips) records.push_back({{"content", ip}, {"disabled", false}});
    return nlohmann::json{{"rrsets",
                           {{{"name", name},
                             {"type", "A"},
                             {"ttl", 300},
                             {"changetype", "REPLACE"},
                             {"records", records}}}}}
        .dump();
}

}  // namespace

HttpResult Fleet::setA(const std::string& zone, const std::string& name,
                       const std::vector<std::string>& ips) {
    return api("PATCH", "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone),
               aRecordPatch(name, ips));
}

HttpResult Fleet::setAOnPrimary(const std::string& zone, const std::string& name,
                                const std::vector<std::string>& ips) {
    return primaryApi("PATCH", "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone),
                      aRecordPatch(name, ips));
}

HttpResult Fleet::deleteZone(const std::string& zone) {
    return api("DELETE", "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone));
}

std::optional<uint32_t> Fleet::serial(const PdnsServer& server, const std::string& zone) {
    common::LdnsDnsClient c(common::DnsEndpoint{.address = server.dnsHost(),
                                                .port = static_cast<uint16_t>(server.dnsPort())},
                            1000ms);
    auto s = c.soaSerial(zone);
    if (!s) return std::nullopt;
    return *s;
}

bool Fleet::waitSerial(const std::string& zone, uint32_t want, std::chrono::milliseconds timeout) {
    return waitUntil(
        [&] {
            for (auto& s : secondaries) {
                if (serial(*s, zone) != want) return false;
            }
            return true;
        },
        timeout, 5ms);
}

bool Fleet::waitLikePrimary(const std::string& zone, std::chrono::milliseconds timeout) {
    auto want = serial(primary, zone);
    return want && waitSerial(zone, *want, timeout);
}

bool Fleet::waitGone(const std::string& zone, std::chrono::milliseconds timeout) {
    return waitUntil(
        [&] {
            for (auto& s : secondaries) {
                if (serial(*s, zone)) return false;
            }
            return true;
        },
        timeout, 5ms);
}

std::optional<std::multiset<std::string>> Fleet::axfr(const PdnsServer& server,
                                                      const std::string& zone) {
    common::LdnsDnsClient c(common::DnsEndpoint{.address = server.dnsHost(),
                                                .port = static_cast<uint16_t>(server.dnsPort())},
                            10000ms);
    auto body = c.transfer(zone);
    if (!body) return std::nullopt;
    auto rrs = common::decodeBody(body->bytes);
    if (!rrs) return std::nullopt;
    std::multiset<std::string> out;
    for (const auto& rr : *rrs) out.insert(normalise(rr));
    return out;
}

HttpResult Fleet::syncerHttp(size_t i, const std::string& path) {
    httplib::Client c("127.0.0.1", syncer_http_ports[i]);
    return toResult(c.Get(path));
}

HttpResult Fleet::checkerHttp(const std::string& method, const std::string& path, int which,
                              const std::string& body) {
    httplib::Client c("127.0.0.1", which == 0 ? checker_http_port_ : checker2_http_port_);
    return method == "POST" ? toResult(c.Post(path, body, "application/json"))
                            : toResult(c.Get(path));
}

nlohmann::json Fleet::checkerStatus(int which) {
    auto r = checkerHttp("GET", "/status", which);
    if (r.status != 200) return nullptr;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

}  // namespace pdns_distribute::e2e
