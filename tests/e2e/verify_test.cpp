// SPDX-License-Identifier: Apache-2.0
// Self-healing, verify part: secondaries report what they serve (heartbeat digests, bucket
// state); the health-checker finds what differs from the primary, shows it on its status page
// while it lasts, and has the node resync it. Also: a secondary whose pdns_server was down heals
// by itself, and of two health-checkers only one acts.

#include <algorithm>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kCheckWait = std::chrono::milliseconds{2000};

long long msSince(Clock::time_point t0) {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

FleetOptions verifyOptions() {
    FleetOptions o;
    o.secondaries = 2;
    o.reconcile_interval = std::chrono::milliseconds{2000};
    o.event_check_wait = kCheckWait;
    o.heartbeat = std::chrono::milliseconds{500};
    o.scan_interval = std::chrono::milliseconds{500};
    o.leader_ttl = std::chrono::milliseconds{3000};
    return o;
}

/// True when the status lists a divergence of `zone` on `node`.
bool showsDivergence(const json& status, const std::string& node, const std::string& zone) {
    if (!status.is_object() || !status.contains("divergences")) return false;
    for (const auto& d : status["divergences"]) {
        if (d.value("node", "") == node && d.value("zone", "") == zone) return true;
    }
    return false;
}

/// A counter's value in a Prometheus text page (sum over label sets matching `labels`).
double metricValue(const std::string& page, const std::string& name, const std::string& labels) {
    double total = 0;
    size_t pos = 0;
    while ((pos = page.find(name, pos)) != std::string::npos) {
        const size_t eol = page.find('\n', pos);
        const bool line_start = pos == 0 || page[pos - 1] == '\n';
        const auto line = page.substr(pos, eol - pos);
        pos = eol;
        if (!line_start) continue;  // e.g. the name in a # HELP line
        if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
        if (!labels.empty() && line.find(labels) == std::string::npos) continue;
        total += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return total;
}

class VerifyTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        fleet_ = new Fleet(verifyOptions());
        fleet_->start();
    }
    static void TearDownTestSuite() {
        const bool clean = fleet_->stopDaemons();
        delete fleet_;
        fleet_ = nullptr;
        EXPECT_TRUE(clean) << "a daemon did not exit 0 on SIGTERM";
    }
    Fleet& f() { return *fleet_; }

    // Waits until the zone is quiet: the health-checker has published its reconcile event for
    // it (the stream's event carries the apex) and every node reports being in sync, so no
    // apply of this zone is still under way when a test tampers with a secondary.
    bool settled(const std::string& zone) {
        auto bus = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::HealthChecker));
        const auto subject = common::zoneEventSubject("default", zone);
        const bool published = waitUntil(
            [&] {
                auto m = bus->lastMessage("PDNS_ZONES", subject);
                if (!m || !m->has_value()) return false;
                auto e = common::parseZoneEvent((*m)->message.data);
                return e && e->apex.has_value();
            },
            15s, 50ms);
        bus->close();
        return published && waitUntil(
                                [&] {
                                    auto s = f().checkerStatus();
                                    if (!s.is_object() || s["nodes"].size() != 2) return false;
                                    for (const auto& n : s["nodes"]) {
                                        if (!n["in_sync"].get<bool>()) return false;
                                    }
                                    return true;
                                },
                                15s, 50ms);
    }
    static inline Fleet* fleet_ = nullptr;

    // An operator's call on a secondary's own API. sqlite answers "database is locked" (500)
    // while the secondary's pdns writes a transfer, so it is retried like an operator would.
    httplib::Result secondaryApi(size_t i, const std::string& method, const std::string& path,
                                 const std::string& body = {}) {
        httplib::Client c(f().secondaries[i]->apiUrl());
        const httplib::Headers h{{"X-API-Key", f().secondaries[i]->apiKey()}};
        for (int attempt = 0;; ++attempt) {
            auto r = method == "DELETE"  ? c.Delete(path, h)
                     : method == "PATCH" ? c.Patch(path, h, body, "application/json")
                                         : c.Get(path, h);
            if (!r || r->status < 500 || attempt == 20) return r;
            std::this_thread::sleep_for(100ms);
        }
    }
};

