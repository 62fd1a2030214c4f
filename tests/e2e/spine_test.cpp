// SPDX-License-Identifier: Apache-2.0
// The spine, end to end: zone changes made through the api-proxy reach every secondary, as DNS
// shows it, on real nats-server and pdns_server processes.

#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;

class SpineTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Only the start-up reconcile pass: these tests count stream messages.
        fleet_ = new Fleet(FleetOptions{.secondaries = 2,
                                        .canary_zone = "canary.pdd.test.",
                                        .reconcile_interval = std::chrono::hours{1}});
        fleet_->start();
    }
    static void TearDownTestSuite() {
        const bool clean = fleet_->stopDaemons();
        delete fleet_;
        fleet_ = nullptr;
        EXPECT_TRUE(clean) << "a daemon did not exit 0 on SIGTERM";
    }
    void TearDown() override {
        if (HasFailure()) dumpLogsIfFailed(80);
    }
    Fleet& f() { return *fleet_; }
    static uint64_t streamMessages() {
        httplib::Client c("127.0.0.1", fleet_->nats.monitorPort());
        auto r = c.Get("/jsz?streams=true");
        if (!r || r->status != 200) return 0;
        return json::parse(r->body).value("messages", uint64_t{0});
    }
    static inline Fleet* fleet_ = nullptr;
};

std::multiset<std::string> sortedLines(const std::string& text) {
    std::multiset<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.insert(line);
    return lines;
}

json aRecord(const std::string& name, const std::string& ip) {
    return {{"name", name},
            {"type", "A"},
            {"ttl", 300},
            {"changetype", "REPLACE"},
            {"records", {{{"content", ip}, {"disabled", false}}}}};
}

TEST_F(SpineTest, CreateChangeDelete_EverySecondaryServesWhatThePrimaryServes) {
    const std::string zone = "life.pdd.test.";
    ASSERT_EQ(f().createZone(zone, json::array({aRecord("www." + zone, "192.0.2.1")})).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone)) << "secondaries did not serve the new zone";
    const auto primary = f().axfr(f().primary, zone);
    ASSERT_TRUE(primary);
    for (auto& s : f().secondaries) EXPECT_EQ(f().axfr(*s, zone), primary);

    const auto before = f().serial(f().primary, zone);
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.2", "192.0.2.3"}).status, 204);
    ASSERT_TRUE(waitUntil([&] { return f().serial(f().primary, zone) != before; }, 5s));
    ASSERT_TRUE(f().waitLikePrimary(zone));
    for (auto& s : f().secondaries) {
        auto dig = s->dig({"www." + zone, "A", "+short"});
        EXPECT_NE(dig.out.find("192.0.2.3"), std::string::npos) << dig.out;
        EXPECT_EQ(dig.out.find("192.0.2.1"), std::string::npos) << dig.out;
    }

    ASSERT_EQ(f().deleteZone(zone).status, 204);
    EXPECT_TRUE(f().waitGone(zone)) << "secondaries still serve the deleted zone";
}

TEST_F(SpineTest, SignedZone_SecondariesServeThePrimarysSignaturesAndHoldNoKeys) {
    const std::string nsec = "signed.pdd.test.";
    const std::string nsec3 = "signed3.pdd.test.";
    ASSERT_EQ(f().createZone(nsec, json::array({aRecord("www." + nsec, "192.0.2.7")}), true).status,
              201);
    auto created = f().api("POST", "/api/v1/servers/localhost/zones",
                           json{{"name", nsec3},
                                {"kind", "Native"},
                                {"nameservers", {"ns1.pdd.test."}},
                                {"dnssec", true},
                                {"nsec3param", "1 0 0 -"},
                                {"rrsets", json::array({aRecord("www." + nsec3, "192.0.2.8")})}}
                               .dump());
    ASSERT_EQ(created.status, 201) << created.body;
    for (const auto& [zone, denial_type] :
         {std::pair{nsec, " 47 1 "}, std::pair{nsec3, " 50 1 "}}) {
        ASSERT_TRUE(f().waitLikePrimary(zone)) << zone;
        const auto primary = f().axfr(f().primary, zone);
        ASSERT_TRUE(primary);
        size_t sigs = 0;
        size_t denial = 0;
        for (const auto& rr : *primary) {
            sigs += rr.find(" 46 1 ") != std::string::npos ? 1 : 0;
            denial += rr.find(denial_type) != std::string::npos ? 1 : 0;
        }
        EXPECT_GT(sigs, 0u) << zone << ": the primary's AXFR carries no RRSIG";
        EXPECT_GT(denial, 0u) << zone << ": no NSEC/NSEC3 records";
        for (auto& s : f().secondaries) {
            EXPECT_EQ(f().axfr(*s, zone), primary) << zone;
            // dig's view, order aside: same DNSKEYs and signatures over them.
            EXPECT_EQ(sortedLines(s->dig({zone, "DNSKEY", "+dnssec", "+short"}).out),
                      sortedLines(f().primary.dig({zone, "DNSKEY", "+dnssec", "+short"}).out));
        }
    }
    for (auto& s : f().secondaries) {
        auto keys = runCommand({"sqlite3", s->databasePath(), "SELECT count(*) FROM cryptokeys;"});
        EXPECT_EQ(keys.out, "0\n") << "a secondary holds private key material";
    }
}

