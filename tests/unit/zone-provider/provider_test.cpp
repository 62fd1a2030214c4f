// SPDX-License-Identifier: Apache-2.0
#include "provider.hpp"

#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fake_pdns_api.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::zone_provider {
namespace {

using namespace std::chrono_literals;
using common::ManifestStatus;

class FakeAxfr final : public common::AxfrSource, public common::ApexProbe {
public:
    std::map<std::string, common::Result<common::ZoneBody>> zones;
    int transfers = 0;
    common::Result<common::ZoneBody> transfer(std::string_view zone) override {
        ++transfers;
        auto it = zones.find(std::string(zone));
        if (it == zones.end()) return common::Error{.message = "NOTAUTH", .code = "notauth"};
        return it->second;
    }
    common::Result<common::ApexFingerprint> apex(std::string_view zone) override {
        auto it = zones.find(std::string(zone));
        if (it == zones.end() || !it->second)
            return common::Error{.message = "REFUSED", .code = "not-served"};
        return common::fingerprintFromBody(zone, it->second->bytes);
    }
};

common::ZoneBody makeBody(const std::string& zone, int extra_records,
                          const std::string& more = {}) {
    std::string text = zone + " 3600 IN SOA ns1." + zone + " host." + zone +
                       " 7 3600 600 604800 3600\n" + zone + " 3600 IN NS ns1." + zone + "\n" + more;
    for (int i = 0; i < extra_records; ++i) {
        text += "h" + std::to_string(i) + "." + zone + " 300 IN A 192.0.2." +
                std::to_string(i % 250) + "\n";
    }
    auto bytes = common::encodeRrsFromText(text);
    EXPECT_TRUE(bytes) << bytes.error().message;
    auto body = common::validateBody(zone, *bytes);
    EXPECT_TRUE(body) << body.error().message;
    return *body;
}

class ProviderTest : public ::testing::Test {
protected:
    ProviderTest() {
        settings_.canary_zone = "canary.test.";
        settings_.inline_max = 4096;
        settings_.chunk_size = 4096;
        axfr_.zones.emplace("canary.test.", makeBody("canary.test.", 0));
        common::PdnsZoneInfo canary;
        canary.name = "canary.test.";
        api_.addZone(canary);
    }
    ZoneDataProvider& provider() {
        if (!provider_) {
            provider_ = std::make_unique<ZoneDataProvider>(settings_, axfr_, axfr_, api_, key_,
                                                           clock_, "inst1", pm_);
        }
        return *provider_;
    }
    // Sends a request and verifies the reply as a syncer would.
    common::Manifest ask(const std::string& zone, std::optional<std::string> after = std::nullopt) {
        const auto nonce = common::randomNonce();
        nlohmann::json req = {{"v", 1}, {"zone", zone}, {"node", "n1"}, {"nonce", nonce}};
        if (after) req["after"] = *after;
        auto reply = provider().handleRequest(req.dump());
        EXPECT_TRUE(reply);
        std::string sig;
        std::string key_id;
        for (const auto& [k, v] : reply->headers) {
            if (k == common::kSigHeader) sig = v;
            if (k == common::kKeyIdHeader) key_id = v;
        }
        const std::vector<common::TrustedKey> trusted{
            common::TrustedKey{.key = key_.publicKey(), .not_after = std::nullopt}};
        auto canonical = common::canonicalZoneName(zone);
        auto v =
            common::verifyManifestReply(reply->data, sig, key_id, canonical ? *canonical : zone,
                                        nonce, trusted, clock_.system());
        EXPECT_TRUE(v) << v.error().message;
        return v ? v->manifest : common::Manifest{};
    }