TEST_F(VerifyTest, StatusShowsEveryNodeInSync) {
    const std::string zone = "insync.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    json status;
    EXPECT_TRUE(waitUntil(
        [&] {
            status = f().checkerStatus();
            if (!status.is_object() || status["nodes"].size() != 2) return false;
            for (const auto& n : status["nodes"]) {
                if (n["state"] != "active" || !n["in_sync"].get<bool>()) return false;
            }
            return status["divergences"].empty();
        },
        15s, 100ms))
        << status.dump(2);
    EXPECT_TRUE(status["checker"]["leader"].get<bool>());
    EXPECT_GE(status["zones"].get<int>(), 2);  // the canary and this zone at least
    // The HTML page names the nodes.
    auto page = f().checkerHttp("GET", "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("sec1"), std::string::npos);
    EXPECT_NE(page.body.find("sec2"), std::string::npos);

    // The operator CLI prints the same, and asks for a resync through the checker.
    const auto checker = "http://127.0.0.1:" + std::to_string(f().checkerHttpPort());
    auto text = runCommand({daemonBinary("pdns-distribute"), "status", "--checker", checker});
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("sec1"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("all nodes in sync"), std::string::npos) << text.out;
    auto as_json =
        runCommand({daemonBinary("pdns-distribute"), "status", "--json", "--checker", checker});
    EXPECT_EQ(as_json.exit_code, 0) << as_json.err;
    EXPECT_EQ(json::parse(as_json.out, nullptr, false)["nodes"].size(), 2U) << as_json.out;
    auto resync = runCommand(
        {daemonBinary("pdns-distribute"), "resync", zone, "--node", "sec2", "--checker", checker});
    EXPECT_EQ(resync.exit_code, 0) << resync.err << resync.out;
    EXPECT_NE(resync.out.find("sec2"), std::string::npos) << resync.out;
    auto all = runCommand({daemonBinary("pdns-distribute"), "resync", zone, "--checker", checker});
    EXPECT_EQ(all.exit_code, 0) << all.err << all.out;
    EXPECT_NE(all.out.find("sec1"), std::string::npos) << all.out;
    auto unknown = runCommand(
        {daemonBinary("pdns-distribute"), "resync", zone, "--node", "nope", "--checker", checker});
    EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
    EXPECT_TRUE(f().waitLikePrimary(zone));
}

TEST_F(VerifyTest, ZoneDeletedByHandOnASecondary_ShownThenRestored) {
    const std::string zone = "lost.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    ASSERT_TRUE(settled(zone));
    const auto state_bytes = [&] {
        return metricValue(f().checkerHttp("GET", "/metrics", 0).body,
                           "pdns_distribute_health_checker_state_bytes_total", "");
    };
    const double bytes_before = state_bytes();
    auto r = secondaryApi(0, "DELETE", "/api/v1/servers/localhost/zones/" + zone);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204);
    const auto t0 = Clock::now();
    bool shown = false;
    bool on_page = false;
    EXPECT_TRUE(waitUntil(
        [&] {
            if (!shown && showsDivergence(f().checkerStatus(), "sec1", zone)) {
                shown = true;
                const auto page = f().checkerHttp("GET", "/");
                on_page = page.body.find(zone) != std::string::npos;
            }
            return shown && f().serial(*f().secondaries[0], zone) == f().serial(f().primary, zone);
        },
        30s, 20ms));
    EXPECT_TRUE(shown) << "the status never showed the missing zone";
    EXPECT_TRUE(on_page) << "the HTML status page did not name the zone";
    std::printf("[ measure ] zone deleted by hand on a secondary restored in %lld ms\n",
                msSince(t0));
    // Finding one differing zone reads the 64 group digests and one group's 64 buckets (about
    // 4.5 KiB per look), not all 4,096 buckets (128 KiB per look).
    const double bytes = state_bytes() - bytes_before;
    std::printf("[ measure ] state replies while finding and healing it: %.0f bytes\n", bytes);
    EXPECT_LT(bytes, 96.0 * 1024);
    // And the divergence clears.
    EXPECT_TRUE(
        waitUntil([&] { return !showsDivergence(f().checkerStatus(), "sec1", zone); }, 10s, 100ms));
}

