// SPDX-License-Identifier: Apache-2.0
// screenQuery: what the AXFR listener does with a message before it looks at the zone. The
// sockets around it are covered by tests/e2e/listener_test.cpp.
#include "axfr_listener.hpp"

#include <gtest/gtest.h>

#include <pdns_distribute/common/dns.hpp>

namespace pdns_distribute::secondary_syncer {
namespace {

using Outcome = ScreenedQuery::Outcome;

const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'760'000'000}};

TsigKey key(char fill = 'k') {
    return TsigKey("pdns-distribute-sec1.", TsigAlgorithm::HmacSha256, Bytes(32, std::byte(fill)));
}

Bytes query(uint16_t qtype, uint8_t flags = 0) {
    Bytes q{std::byte{0x12}, std::byte{0x34}, std::byte{flags}, std::byte{0},
            std::byte{0},    std::byte{1},    std::byte{0},     std::byte{0},
            std::byte{0},    std::byte{0},    std::byte{0},     std::byte{0}};
    auto name = common::nameToWire("example.org.");
    q.insert(q.end(), name->begin(), name->end());
    for (const uint16_t v : {qtype, uint16_t{1}}) {
        q.push_back(static_cast<std::byte>(v >> 8));
        q.push_back(static_cast<std::byte>(v & 0xff));
    }
    return q;
}

uint8_t rcode(ByteSpan m) { return std::to_integer<uint8_t>(m[3]) & 0x0f; }

TEST(ScreenQuery, SignedQuery_AcceptedWithASignerTheClientVerifies) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    auto mac = signQuery(q, k, kNow);
    ASSERT_TRUE(mac);
    auto s = screenQuery(q, &k, kNow);
    ASSERT_EQ(s.outcome, Outcome::Accepted);
    ASSERT_TRUE(s.query && s.signer);
    EXPECT_EQ(s.query->qname, "example.org.");
    EXPECT_FALSE(s.reply);
    auto answer = common::buildErrorResponse(q, kRcodeNotAuth);
    ASSERT_TRUE(answer);
    ASSERT_TRUE(s.signer->sign(*answer, kNow));
    TsigResponseVerifier client(k, *mac);
    EXPECT_EQ(client.verify(*answer, kNow), TsigStatus::Valid);
}

TEST(ScreenQuery, UnsignedQuery_RefusedNotAuthWithoutTsig) {
    const auto k = key();
    const auto q = query(common::rrtype::kAxfr);
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::Unsigned);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), kRcodeNotAuth);
    auto tsig = findTsig(*s.reply);
    ASSERT_TRUE(tsig);
    EXPECT_FALSE(tsig->has_value());
}

TEST(ScreenQuery, NoKeyYet_SignedQueryRefusedAsUnsigned) {
    auto q = query(common::rrtype::kSoa);
    ASSERT_TRUE(signQuery(q, key(), kNow));
    auto s = screenQuery(q, nullptr, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::Unsigned);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), kRcodeNotAuth);
}

TEST(ScreenQuery, OtherSecret_RefusedWithUnsignedBadSig) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    ASSERT_TRUE(signQuery(q, key('x'), kNow));
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::BadSig);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    auto tsig = findTsig(*s.reply);
    ASSERT_TRUE(tsig && *tsig);
    EXPECT_EQ((*tsig)->error, static_cast<uint16_t>(TsigError::BadSig));
    EXPECT_TRUE((*tsig)->mac.empty());
}

TEST(ScreenQuery, Response_NotAQueryAndNoReply) {
    const auto k = key();
    auto q = query(common::rrtype::kSoa, 0x84);  // QR, AA
    ASSERT_TRUE(signQuery(q, k, kNow));
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::NotAQuery);
    EXPECT_FALSE(s.signer);
    EXPECT_FALSE(s.reply);
}

TEST(ScreenQuery, NoQuestion_MalformedWithFormErr) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    q[5] = std::byte{0};  // QDCOUNT 0
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Malformed);
    EXPECT_FALSE(s.query);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), 1);
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
