// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/pdns_api.hpp>

namespace pdns_distribute::common {
namespace {

using nlohmann::json;

// Verbatim shapes from pdns 4.7.3 (Debian 12).
constexpr const char* kGetZoneSlave = R"({"account": "pdns-distribute", "api_rectify": false,
  "catalog": "", "dnssec": false, "edited_serial": 0, "id": "sec.example.", "kind": "Slave",
  "last_check": 0, "master_tsig_key_ids": [], "masters": ["127.0.0.1:5300"],
  "name": "sec.example.", "notified_serial": 0, "nsec3narrow": false, "nsec3param": "",
  "serial": 0, "slave_tsig_key_ids": ["k1."], "soa_edit": "NONE", "soa_edit_api": "DEFAULT",
  "url": "/api/v1/servers/localhost/zones/sec.example."})";

constexpr const char* kListDnssecTrue = R"([{"account": "", "catalog": "", "dnssec": true,
  "edited_serial": 2026112602, "id": "0=2F26.2.0.192.in-addr.arpa.", "kind": "Native",
  "last_check": 0, "masters": [], "name": "0/26.2.0.192.in-addr.arpa.", "notified_serial": 0,
  "serial": 2026112601,
  "url": "/api/v1/servers/localhost/zones/0=2F26.2.0.192.in-addr.arpa."}])";

constexpr const char* kListDnssecFalse = R"([{"account": "pdns-distribute", "catalog": "",
  "id": "sec.example.", "kind": "Slave", "last_check": 0, "masters": ["127.0.0.1:5300"],
  "name": "sec.example.", "notified_serial": 0, "serial": 0,
  "url": "/api/v1/servers/localhost/zones/sec.example."}])";

TEST(ParsePdnsZone, GetZoneSlave_AllFields) {
    auto z = parsePdnsZone(json::parse(kGetZoneSlave));
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->id, "sec.example.");
    EXPECT_EQ(z->name, "sec.example.");
    EXPECT_EQ(z->kind, "Slave");
    EXPECT_EQ(z->account, "pdns-distribute");
    EXPECT_EQ(z->masters, std::vector<std::string>{"127.0.0.1:5300"});
    EXPECT_EQ(z->serial, 0U);
    ASSERT_TRUE(z->edited_serial);
    EXPECT_EQ(*z->edited_serial, 0U);
    EXPECT_FALSE(z->dnssec);
    EXPECT_EQ(z->soa_edit, "NONE");
    EXPECT_EQ(z->tsig_master_key_ids, std::vector<std::string>{"k1."});
}

TEST(ParsePdnsZone, ListingWithDnssec_EditedSerialDiffersFromSerial) {
    const auto list = json::parse(kListDnssecTrue);
    auto z = parsePdnsZone(list.at(0));
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->id, "0=2F26.2.0.192.in-addr.arpa.");
    EXPECT_EQ(z->name, "0/26.2.0.192.in-addr.arpa.");
    EXPECT_EQ(z->kind, "Native");
    EXPECT_EQ(z->serial, 2026112601U);
    ASSERT_TRUE(z->edited_serial);
    EXPECT_EQ(*z->edited_serial, 2026112602U);
    EXPECT_TRUE(z->dnssec);
    EXPECT_TRUE(z->masters.empty());
}

TEST(ParsePdnsZone, ListingWithoutDnssec_NoEditedSerial) {
    auto z = parsePdnsZone(json::parse(kListDnssecFalse).at(0));
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_FALSE(z->edited_serial);
    EXPECT_FALSE(z->dnssec);
    EXPECT_TRUE(z->soa_edit.empty());
    EXPECT_TRUE(z->tsig_master_key_ids.empty());
}

TEST(ParsePdnsZone, UpperCaseName_Canonicalised) {
    auto j = json::parse(kGetZoneSlave);
    j["name"] = "SEC.Example";
    auto z = parsePdnsZone(j);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->name, "sec.example.");
}

TEST(ParsePdnsZone, MaxSerial_Accepted) {
    auto j = json::parse(kGetZoneSlave);
    j["serial"] = 4294967295U;
    auto z = parsePdnsZone(j);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->serial, 4294967295U);
}

