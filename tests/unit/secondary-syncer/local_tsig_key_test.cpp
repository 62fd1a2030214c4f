// SPDX-License-Identifier: Apache-2.0
// The syncer's TSIG key in the local pdns, and the key on every managed zone.
#include "local_tsig_key.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "config.hpp"
#include "fake_pdns_api.hpp"
#include "sweep.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

constexpr auto kMaster = "127.0.0.1:5300";
constexpr auto kName = "pdns-distribute-sec1.";
constexpr auto kKeyId = "pdns-distribute-sec1.";

TEST(LocalTsigKey, Absent_CreatedThenReadBack) {
    testing::FakePdnsApi api;
    auto k = ensureLocalTsigKey(api, kName);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_TRUE(k->created);
    EXPECT_EQ(k->id, kKeyId);
    EXPECT_EQ(k->key->name(), kName);
    EXPECT_EQ(k->key->algorithm(), TsigAlgorithm::HmacSha256);
    EXPECT_EQ(api.count("createTsigKey"), 1);
    EXPECT_EQ(api.count("getTsigKey"), 2);  // looked for, then read back
}

TEST(LocalTsigKey, Present_ReadWithoutCreating) {
    testing::FakePdnsApi api;
    api.addTsigKey(common::PdnsTsigKey{.id = kKeyId,
                                       .name = "pdns-distribute-sec1",
                                       .algorithm = "hmac-sha512",
                                       .secret = "YWJjZGVmZ2hpamtsbW5vcA=="});
    auto k = ensureLocalTsigKey(api, kName);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_FALSE(k->created);
    EXPECT_EQ(k->key->algorithm(), TsigAlgorithm::HmacSha512);
    EXPECT_EQ(k->key->secret().size(), 16u);
    EXPECT_EQ(api.count("createTsigKey"), 0);
}

TEST(LocalTsigKey, CreatedByAnotherMeanwhile_ReadAgain) {
    testing::FakePdnsApi api;
    api.failNext("getTsigKey", common::Error{.message = "Not Found", .code = "not-found"});
    api.addTsigKey(common::PdnsTsigKey{.id = kKeyId,
                                       .name = "pdns-distribute-sec1",
                                       .algorithm = "hmac-sha256",
                                       .secret = "YWJjZGVmZ2hpamtsbW5vcA=="});
    auto k = ensureLocalTsigKey(api, kName);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_FALSE(k->created);
    EXPECT_EQ(k->key->secret().size(), 16u);
}

TEST(LocalTsigKey, UnusableAlgorithm_ErrorTellsWhatToDoWithoutTheSecret) {
    testing::FakePdnsApi api;
    api.addTsigKey(common::PdnsTsigKey{.id = kKeyId,
                                       .name = "pdns-distribute-sec1",
                                       .algorithm = "hmac-md5",
                                       .secret = "c2VjcmV0c2VjcmV0"});
    auto k = ensureLocalTsigKey(api, kName);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().code, "unusable");
    EXPECT_NE(k.error().message.find("pdnsutil delete-tsig-key"), std::string::npos);
    EXPECT_EQ(k.error().message.find("c2VjcmV0c2VjcmV0"), std::string::npos);
}

TEST(LocalTsigKey, PdnsDown_NetworkErrorForTheCallerToRetry) {
    testing::FakePdnsApi api;
    api.failNext("getTsigKey", common::Error{.message = "refused", .code = "network"});
    auto k = ensureLocalTsigKey(api, kName);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().code, "network");
}

common::PdnsZoneInfo zone(const std::string& name, std::vector<std::string> keys,
                          std::string account = std::string(kManagedAccount)) {
    common::PdnsZoneInfo z;
    z.id = name;
    z.name = name;
    z.kind = "Slave";
    z.account = std::move(account);
    z.masters = {kMaster};
    z.tsig_master_key_ids = std::move(keys);
    return z;
}

TEST(ZoneKeys, ManagedZonesWithoutTheKey_GetIt_OthersUntouched) {
    testing::FakePdnsApi api;
    api.addZone(zone("old.test.", {}));
    api.addZone(zone("renamed.test.", {"pdns-distribute-oldname."}));
    api.addZone(zone("current.test.", {kKeyId}));
    api.addZone(zone("theirs.test.", {}, "operator"));
    auto listed = api.listZones(std::nullopt, false);
    ASSERT_TRUE(listed);
    const auto r = ensureZoneKeys(api, *listed, kMaster, kKeyId, [] { return false; });
    EXPECT_EQ(r.managed, 3u);
    EXPECT_EQ(r.updated, 2u);
    EXPECT_EQ(r.failed, 0u);
    for (const auto* name : {"old.test.", "renamed.test.", "current.test."}) {
        EXPECT_EQ(api.zone(name)->tsig_master_key_ids, std::vector<std::string>{kKeyId}) << name;
        EXPECT_EQ(api.zone(name)->masters, std::vector<std::string>{kMaster}) << name;
        EXPECT_EQ(api.zone(name)->account, kManagedAccount) << name;
    }
    EXPECT_TRUE(api.zone("theirs.test.")->tsig_master_key_ids.empty());
    const auto calls = api.calls();
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "updateSecondaryZone current.test."), 0);
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "getZone theirs.test."), 0);
}

TEST(ZoneKeys, UpdateFails_CountedAsFailed) {
    testing::FakePdnsApi api;
    api.addZone(zone("old.test.", {}));
    api.failNext("updateSecondaryZone", common::Error{.message = "boom", .code = "http-500"});
    auto listed = api.listZones(std::nullopt, false);
    const auto r = ensureZoneKeys(api, *listed, kMaster, kKeyId, [] { return false; });
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.updated, 0u);
}

TEST(ZoneKeys, ZoneGoneMeanwhile_NotAFailure) {
    testing::FakePdnsApi api;
    api.addZone(zone("gone.test.", {}));
    auto listed = api.listZones(std::nullopt, false);
    ASSERT_TRUE(api.deleteZone("gone.test."));
    const auto r = ensureZoneKeys(api, *listed, kMaster, kKeyId, [] { return false; });
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(r.updated, 0u);
}

TEST(ZoneKeys, StopRequested_RestCountedAsFailed) {
    testing::FakePdnsApi api;
    api.addZone(zone("a.test.", {}));
    api.addZone(zone("b.test.", {}));
    auto listed = api.listZones(std::nullopt, false);
    const auto r = ensureZoneKeys(api, *listed, kMaster, kKeyId, [] { return true; });
    EXPECT_EQ(r.failed, 2u);
    EXPECT_EQ(api.count("updateSecondaryZone"), 0);
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