TEST_F(SpineTest, KeyAddedWithoutSerialChange_ReachesEverySecondary) {
    const std::string zone = "rollover.pdd.test.";
    ASSERT_EQ(f().createZone(zone, json::array(), true).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto serial_before = f().serial(f().primary, zone);
    auto added = f().api(
        "POST", "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone) + "/cryptokeys",
        json{{"keytype", "zsk"}, {"active", true}, {"algorithm", "ECDSAP256SHA256"}}.dump());
    ASSERT_EQ(added.status, 201) << added.body;
    EXPECT_EQ(f().serial(f().primary, zone), serial_before);
    auto primary_keys = f().primary.dig({zone, "DNSKEY", "+short"});
    EXPECT_TRUE(waitUntil(
        [&] {
            for (auto& s : f().secondaries) {
                if (s->dig({zone, "DNSKEY", "+short"}).out.size() != primary_keys.out.size())
                    return false;
            }
            return true;
        },
        20s));
    for (auto& s : f().secondaries) EXPECT_EQ(f().axfr(*s, zone), f().axfr(f().primary, zone));
}

TEST_F(SpineTest, LargeZone_50000Records_ArrivesComplete) {
    const std::string zone = "large.pdd.test.";
    ASSERT_EQ(
        f().primaryApi(
               "POST", "/api/v1/servers/localhost/zones",
               json{{"name", zone}, {"kind", "Native"}, {"nameservers", {"ns1.pdd.test."}}}.dump())
            .status,
        201);
    json rrsets = json::array();
    for (int i = 0; i < 50000; ++i) {
        rrsets.push_back(
            aRecord("h" + std::to_string(i) + "." + zone,
                    fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)));
    }
    auto r = f().api("PATCH", "/api/v1/servers/localhost/zones/" + zone,
                     json{{"rrsets", rrsets}}.dump());
    ASSERT_EQ(r.status, 204) << r.body << r.error;
    ASSERT_TRUE(f().waitLikePrimary(zone, 120s));
    const auto primary = f().axfr(f().primary, zone);
    ASSERT_TRUE(primary);
    EXPECT_GT(primary->size(), 50000u);
    for (auto& s : f().secondaries) EXPECT_EQ(f().axfr(*s, zone), primary);
}

TEST_F(SpineTest, OddButLegalNames_RoundTrip) {
    for (const std::string zone :
         {"_tcp.pdd.test.", "0/26.2.0.192.in-addr.arpa.", "xn--bcher-kva.pdd.test."}) {
        auto r = f().createZone(zone);
        ASSERT_EQ(r.status, 201) << zone << ": " << r.body;
        EXPECT_TRUE(f().waitLikePrimary(zone)) << zone;
        for (auto& s : f().secondaries)
            EXPECT_EQ(f().axfr(*s, zone), f().axfr(f().primary, zone)) << zone;
    }
    // Upper-case input: pdns keeps the zone under its lower-case name.
    ASSERT_EQ(f().createZone("UPPER.Pdd.Test.").status, 201);
    EXPECT_TRUE(f().waitLikePrimary("upper.pdd.test."));
    ASSERT_EQ(f().deleteZone("0/26.2.0.192.in-addr.arpa.").status, 204);
    EXPECT_TRUE(f().waitGone("0/26.2.0.192.in-addr.arpa."));
}

