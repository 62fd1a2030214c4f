// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <cctype>
#include <string>
#include <vector>

#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::health_checker {

bool validNsec3Param(std::string_view text) {
    std::vector<std::string> parts;
    std::string current;
    for (const char ch : text) {
        if (ch == ' ') {
            if (!current.empty()) parts.push_back(std::move(current));
            current.clear();
        } else {
            current.push_back(ch);
        }
    }
    if (!current.empty()) parts.push_back(std::move(current));
    if (parts.size() != 4) return false;
    auto number = [](const std::string& s, int max) {
        if (s.empty() || s.size() > 3) return false;
        for (const char ch : s) {
            if (ch < '0' || ch > '9') return false;
        }
        return std::stoi(s) <= max;
    };
    if (parts[0] != "1" || !number(parts[1], 1) || !number(parts[2], 500)) return false;
    if (parts[3] == "-") return true;
    if (parts[3].size() % 2 != 0 || parts[3].size() > 510) return false;
    for (const char ch : parts[3]) {
        if (std::isxdigit(static_cast<unsigned char>(ch)) == 0) return false;
    }
    return true;
}

Settings readSettings(common::ConfigSection root) {
    Settings s;
    auto c = root.section("checker", "health-checker");
    s.group = c.getString("group", s.group, "nameserver group token");
    if (!common::isValidGroupToken(s.group)) {
        c.fail("group", "must match [A-Za-z0-9_-]{1,64} and not be 'x'");
    }
    s.reconcile_interval = c.getDuration("reconcile_interval", s.reconcile_interval,
                                         "how often the primary is compared with the stream",
                                         std::chrono::milliseconds{200}, std::chrono::hours{24});
    s.primary_dns = c.getString("primary_dns", s.primary_dns,
                                "address:port where the primary pdns_server answers DNS");
    if (!common::parseHostPort(s.primary_dns)) c.fail("primary_dns", "must be host:port");
    s.canary_zone = c.getString("canary_zone", "",
                                "a zone that always exists on the primary; without it no zone "
                                "that vanished from the primary is deleted without approval");
    if (!s.canary_zone.empty()) {
        auto z = common::canonicalZoneName(s.canary_zone);
        if (!z) c.fail("canary_zone", z.error().message);
        s.canary_zone = *z;
    }
    s.hold_percent =
        c.getInt("hold_percent", s.hold_percent,
                 "hold deletions when more than this % of zones vanish at once", 0, 100);
    s.hold_zones =
        c.getInt("hold_zones", s.hold_zones,
                 "hold deletions when more than this many zones vanish at once", 0, 10'000'000);
    s.publish_rate = c.getInt("publish_rate", s.publish_rate,
                              "reconcile publishes per second at most", 1, 100'000);
    s.event_check_wait = c.getDuration(
        "event_check_wait", s.event_check_wait,
        "how long a secondary may differ from the primary before it is told to resync a zone",
        std::chrono::milliseconds{100}, std::chrono::hours{24});
    s.resync_backoff_max =
        c.getDuration("resync_backoff_max", s.resync_backoff_max,
                      "longest wait between resyncs of a zone that stays different on a node",
                      std::chrono::milliseconds{1000}, std::chrono::hours{24});
    s.leader_ttl = c.getDuration(
        "leader_ttl", s.leader_ttl,
        "TTL of the leadership lock between health-checkers (bucket PDNS_LEADER); a standby "
        "takes over within about this long after the leader dies",
        std::chrono::milliseconds{1000}, std::chrono::milliseconds{300000});
    s.max_buckets_per_check =
        c.getInt("max_buckets_per_check", s.max_buckets_per_check,
                 "differing digest buckets fetched from one node per check at most", 1, 4096);
    s.tombstone_age = c.getDuration(
        "tombstone_age", s.tombstone_age,
        "a zone's delete event is purged from the stream when older than this and acked by "
        "every durable consumer",
        std::chrono::milliseconds{1000}, std::chrono::hours{24 * 365});
    s.nsec3_policy = c.getBool("nsec3_policy", s.nsec3_policy,
                               "give signed zones that use NSEC the NSEC3 parameters below "
                               "(through the primary's API, never narrow)");
    s.nsec3_param = c.getString("nsec3_param", s.nsec3_param,
                                "NSEC3PARAM for nsec3_policy: algorithm flags iterations salt");
    if (!validNsec3Param(s.nsec3_param)) {
        c.fail("nsec3_param",
               "must be 'algorithm flags iterations salt' like \"1 0 0 -\" (algorithm 1, flags 0 "
               "or 1, iterations 0-500, salt '-' or hex)");
    }
    auto st = root.section("stream", "the PDNS_ZONES stream");
    s.stream_replicas = static_cast<int>(st.getInt(
        "replicas", s.stream_replicas, "JetStream replicas (1, or 3 on a cluster)", 1, 5));
    s.pdns = common::readPdnsApiSettings(root.section("pdns", "the primary's PowerDNS API"),
                                         "http://127.0.0.1:8081");
    s.nats = common::readNatsSettings(root.section("nats", "NATS connection"));
    return s;
}

}  // namespace pdns_distribute::health_checker
