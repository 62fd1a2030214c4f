// SPDX-License-Identifier: Apache-2.0
#include "fleet.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
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

Fleet::~Fleet() {
    if (secureNats() && options.fail_on_permission_violation) {
        const auto violations = natsPermissionViolations();
        EXPECT_TRUE(violations.empty())
            << "nats-server refused something a daemon did: the shipped permissions in "
               "packaging/nats/nats-server.conf lack it\n"
            << fmt::format("{}", fmt::join(violations, "\n"));
    }
    dumpLogsIfFailed(60);
}

namespace {

std::string readText(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("cannot read '{}'", path));
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
    for (size_t pos = text.find(from); pos != std::string::npos;
         pos = text.find(from, pos + to.size())) {
        text.replace(pos, from.size(), to);
    }
}

/// The line range [start of the line holding `begin`, end of the line holding `end`].
std::pair<size_t, size_t> lineBlock(const std::string& text, const std::string& begin,
                                    const std::string& end) {
    const auto b = text.find(begin);
    const auto e = text.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b) {
        throw std::runtime_error(
            fmt::format("cannot find the block '{}' ... '{}' in the NATS config", begin, end));
    }
    const auto line_start = text.rfind('\n', b);
    const auto line_end = text.find('\n', e);
    return {line_start == std::string::npos ? 0 : line_start + 1,
            line_end == std::string::npos ? text.size() : line_end + 1};
}

std::string quotedList(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "\"" : ", \"") + item + "\"";
    return out;
}

/// A daemon's [nats] section for these settings.
std::string natsSectionFor(const common::NatsSettings& s) {
    std::string out = fmt::format("[nats]\nurls = [{}]\n", quotedList(s.urls));
    if (!s.user.empty()) {
        out += fmt::format("user = \"{}\"\npassword_file = \"{}\"\n", s.user, s.password_file);
    }
    if (!s.tls_ca_file.empty()) {
        out += fmt::format(
            "tls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n"
            "tls_server_name = \"{}\"\n",
            s.tls_ca_file, s.tls_cert_file, s.tls_key_file, s.tls_server_name);
    }
    if (!s.inbox_prefix.empty()) out += fmt::format("inbox_prefix = \"{}\"\n", s.inbox_prefix);
    return out;
}

}  // namespace

bool Fleet::secureNats() const { return options.secure_nats && options.nats_urls.empty(); }

std::string Fleet::nodeId(size_t i) { return fmt::format("sec{}", i + 1); }

std::string Fleet::natsUser(Role role, const std::string& node_id) {
    switch (role) {
        case Role::ApiProxy:
            return "api-proxy";
        case Role::ZoneProvider:
            return "zone-provider";
        case Role::HealthChecker:
            return "health-checker";
        case Role::Secondary:
            return "syncer-" + node_id;
        case Role::Admin:
        case Role::Primary:
            return "admin";
    }
    return {};
}

std::string Fleet::natsPasswordFile(const std::string& user) const {
    return dir.file("nats-" + user + ".password");
}

