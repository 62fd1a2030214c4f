// SPDX-License-Identifier: Apache-2.0
// Self-healing, first part: the health-checker's reconcile publishes changes that bypassed the
// api-proxy, and holds deletions it cannot trust until an operator approves them.

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kInterval = std::chrono::milliseconds{1000};

FleetOptions healOptions() {
    return FleetOptions{
        .secondaries = 2, .canary_zone = "canary.pdd.test.", .reconcile_interval = kInterval};
}

class HealTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        fleet_ = new Fleet(healOptions());
        fleet_->start();
    }
    static void TearDownTestSuite() {
        const bool clean = fleet_->stopDaemons();
        delete fleet_;
        fleet_ = nullptr;
        EXPECT_TRUE(clean) << "a daemon did not exit 0 on SIGTERM";
    }
    Fleet& f() { return *fleet_; }
    static inline Fleet* fleet_ = nullptr;
};

TEST_F(HealTest, ChangeOnThePrimarysOwnApi_ReachesEverySecondaryWithinAnInterval) {
    const std::string zone = "bypass.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto before = f().serial(f().primary, zone);
    ASSERT_EQ(f().setAOnPrimary(zone, "www." + zone, {"192.0.2.44"}).status, 204);
    const auto t0 = Clock::now();
    ASSERT_TRUE(waitUntil([&] { return f().serial(f().primary, zone) != before; }, 5s));
    EXPECT_TRUE(f().waitLikePrimary(zone, kInterval * 5));
    std::printf(
        "[ measure ] direct change on the primary repaired in %lld ms\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
}

TEST_F(HealTest, KeyRolloverStepWithPdnsutil_DnskeysReachEverySecondary) {
    const std::string zone = "roll.pdd.test.";
    ASSERT_EQ(f().createZone(zone, json::array(), true).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    auto r = f().primary.pdnsutil({"add-zone-key", zone, "zsk", "active", "ecdsa256"});
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    // pdns caches keys (dnssec-key-cache-ttl, 30 s by default): the primary itself serves the new
    // key only after that, and the reconcile reads what the primary serves.
    EXPECT_TRUE(waitUntil(
        [&] {
            const auto want = f().axfr(f().primary, zone);
            if (!want) return false;
            size_t keys = 0;
            for (const auto& rr : *want) keys += rr.find(" 48 1 ") != std::string::npos ? 1 : 0;
            if (keys < 2) return false;
            for (auto& s : f().secondaries) {
                if (f().axfr(*s, zone) != want) return false;
            }
            return true;
        },
        75s, 250ms));
}

TEST_F(HealTest, ZoneDeletedByHandOnASecondary_RestoredWhenItsSyncerStarts) {
    const std::string zone = "byhand.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    ASSERT_EQ(f().stopSyncer(0), 0);
    httplib::Client c(f().secondaries[0]->apiUrl());
    auto r = c.Delete("/api/v1/servers/localhost/zones/" + zone,
                      httplib::Headers{{"X-API-Key", f().secondaries[0]->apiKey()}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204);
    ASSERT_FALSE(
        waitUntil([&] { return f().serial(*f().secondaries[0], zone).has_value(); }, 500ms));
    const auto t0 = Clock::now();
    f().startSyncer(0);
    EXPECT_TRUE(f().waitLikePrimary(zone, 20s));
    std::printf(
        "[ measure ] zone deleted by hand restored %lld ms after the syncer started\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
}

// A separate fleet: this one loses its primary's database.
TEST(HealEmptyPrimary, PrimaryRestartedEmpty_NothingDeletedUntilApproved) {
    Fleet fleet(healOptions());
    fleet.start();
    std::vector<std::string> zones{"keep1.pdd.test.", "keep2.pdd.test.", "keep3.pdd.test."};
    for (const auto& z : zones) ASSERT_EQ(fleet.createZone(z).status, 201);
    for (const auto& z : zones) ASSERT_TRUE(fleet.waitLikePrimary(z)) << z;

    fleet.primary.stop();  // pdns_server ends on the signal itself (status 143)
    auto wiped = runCommand({"sqlite3", fleet.primary.databasePath(),
                             "DELETE FROM records; DELETE FROM domainmetadata; "
                             "DELETE FROM cryptokeys; DELETE FROM domains;"});
    ASSERT_EQ(wiped.exit_code, 0) << wiped.err;
    fleet.primary.start();

    // Several reconcile passes later, nothing is gone anywhere and the checker says why.
    EXPECT_TRUE(waitUntil(
        [&] {
            auto d = fleet.checkerHttp("GET", "/deletions");
            return d.status == 200 && json::parse(d.body)["held"].size() >= zones.size();
        },
        kInterval * 10));
    std::this_thread::sleep_for(kInterval * 3);
    for (const auto& z : zones) {
        for (auto& s : fleet.secondaries) EXPECT_TRUE(fleet.serial(*s, z)) << z << " was deleted";
    }
    auto health = fleet.checkerHttp("GET", "/health");
    EXPECT_EQ(health.status, 503);
    EXPECT_NE(health.body.find("keep1.pdd.test."), std::string::npos) << health.body;

    // The operator restores the canary (the provider signs absence only for a verified primary)
    // and approves: the held deletions are applied.
    ASSERT_EQ(fleet
                  .primaryApi("POST", "/api/v1/servers/localhost/zones",
                              json{{"name", "canary.pdd.test."},
                                   {"kind", "Native"},
                                   {"nameservers", {"ns1.canary.pdd.test."}}}
                                  .dump())
                  .status,
              201);
    auto approve = runCommand({daemonBinary("pdns-distribute"), "deletions", "approve", "--checker",
                               "http://127.0.0.1:" + std::to_string(fleet.checkerHttpPort())});
    EXPECT_EQ(approve.exit_code, 0) << approve.err << approve.out;
    for (const auto& z : zones) EXPECT_TRUE(fleet.waitGone(z, 30s)) << z;
    EXPECT_TRUE(fleet.stopDaemons());
}

}  // namespace
}  // namespace pdns_distribute::e2e
