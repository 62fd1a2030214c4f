// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <httplib.h>

#include <pdns_distribute/common/zone_key.hpp>

#include "bench.hpp"

namespace pdns_distribute::bench {

namespace {

e2e::FleetOptions fleetOptions(const BenchOptions& o) {
    e2e::FleetOptions f;
    f.secondaries = o.secondaries;
    f.log_level = o.log_level;
    return f;
}

}  // namespace

size_t BenchOptions::roundBudget() const {
    const auto per_round =
        static_cast<size_t>(poll_qps) * static_cast<size_t>(poll_interval.count()) / size_t{1000};
    return std::max<size_t>(per_round, 64);
}

bool BenchOptions::wants(const std::string& scenario) const {
    return std::find(scenarios.begin(), scenarios.end(), scenario) != scenarios.end();
}

Topology::Topology(const BenchOptions& options)
    : fleet(fleetOptions(options)),
      native(NativeOptions{.secondaries = options.secondaries,
                           .autoprimary = options.native_autoprimary}) {}

Topology::~Topology() = default;

void Topology::start() {
    native.start();
    for (const auto& line : native.primarySettings()) fleet.primary.addSetting(line);
    fleet.start();
    native.attach(fleet.primary);
    notifier = std::make_unique<Notifier>(fleet.primary.apiUrl(), fleet.primary.apiKey());
    for (auto& s : fleet.secondaries) {
        ours_.push_back(targets_.size());
        targets_.push_back(
            DnsTarget{.address = "127.0.0.1", .port = static_cast<uint16_t>(s->dnsPort())});
    }
    for (auto& s : native.servers) {
        natives_.push_back(targets_.size());
        targets_.push_back(
            DnsTarget{.address = "127.0.0.1", .port = static_cast<uint16_t>(s->dnsPort())});
    }
    primary_target_ = targets_.size();
    targets_.push_back(
        DnsTarget{.address = "127.0.0.1", .port = static_cast<uint16_t>(fleet.primary.dnsPort())});
}

bool Topology::stop() {
    if (notifier) notifier->drain();
    notifier.reset();
    return fleet.stopDaemons();
}

e2e::HttpResult Topology::createZone(const std::string& zone, const nlohmann::json& rrsets) {
    const nlohmann::json z = {{"name", zone},
                              {"kind", "Master"},
                              {"catalog", kCatalogZone},
                              {"nameservers", {"ns1.pdd.test."}},
                              {"rrsets", rrsets}};
    return fleet.api("POST", "/api/v1/servers/localhost/zones", z.dump());
}

e2e::HttpResult Topology::setWww(const std::string& zone, const std::string& ip) {
    const nlohmann::json patch = {{"rrsets",
                                   {{{"name", "www." + zone},
                                     {"type", "A"},
                                     {"ttl", 300},
                                     {"changetype", "REPLACE"},
                                     {"records", {{{"content", ip}, {"disabled", false}}}}}}}};
    return fleet.api("PATCH", "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone),
                     patch.dump());
}

e2e::HttpResult Topology::deleteZone(const std::string& zone) { return fleet.deleteZone(zone); }

void requireRunning(const std::vector<std::pair<std::string, e2e::ChildProcess*>>& procs) {
    for (const auto& [name, process] : procs) {
        if (!process->running()) {
            throw std::runtime_error(fmt::format("{} is no longer running (exit status {}):\n{}",
                                                 name, process->exitStatus().value_or(-1),
                                                 process->logTail(20)));
        }
    }
}

std::vector<std::pair<std::string, e2e::ChildProcess*>> fleetProcesses(e2e::Fleet& fleet) {
    std::vector<std::pair<std::string, e2e::ChildProcess*>> procs{
        {"api-proxy", &fleet.proxy},
        {"zone-provider", &fleet.provider},
        {"health-checker", &fleet.checker},
        {"nats-server", &fleet.nats.process()},
        {"the primary pdns_server", &fleet.primary.process()}};
    for (size_t i = 0; i < fleet.syncers.size(); ++i) {
        procs.emplace_back(fmt::format("syncer{}", i + 1), fleet.syncers[i].get());
        procs.emplace_back(fmt::format("pdns-secondary{}", i + 1),
                           &fleet.secondaries[i]->process());
    }
    return procs;
}

void Topology::checkAlive() {
    auto procs = fleetProcesses(fleet);
    for (size_t i = 0; i < native.servers.size(); ++i) {
        procs.emplace_back(fmt::format("native secondary {}", i + 1),
                           &native.servers[i]->process());
    }
    requireRunning(procs);
}

const std::vector<size_t>& Topology::systemTargets(const std::string& system) const {
    return system == kOurs ? ours_ : natives_;
}

std::vector<ProcRef> Topology::processes() {
    std::vector<ProcRef> procs{
        {.system = kOurs, .name = "api-proxy", .pid = fleet.proxy.pid()},
        {.system = kOurs, .name = "zone-provider", .pid = fleet.provider.pid()},
        {.system = kOurs, .name = "health-checker", .pid = fleet.checker.pid()},
        {.system = kOurs, .name = "nats-server", .pid = fleet.nats.process().pid()},
        {.system = "shared", .name = "pdns-primary", .pid = fleet.primary.process().pid()},
    };
    for (size_t i = 0; i < fleet.syncers.size(); ++i) {
        procs.push_back({.system = kOurs,
                         .name = fmt::format("syncer{}", i + 1),
                         .pid = fleet.syncers[i]->pid()});
    }
    for (size_t i = 0; i < fleet.secondaries.size(); ++i) {
        procs.push_back({.system = kOurs,
                         .name = fmt::format("pdns-secondary{}", i + 1),
                         .pid = fleet.secondaries[i]->process().pid()});
    }
    for (size_t i = 0; i < native.servers.size(); ++i) {
        procs.push_back({.system = kNative,
                         .name = fmt::format("pdns-native{}", i + 1),
                         .pid = native.servers[i]->process().pid()});
    }
    return procs;
}

nlohmann::json Topology::natsVarz() const { return natsVarzAt(fleet.nats.monitorPort()); }

nlohmann::json Topology::natsConnz() const { return natsConnzAt(fleet.nats.monitorPort()); }

nlohmann::json natsVarzAt(int monitor_port) {
    httplib::Client c("127.0.0.1", monitor_port);
    c.set_read_timeout(5, 0);
    const auto r = c.Get("/varz");
    if (!r || r->status != 200) return nullptr;
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return nullptr;
    return {{"in_bytes", j.value("in_bytes", 0LL)},
            {"out_bytes", j.value("out_bytes", 0LL)},
            {"in_msgs", j.value("in_msgs", 0LL)},
            {"out_msgs", j.value("out_msgs", 0LL)}};
}

nlohmann::json natsConnzAt(int monitor_port) {
    httplib::Client c("127.0.0.1", monitor_port);
    c.set_read_timeout(5, 0);
    const auto r = c.Get("/connz?limit=4096");
    if (!r || r->status != 200) return nullptr;
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("connections")) return nullptr;
    nlohmann::json out = nlohmann::json::object();
    for (const auto& conn : j["connections"]) {
        auto name = conn.value("name", std::string{});
        if (name.empty()) name = fmt::format("cid {}", conn.value("cid", 0));
        if (out.contains(name)) name += fmt::format(" (cid {})", conn.value("cid", 0));
        out[name] = {{"in_bytes", conn.value("in_bytes", 0LL)},
                     {"out_bytes", conn.value("out_bytes", 0LL)}};
    }
    return out;
}

nlohmann::json connzDelta(const nlohmann::json& after, const nlohmann::json& before) {
    if (!after.is_object()) return nullptr;
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, counters] : after.items()) {
        long long in = counters.value("in_bytes", 0LL);
        long long out_bytes = counters.value("out_bytes", 0LL);
        if (before.is_object() && before.contains(name)) {
            in -= before[name].value("in_bytes", 0LL);
            out_bytes -= before[name].value("out_bytes", 0LL);
        }
        out[name] = {{"in_bytes", in}, {"out_bytes", out_bytes}};
    }
    return out;
}

}  // namespace pdns_distribute::bench
