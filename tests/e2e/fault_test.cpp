// SPDX-License-Identifier: Apache-2.0
// Faults in the middle of traffic: the NATS server killed and restarted during a burst of
// changes. Nothing PowerDNS accepted may be lost, and the api-proxy never fails a change
// PowerDNS accepted.

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

long long msSince(Clock::time_point t0) {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

FleetOptions faultOptions() {
    FleetOptions o;
    o.secondaries = 2;
    o.reconcile_interval = std::chrono::milliseconds{2000};
    o.event_check_wait = std::chrono::milliseconds{2000};
    o.heartbeat = std::chrono::milliseconds{500};
    o.scan_interval = std::chrono::milliseconds{1000};
    return o;
}

/// The primary's zones and the serials it serves.
std::map<std::string, uint32_t> primaryZones(Fleet& fleet) {
    std::map<std::string, uint32_t> out;
    auto r = fleet.primaryApi("GET", "/api/v1/servers/localhost/zones");
    if (r.status != 200) return out;
    for (const auto& z : json::parse(r.body)) {
        const auto name = z["name"].get<std::string>();
        if (auto s = fleet.serial(fleet.primary, name)) out[name] = *s;
    }
    return out;
}

/// True when every secondary serves exactly `want` (zone → serial) among `universe`.
bool secondariesMatch(Fleet& fleet, const std::map<std::string, uint32_t>& want,
                      const std::set<std::string>& universe, std::string* why) {
    for (size_t i = 0; i < fleet.secondaries.size(); ++i) {
        for (const auto& zone : universe) {
            const auto served = fleet.serial(*fleet.secondaries[i], zone);
            auto it = want.find(zone);
            const std::optional<uint32_t> wanted =
                it == want.end() ? std::nullopt : std::optional<uint32_t>(it->second);
            if (served != wanted) {
                *why = fmt::format("sec{} serves {} for '{}', want {}", i + 1,
                                   served ? std::to_string(*served) : "nothing", zone,
                                   wanted ? std::to_string(*wanted) : "nothing");
                return false;
            }
        }
    }
    return true;
}

// With NATS gone a syncer still stops promptly on SIGTERM: its claim lapses by TTL instead of
// waiting for a release request to time out.
TEST(Faults, NatsDown_SyncerAndCheckerStopPromptly) {
    Fleet fleet(faultOptions());
    fleet.start();
    fleet.nats.kill();
    std::this_thread::sleep_for(std::chrono::milliseconds{500});  // the daemons notice
    auto t0 = Clock::now();
    EXPECT_EQ(fleet.stopSyncer(0), 0);
    const auto syncer_ms = msSince(t0);
    t0 = Clock::now();
    EXPECT_EQ(fleet.checker.stop(), 0);
    const auto checker_ms = msSince(t0);
    std::printf("[ measure ] with NATS down: syncer stopped in %lld ms, checker in %lld ms\n",
                syncer_ms, checker_ms);
    EXPECT_LT(syncer_ms, 3000);
    EXPECT_LT(checker_ms, 3000);
}

TEST(Faults, NatsKilledAndRestartedMidBurst_NothingLost) {
    Fleet fleet(faultOptions());
    fleet.start();
    // 10 zones get record changes; 50 others are deleted during the burst.
    std::set<std::string> universe;
    std::vector<std::string> stable;
    std::vector<std::string> doomed;
    for (int i = 0; i < 60; ++i) {
        const auto zone = fmt::format("pre{}.burst.test.", i);
        ASSERT_EQ(fleet.createZone(zone).status, 201);
        (i < 10 ? stable : doomed).push_back(zone);
        universe.insert(zone);
    }
    for (const auto& z : universe) ASSERT_TRUE(fleet.waitLikePrimary(z)) << z;

    // 200 changes: creates, record changes and deletes; NATS dies at change 60 and comes back
    // at change 140.
    int errors = 0;
    size_t deleted = 0;
    Clock::time_point killed_at;
    Clock::time_point restarted_at;
    for (int i = 0; i < 200; ++i) {
        if (i == 60) {
            fleet.nats.kill();
            killed_at = Clock::now();
        }
        if (i == 140) {
            fleet.nats.start();
            restarted_at = Clock::now();
        }
        HttpResult r;
        switch (i % 4) {
            case 0: {
                const auto zone = fmt::format("new{}.burst.test.", i);
                universe.insert(zone);
                r = fleet.createZone(zone);
                break;
            }
            case 1:
            case 2: {
                const auto& zone = stable[static_cast<size_t>(i) % stable.size()];
                r = fleet.setA(zone, "www." + zone, {fmt::format("192.0.2.{}", i % 250 + 1)});
                break;
            }
            default: {
                const auto zone = doomed.at(deleted++);
                r = fleet.deleteZone(zone);
                break;
            }
        }
        if (r.status < 200 || r.status >= 300) {
            ++errors;
            ADD_FAILURE() << "change " << i << " answered " << r.status << " " << r.body << r.error;
        }
    }
    EXPECT_EQ(errors, 0) << "the api-proxy failed changes PowerDNS accepted";
    const auto last_change = Clock::now();
    std::printf("[ measure ] NATS was down for %lld ms (changes 60-139 of 200)\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(restarted_at - killed_at)
                        .count()));

    // Every secondary ends with exactly the primary's zones and serials.
    const auto want = primaryZones(fleet);
    ASSERT_EQ(want.size(), 10u + 50u + 1u);  // stable, created, the canary
    std::string why;
    EXPECT_TRUE(
        waitUntil([&] { return secondariesMatch(fleet, want, universe, &why); }, 90s, 250ms))
        << why;
    std::printf(
        "[ measure ] after the burst with a NATS restart, every secondary matched the "
        "primary %lld ms after the last change\n",
        msSince(last_change));
    EXPECT_EQ(deleted, 50u);
    EXPECT_TRUE(fleet.stopDaemons());
}

