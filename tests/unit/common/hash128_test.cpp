// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/zone_digest.hpp>

#include <gtest/gtest.h>

namespace pdns_distribute::common {
namespace {

TEST(Hash128, RoundTripsHexInLowercase) {
    const auto h = Hash128::fromHex("00FF10a0b1c2d3e4f5061728394a5b6c");
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->bytes[0], 0x00);
    EXPECT_EQ(h->bytes[1], 0xff);
    EXPECT_EQ(h->bytes[15], 0x6c);
    EXPECT_EQ(h->hex(), "00ff10a0b1c2d3e4f5061728394a5b6c");
    EXPECT_EQ(Hash128::fromHex(h->hex()), h);
}

TEST(Hash128, RejectsWrongLengthsAndNonHexDigits) {
    EXPECT_FALSE(Hash128::fromHex(""));
    EXPECT_FALSE(Hash128::fromHex("00ff10a0b1c2d3e4f5061728394a5b6"));
    EXPECT_FALSE(Hash128::fromHex("00ff10a0b1c2d3e4f5061728394a5b6c0"));
    EXPECT_FALSE(Hash128::fromHex("00ff10a0b1c2d3e4f5061728394a5b6g"));
    EXPECT_FALSE(Hash128::fromHex("00ff10a0b1c2d3e4f5061728394a5b6 "));
    EXPECT_EQ(hashOf(std::optional<std::string>{"not hex"}), std::nullopt);
    EXPECT_EQ(hashOf(std::nullopt), std::nullopt);
    EXPECT_EQ(hexOf(std::nullopt), std::nullopt);
}

TEST(Hash128, FingerprintBytesMatchTheirHexForms) {
    ApexFingerprint fp;
    fp.serial = 2026112701;
    fp.dnskey_hash[3] = std::byte{7};
    fp.soa_sigs.push_back({.key_tag = 4242, .inception = 100, .expiration = 200});
    EXPECT_EQ(fp.hash().hex(), fp.hex());
    EXPECT_EQ(fp.contentHash().hex(), fp.contentHex());
    EXPECT_NE(fp.hash(), fp.contentHash());
}

TEST(Hash128, DigestToggleWithBytesEqualsToggleWithHex) {
    const auto content = Hash128::fromHex("0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(content.has_value());
    ZoneDigest with_hex;
    ZoneDigest with_bytes;
    with_hex.toggle("example.org.", content->hex());
    with_bytes.toggle("example.org.", *content);
    EXPECT_EQ(with_hex, with_bytes);
    EXPECT_NE(with_bytes, ZoneDigest{});
}

}  // namespace
}  // namespace pdns_distribute::common