TEST_F(VerifyTest, RecordsEditedOnASecondary_AreRestored) {
    const std::string zone = "edited.pdd.test.";
    ASSERT_EQ(f().createZone(
                     zone, json::array(
                               {{{"name", "www." + zone},
                                 {"type", "A"},
                                 {"ttl", 300},
                                 {"records", {{{"content", "192.0.2.1"}, {"disabled", false}}}}}}))
                  .status,
              201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    ASSERT_TRUE(settled(zone));
    const auto want = f().axfr(f().primary, zone);
    ASSERT_TRUE(want);
    // An operator edits the secondary's copy through its own API (pdns bumps the serial there
    // as SOA-EDIT-API says).
    json patch = {{"rrsets",
                   {{{"name", "www." + zone},
                     {"type", "A"},
                     {"ttl", 300},
                     {"changetype", "REPLACE"},
                     {"records", {{{"content", "198.51.100.66"}, {"disabled", false}}}}}}}};
    auto r = secondaryApi(1, "PATCH", "/api/v1/servers/localhost/zones/" + zone, patch.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
    const auto t0 = Clock::now();
    ASSERT_TRUE(waitUntil([&] { return f().axfr(*f().secondaries[1], zone) != want; }, 5s))
        << "the edit did not show on the secondary";
    bool shown = false;
    EXPECT_TRUE(waitUntil(
        [&] {
            shown = shown || showsDivergence(f().checkerStatus(), "sec2", zone);
            return shown && f().axfr(*f().secondaries[1], zone) == want;
        },
        30s, 20ms));
    EXPECT_TRUE(shown) << "the status never showed the edited zone";
    std::printf("[ measure ] records edited on a secondary restored in %lld ms\n", msSince(t0));
}

TEST_F(VerifyTest, SecondaryPdnsStoppedWithChangesInBetween_HealsWhenItComesBack) {
    const std::string kept = "kept.pdd.test.";
    const std::string doomed = "doomed.pdd.test.";
    const std::string born = "born.pdd.test.";
    ASSERT_EQ(f().createZone(kept).status, 201);
    ASSERT_EQ(f().createZone(doomed).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(kept));
    ASSERT_TRUE(f().waitLikePrimary(doomed));

    auto& down = *f().secondaries[1];
    down.stop();
    ASSERT_EQ(f().setA(kept, "www." + kept, {"192.0.2.9"}).status, 204);
    ASSERT_EQ(f().createZone(born).status, 201);
    ASSERT_EQ(f().deleteZone(doomed).status, 204);
    // The other secondary is unaffected.
    ASSERT_TRUE(waitUntil(
        [&] {
            return f().serial(*f().secondaries[0], kept) == f().serial(f().primary, kept) &&
                   f().serial(*f().secondaries[0], born).has_value() &&
                   !f().serial(*f().secondaries[0], doomed).has_value();
        },
        20s));
    std::this_thread::sleep_for(kCheckWait * 2);  // long enough for resyncs to fail and park
    down.start();
    const auto t0 = Clock::now();
    EXPECT_TRUE(waitUntil(
        [&] {
            return f().serial(down, kept) == f().serial(f().primary, kept) &&
                   f().serial(down, born) == f().serial(f().primary, born) &&
                   !f().serial(down, doomed).has_value();
        },
        60s, 20ms));
    std::printf("[ measure ] secondary pdns back after a stop: healed %lld ms after it started\n",
                msSince(t0));
}

// Last in the suite: it kills the first health-checker.
TEST_F(VerifyTest, TwoHealthCheckers_OnlyOneActs_KillingItHandsOver) {
    f().startSecondChecker();
    json a;
    json b;
    ASSERT_TRUE(waitUntil(
        [&] {
            a = f().checkerStatus(0);
            b = f().checkerStatus(1);
            return a.is_object() && b.is_object() && a["checker"]["leader"].get<bool>() &&
                   !b["checker"]["leader"].get<bool>() &&
                   b["checker"]["leader_instance"] == a["checker"]["instance"];
        },
        15s, 100ms))
        << a.dump() << "\n"
        << b.dump();

    // A change that bypasses the proxy: only the leader publishes the reconcile event.
    const std::string zone = "twochecker.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto before = f().serial(f().primary, zone);
    ASSERT_EQ(f().setAOnPrimary(zone, "www." + zone, {"192.0.2.77"}).status, 204);
    ASSERT_TRUE(waitUntil([&] { return f().serial(f().primary, zone) != before; }, 5s));
    EXPECT_TRUE(f().waitLikePrimary(zone, 20s));
    const auto metric = "pdns_distribute_health_checker_reconcile_published_total";
    EXPECT_GE(metricValue(f().checkerHttp("GET", "/metrics", 0).body, metric, ""), 1.0);
    EXPECT_EQ(metricValue(f().checkerHttp("GET", "/metrics", 1).body, metric, ""), 0.0);

    // The leader dies without releasing its lock: the standby takes over when it expires.
    f().checker.kill(SIGKILL);
    const auto t0 = Clock::now();
    EXPECT_TRUE(waitUntil(
        [&] {
            b = f().checkerStatus(1);
            return b.is_object() && b["checker"]["leader"].get<bool>();
        },
        30s, 50ms));
    std::printf("[ measure ] standby health-checker leads %lld ms after the leader was killed\n",
                msSince(t0));
    const auto before2 = f().serial(f().primary, zone);
    ASSERT_EQ(f().setAOnPrimary(zone, "www." + zone, {"192.0.2.78"}).status, 204);
    ASSERT_TRUE(waitUntil([&] { return f().serial(f().primary, zone) != before2; }, 5s));
    EXPECT_TRUE(f().waitLikePrimary(zone, 20s));
    EXPECT_GE(metricValue(f().checkerHttp("GET", "/metrics", 1).body, metric, ""), 1.0);
}

}  // namespace
}  // namespace pdns_distribute::e2e

