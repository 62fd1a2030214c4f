// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/manifest.hpp>

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::string_view kZone = "example.org.";
constexpr std::string_view kNonce = "0123456789abcdef0123456789abcdef";
// 2026-11-26T13:04:55Z
const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1795698295}};

std::string hexOfBytes(std::span<const std::byte> b) { return toHex(b); }

SecretKey seededKey(uint8_t fill) {
    std::array<std::byte, 32> seed{};
    seed.fill(std::byte{fill});
    return SecretKey::fromSeedBytes(seed);
}

Manifest presentManifest() {
    Manifest m;
    m.zone = std::string(kZone);
    m.status = ManifestStatus::Present;
    m.serial = 2024010101;
    m.apex = "00112233445566778899aabbccddeeff";
    m.rr_count = 2;
    m.size = 5;
    m.dnssec = true;
    m.presigned = false;
    m.signed_at = "2026-11-26T13:04:55Z";
    m.digest = std::string(64, 'a');
    m.chunk_size = 0;
    m.chunks = 0;
    m.inline_body = std::string("a\0b\xff\n", 5);
    return m;
}

TEST(Manifest, Serialize_FixedKeyOrder) {
    Manifest m = presentManifest();
    m.inline_body = std::string("hi");
    EXPECT_EQ(serializeManifest(m),
              R"({"v":1,"zone":"example.org.","status":"present","serial":2024010101,)"
              R"("apex":"00112233445566778899aabbccddeeff","rr_count":2,"size":5,"dnssec":true,)"
              R"("presigned":false,"signed_at":"2026-11-26T13:04:55Z","digest":")" +
                  std::string(64, 'a') +
                  R"(","chunk_size":0,"chunks":0,"chunk_digests":[],"inline":"aGk="})");
}

TEST(Manifest, SerializeParse_RoundTripInline) {
    const Manifest m = presentManifest();
    auto parsed = parseManifest(serializeManifest(m));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->zone, m.zone);
    EXPECT_EQ(parsed->status, ManifestStatus::Present);
    EXPECT_EQ(parsed->serial, m.serial);
    EXPECT_EQ(parsed->apex, m.apex);
    EXPECT_EQ(parsed->rr_count, m.rr_count);
    EXPECT_EQ(parsed->size, m.size);
    EXPECT_EQ(parsed->dnssec, m.dnssec);
    EXPECT_EQ(parsed->presigned, m.presigned);
    EXPECT_EQ(parsed->signed_at, m.signed_at);
    EXPECT_EQ(parsed->digest, m.digest);
    ASSERT_TRUE(parsed->inline_body);
    EXPECT_EQ(*parsed->inline_body, *m.inline_body);  // binary bytes survive base64
    EXPECT_TRUE(parsed->xfer.empty());
}

TEST(Manifest, SerializeParse_RoundTripChunked) {
    Manifest m = presentManifest();
    m.inline_body.reset();
    m.size = 10;
    m.chunk_size = 4;
    m.chunks = 3;
    m.chunk_digests = {std::string(64, '1'), std::string(64, '2'), std::string(64, '3')};
    m.xfer = "pdns.zonedata.x.prov1.42";
    auto parsed = parseManifest(serializeManifest(m));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->chunk_size, 4U);
    EXPECT_EQ(parsed->chunks, 3U);
    EXPECT_EQ(parsed->chunk_digests, m.chunk_digests);
    EXPECT_EQ(parsed->xfer, m.xfer);
    EXPECT_FALSE(parsed->inline_body);
}

TEST(Manifest, SerializeParse_AbsentWithReason) {
    Manifest m;
    m.zone = std::string(kZone);
    m.status = ManifestStatus::Absent;
    m.reason = "listing empty and zone URL 404 after identity check";
    m.signed_at = "2026-11-26T13:04:55Z";
    auto parsed = parseManifest(serializeManifest(m));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->status, ManifestStatus::Absent);
    EXPECT_EQ(parsed->reason, m.reason);
}

TEST(Manifest, Parse_MinimalErrorManifest) {
    auto parsed = parseManifest(
        R"({"v":1,"zone":"example.org.","status":"error","reason":"LUA records","signed_at":"x"})");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->status, ManifestStatus::Error);
    EXPECT_EQ(parsed->reason, "LUA records");
}

