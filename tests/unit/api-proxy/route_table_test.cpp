// SPDX-License-Identifier: Apache-2.0
#include <optional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "route_table.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using common::ZoneOp;

struct RouteCase {
    const char* name;
    const char* method;
    const char* target;
    int status;
    const char* body;
    std::optional<std::string> zone;  ///< expected change, if any
    ZoneOp op = ZoneOp::Upsert;
    bool unresolved = false;
};

std::ostream& operator<<(std::ostream& os, const RouteCase& c) { return os << c.name; }

constexpr const char* kS = "/api/v1/servers/localhost";
constexpr const char* kCreated = R"({"name": "example.org.", "kind": "Native", "rrsets": []})";

std::string t(const std::string& rest) { return kS + rest; }

class RouteTable : public ::testing::TestWithParam<RouteCase> {};

TEST_P(RouteTable, Classify) {
    const auto& c = GetParam();
    const auto r = classify(c.method, c.target, c.status, c.body);
    if (c.zone) {
        ASSERT_TRUE(r.change) << c.method << " " << c.target << " unresolved: " << r.unresolved;
        EXPECT_EQ(r.change->zone, *c.zone);
        EXPECT_EQ(r.change->op, c.op);
        EXPECT_TRUE(r.unresolved.empty());
    } else {
        EXPECT_FALSE(r.change) << c.method << " " << c.target << " gave zone " << r.change->zone;
        EXPECT_EQ(!r.unresolved.empty(), c.unresolved) << r.unresolved;
    }
}

// Strings built once: the table keeps pointers into them.
const std::string kZones = t("/zones");
const std::string kZone = t("/zones/example.org.");
const std::string kZoneNoDot = t("/zones/example.org");
const std::string kZoneUpper = t("/zones/Example.ORG.");
const std::string kZoneRfc2317 = t("/zones/0=2F26.2.0.192.in-addr.arpa.");
const std::string kZoneRfc2317Pct = t("/zones/0%3D2F26.2.0.192.in-addr.arpa.");
const std::string kZoneUnderscore = t("/zones/=5Ftcp.example.com.");
const std::string kZoneRoot = t("/zones/=2E");
const std::string kZoneBadEscape = t("/zones/a=2g.example.");
const std::string kZoneBadName = t("/zones/a..example.");
const std::string kZoneQuery = t("/zones/example.org.?rrsets=false");
const std::string kRectify = t("/zones/example.org./rectify");
const std::string kAxfrRetrieve = t("/zones/example.org./axfr-retrieve");
const std::string kNotify = t("/zones/example.org./notify");
const std::string kExport = t("/zones/example.org./export");
const std::string kMetadata = t("/zones/example.org./metadata");
const std::string kMetadataKind = t("/zones/example.org./metadata/SOA-EDIT-API");
const std::string kCryptokeys = t("/zones/example.org./cryptokeys");
const std::string kCryptokey = t("/zones/example.org./cryptokeys/3");
const std::string kCryptokeyDeep = t("/zones/example.org./cryptokeys/3/extra");
const std::string kFlush = t("/cache/flush?domain=example.org.");
const std::string kTsig = t("/tsigkeys");
const std::string kTsigKey = t("/tsigkeys/k1.");
const std::string kConfig = t("/config/allow-axfr-ips");
const std::string kSearch = t("/search-data?q=example");
const std::string kStats = t("/statistics");
const std::string kAutoprimaries = t("/autoprimaries");
const std::string kOtherServer = "/api/v1/servers/other-id/zones/example.org.";
const std::string kNoServer = "/api/v1/servers//zones/example.org.";
const std::string kTrailingSlash = t("/zones/example.org./");
const std::string kUnknownSub = t("/zones/example.org./whatever");