namespace pdns_distribute::e2e {
namespace {

// Policies of the health-checker that change what the stream holds: the NSEC3 policy, and the
// purge of old deletions (tombstones).
TEST(CheckerPolicy, Nsec3PolicyAndTombstonePurge) {
    FleetOptions o = verifyOptions();
    o.nsec3_policy = true;
    o.tombstone_age = std::chrono::milliseconds{2000};
    Fleet fleet(o);
    fleet.start();

    // A signed zone created with NSEC gets NSEC3 1 0 0 - on the primary, and every secondary
    // serves the re-chained zone although serial and apex stay the same.
    const std::string zone = "policy.pdd.test.";
    ASSERT_EQ(fleet.createZone(zone, json::array(), true).status, 201);
    ASSERT_TRUE(fleet.waitLikePrimary(zone));
    // NSEC3PARAM (type 51) with hash 1, flags 0, 0 iterations, empty salt: rdata 01 00 0000 00.
    auto hasNsec3Param = [](const std::optional<std::multiset<std::string>>& rrs) {
        if (!rrs) return false;
        return std::any_of(rrs->begin(), rrs->end(), [](const std::string& rr) {
            return rr.find(" 51 1 ") != std::string::npos && rr.ends_with(" 0100000000");
        });
    };
    const auto t0 = Clock::now();
    ASSERT_TRUE(
        waitUntil([&] { return hasNsec3Param(fleet.axfr(fleet.primary, zone)); }, 30s, 100ms))
        << "the health-checker did not set NSEC3 on the primary";
    // The secondaries serve exactly the re-chained zone (pdns's metadata cache on a secondary can
    // hold the old NSEC state for up to a minute, hence the long wait).
    EXPECT_TRUE(waitUntil(
        [&] {
            const auto want = fleet.axfr(fleet.primary, zone);
            for (auto& s : fleet.secondaries) {
                if (fleet.axfr(*s, zone) != want) return false;
            }
            return hasNsec3Param(want);
        },
        75s, 250ms));
    std::printf("[ measure ] NSEC3 policy applied and served everywhere in %lld ms\n", msSince(t0));

    // A deletion's tombstone leaves the stream once every syncer has acked it and it is old.
    const std::string gone = "tomb.pdd.test.";
    ASSERT_EQ(fleet.createZone(gone).status, 201);
    ASSERT_TRUE(fleet.waitLikePrimary(gone));
    ASSERT_EQ(fleet.deleteZone(gone).status, 204);
    ASSERT_TRUE(fleet.waitGone(gone));
    auto bus = common::NatsBus::connect(fleet.natsSettingsFor(Fleet::Role::HealthChecker));
    const auto subject = common::zoneEventSubject("default", gone);
    auto last = bus->lastMessage("PDNS_ZONES", subject);
    ASSERT_TRUE(last);
    ASSERT_TRUE(last->has_value()) << "the delete event should be in the stream at first";
    EXPECT_TRUE(waitUntil(
        [&] {
            auto m = bus->lastMessage("PDNS_ZONES", subject);
            return m && !m->has_value();
        },
        30s, 200ms))
        << "the tombstone was not purged";
    // The other zones' messages are untouched.
    auto kept = bus->lastMessage("PDNS_ZONES", common::zoneEventSubject("default", zone));
    ASSERT_TRUE(kept);
    EXPECT_TRUE(kept->has_value());
    bus->close();
    EXPECT_TRUE(fleet.stopDaemons());
}

}  // namespace
}  // namespace pdns_distribute::e2e