TEST(ParsePdnsZone, NullEditedSerial_Absent) {
    auto j = json::parse(kGetZoneSlave);
    j["edited_serial"] = nullptr;
    auto z = parsePdnsZone(j);
    ASSERT_TRUE(z);
    EXPECT_FALSE(z->edited_serial);
}

class ParsePdnsZoneMissing : public ::testing::TestWithParam<const char*> {};

TEST_P(ParsePdnsZoneMissing, RequiredField_Malformed) {
    auto j = json::parse(kGetZoneSlave);
    j.erase(GetParam());
    auto z = parsePdnsZone(j);
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().code, "malformed");
    EXPECT_NE(z.error().message.find(GetParam()), std::string::npos) << z.error().message;
}

INSTANTIATE_TEST_SUITE_P(Required, ParsePdnsZoneMissing, ::testing::Values("id", "name", "kind"));

struct WrongType {
    const char* field;
    json value;
};

class ParsePdnsZoneWrongType : public ::testing::TestWithParam<WrongType> {};

TEST_P(ParsePdnsZoneWrongType, Field_Malformed) {
    auto j = json::parse(kGetZoneSlave);
    j[GetParam().field] = GetParam().value;
    auto z = parsePdnsZone(j);
    ASSERT_FALSE(z) << GetParam().field;
    EXPECT_EQ(z.error().code, "malformed");
    EXPECT_NE(z.error().message.find(GetParam().field), std::string::npos) << z.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Types, ParsePdnsZoneWrongType,
    ::testing::Values(WrongType{"id", 5}, WrongType{"name", json::array()}, WrongType{"kind", true},
                      WrongType{"account", 1}, WrongType{"masters", "127.0.0.1"},
                      WrongType{"masters", json::array({1})}, WrongType{"serial", "1"},
                      WrongType{"serial", -1}, WrongType{"serial", 4294967296LL},
                      WrongType{"serial", 1.5}, WrongType{"edited_serial", "2"},
                      WrongType{"dnssec", "true"}, WrongType{"soa_edit", 0},
                      WrongType{"slave_tsig_key_ids", "k1."}));

TEST(ParsePdnsZone, BadName_Malformed) {
    auto j = json::parse(kGetZoneSlave);
    j["name"] = "a..example.";
    auto z = parsePdnsZone(j);
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().code, "malformed");
}

TEST(ParsePdnsZone, NotAnObject_Malformed) {
    auto z = parsePdnsZone(json::array());
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().code, "malformed");
}

// ---- TSIG keys ----

// Verbatim shapes from pdns 4.7.3: GET /tsigkeys/<id> and POST answer with the key, the listing
// with "key" empty.
constexpr const char* kGetTsigKey =
    R"({"algorithm": "hmac-sha256", "id": "pdns-distribute-sec=5F1.",
  "key": "Gkkx1dkA1QkD6DYgROOBHAiNe6lLhHYH4LW7XC/P3D97GD3slNoo2LgteCR0I5PLlEBG4F1hPzk+4H4K/hANXQ==",
  "name": "pdns-distribute-sec_1", "type": "TSIGKey"})";
constexpr const char* kListTsigKeys = R"([{"algorithm": "hmac-sha256",
  "id": "pdns-distribute-sec=5F1.", "key": "", "name": "pdns-distribute-sec_1",
  "type": "TSIGKey"}])";

TEST(ParsePdnsTsigKey, GetAnswer_AllFields) {
    auto k = parsePdnsTsigKey(json::parse(kGetTsigKey));
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ(k->id, "pdns-distribute-sec=5F1.");
    EXPECT_EQ(k->name, "pdns-distribute-sec_1");
    EXPECT_EQ(k->algorithm, "hmac-sha256");
    EXPECT_EQ(k->secret.size(), 88u);
}

TEST(ParsePdnsTsigKey, ListingEntry_EmptySecret) {
    auto k = parsePdnsTsigKey(json::parse(kListTsigKeys).at(0));
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_TRUE(k->secret.empty());
}