std::string withField(const std::string& json_text, const std::string& key,
                      const nlohmann::json& value) {
    auto j = nlohmann::ordered_json::parse(json_text);
    if (value.is_discarded()) {
        j.erase(key);
    } else {
        j[key] = value;
    }
    return j.dump();
}

TEST(Manifest, Parse_StrictTypesAndRequiredFields) {
    const std::string good = serializeManifest(presentManifest());
    ASSERT_TRUE(parseManifest(good));
    const nlohmann::json missing(nlohmann::json::value_t::discarded);
    struct Case {
        const char* key;
        nlohmann::json value;
    };
    const std::vector<Case> cases = {
        {"v", 2},
        {"v", "1"},
        {"v", missing},
        {"zone", 5},
        {"zone", ""},
        {"zone", missing},
        {"status", "gone"},
        {"status", missing},
        {"serial", -1},
        {"serial", 4294967296LL},
        {"serial", "1"},
        {"serial", missing},
        {"rr_count", 1.5},
        {"size", missing},
        {"dnssec", 1},
        {"presigned", "no"},
        {"digest", "abc"},
        {"digest", missing},
        {"signed_at", missing},
        {"apex", 3},
        {"chunk_digests", "x"},
        {"chunk_digests", {"a"}},
        {"inline", 7},
        {"inline", "!!notbase64"},
    };
    for (const auto& c : cases) {
        auto r = parseManifest(withField(good, c.key, c.value));
        EXPECT_FALSE(r) << c.key << "=" << c.value.dump();
        if (!r) {
            EXPECT_THAT(r.error().message, HasSubstr("cannot parse manifest")) << c.key;
        }
    }
    EXPECT_FALSE(parseManifest("not json"));
    EXPECT_FALSE(parseManifest("[1,2]"));
}

TEST(Manifest, Parse_ErrorStatusNeedsReason) {
    EXPECT_FALSE(
        parseManifest(R"({"v":1,"zone":"example.org.","status":"error","signed_at":"x"})"));
}

TEST(Manifest, Parse_ChunkCountMustMatchSize) {
    Manifest m = presentManifest();
    m.inline_body.reset();
    m.size = 10;
    m.chunk_size = 4;
    m.chunks = 2;  // needs 3
    m.chunk_digests = {std::string(64, '1'), std::string(64, '2')};
    m.xfer = "x";
    auto r = parseManifest(serializeManifest(m));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("needs 3"));
    m.chunks = 3;  // digests list now too short
    EXPECT_FALSE(parseManifest(serializeManifest(m)));
    m.chunk_digests.push_back(std::string(64, '3'));
    m.xfer.clear();  // neither inline nor xfer
    EXPECT_FALSE(parseManifest(serializeManifest(m)));
}

TEST(Manifest, Parse_SizeNearUint64Max_ChunkCountDoesNotWrap) {
    Manifest m = presentManifest();
    m.inline_body.reset();
    m.size = UINT64_MAX;
    m.chunk_size = 4;
    m.chunks = 1;  // what (size + chunk_size - 1) / chunk_size would give after wrapping
    m.chunk_digests = {std::string(64, '1')};
    m.xfer = "x";
    auto r = parseManifest(serializeManifest(m));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("needs 4611686018427387904"));
}

TEST(ToString, StatusAndRefusal) {
    EXPECT_EQ(toString(ManifestStatus::Present), "present");
    EXPECT_EQ(toString(ManifestStatus::Absent), "absent");
    EXPECT_EQ(toString(ManifestStatus::Error), "error");
    EXPECT_EQ(toString(Refusal::BadSignature), "bad_signature");
    EXPECT_EQ(toString(Refusal::UnknownKey), "unknown_key");
    EXPECT_EQ(toString(Refusal::ExpiredKey), "expired_key");
    EXPECT_EQ(toString(Refusal::WrongZone), "wrong_zone");
    EXPECT_EQ(toString(Refusal::Malformed), "malformed");
    EXPECT_EQ(toString(Refusal::BodyMismatch), "body_mismatch");
    EXPECT_EQ(toString(Refusal::TooLarge), "too_large");
}

// --- verifyManifestReply -----------------------------------------------------------------

class VerifyReply : public ::testing::Test {
protected:
    SecretKey key = seededKey(1);
    std::vector<TrustedKey> trusted{{.key = key.publicKey(), .not_after = std::nullopt}};
    std::string payload = serializeManifest(presentManifest());