TEST(Faults, ThreeNodeNatsClusterLosesANodeMidBurst_NothingLost) {
    NatsCluster cluster(3);
    cluster.start();
    FleetOptions o = faultOptions();
    o.nats_urls = cluster.urls();
    o.stream_replicas = 3;
    Fleet fleet(o);
    fleet.start();
    std::set<std::string> universe;
    std::vector<std::string> stable;
    for (int i = 0; i < 10; ++i) {
        const auto zone = fmt::format("c{}.cluster.test.", i);
        ASSERT_EQ(fleet.createZone(zone).status, 201);
        stable.push_back(zone);
        universe.insert(zone);
    }
    for (const auto& z : stable) ASSERT_TRUE(fleet.waitLikePrimary(z)) << z;

    int errors = 0;
    Clock::time_point killed_at;
    for (int i = 0; i < 100; ++i) {
        if (i == 40) {
            cluster.kill(1);
            killed_at = Clock::now();
        }
        HttpResult r;
        if (i % 2 == 0) {
            const auto zone = fmt::format("n{}.cluster.test.", i);
            universe.insert(zone);
            r = fleet.createZone(zone);
        } else {
            const auto& zone = stable[static_cast<size_t>(i) % stable.size()];
            r = fleet.setA(zone, "www." + zone, {fmt::format("192.0.2.{}", i + 1)});
        }
        if (r.status < 200 || r.status >= 300) {
            ++errors;
            ADD_FAILURE() << "change " << i << " answered " << r.status << " " << r.body << r.error;
        }
    }
    EXPECT_EQ(errors, 0);
    const auto last_change = Clock::now();
    const auto want = primaryZones(fleet);
    ASSERT_EQ(want.size(), 10u + 50u + 1u);
    std::string why;
    EXPECT_TRUE(
        waitUntil([&] { return secondariesMatch(fleet, want, universe, &why); }, 90s, 250ms))
        << why;
    std::printf(
        "[ measure ] 3-node NATS, one node killed at change 40 of 100: every secondary "
        "matched the primary %lld ms after the last change (%lld ms after the kill)\n",
        msSince(last_change), msSince(killed_at));
    EXPECT_TRUE(fleet.stopDaemons());
}

}  // namespace
}  // namespace pdns_distribute::e2e

namespace pdns_distribute::e2e {
namespace {

TEST(Topology, SecondaryReachableOnlyOverIpv6_SyncsLikeTheOthers) {
    FleetOptions o = faultOptions();
    o.ipv6_secondaries = {1};
    Fleet fleet(o);
    fleet.start();
    auto& v6 = *fleet.secondaries[1];
    ASSERT_EQ(v6.dnsHost(), "::1");
    // Its pdns really is IPv6-only: nothing answers on 127.0.0.1 at its port.
    common::LdnsDnsClient v4probe(
        common::DnsEndpoint{.address = "127.0.0.1", .port = static_cast<uint16_t>(v6.dnsPort())},
        500ms);
    EXPECT_FALSE(v4probe.soaSerial("canary.pdd.test."));

    const std::string zone = "six.pdd.test.";
    ASSERT_EQ(
        fleet
            .createZone(
                zone,
                json::array({{{"name", "www." + zone},
                              {"type", "AAAA"},
                              {"ttl", 300},
                              {"records", {{{"content", "2001:db8::6"}, {"disabled", false}}}}}}))
            .status,
        201);
    EXPECT_TRUE(fleet.waitLikePrimary(zone));
    ASSERT_EQ(fleet.setA(zone, "v4." + zone, {"192.0.2.6"}).status, 204);
    EXPECT_TRUE(fleet.waitLikePrimary(zone));
    EXPECT_EQ(fleet.axfr(v6, zone), fleet.axfr(fleet.primary, zone));
    ASSERT_EQ(fleet.deleteZone(zone).status, 204);
    EXPECT_TRUE(fleet.waitGone(zone));
    // The IPv6-only node reports like the others.
    EXPECT_TRUE(waitUntil(
        [&] {
            auto s = fleet.checkerStatus();
            if (!s.is_object()) return false;
            for (const auto& n : s["nodes"]) {
                if (n["node"] == "sec2" && n["state"] == "active" && n["in_sync"].get<bool>())
                    return true;
            }
            return false;
        },
        15s, 100ms));
    EXPECT_TRUE(fleet.stopDaemons());
}

}  // namespace
}  // namespace pdns_distribute::e2e