TEST(ParsePdnsTsigKey, MissingOrWrongFields_MalformedWithoutTheSecret) {
    for (const auto* field : {"id", "name", "algorithm"}) {
        auto j = json::parse(kGetTsigKey);
        j.erase(field);
        auto k = parsePdnsTsigKey(j);
        ASSERT_FALSE(k) << field;
        EXPECT_EQ(k.error().code, "malformed");
    }
    auto j = json::parse(kGetTsigKey);
    j["algorithm"] = 5;
    auto k = parsePdnsTsigKey(j);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().message.find("Gkkx1dkA"), std::string::npos);
    EXPECT_FALSE(parsePdnsTsigKey(json::array()));
}

// ---- HttpPdnsApi construction (no network involved) ----

class HttpPdnsApiConstruction : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("pdd-pdns-api-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string writeKey(const std::string& content) {
        const auto path = dir_ / "api.key";
        std::ofstream(path) << content;
        return path.string();
    }

    std::filesystem::path dir_;
};

TEST_F(HttpPdnsApiConstruction, KeyFileWithNewline_Accepted) {
    PdnsApiSettings s;
    s.api_key_file = writeKey("  secret\n");
    EXPECT_NO_THROW(HttpPdnsApi{s});
}

TEST_F(HttpPdnsApiConstruction, MissingKeyFile_ThrowsNamingFileAndCause) {
    PdnsApiSettings s;
    s.api_key_file = (dir_ / "nope.key").string();
    try {
        HttpPdnsApi api{s};
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(s.api_key_file), std::string::npos) << what;
        EXPECT_NE(what.find("No such file"), std::string::npos) << what;
    }
}

TEST_F(HttpPdnsApiConstruction, EmptyKeyFile_Throws) {
    PdnsApiSettings s;
    s.api_key_file = writeKey(" \n");
    EXPECT_THROW(HttpPdnsApi{s}, std::runtime_error);
}

TEST_F(HttpPdnsApiConstruction, MultiLineKey_ThrowsWithoutKey) {
    PdnsApiSettings s;
    s.api_key_file = writeKey("topsecret\nmore\n");
    try {
        HttpPdnsApi api{s};
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos);
    }
}

TEST_F(HttpPdnsApiConstruction, NoKeyFileConfigured_Throws) {
    PdnsApiSettings s;
    EXPECT_THROW(HttpPdnsApi{s}, std::runtime_error);
}

TEST_F(HttpPdnsApiConstruction, Urls) {
    PdnsApiSettings s;
    s.api_key_file = writeKey("k");
    for (const char* good : {"http://127.0.0.1:8081", "https://pdns.example:443/",
                             "http://[::1]:8081", "http://host/prefix/"}) {
        s.url = good;
        EXPECT_NO_THROW(HttpPdnsApi{s}) << good;
    }
    for (const char* bad : {"", "127.0.0.1:8081", "ftp://host", "http://", "http://host?x=1"}) {
        s.url = bad;
        EXPECT_THROW(HttpPdnsApi{s}, std::runtime_error) << bad;
    }
}

// ---- HttpPdnsApi::listZones against a canned HTTP server ----