TEST_F(SpineTest, BadApiInput_PdnsErrorPassedThroughAndNoEvent) {
    const auto before = streamMessages();
    // The start-up reconcile published at least the canary: a zero would mean the count is not
    // being read at all, and the comparison below would prove nothing.
    ASSERT_GT(before, 0u);
    auto malformed = f().api("POST", "/api/v1/servers/localhost/zones", "{not json");
    EXPECT_GE(malformed.status, 400);
    EXPECT_LT(malformed.status, 500);
    auto direct = f().primaryApi("POST", "/api/v1/servers/localhost/zones", "{not json");
    EXPECT_EQ(malformed.status, direct.status);
    EXPECT_EQ(malformed.body, direct.body);
    auto unknown = f().setA("nonexistent.pdd.test.", "www.nonexistent.pdd.test.", {"192.0.2.1"});
    EXPECT_GE(unknown.status, 400);
    EXPECT_EQ(streamMessages(), before);
}

TEST_F(SpineTest, SecondSyncerWithSameNodeId_RefusesToStart) {
    ChildProcess dup;
    const auto config = f().dir.writeFile(
        "dup.toml", f().syncerConfig(0, "sec1", freeTcpPort(), freeDnsPort(), "other-host"));
    dup.start({daemonBinary("pdns-secondary-syncer"), "--config", config}, {},
              f().dir.file("dup.log"), "dup-syncer");
    auto status = dup.waitExit(30s);
    ASSERT_TRUE(status) << "a second syncer with node id sec1 kept running";
    EXPECT_NE(*status, 0);
    EXPECT_NE(dup.logTail(20).find("already in use"), std::string::npos) << dup.logTail(20);
}

TEST_F(SpineTest, SyncerStopped_CatchesUpFromTheStreamAlone) {
    ASSERT_EQ(f().stopSyncer(1), 0);
    std::vector<std::string> zones;
    zones.reserve(20);
    for (int i = 0; i < 20; ++i) zones.push_back(fmt::format("offline{}.pdd.test.", i));
    for (const auto& z : zones) ASSERT_EQ(f().createZone(z).status, 201);
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(f().setA(zones[i], "www." + zones[i], {"192.0.2.9"}).status, 204);
    for (int i = 10; i < 15; ++i) ASSERT_EQ(f().deleteZone(zones[i]).status, 204);
    f().startSyncer(1);
    for (int i = 0; i < 20; ++i) {
        if (i >= 10 && i < 15) {
            EXPECT_TRUE(f().waitGone(zones[i], 30s)) << zones[i];
        } else {
            EXPECT_TRUE(f().waitLikePrimary(zones[i], 30s)) << zones[i];
        }
    }
}

TEST_F(SpineTest, FailingZone_DoesNotStallOtherChanges) {
    // pdns 4.7 refuses to transfer NSEC3-narrow zones, so this zone can never be fetched.
    const std::string bad = "narrow.pdd.test.";
    auto created = f().api("POST", "/api/v1/servers/localhost/zones",
                           json{{"name", bad},
                                {"kind", "Native"},
                                {"nameservers", {"ns1.pdd.test."}},
                                {"dnssec", true},
                                {"nsec3param", "1 0 0 -"},
                                {"nsec3narrow", true}}
                               .dump());
    ASSERT_EQ(created.status, 201) << created.body;
    std::vector<std::string> zones;
    for (int i = 0; i < 20; ++i) {
        zones.push_back(fmt::format("busy{}.pdd.test.", i));
        ASSERT_EQ(f().createZone(zones.back()).status, 201);
    }
    for (const auto& z : zones) EXPECT_TRUE(f().waitLikePrimary(z, 20s)) << z;
    for (size_t i = 0; i < f().secondaries.size(); ++i) {
        EXPECT_TRUE(waitUntil(
            [&] { return f().syncerHttp(i, "/health").body.find(bad) != std::string::npos; }, 10s))
            << f().syncerHttp(i, "/health").body;
        EXPECT_FALSE(f().serial(*f().secondaries[i], bad));
    }
}

