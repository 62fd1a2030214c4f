// SPDX-License-Identifier: Apache-2.0
// HttpPdnsApi against a real pdns_server 4.7 (sqlite3 backend).
#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/pdns_api.hpp>

#include "harness.hpp"

namespace pdns_distribute::e2e {
namespace {

using common::HttpPdnsApi;
using common::PdnsApiSettings;
using common::SecondaryZoneSpec;
using nlohmann::json;

class PdnsApiE2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        pdns_ = new PdnsServer(PdnsOptions{.role = PdnsRole::Primary,
                                           .listen_ipv6 = false,
                                           .extra_settings = {"secondary=yes"},
                                           .name = "pdns"});
        pdns_->start();
    }
    static void TearDownTestSuite() {
        delete pdns_;
        pdns_ = nullptr;
    }
    void TearDown() override { dumpLogsIfFailed(); }

    static PdnsApiSettings settings(const std::string& server_id = "localhost") {
        PdnsApiSettings s;
        s.url = pdns_->apiUrl();
        s.server_id = server_id;
        s.api_key_file = pdns_->apiKeyFile();
        s.timeout = std::chrono::milliseconds{5000};
        return s;
    }

    /// A raw API call, bypassing the code under test.
    static httplib::Result raw(const std::string& method, const std::string& path,
                               const std::string& body = {}) {
        httplib::Client c(pdns_->apiUrl());
        httplib::Request req;
        req.method = method;
        req.path = "/api/v1/servers/localhost" + path;
        req.set_header("X-API-Key", pdns_->apiKey());
        if (!body.empty()) {
            req.body = body;
            req.set_header("Content-Type", "application/json");
        }
        return c.send(req);
    }

    static void createNative(const std::string& name) {
        auto r =
            raw("POST", "/zones",
                json{{"name", name}, {"kind", "Native"}, {"nameservers", {"ns1.example."}}}.dump());
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 201) << r->body;
    }

    static PdnsServer* pdns_;
};

PdnsServer* PdnsApiE2e::pdns_ = nullptr;

TEST_F(PdnsApiE2e, ServerInfo_Authoritative) {
    HttpPdnsApi api(settings());
    auto info = api.serverInfo();
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->id, "localhost");
    EXPECT_EQ(info->daemon_type, "authoritative");
    EXPECT_FALSE(info->version.empty());
}

TEST_F(PdnsApiE2e, SecondaryZone_CreateGetUpdateDelete) {
    // The TSIG key the zone refers to must exist.
    auto key =
        raw("POST", "/tsigkeys", json{{"name", "xfr1"}, {"algorithm", "hmac-sha256"}}.dump());
    ASSERT_TRUE(key);
    ASSERT_EQ(key->status, 201) << key->body;

    HttpPdnsApi api(settings());
    const SecondaryZoneSpec spec{.name = "_tcp.sec.example.",
                                 .masters = {"127.0.0.1:5300"},
                                 .account = "pdns-distribute",
                                 .tsig_master_key_ids = {"xfr1."}};
    auto created = api.createSecondaryZone(spec);
    ASSERT_TRUE(created) << created.error().message;

    auto z = api.getZone(spec.name);
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->id, "=5Ftcp.sec.example.");
    EXPECT_EQ(z->name, "_tcp.sec.example.");
    EXPECT_EQ(z->kind, "Slave");
    EXPECT_EQ(z->account, "pdns-distribute");
    EXPECT_EQ(z->masters, std::vector<std::string>{"127.0.0.1:5300"});
    EXPECT_EQ(z->soa_edit, "NONE");
    EXPECT_EQ(z->tsig_master_key_ids, std::vector<std::string>{"xfr1."});

    // The key ids land in AXFR-MASTER-TSIG, the metadata a secondary signs its requests with.
    auto meta = raw("GET", "/zones/=5Ftcp.sec.example./metadata/AXFR-MASTER-TSIG");
    ASSERT_TRUE(meta);
    ASSERT_EQ(meta->status, 200) << meta->body;
    EXPECT_EQ(json::parse(meta->body).at("metadata"), json::array({"xfr1."}));

    auto again = api.createSecondaryZone(spec);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "http-409");

    SecondaryZoneSpec changed = spec;
    changed.masters = {"127.0.0.1:5301"};
    changed.tsig_master_key_ids = {};
    auto updated = api.updateSecondaryZone(changed);
    ASSERT_TRUE(updated) << updated.error().message;
    z = api.getZone(spec.name);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->masters, std::vector<std::string>{"127.0.0.1:5301"});
    EXPECT_TRUE(z->tsig_master_key_ids.empty());

    auto retrieve = api.axfrRetrieve(spec.name);
    EXPECT_TRUE(retrieve) << retrieve.error().message;
    auto flush = api.flushCache(spec.name);
    EXPECT_TRUE(flush) << flush.error().message;

    auto deleted = api.deleteZone(spec.name);
    ASSERT_TRUE(deleted) << deleted.error().message;
    auto deleted_again = api.deleteZone(spec.name);
    EXPECT_TRUE(deleted_again) << deleted_again.error().message;

    auto gone = api.getZone(spec.name);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, "not-found");
}