void Fleet::setUpSecureNats() {
    const std::string tls_dir = dir.file("nats-tls");
    std::filesystem::create_directories(tls_dir);
    nats_ca_ = std::make_unique<TestCa>(tls_dir, "ca");
    (void)nats_ca_->issueServer("server");
    std::vector<std::string> users{natsUser(Role::ApiProxy), natsUser(Role::ZoneProvider),
                                   natsUser(Role::HealthChecker), natsUser(Role::Admin)};
    for (size_t i = 0; i < secondaries.size(); ++i) {
        users.push_back(natsUser(Role::Secondary, nodeId(i)));
    }
    for (const auto& user : users) {
        const std::string password =
            (options.nats_password.empty() ? "" : options.nats_password + "-") + randomHex(16);
        nats_passwords_[user] = password;
        dir.writeFile("nats-" + user + ".password", password + "\n", 0600);
        (void)nats_ca_->issueClient(user);
    }

    // The shipped file, with only its paths and password hashes replaced; the secondaries'
    // entries come from its template block through the shipped generator script.
    const std::string shipped = std::string(PDD_SOURCE_DIR) + "/packaging/nats/nats-server.conf";
    std::string text = readText(shipped);
    replaceAll(text, "/etc/nats/tls/", tls_dir + "/");
    replaceAll(text, "\"/var/lib/nats\"", "\"" + nats.storeDir() + "\"");
    std::string entries;
    for (size_t i = 0; i < secondaries.size(); ++i) {
        const auto user = natsUser(Role::Secondary, nodeId(i));
        auto r = runCommand({std::string(PDD_SOURCE_DIR) + "/packaging/nats/pdd-nats-secondary.sh",
                             "-c", shipped, "-p", bcryptHash(nats_passwords_.at(user)), nodeId(i)});
        if (r.exit_code != 0) {
            throw std::runtime_error("pdd-nats-secondary.sh failed: " + r.err + r.out);
        }
        entries += r.out;
    }
    const auto [begin, end] = lineBlock(text, "# >>> secondary ns1", "# <<< secondary ns1");
    text.replace(begin, end - begin, entries);
    for (const auto& user : users) {
        replaceAll(text, "\"$2b$11$CHANGE-ME-" + user + "\"",
                   "\"" + bcryptHash(nats_passwords_.at(user)) + "\"");
    }
    if (text.find("\"$2b$11$CHANGE-ME-") != std::string::npos) {
        throw std::runtime_error("the rendered NATS config still holds a CHANGE-ME placeholder:\n" +
                                 text);
    }
    nats_config_text_ = text;
    nats.setConfig(text);
}

common::NatsSettings Fleet::natsSettingsFor(Role role, size_t i) const {
    common::NatsSettings s;
    if (!options.nats_urls.empty()) {
        s.urls = options.nats_urls;
        return s;
    }
    if (!secureNats()) {
        s.urls = {nats.url()};
        if (!options.nats_password.empty()) {
            s.user = "pdd";
            s.password_file = dir.file("nats-password");
        }
        return s;
    }
    if (!nats_ca_) throw std::runtime_error("cannot give NATS settings before Fleet::start()");
    const auto user = natsUser(role, nodeId(i));
    s.urls = {fmt::format("tls://127.0.0.1:{}", nats.port())};
    s.user = user;
    s.password_file = natsPasswordFile(user);
    s.tls_ca_file = nats_ca_->caFile();
    s.tls_cert_file = dir.file("nats-tls/" + user + ".crt");
    s.tls_key_file = dir.file("nats-tls/" + user + ".key");
    s.tls_server_name = "localhost";  // the server certificate's name, checked by nats.c
    // Each role may subscribe only below its own inbox (the admin anywhere).
    if (role != Role::Admin && role != Role::Primary) s.inbox_prefix = "_INBOX." + user;
    return s;
}

std::vector<std::string> Fleet::natsPermissionViolations() const {
    std::vector<std::string> out;
    if (!options.nats_urls.empty()) return out;
    for (auto& line : nats.permissionViolations()) {
        if (line.starts_with("=== start: ")) continue;
        out.push_back(std::move(line));
    }
    return out;
}

void Fleet::writeConfigs() {
    secret_key_file = dir.file("zonedata.key");
    public_key_file = dir.file("zonedata.pub");
    auto r = runCommand({daemonBinary("pdns-distribute"), "keygen", "--secret", secret_key_file,
                         "--public", public_key_file});
    if (r.exit_code != 0) throw std::runtime_error("keygen failed: " + r.err + r.out);
    proxy_port = freeTcpPort();
    provider_http_port_ = freeTcpPort();
    checker_http_port_ = freeTcpPort();
    dir.writeFile(
        "api-proxy.toml",
        logSection() + fmt::format("[http]\nlisten = \"127.0.0.1:{}\"\n"
                                   "[proxy]\nlisten = \"127.0.0.1:{}\"\nupstream_url = \"{}\"\n"
                                   "[tls]\nstate_dir = \"{}\"\n[stream]\nreplicas = {}\n{}",
                                   freeTcpPort(), proxy_port, primary.apiUrl(),
                                   dir.file("proxy-state"), options.stream_replicas,
                                   natsSection(Role::ApiProxy)));
    dir.writeFile("health-checker.toml", checkerConfig(checker_http_port_));
    for (size_t i = 0; i < secondaries.size(); ++i) {
        syncer_http_ports.push_back(freeTcpPort());
        syncer_listen_ports.push_back(freeDnsPort());
        dir.writeFile(fmt::format("syncer{}.toml", i + 1),
                      syncerConfig(i, nodeId(i), syncer_http_ports[i], syncer_listen_ports[i]));
    }
}

