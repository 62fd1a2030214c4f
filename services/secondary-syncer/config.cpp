// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <unistd.h>

#include <array>
#include <ctime>
#include <stdexcept>

#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::secondary_syncer {

namespace {

std::string hostName() {
    std::array<char, 256> buf{};
    if (gethostname(buf.data(), buf.size() - 1) != 0) return "node";
    return buf.data();
}

}  // namespace

Settings readSettings(common::ConfigSection root) {
    Settings s;
    auto& y = s.syncer;
    auto sec = root.section("syncer", "secondary syncer");
    y.node_id = sec.getString("node_id", "",
                              "unique id of this secondary ([A-Za-z0-9_-]{1,64}); default: the "
                              "host name with other characters replaced by '-'");
    if (y.node_id.empty()) y.node_id = common::nodeIdFromHostname(hostName());
    if (!common::isValidNodeId(y.node_id)) sec.fail("node_id", "must match [A-Za-z0-9_-]{1,64}");
    y.group = sec.getString("group", y.group, "nameserver group token to follow");
    if (!common::isValidGroupToken(y.group)) {
        sec.fail("group", "must match [A-Za-z0-9_-]{1,64} and not be 'x'");
    }
    y.state_dir = sec.getString("state_dir", y.state_dir,
                                "directory for the instance id and the parking table");
    y.listen = sec.getString("listen", y.listen,
                             "address:port of the AXFR listener the local pdns transfers from "
                             "(loopback); sockets passed by systemd (pdns-secondary-syncer.socket) "
                             "are used instead when present, and should use the same port");
    if (!common::parseHostPort(y.listen)) sec.fail("listen", "must be host:port");
    y.allow = sec.getStringList("allow", y.allow,
                                "source addresses allowed to query the AXFR listener (queries "
                                "must also be TSIG-signed with the syncer's key)");
    y.pdns_dns = sec.getString("pdns_dns", y.pdns_dns,
                               "address:port where the local pdns_server answers DNS");
    if (!common::parseHostPort(y.pdns_dns)) sec.fail("pdns_dns", "must be host:port");
    y.max_zone_bytes = static_cast<uint64_t>(
        sec.getInt("max_zone_bytes", static_cast<int64_t>(y.max_zone_bytes),
                   "refuse zone bodies larger than this", 1024, int64_t{1} << 34));
    y.request_timeout =
        sec.getDuration("request_timeout", y.request_timeout, "deadline for one zone-data request",
                        std::chrono::milliseconds{100});
    y.apply_timeout = sec.getDuration("apply_timeout", y.apply_timeout,
                                      "deadline for the local pdns to transfer and serve a zone",
                                      std::chrono::milliseconds{500});
    y.ack_wait = sec.getDuration("ack_wait", y.ack_wait, "JetStream ack_wait of the consumer",
                                 std::chrono::milliseconds{5000});
    y.heartbeat =
        sec.getDuration("heartbeat", y.heartbeat,
                        "interval of heartbeats to the health-checker and of node claim renewals",
                        std::chrono::milliseconds{200}, std::chrono::milliseconds{60000});
    y.scan_interval = sec.getDuration(
        "scan_interval", y.scan_interval,
        "how often every managed zone's apex is read from the local pdns, so zones lost or "
        "edited there show in the heartbeat digest",
        std::chrono::milliseconds{200}, std::chrono::hours{24});
    y.scan_rate = sec.getInt("scan_rate", y.scan_rate,
                             "local DNS queries per second at most while scanning", 1, 1'000'000);
    y.max_ack_pending = sec.getInt("max_ack_pending", y.max_ack_pending,
                                   "JetStream max_ack_pending of the consumer", 1, 100000);
    y.workers =
        static_cast<int>(sec.getInt("workers", y.workers, "zones applied in parallel", 1, 256));
    y.priority_workers = static_cast<int>(sec.getInt(
        "priority_workers", y.priority_workers,
        "workers of the priority lane: api events heard as they are published are applied by "
        "these at once, ahead of the durable consumer's backlog (0: no priority lane)",
        0, 64));
    y.delete_budget_min = sec.getInt("delete_budget_min", y.delete_budget_min,
                                     "deletions always allowed per window", 0, 1'000'000);
    y.delete_budget_percent =
        sec.getInt("delete_budget_percent", y.delete_budget_percent,
                   "deletions allowed per window as a percentage of managed zones", 0, 100);
    y.delete_budget_window =
        sec.getDuration("delete_budget_window", y.delete_budget_window,
                        "window of the delete budget", std::chrono::milliseconds{1000});
    y.park_backoff_max = sec.getDuration("park_backoff_max", y.park_backoff_max,
                                         "longest wait between attempts on a parked zone",
                                         std::chrono::milliseconds{1000});
    for (auto& k : root.sectionArray("trusted_key", "public keys whose zone data is accepted")) {
        TrustedKeyFile t;
        t.file = k.getString("file", "",
                             "public key file made by `pdns-distribute keygen` on the primary "
                             "(required)");
        if (t.file.empty() && !k.documenting()) k.fail("file", "is required");
        t.not_after = k.getString(
            "not_after", "",
            "RFC 3339 UTC time after which this key is no longer trusted (empty: never)");
        if (!t.not_after.empty() && !common::parseRfc3339(t.not_after)) {
            k.fail("not_after", "must be an RFC 3339 UTC time like 2027-01-31T00:00:00Z");
        }
        y.trusted_keys.push_back(std::move(t));
    }
    s.kv_replicas = static_cast<int>(
        root.section("kv", "the key-value bucket PDNS_NODES (node claims)")
            .getInt("replicas", s.kv_replicas,
                    "JetStream replicas of PDNS_NODES when this syncer creates it (1, or 3 on a "
                    "cluster)",
                    1, 5));
    s.pdns = common::readPdnsApiSettings(root.section("pdns", "the local PowerDNS API"),
                                         "http://127.0.0.1:8081");
    s.nats = common::readNatsSettings(root.section("nats", "NATS connection"));
    return s;
}

std::vector<std::string> checkSettings(const Settings& settings) {
    std::vector<std::string> warnings;
    const auto& id = settings.syncer.node_id;
    if (id == "localhost" || id == "debian" || id == "ubuntu" || id == "node") {
        warnings.push_back(
            "node id '" + id +
            "' is likely shared by other hosts; set syncer.node_id to a unique value");
    }
    if (settings.syncer.trusted_keys.empty()) {
        warnings.push_back("no [[trusted_key]] is configured; no zone data will be accepted");
    }
    return warnings;
}

std::vector<common::TrustedKey> loadTrustedKeys(const SyncerSettings& settings) {
    std::vector<common::TrustedKey> keys;
    for (const auto& t : settings.trusted_keys) {
        auto k = common::loadPublicKey(t.file);
        if (!k) throw std::runtime_error(k.error().message + "; check [[trusted_key]] file");
        common::TrustedKey tk{.key = *k, .not_after = std::nullopt};
        if (!t.not_after.empty()) tk.not_after = common::parseRfc3339(t.not_after);
        keys.push_back(tk);
    }
    if (keys.empty()) {
        throw std::runtime_error("no [[trusted_key]] is configured; add the primary's public key");
    }
    return keys;
}

}  // namespace pdns_distribute::secondary_syncer