INSTANTIATE_TEST_SUITE_P(
    Routes, RouteTable,
    ::testing::Values(
        // Creation: zone from the answer.
        RouteCase{"CreateZone", "POST", kZones.c_str(), 201, kCreated, "example.org."},
        RouteCase{"CreateZoneUpperName", "POST", kZones.c_str(), 201, R"({"name": "Example.ORG"})",
                  "example.org."},
        RouteCase{"CreateZoneRfc2317", "POST", kZones.c_str(), 201,
                  R"({"name": "0/26.2.0.192.in-addr.arpa."})", "0/26.2.0.192.in-addr.arpa."},
        RouteCase{"CreateZoneMalformedBody", "POST", kZones.c_str(), 201, "not json", std::nullopt,
                  ZoneOp::Upsert, true},
        RouteCase{"CreateZoneNoName", "POST", kZones.c_str(), 201, R"({"kind":"Native"})",
                  std::nullopt, ZoneOp::Upsert, true},
        RouteCase{"CreateZoneNameNotString", "POST", kZones.c_str(), 201, R"({"name": 7})",
                  std::nullopt, ZoneOp::Upsert, true},
        RouteCase{"CreateZoneBadName", "POST", kZones.c_str(), 201, R"({"name": "a..b."})",
                  std::nullopt, ZoneOp::Upsert, true},
        RouteCase{"CreateZoneConflict", "POST", kZones.c_str(), 409, "Conflict", std::nullopt},
        RouteCase{"CreateZoneUnprocessable", "POST", kZones.c_str(), 422,
                  R"({"error": "Unable to parse DNS Name"})", std::nullopt},
        RouteCase{"ListZones", "GET", kZones.c_str(), 200, "[]", std::nullopt},
        RouteCase{"PutZones", "PUT", kZones.c_str(), 200, "", std::nullopt},
        // The zone itself.
        RouteCase{"PutZone", "PUT", kZone.c_str(), 204, "", "example.org."},
        RouteCase{"PatchZone", "PATCH", kZone.c_str(), 204, "", "example.org."},
        RouteCase{"DeleteZone", "DELETE", kZone.c_str(), 204, "", "example.org.", ZoneOp::Delete},
        RouteCase{"DeleteZoneNotFound", "DELETE", kZone.c_str(), 404, "Not Found", std::nullopt},
        RouteCase{"GetZone", "GET", kZone.c_str(), 200, "{}", std::nullopt},
        RouteCase{"HeadZone", "HEAD", kZone.c_str(), 200, "", std::nullopt},
        RouteCase{"PostZone", "POST", kZone.c_str(), 200, "", std::nullopt},
        RouteCase{"PatchNoTrailingDot", "PATCH", kZoneNoDot.c_str(), 204, "", "example.org."},
        RouteCase{"PatchUpperCase", "PATCH", kZoneUpper.c_str(), 204, "", "example.org."},
        RouteCase{"PatchRfc2317", "PATCH", kZoneRfc2317.c_str(), 204, "",
                  "0/26.2.0.192.in-addr.arpa."},
        RouteCase{"PatchRfc2317PercentEncoded", "PATCH", kZoneRfc2317Pct.c_str(), 204, "",
                  "0/26.2.0.192.in-addr.arpa."},
        RouteCase{"DeleteUnderscore", "DELETE", kZoneUnderscore.c_str(), 204, "",
                  "_tcp.example.com.", ZoneOp::Delete},
        RouteCase{"PatchRoot", "PATCH", kZoneRoot.c_str(), 204, "", "."},
        RouteCase{"PatchBadEscape", "PATCH", kZoneBadEscape.c_str(), 204, "", std::nullopt,
                  ZoneOp::Upsert, true},
        RouteCase{"PatchBadName", "PATCH", kZoneBadName.c_str(), 204, "", std::nullopt,
                  ZoneOp::Upsert, true},
        RouteCase{"PatchBadEscapeButFailed", "PATCH", kZoneBadEscape.c_str(), 400, "",
                  std::nullopt},
        RouteCase{"PatchWithQuery", "PATCH", kZoneQuery.c_str(), 204, "", "example.org."},
        RouteCase{"PatchServerError", "PATCH", kZone.c_str(), 500, "", std::nullopt},
        RouteCase{"PatchRedirect", "PATCH", kZone.c_str(), 301, "", std::nullopt},
        RouteCase{"PatchOtherServerId", "PATCH", kOtherServer.c_str(), 204, "", "example.org."},
        RouteCase{"PatchEmptyServerId", "PATCH", kNoServer.c_str(), 204, "", std::nullopt},
        RouteCase{"PatchTrailingSlash", "PATCH", kTrailingSlash.c_str(), 204, "", std::nullopt},
        // Sub-resources.
        RouteCase{"Rectify", "PUT", kRectify.c_str(), 200, R"({"result":"Rectified"})",
                  "example.org."},
        RouteCase{"RectifyPost", "POST", kRectify.c_str(), 200, "", std::nullopt},
        RouteCase{"AxfrRetrieve", "PUT", kAxfrRetrieve.c_str(), 200, "", "example.org."},
        RouteCase{"AxfrRetrievePost", "POST", kAxfrRetrieve.c_str(), 405, "", std::nullopt},
        RouteCase{"Notify", "PUT", kNotify.c_str(), 200, "", std::nullopt},
        RouteCase{"Export", "GET", kExport.c_str(), 200, "", std::nullopt},
        RouteCase{"MetadataPost", "POST", kMetadata.c_str(), 201, "", "example.org."},
        RouteCase{"MetadataGet", "GET", kMetadata.c_str(), 200, "[]", std::nullopt},
        RouteCase{"MetadataKindPut", "PUT", kMetadataKind.c_str(), 200, "", "example.org."},
        RouteCase{"MetadataKindDelete", "DELETE", kMetadataKind.c_str(), 204, "", "example.org."},
        RouteCase{"MetadataKindGet", "GET", kMetadataKind.c_str(), 200, "", std::nullopt},
        RouteCase{"MetadataKindPatch", "PATCH", kMetadataKind.c_str(), 200, "", std::nullopt},
        RouteCase{"MetadataKindForbidden", "PUT", kMetadataKind.c_str(), 422, "", std::nullopt},
        RouteCase{"CryptokeysPost", "POST", kCryptokeys.c_str(), 201, "", "example.org."},
        RouteCase{"CryptokeyPut", "PUT", kCryptokey.c_str(), 204, "", "example.org."},
        RouteCase{"CryptokeyDelete", "DELETE", kCryptokey.c_str(), 204, "", "example.org."},
        RouteCase{"CryptokeyGet", "GET", kCryptokey.c_str(), 200, "", std::nullopt},
        RouteCase{"CryptokeyTooDeep", "PUT", kCryptokeyDeep.c_str(), 204, "", std::nullopt},
        RouteCase{"UnknownSubresource", "PUT", kUnknownSub.c_str(), 204, "", std::nullopt},
        // Calls that change nothing we distribute.
        RouteCase{"CacheFlush", "PUT", kFlush.c_str(), 200, "", std::nullopt},
        RouteCase{"TsigCreate", "POST", kTsig.c_str(), 201, R"({"name":"k1"})", std::nullopt},
        RouteCase{"TsigUpdate", "PUT", kTsigKey.c_str(), 200, "", std::nullopt},
        RouteCase{"TsigDelete", "DELETE", kTsigKey.c_str(), 204, "", std::nullopt},
        RouteCase{"Config", "PUT", kConfig.c_str(), 200, "", std::nullopt},
        RouteCase{"Search", "GET", kSearch.c_str(), 200, "[]", std::nullopt},
        RouteCase{"Statistics", "GET", kStats.c_str(), 200, "[]", std::nullopt},
        RouteCase{"Autoprimaries", "POST", kAutoprimaries.c_str(), 201, "", std::nullopt},
        RouteCase{"NotApi", "PUT", "/zones/example.org.", 204, "", std::nullopt},
        RouteCase{"OtherVersion", "PUT", "/api/v2/servers/localhost/zones/example.org.", 204, "",
                  std::nullopt},
        RouteCase{"Root", "POST", "/", 200, "", std::nullopt}),
    [](const ::testing::TestParamInfo<RouteCase>& param_info) {
        return std::string{param_info.param.name};
    });

}  // namespace
}  // namespace pdns_distribute::api_proxy