    ProviderSettings settings_;
    FakeAxfr axfr_;
    testing::FakePdnsApi api_;
    common::SecretKey key_ = common::SecretKey::generate();
    testing::ManualClock clock_;
    common::MetricsRegistry metrics_;
    ProviderMetrics pm_{metrics_};
    std::unique_ptr<ZoneDataProvider> provider_;
};

TEST_F(ProviderTest, PresentSmallZone_InlineBodyVerifies) {
    const auto body = makeBody("example.org.", 3);
    axfr_.zones.emplace("example.org.", body);
    const auto m = ask("example.org.");
    EXPECT_EQ(m.status, ManifestStatus::Present);
    EXPECT_EQ(m.serial, 7u);
    EXPECT_EQ(m.rr_count, body.rr_count);
    ASSERT_TRUE(m.inline_body);
    auto verified =
        common::verifyBody(m, std::vector<std::byte>(common::asBytes(*m.inline_body).begin(),
                                                     common::asBytes(*m.inline_body).end()));
    ASSERT_TRUE(verified) << verified.error().message;
    EXPECT_EQ(m.apex, common::fingerprintFromBody("example.org.", body.bytes)->hex());
}

TEST_F(ProviderTest, LargeZone_ChunksServedMatchSignedDigests) {
    const auto body = makeBody("big.test.", 1000);
    ASSERT_GT(body.bytes.size(), 3 * settings_.chunk_size);
    axfr_.zones.emplace("big.test.", body);
    const auto m = ask("big.test.");
    ASSERT_EQ(m.status, ManifestStatus::Present);
    EXPECT_FALSE(m.inline_body);
    ASSERT_EQ(m.chunks, m.chunk_digests.size());
    const auto prefix = provider().xferPrefix();
    ASSERT_TRUE(m.xfer.starts_with(prefix));
    std::vector<std::byte> assembled;
    for (uint32_t i = 0; i < m.chunks; ++i) {
        auto c = provider().handleChunk(m.xfer.substr(prefix.size()),
                                        nlohmann::json{{"chunk", i}}.dump());
        ASSERT_TRUE(c);
        EXPECT_EQ(common::toHex(common::blake2b256(common::asBytes(*c))), m.chunk_digests[i]);
        const auto b = common::asBytes(*c);
        assembled.insert(assembled.end(), b.begin(), b.end());
    }
    EXPECT_TRUE(common::verifyBody(m, assembled));
    EXPECT_FALSE(provider().handleChunk(m.xfer.substr(prefix.size()),
                                        nlohmann::json{{"chunk", m.chunks}}.dump()));
    clock_.advance(settings_.transfer_keep + 1s);
    EXPECT_FALSE(
        provider().handleChunk(m.xfer.substr(prefix.size()), nlohmann::json{{"chunk", 0}}.dump()));
}

TEST_F(ProviderTest, GoneZone_WithVerifiedPrimary_Absent) {
    const auto m = ask("gone.test.");
    EXPECT_EQ(m.status, ManifestStatus::Absent);
}

TEST_F(ProviderTest, GoneZone_NoCanaryConfigured_ErrorNotAbsent) {
    settings_.canary_zone.clear();
    const auto m = ask("gone.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
    EXPECT_NE(m.reason.find("canary"), std::string::npos);
}

TEST_F(ProviderTest, GoneZone_WrongServerIdAnswers404ForEverything_ErrorNotAbsent) {
    api_.failNext("getZone", common::Error{.message = "Not Found", .code = "not-found"}, 100);
    const auto m = ask("gone.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
}

TEST_F(ProviderTest, GoneZone_PrimaryApiDown_ErrorNotAbsent) {
    api_.server_ok = false;
    const auto m = ask("gone.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
}

TEST_F(ProviderTest, GoneZone_CanaryNotServedOverDns_ErrorNotAbsent) {
    axfr_.zones.erase("canary.test.");
    const auto m = ask("gone.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
}

TEST_F(ProviderTest, TransferRefusedButZoneListed_Error) {
    common::PdnsZoneInfo z;
    z.name = "narrow.test.";
    api_.addZone(z);
    const auto m = ask("narrow.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
}

TEST_F(ProviderTest, TransferTimeout_ErrorNeverAbsent) {
    axfr_.zones.emplace("slow.test.", common::Error{.message = "timed out", .code = "timeout"});
    const auto m = ask("slow.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
}

TEST_F(ProviderTest, LuaRecords_RefusedWithReason) {
    axfr_.zones.emplace("lua.test.",
                        makeBody("lua.test.", 0, "x.lua.test. 300 IN TYPE65402 \\# 3 010203\n"));
    const auto m = ask("lua.test.");
    EXPECT_EQ(m.status, ManifestStatus::Error);
    EXPECT_NE(m.reason.find("LUA"), std::string::npos);
}

TEST_F(ProviderTest, UpperCaseRequest_AnsweredForCanonicalName) {
    axfr_.zones.emplace("example.org.", makeBody("example.org.", 1));
    const auto m = ask("EXAMPLE.org");
    EXPECT_EQ(m.zone, "example.org.");
    EXPECT_EQ(m.status, ManifestStatus::Present);
}

TEST_F(ProviderTest, RequestWithoutNonce_NotAnswered) {
    EXPECT_FALSE(provider().handleRequest(R"({"v":1,"zone":"example.org."})"));
    EXPECT_FALSE(provider().handleRequest("not json"));
}

TEST_F(ProviderTest, RepeatedRequests_ShareOneTransferUntilInvalidated) {
    axfr_.zones.emplace("example.org.", makeBody("example.org.", 1));
    const auto event_at = common::rfc3339Millis(clock_.system());
    clock_.advance(1ms);
    (void)ask("example.org.", event_at);
    (void)ask("example.org.", event_at);
    EXPECT_EQ(axfr_.transfers, 1);
    provider().invalidate("example.org.");
    (void)ask("example.org.", event_at);
    EXPECT_EQ(axfr_.transfers, 2);
    clock_.advance(settings_.cache_ttl + 1ms);
    (void)ask("example.org.", event_at);
    EXPECT_EQ(axfr_.transfers, 3);
}

TEST_F(ProviderTest, RequestForEventNewerThanCachedBody_TransfersAgain) {
    axfr_.zones.emplace("example.org.", makeBody("example.org.", 1));
    const auto old_event = common::rfc3339Millis(clock_.system());
    clock_.advance(10ms);
    (void)ask("example.org.", old_event);
    clock_.advance(10ms);
    // An event the provider has not seen yet: the cached body may predate it.
    (void)ask("example.org.", common::rfc3339Millis(clock_.system()));
    EXPECT_EQ(axfr_.transfers, 2);
    (void)ask("example.org.");  // no `after`: always fresh
    EXPECT_EQ(axfr_.transfers, 3);
}

}  // namespace
}  // namespace pdns_distribute::zone_provider