std::string Fleet::natsSection(Role role) const { return natsSectionFor(natsSettingsFor(role)); }

std::string Fleet::syncerNatsSection(const std::string& node_id, bool ipv6) const {
    if (secureNats()) {
        const auto user = natsUser(Role::Secondary, node_id);
        auto settings = natsSettingsFor(Role::Secondary);
        settings.user = user;
        settings.password_file = natsPasswordFile(user);
        settings.tls_cert_file = dir.file("nats-tls/" + user + ".crt");
        settings.tls_key_file = dir.file("nats-tls/" + user + ".key");
        settings.inbox_prefix = "_INBOX." + user;
        const std::string host = fmt::format("{}:{}", ipv6 ? "[::1]" : "127.0.0.1", nats.port());
        settings.urls = {"tls://" + host};
        if (!options.nats_password.empty()) {
            // The credentials ride in the URL: the secrets test checks they are redacted.
            settings.urls = {fmt::format("tls://{}:{}@{}", user, nats_passwords_.at(user), host)};
            settings.user.clear();
            settings.password_file.clear();
        }
        return natsSectionFor(settings);
    }
    if (options.nats_password.empty() && !ipv6) return natsSection(Role::Secondary);
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
               "nsec3_policy = {}\ntombstone_age = \"{}ms\"\n{}"
               "[stream]\nreplicas = {}\n"
               "[pdns]\nurl = \"{}\"\napi_key_file = \"{}\"\n{}",
               http_port, options.reconcile_interval.count(), primary.dnsPort(),
               options.canary_zone, options.event_check_wait.count(), options.leader_ttl.count(),
               options.nsec3_policy ? "true" : "false", options.tombstone_age.count(),
               options.publish_rate > 0 ? fmt::format("publish_rate = {}\n", options.publish_rate)
                                        : std::string{},
               options.stream_replicas, primary.apiUrl(), primary.apiKeyFile(),
               natsSection(Role::HealthChecker));
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
               "heartbeat = \"{}ms\"\nscan_interval = \"{}ms\"\n{}"
               "[[trusted_key]]\nfile = \"{}\"\n[kv]\nreplicas = {}\n"
               "[pdns]\nurl = \"{}\"\napi_key_file = \"{}\"\n{}",
               http_port, node_id, dir.file((state_name.empty() ? node_id : state_name) + "-state"),
               listen_port, v6 ? "[::1]" : "127.0.0.1", secondaries[i]->dnsPort(),
               options.heartbeat.count(), options.scan_interval.count(),
               options.scan_rate > 0 ? fmt::format("scan_rate = {}\n", options.scan_rate)
                                     : std::string{},
               public_key_file, options.stream_replicas, secondaries[i]->apiUrl(),
               secondaries[i]->apiKeyFile(), syncerNatsSection(node_id, v6));
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
                        natsSection(Role::ZoneProvider)));
    startDaemon(provider, "pdns-zone-provider", config, "zone-provider");
    if (!waitHttpHealth(provider_http_port_, 20s))
        throw std::runtime_error("zone-provider did not start");
}

int Fleet::stopProvider() { return provider.stop(); }

void Fleet::start() {
    if (secureNats()) {
        setUpSecureNats();
    } else if (!options.nats_password.empty()) {
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
