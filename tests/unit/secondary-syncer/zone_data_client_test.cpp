// SPDX-License-Identifier: Apache-2.0
#include "zone_data_client.hpp"

#include <functional>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns.hpp>

#include "manual_clock.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

using namespace std::chrono_literals;

constexpr const char* kZoneText =
    "example.org. 3600 IN SOA ns1.example.org. host.example.org. 42 3600 600 604800 3600\n"
    "example.org. 3600 IN NS ns1.example.org.\n"
    "www.example.org. 300 IN A 192.0.2.1\n"
    "www.example.org. 300 IN AAAA 2001:db8::1\n";

// Plays the zone-provider: signs a manifest for whatever nonce the request carries, and lets a
// test tamper with each step.
class FakeProvider final : public common::Requester {
public:
    common::SecretKey key = common::SecretKey::generate();
    common::Manifest manifest;
    std::vector<std::byte> body;
    std::function<void(std::string& payload)> tamper_payload;
    std::optional<std::string> replay_nonce;  // sign for this nonce instead of the request's
    std::map<uint32_t, std::string> chunk_override;
    bool answer = true;
    std::optional<common::BusMessage> last_reply;

    common::Result<common::BusMessage> request(const std::string& subject, std::string_view data,
                                               const common::Headers&,
                                               std::chrono::milliseconds) override {
        if (!answer) return common::Error{.message = "timeout", .code = "timeout"};
        const auto j = nlohmann::json::parse(data);
        if (j.contains("chunk")) {
            const auto i = j["chunk"].get<uint32_t>();
            if (auto it = chunk_override.find(i); it != chunk_override.end()) {
                return common::BusMessage{
                    .subject = subject, .reply = {}, .data = it->second, .headers = {}};
            }
            const size_t off = size_t{i} * manifest.chunk_size;
            const size_t len = std::min<size_t>(manifest.chunk_size, body.size() - off);
            return common::BusMessage{
                .subject = subject,
                .reply = {},
                .data = std::string(reinterpret_cast<const char*>(body.data()) + off, len),
                .headers = {}};
        }
        const auto nonce = replay_nonce.value_or(j.at("nonce").get<std::string>());
        auto payload = common::serializeManifest(manifest);
        const auto sig = common::signManifest(key, payload, nonce);
        if (tamper_payload) tamper_payload(payload);
        common::BusMessage m{.subject = subject, .reply = {}, .data = payload, .headers = {}};
        m.headers.emplace_back(std::string(common::kSigHeader), common::toHex(sig));
        m.headers.emplace_back(std::string(common::kKeyIdHeader), key.publicKey().keyId());
        last_reply = m;
        return m;
    }
};

class ZoneDataClientTest : public ::testing::Test {
protected:
    ZoneDataClientTest() {
        auto body = common::encodeRrsFromText(kZoneText);
        EXPECT_TRUE(body) << body.error().message;
        provider_.body = *body;
        auto validated = common::validateBody("example.org.", provider_.body);
        EXPECT_TRUE(validated) << validated.error().message;
        auto& m = provider_.manifest;
        m.zone = "example.org.";
        m.status = common::ManifestStatus::Present;
        m.serial = 42;
        m.apex = common::fingerprintFromBody("example.org.", provider_.body)->hex();
        m.rr_count = validated->rr_count;
        m.size = provider_.body.size();
        m.digest = common::toHex(common::blake2b256(provider_.body));
        m.signed_at = "2026-11-26T00:00:00Z";
        m.inline_body = std::string(common::asChars(provider_.body));
    }
    ZoneDataClient client(std::vector<common::TrustedKey> keys, uint64_t max_bytes = 1 << 20) {
        return ZoneDataClient(provider_,
                              ZoneDataClientSettings{.group = "default",
                                                     .node = "n1",
                                                     .trusted = std::move(keys),
                                                     .max_zone_bytes = max_bytes,
                                                     .timeout = 1s},
                              clock_, metrics_);
    }
    std::vector<common::TrustedKey> trusted() {
        return {common::TrustedKey{.key = provider_.key.publicKey(), .not_after = std::nullopt}};
    }
    uint64_t refusals(const std::string& reason) {
        return metrics_
            .counter("pdns_distribute_syncer_refused_total",
                     "zone-data replies refused by verification, by reason", {{"reason", reason}})
            .value();
    }

    FakeProvider provider_;
    testing::ManualClock clock_;
    common::MetricsRegistry metrics_;
};

TEST_F(ZoneDataClientTest, InlineBody_Valid_Accepted) {
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->body);
    EXPECT_EQ(r->body->serial, 42u);
    EXPECT_EQ(r->body->bytes, provider_.body);
}

TEST_F(ZoneDataClientTest, SignedByUntrustedKey_RefusedAndCounted) {
    auto c = client({common::TrustedKey{.key = common::SecretKey::generate().publicKey(),
                                        .not_after = std::nullopt}});
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "refused");
    EXPECT_EQ(refusals("unknown_key") + refusals("bad_signature"), 1u);
}

TEST_F(ZoneDataClientTest, ManifestAlteredAfterSigning_Refused) {
    provider_.tamper_payload = [](std::string& p) {
        p.replace(p.find("\"serial\":42"), 11, "\"serial\":43");
    };
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "refused");
    EXPECT_EQ(refusals("bad_signature"), 1u);
}

TEST_F(ZoneDataClientTest, ReplayedReplyForAnotherNonce_Refused) {
    provider_.replay_nonce = "00112233445566778899aabbccddeeff";
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(refusals("bad_signature"), 1u);
}

TEST_F(ZoneDataClientTest, ExpiredKey_Refused) {
    auto keys = trusted();
    keys[0].not_after = clock_.system() - 1h;
    auto c = client(keys);
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(refusals("expired_key"), 1u);
}

TEST_F(ZoneDataClientTest, AnswerForAnotherZone_Refused) {
    auto c = client(trusted());
    auto r = c.fetch("example.net.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(refusals("wrong_zone"), 1u);
}

TEST_F(ZoneDataClientTest, BodyNotMatchingDigest_Refused) {
    auto altered = provider_.body;
    altered.back() ^= std::byte{1};
    provider_.manifest.inline_body = std::string(common::asChars(altered));
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(refusals("body_mismatch"), 1u);
}

TEST_F(ZoneDataClientTest, OversizedManifest_RefusedBeforeFetchingBody) {
    auto c = client(trusted(), /*max_bytes=*/16);
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(refusals("too_large"), 1u);
}

TEST_F(ZoneDataClientTest, ChunkedBody_PulledAndVerified) {
    auto& m = provider_.manifest;
    m.inline_body.reset();
    auto chunking = common::chunkBody(provider_.body, 32);
    m.chunk_size = chunking.chunk_size;
    m.chunks = static_cast<uint32_t>(chunking.digests.size());
    m.chunk_digests = chunking.digests;
    m.xfer = "pdns.zonedata.x.i1.1";
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body->bytes, provider_.body);
    ASSERT_GT(m.chunks, 2u);

    provider_.chunk_override[1] = std::string(32, 'x');
    auto bad = c.fetch("example.org.", "");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "refused");
}

TEST_F(ZoneDataClientTest, NoReply_Unavailable) {
    provider_.answer = false;
    auto c = client(trusted());
    auto r = c.fetch("example.org.", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "unavailable");
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