    [[nodiscard]] std::string sigHex(std::string_view p, std::string_view nonce) const {
        return hexOfBytes(signManifest(key, p, nonce));
    }
    Result<VerifiedManifest> verify(std::string_view p, std::string_view sig,
                                    std::string_view zone = kZone,
                                    std::string_view nonce = kNonce) {
        return verifyManifestReply(p, sig, key.publicKey().keyId(), zone, nonce, trusted, kNow);
    }
};

TEST_F(VerifyReply, Valid_ReturnsManifestAndKeyId) {
    auto r = verify(payload, sigHex(payload, kNonce));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->manifest.zone, kZone);
    EXPECT_EQ(r->key_id, key.publicKey().keyId());
}

TEST_F(VerifyReply, UnknownKeyId_UnknownKey) {
    auto r = verifyManifestReply(payload, sigHex(payload, kNonce), "0011223344556677", kZone,
                                 kNonce, trusted, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "unknown_key");
}

// Seen while fuzzing: the unverified Pdd-Key-Id header went into the error (and the log) as is.
TEST_F(VerifyReply, UnknownKeyIdNotHex_NotEchoedRaw) {
    auto r = verifyManifestReply(payload, sigHex(payload, kNonce), "ab\ncd\x1b[0m", kZone, kNonce,
                                 trusted, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "unknown_key");
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    EXPECT_NE(r.error().message.find("<9 bytes, not hex>"), std::string::npos) << r.error().message;
    auto hex = verifyManifestReply(payload, sigHex(payload, kNonce), "0011223344556677", kZone,
                                   kNonce, trusted, kNow);
    ASSERT_FALSE(hex);
    EXPECT_NE(hex.error().message.find("'0011223344556677'"), std::string::npos);
}

TEST_F(VerifyReply, ExpiredKey_ExpiredKey) {
    trusted[0].not_after = kNow - 1s;
    auto r = verify(payload, sigHex(payload, kNonce));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "expired_key");
    trusted[0].not_after = kNow + 1s;
    EXPECT_TRUE(verify(payload, sigHex(payload, kNonce)));
}

TEST_F(VerifyReply, RotationDuplicateEntries_AnyUnexpiredWorks) {
    trusted[0].not_after = kNow - 1s;
    trusted.push_back({.key = key.publicKey(), .not_after = kNow + 24h});
    EXPECT_TRUE(verify(payload, sigHex(payload, kNonce)));
}

TEST_F(VerifyReply, OtherNonce_BadSignature) {
    auto r = verify(payload, sigHex(payload, "ffffffffffffffffffffffffffffffff"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "bad_signature");
}

TEST_F(VerifyReply, TamperedPayload_BadSignature) {
    const std::string sig = sigHex(payload, kNonce);
    std::string tampered = payload;
    tampered.replace(tampered.find("2024010101"), 10, "2024010102");
    auto r = verify(tampered, sig);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "bad_signature");
}

TEST_F(VerifyReply, TruncatedOrGarbageSignature_BadSignature) {
    const std::string sig = sigHex(payload, kNonce);
    for (const std::string& bad :
         {sig.substr(0, 126), std::string(), std::string(128, 'z'), std::string(128, '0')}) {
        auto r = verify(payload, bad);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, "bad_signature");
    }
}

TEST_F(VerifyReply, WrongKeyWithSameIdClaim_BadSignature) {
    // Signed by another key but claiming our key id: the signature check must catch it.
    const auto other = seededKey(2);
    auto r = verify(payload, hexOfBytes(signManifest(other, payload, kNonce)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "bad_signature");
}

TEST_F(VerifyReply, SignedGarbage_Malformed) {
    const std::string garbage = "{\"v\":1,";
    auto r = verify(garbage, sigHex(garbage, kNonce));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "malformed");
}

TEST_F(VerifyReply, OtherZone_WrongZone) {
    auto r = verify(payload, sigHex(payload, kNonce), "example.com.");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "wrong_zone");
    EXPECT_THAT(r.error().message, HasSubstr("'example.org.'"));
}

// --- verifyBody --------------------------------------------------------------------------

std::vector<std::byte> bodyOf(std::string_view text) {
    auto r = encodeRrsFromText(text);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<std::byte>{};
}