TEST_F(SpineTest, DeleteWhileProviderMisconfigured_DeletesNothingAndSaysWhy) {
    const std::string zone = "keep.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    ASSERT_EQ(f().stopProvider(), 0);
    f().startProvider("wrong-server-id");
    ASSERT_EQ(f().deleteZone(zone).status, 204);
    bool reported = waitUntil(
        [&] {
            return f().syncerHttp(0, "/health").body.find(zone) != std::string::npos &&
                   f().syncerHttp(1, "/health").body.find(zone) != std::string::npos;
        },
        15s, 50ms);
    EXPECT_TRUE(reported) << f().syncerHttp(0, "/health").body;
    for (auto& s : f().secondaries) EXPECT_TRUE(f().serial(*s, zone)) << "deleted without proof";
    ASSERT_EQ(f().stopProvider(), 0);
    f().startProvider();
    // Once the primary's identity can be proven again the parked deletion completes.
    EXPECT_TRUE(f().waitGone(zone, 60s));
}

TEST_F(SpineTest, ForgedOrReplayedZoneData_RefusedAndNothingApplied) {
    const std::string zone = "forged.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto good_serial = f().serial(f().primary, zone);

    ASSERT_EQ(f().stopProvider(), 0);
    // A rogue zone-provider and a rogue event publisher holding the real primary-side NATS
    // credentials (the zone-provider's and the api-proxy's users), but not the signing key.
    auto bus = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::ZoneProvider));
    auto publisher = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::ApiProxy));
    auto sub = bus->subscribe("pdns.zonedata.default.>", "zone-provider");
    ASSERT_TRUE(sub);
    const auto wrong_key = common::SecretKey::generate();
    std::atomic<int> answered{0};
    std::atomic<int> mode{0};  // 0: wrong key, 1: altered after signing, 2: replayed nonce
    std::jthread rogue([&](const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto msg = (*sub)->next(200ms);
            if (!msg) continue;
            auto req = json::parse(msg->data);
            common::Manifest m;
            m.zone = req["zone"];
            m.status = common::ManifestStatus::Absent;
            m.reason = "forged";
            m.signed_at = "2026-11-26T00:00:00Z";
            auto payload = common::serializeManifest(m);
            std::string nonce = req["nonce"];
            if (mode == 2) nonce = "0123456789abcdef0123456789abcdef";
            std::array<std::byte, 64> sig{};
            if (mode == 0) {
                sig = common::signManifest(wrong_key, payload, nonce);
            } else {
                auto real = common::loadSecretKey(f().secret_key_file);
                sig = common::signManifest(*real, payload, nonce);
                if (mode == 1) payload.replace(payload.find("forged"), 6, "FORGED");
            }
            const auto key_id =
                mode == 0 ? wrong_key.publicKey().keyId()
                          : common::loadSecretKey(f().secret_key_file)->publicKey().keyId();
            (void)bus->respond(*msg, payload,
                               {{std::string(common::kSigHeader), common::toHex(sig)},
                                {std::string(common::kKeyIdHeader), key_id}});
            ++answered;
        }
    });
    for (int m = 0; m < 3; ++m) {
        mode = m;
        const int before = answered;
        ASSERT_EQ(f().primaryApi("DELETE", "/api/v1/servers/localhost/zones/" + zone).status, 204);
        // A delete event on the stream, with the real primary-side credentials.
        common::ZoneEvent e{.zone = zone,
                            .op = common::ZoneOp::Delete,
                            .serial = std::nullopt,
                            .apex = std::nullopt,
                            .cause = common::EventCause::Api,
                            .at = "2026-11-26T00:00:00Z"};
        auto ack = publisher->publish(
            common::zoneEventSubject("default", zone), common::serializeZoneEvent(e),
            common::PublishOptions{.msg_id = "forge-" + std::to_string(m)});
        ASSERT_TRUE(ack);
        EXPECT_TRUE(waitUntil([&] { return answered >= before + 2; }, 15s));
        ASSERT_EQ(f().createZone(zone).status, 201);  // restore on the primary for the next round
    }
    rogue.request_stop();
    rogue.join();
    for (auto& s : f().secondaries)
        EXPECT_EQ(f().serial(*s, zone), good_serial) << "forged data applied";
    const auto metrics = f().syncerHttp(0, "/metrics").body;
    EXPECT_NE(metrics.find("pdns_distribute_syncer_refused_total"), std::string::npos);
    f().startProvider();
}

}  // namespace
}  // namespace pdns_distribute::e2e