TEST_F(PdnsApiE2e, TsigKey_CreateGetConflictNotFound) {
    HttpPdnsApi api(settings());
    auto missing = api.getTsigKey("pdns-distribute-e2e_1.");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, "not-found");

    auto created = api.createTsigKey("pdns-distribute-e2e_1.", "hmac-sha256");
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_EQ(created->id, "pdns-distribute-e2e=5F1.");
    EXPECT_EQ(created->algorithm, "hmac-sha256");
    EXPECT_FALSE(created->secret.empty());  // pdns generated one

    auto got = api.getTsigKey("pdns-distribute-e2e_1.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->id, created->id);
    EXPECT_EQ(got->secret, created->secret);

    auto again = api.createTsigKey("pdns-distribute-e2e_1.", "hmac-sha256");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "http-409");
    EXPECT_EQ(again.error().message.find(created->secret), std::string::npos);

    // The id is what a zone's slave_tsig_key_ids names.
    const SecondaryZoneSpec spec{.name = "tsig.sec.example.",
                                 .masters = {"127.0.0.1:5300"},
                                 .account = "pdns-distribute",
                                 .tsig_master_key_ids = {created->id}};
    ASSERT_TRUE(api.createSecondaryZone(spec));
    auto z = api.getZone(spec.name);
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->tsig_master_key_ids, std::vector<std::string>{created->id});
    ASSERT_TRUE(api.deleteZone(spec.name));
}

TEST_F(PdnsApiE2e, ListZones_FilterAndEditedSerial) {
    createNative("0/26.2.0.192.in-addr.arpa.");
    createNative("list.example.");
    HttpPdnsApi api(settings());

    auto all = api.listZones(std::nullopt, false);
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_GE(all->size(), 2U);

    auto one = api.listZones(std::string{"0/26.2.0.192.in-addr.arpa."}, true);
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_EQ(one->size(), 1U);
    EXPECT_EQ(one->front().name, "0/26.2.0.192.in-addr.arpa.");
    EXPECT_EQ(one->front().id, "0=2F26.2.0.192.in-addr.arpa.");
    EXPECT_EQ(one->front().kind, "Native");
    ASSERT_TRUE(one->front().edited_serial);
    EXPECT_GT(*one->front().edited_serial, 0U);

    auto plain = api.listZones(std::string{"list.example."}, false);
    ASSERT_TRUE(plain);
    ASSERT_EQ(plain->size(), 1U);
    EXPECT_FALSE(plain->front().edited_serial);  // only with dnssec=true

    auto none = api.listZones(std::string{"absent.example."}, true);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    auto z = api.getZone("0/26.2.0.192.in-addr.arpa.");
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->kind, "Native");
}

// The syncer's looks (ApexQueries::PastPacketCache) neither read nor fill pdns's packet cache,
// so a look made before a transfer commits leaves no answer there for the clients; the same
// looks asked plainly go through the cache (the test's control: the cache is on).
TEST_F(PdnsApiE2e, ApexPastPacketCache_LeavesThePacketCacheAlone) {
    createNative("cachebypass.example.");
    const auto packet_cache_lookups = [] {
        const auto r = raw("GET", "/statistics");
        EXPECT_TRUE(r && r->status == 200);
        long total = 0;
        for (const auto& s : json::parse(r ? r->body : "[]")) {
            const auto name = s.value("name", "");
            if (name == "packetcache-hit" || name == "packetcache-miss") {
                total += std::stol(s.value("value", "0"));
            }
        }
        return total;
    };
    const common::DnsEndpoint dns{.address = "127.0.0.1",
                                  .port = static_cast<uint16_t>(pdns_->dnsPort())};
    common::LdnsDnsClient past(dns, std::chrono::milliseconds{2000},
                               common::ApexQueries::PastPacketCache);
    common::LdnsDnsClient plain(dns, std::chrono::milliseconds{2000});

    const long before = packet_cache_lookups();
    for (int i = 0; i < 3; ++i) {
        const auto look = past.apex("cachebypass.example.");
        ASSERT_TRUE(look) << look.error().message;
    }
    EXPECT_EQ(packet_cache_lookups(), before);
    for (int i = 0; i < 3; ++i) {
        const auto look = plain.apex("cachebypass.example.");
        ASSERT_TRUE(look) << look.error().message;
    }
    EXPECT_GE(packet_cache_lookups(), before + 6);  // SOA and DNSKEY, three times
}

TEST_F(PdnsApiE2e, Errors_CodesAndPdnsText) {
    HttpPdnsApi api(settings());
    auto missing = api.axfrRetrieve("nonexistent.example.");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, "not-found");

    auto bad = api.createSecondaryZone(SecondaryZoneSpec{
        .name = "bad..name.", .masters = {}, .account = {}, .tsig_master_key_ids = {}});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "http-422");
    EXPECT_NE(bad.error().message.find("Unable to parse DNS Name"), std::string::npos)
        << bad.error().message;
}

TEST_F(PdnsApiE2e, WrongServerId_NotFound) {
    HttpPdnsApi api(settings("no-such-server"));
    auto info = api.serverInfo();
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code, "not-found");
    auto list = api.listZones(std::nullopt, true);
    ASSERT_FALSE(list);
    EXPECT_EQ(list.error().code, "not-found");
}

TEST_F(PdnsApiE2e, Unreachable_Network) {
    auto s = settings();
    s.url = "http://127.0.0.1:" + std::to_string(freeTcpPort());
    HttpPdnsApi api(s);
    auto info = api.serverInfo();
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code, "network");
}

}  // namespace
}  // namespace pdns_distribute::e2e