constexpr std::string_view kBodyText =
    "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 "
    "1209600 3600\n"
    "example.org. 3600 IN NS ns1.example.org.\n"
    "www.example.org. 300 IN A 192.0.2.1\n";

Manifest manifestFor(const std::vector<std::byte>& body) {
    Manifest m = presentManifest();
    m.size = body.size();
    m.digest = hexOfBytes(blake2b256(body));
    m.rr_count = 3;
    m.serial = 2024010101;
    m.inline_body.reset();
    return m;
}

TEST(VerifyBody, Matching_ReturnsValidatedBody) {
    const auto body = bodyOf(kBodyText);
    auto r = verifyBody(manifestFor(body), body);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->rr_count, 3U);
    EXPECT_EQ(r->serial, 2024010101U);
    EXPECT_EQ(r->bytes, body);
}

TEST(VerifyBody, SizeMismatch_BodyMismatch) {
    const auto body = bodyOf(kBodyText);
    Manifest m = manifestFor(body);
    m.size += 1;
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
    EXPECT_THAT(r.error().message, HasSubstr("size"));
}

TEST(VerifyBody, FlippedByte_DigestMismatch) {
    auto body = bodyOf(kBodyText);
    const Manifest m = manifestFor(body);
    body.back() ^= std::byte{1};
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
    EXPECT_THAT(r.error().message, HasSubstr("digest"));
}

TEST(VerifyBody, RrCountMismatch_BodyMismatch) {
    const auto body = bodyOf(kBodyText);
    Manifest m = manifestFor(body);
    m.rr_count = 2;
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
    EXPECT_THAT(r.error().message, HasSubstr("3 records"));
}

TEST(VerifyBody, SerialMismatch_BodyMismatch) {
    const auto body = bodyOf(kBodyText);
    Manifest m = manifestFor(body);
    m.serial = 2024010102;
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
}

TEST(VerifyBody, OwnerOutsideZone_BodyMismatch) {
    const auto body = bodyOf(
        "example.org. 3600 IN SOA ns1.example.org. h.example.org. 1 7200 3600 1209600 3600\n"
        "evil.example.com. 300 IN A 192.0.2.1\n");
    Manifest m = manifestFor(body);
    m.rr_count = 2;
    m.serial = 1;
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
}

TEST(VerifyBody, SoaNotFirst_BodyMismatch) {
    const auto body = bodyOf(
        "www.example.org. 300 IN A 192.0.2.1\n"
        "example.org. 3600 IN SOA ns1.example.org. h.example.org. 1 7200 3600 1209600 3600\n");
    Manifest m = manifestFor(body);
    m.rr_count = 2;
    m.serial = 1;
    auto r = verifyBody(m, body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "body_mismatch");
}

TEST(VerifyBody, NotPresent_Refused) {
    Manifest m = presentManifest();
    m.status = ManifestStatus::Absent;
    EXPECT_FALSE(verifyBody(m, {}));
}

// --- chunking and time -------------------------------------------------------------------

TEST(ChunkBody, SplitsWithDigests) {
    std::vector<std::byte> body(10);
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::byte>(i);
    const auto c = chunkBody(body, 4);
    EXPECT_EQ(c.chunk_size, 4U);
    ASSERT_EQ(c.digests.size(), 3U);
    EXPECT_EQ(c.digests[0], hexOfBytes(blake2b256(std::span(body).subspan(0, 4))));
    EXPECT_EQ(c.digests[1], hexOfBytes(blake2b256(std::span(body).subspan(4, 4))));
    EXPECT_EQ(c.digests[2], hexOfBytes(blake2b256(std::span(body).subspan(8, 2))));
}

TEST(ChunkBody, ExactMultipleAndEmpty) {
    const std::vector<std::byte> body(8);
    EXPECT_EQ(chunkBody(body, 4).digests.size(), 2U);
    EXPECT_TRUE(chunkBody({}, 4).digests.empty());
    EXPECT_EQ(chunkBody(body, 100).digests.size(), 1U);
}

TEST(Rfc3339, UtcSecondResolution) {
    EXPECT_EQ(rfc3339(kNow), "2026-11-26T13:04:55Z");
    EXPECT_EQ(rfc3339(kNow + 999ms), "2026-11-26T13:04:55Z");
    EXPECT_EQ(rfc3339(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace pdns_distribute::common