class ListZonesTest : public HttpPdnsApiConstruction {
protected:
    void SetUp() override {
        HttpPdnsApiConstruction::SetUp();
        server_.Get("/api/v1/servers/localhost/zones",
                    [this](const httplib::Request&, httplib::Response& res) {
                        res.set_content(body_, "application/json");
                    });
        port_ = server_.bind_to_any_port("127.0.0.1");
        ASSERT_GT(port_, 0);
        // bind_to_any_port listens already: a request made before the loop runs waits for it.
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    void TearDown() override {
        server_.stop();
        if (thread_.joinable()) thread_.join();
        HttpPdnsApiConstruction::TearDown();
    }
    Result<std::vector<PdnsZoneInfo>> list(std::string body) {
        body_ = std::move(body);
        PdnsApiSettings s;
        s.url = "http://127.0.0.1:" + std::to_string(port_);
        s.api_key_file = writeKey("k");
        return HttpPdnsApi(s).listZones(std::nullopt, false);
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::string body_;
};

TEST_F(ListZonesTest, ManyZones_AllParsedInOrder) {
    json listing = json::array();
    for (int i = 0; i < 5000; ++i) {
        auto z = json::parse(kGetZoneSlave);
        z["name"] = z["id"] = "z" + std::to_string(i) + ".Example.";
        z["serial"] = i;
        listing.push_back(z);
    }
    const auto zones = list(listing.dump());
    ASSERT_TRUE(zones) << zones.error().message;
    ASSERT_EQ(zones->size(), 5000u);
    EXPECT_EQ(zones->front().name, "z0.example.");
    EXPECT_EQ(zones->back().name, "z4999.example.");
    EXPECT_EQ(zones->back().serial, 4999u);
    EXPECT_EQ(zones->back().account, "pdns-distribute");
    EXPECT_EQ(zones->back().masters, std::vector<std::string>{"127.0.0.1:5300"});
    EXPECT_EQ(zones->back().tsig_master_key_ids, std::vector<std::string>{"k1."});
}

// forEachZone hands over the same zones as listZones, in order, without a list of them all; a
// listing that turns out malformed is an error (the zones handed over before it are the caller's
// to drop).
TEST_F(ListZonesTest, ForEachZone_SameZonesInOrder_MalformedIsAnError) {
    json listing = json::array();
    for (int i = 0; i < 300; ++i) {
        auto z = json::parse(kGetZoneSlave);
        z["name"] = z["id"] = "z" + std::to_string(i) + ".example.";
        listing.push_back(z);
    }
    body_ = listing.dump();
    PdnsApiSettings s;
    s.url = "http://127.0.0.1:" + std::to_string(port_);
    s.api_key_file = writeKey("k");
    HttpPdnsApi api(s);
    std::vector<std::string> names;
    const auto ok = api.forEachZone(false, [&](PdnsZoneInfo&& z) { names.push_back(z.name); });
    ASSERT_TRUE(ok) << ok.error().message;
    ASSERT_EQ(names.size(), 300u);
    EXPECT_EQ(names.front(), "z0.example.");
    EXPECT_EQ(names.back(), "z299.example.");

    listing.push_back(42);  // not a zone object
    body_ = listing.dump();
    size_t handed = 0;
    const auto bad = api.forEachZone(false, [&](PdnsZoneInfo&&) { ++handed; });
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "malformed");
    EXPECT_EQ(handed, 300u);
}

TEST_F(ListZonesTest, VerbatimListings_Parsed) {
    const auto with = list(kListDnssecTrue);
    ASSERT_TRUE(with) << with.error().message;
    ASSERT_EQ(with->size(), 1u);
    EXPECT_EQ(with->front().edited_serial, 2026112602u);
    const auto without = list(kListDnssecFalse);
    ASSERT_TRUE(without) << without.error().message;
    EXPECT_EQ(without->front().name, "sec.example.");
    const auto empty = list("[]");
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_TRUE(empty->empty());
}

TEST_F(ListZonesTest, BadListings_MalformedWithTheReason) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json at all", "not JSON"},
        {R"({"error": "x"})", "not a JSON array"},
        {R"([{"id": "a.", "kind": "Native"}])", "name"},
        {R"([{"id": "a.", "name": "a.", "kind": "Native"}, 7])", "not a JSON object"},
        {R"([{"id": "a.", "name": "a..b.", "kind": "Native"}])", "malformed zone object"},
        {R"([{"id": "a.", "name": "a.", "kind": "Native"})", "not JSON"},  // truncated
    };
    for (const auto& [body, reason] : cases) {
        const auto r = list(body);
        ASSERT_FALSE(r) << body;
        EXPECT_EQ(r.error().code, "malformed") << body;
        EXPECT_NE(r.error().message.find(reason), std::string::npos)
            << body << " -> " << r.error().message;
    }
}

}  // namespace
}  // namespace pdns_distribute::common
