// SPDX-License-Identifier: Apache-2.0
// Serial arithmetic (RFC 1982), the bucketed zone digest and the node messages.

#include <gtest/gtest.h>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/serial.hpp>
#include <pdns_distribute/common/zone_digest.hpp>

namespace pdns_distribute::common {
namespace {

TEST(SerialTest, OrdersWithinHalfTheSpace) {
    EXPECT_EQ(compareSerial(1, 1), SerialOrder::Equal);
    EXPECT_EQ(compareSerial(1, 2), SerialOrder::Less);
    EXPECT_EQ(compareSerial(2, 1), SerialOrder::Greater);
    EXPECT_EQ(compareSerial(2026112601, 2026112602), SerialOrder::Less);
}

TEST(SerialTest, WrapsAround) {
    // RFC 1982 §5.2: 4294967295 + 1 wraps to 0, and 0 is "greater" than 4294967295.
    EXPECT_EQ(compareSerial(0xFFFFFFFFu, 0), SerialOrder::Less);
    EXPECT_EQ(compareSerial(0, 0xFFFFFFFFu), SerialOrder::Greater);
    EXPECT_EQ(compareSerial(0xFFFFFF00u, 100), SerialOrder::Less);
    EXPECT_EQ(compareSerial(100, 0xFFFFFF00u), SerialOrder::Greater);
}

TEST(SerialTest, HalfwayIsUndefined) {
    EXPECT_EQ(compareSerial(0, 0x80000000u), SerialOrder::Undefined);
    EXPECT_EQ(compareSerial(0x80000000u, 0), SerialOrder::Undefined);
    EXPECT_EQ(compareSerial(5, 5 + 0x7FFFFFFFu), SerialOrder::Less);
    EXPECT_EQ(compareSerial(5, 5 + 0x80000001u), SerialOrder::Greater);
}

TEST(ZoneDigestTest, SameSetSameDigestWhateverTheOrder) {
    ZoneDigest a;
    ZoneDigest b;
    a.toggle("a.test.", "c1");
    a.toggle("b.test.", "c2");
    b.toggle("b.test.", "c2");
    b.toggle("a.test.", "c1");
    EXPECT_EQ(a.totalHex(), b.totalHex());
    EXPECT_TRUE(a.differingBuckets(b).empty());
    EXPECT_NE(a.totalHex(), ZoneDigest{}.totalHex());
}

TEST(ZoneDigestTest, ToggleTwiceRemoves) {
    ZoneDigest d;
    d.toggle("a.test.", "c1");
    d.toggle("a.test.", "c1");
    EXPECT_EQ(d, ZoneDigest{});
    EXPECT_EQ(d.totalHex(), std::string(32, '0'));
}

TEST(ZoneDigestTest, ContentChangeShowsInTheZonesBucketOnly) {
    ZoneDigest want;
    ZoneDigest have;
    for (int i = 0; i < 500; ++i) {
        const auto zone = "z" + std::to_string(i) + ".test.";
        want.toggle(zone, "v1");
        have.toggle(zone, i == 42 ? "v2" : "v1");
    }
    EXPECT_NE(want.totalHex(), have.totalHex());
    const auto diff = want.differingBuckets(have);
    ASSERT_EQ(diff.size(), 1U);
    EXPECT_EQ(diff.front(), ZoneDigest::bucketOf("z42.test."));
}

TEST(ZoneDigestTest, MissingZoneIsADifference) {
    ZoneDigest want;
    ZoneDigest have;
    want.toggle("a.test.", "x");
    want.toggle("b.test.", "x");
    have.toggle("a.test.", "x");
    const auto diff = want.differingBuckets(have);
    ASSERT_EQ(diff.size(), 1U);
    EXPECT_EQ(diff.front(), ZoneDigest::bucketOf("b.test."));
}

TEST(ZoneDigestTest, ContributionSeparatesZoneFromContent) {
    // "ab" + "c" and "a" + "bc" must not collide.
    EXPECT_NE(ZoneDigest::contribution("ab", "c"), ZoneDigest::contribution("a", "bc"));
}

TEST(ZoneDigestTest, BucketsRoundTripThroughHex) {
    ZoneDigest d;
    for (int i = 0; i < 100; ++i) d.toggle("z" + std::to_string(i) + ".", "c");
    const auto hex = d.bucketsHex();
    ASSERT_EQ(hex.size(), ZoneDigest::kBuckets * 32);
    auto back = ZoneDigest::fromBucketsHex(hex);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, d);
    EXPECT_EQ(back->totalHex(), d.totalHex());
    EXPECT_FALSE(ZoneDigest::fromBucketsHex(hex.substr(1)).has_value());
    auto bad = hex;
    bad[7] = 'g';
    EXPECT_FALSE(ZoneDigest::fromBucketsHex(bad).has_value());
}

TEST(ZoneDigestTest, BucketsSpreadZones) {
    std::vector<int> count(ZoneDigest::kBuckets, 0);
    for (int i = 0; i < 40960; ++i) ++count[ZoneDigest::bucketOf("zone" + std::to_string(i) + ".")];
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_GT(*lo, 0);   // 10 per bucket on average
    EXPECT_LT(*hi, 40);  // no pile-up
}

TEST(ApexFingerprintTest, ContentIgnoresSignatureWindows) {
    ApexFingerprint a;
    a.serial = 7;
    a.soa_sigs = {{.key_tag = 1, .inception = 100, .expiration = 200}};
    ApexFingerprint resigned = a;
    resigned.soa_sigs = {{.key_tag = 1, .inception = 150, .expiration = 300}};
    EXPECT_NE(a.hex(), resigned.hex());
    EXPECT_EQ(a.contentHex(), resigned.contentHex());
    EXPECT_EQ(a.earliestExpiry(), 200U);
    ApexFingerprint rolled = a;
    rolled.soa_sigs.push_back({.key_tag = 2, .inception = 100, .expiration = 150});
    EXPECT_NE(a.contentHex(), rolled.contentHex());
    EXPECT_EQ(rolled.earliestExpiry(), 150U);
    ApexFingerprint bumped = a;
    bumped.serial = 8;
    EXPECT_NE(a.contentHex(), bumped.contentHex());
    EXPECT_FALSE(ApexFingerprint{}.earliestExpiry().has_value());
}

TEST(NodeMessagesTest, HeartbeatRoundTrip) {
    Heartbeat h{.node = "sec-1",
                .instance = "abc",
                .version = "0.1.0",
                .zones = 12,
                .parked = 1,
                .digest = std::string(32, 'a'),
                .load1 = 0.5,
                .cores = 2,
                .since = "2026-11-26T10:00:00.000Z",
                .interval_ms = 1000,
                .scanned = true,
                .backlog = 4200,
                .catching_up = true};
    auto back = parseHeartbeat(serializeHeartbeat(h));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->node, "sec-1");
    EXPECT_EQ(back->zones, 12U);
    EXPECT_EQ(back->digest, h.digest);
    EXPECT_EQ(back->interval_ms, 1000U);
    EXPECT_TRUE(back->scanned);
    EXPECT_EQ(back->backlog, 4200U);
    EXPECT_TRUE(back->catching_up);
    EXPECT_DOUBLE_EQ(back->load1, 0.5);
    // From a syncer that predates the fields: not catching up.
    auto old = parseHeartbeat(R"({"v":1,"node":"a","digest":"00000000000000000000000000000000"})");
    ASSERT_TRUE(old);
    EXPECT_EQ(old->backlog, 0U);
    EXPECT_FALSE(old->catching_up);
}

TEST(NodeMessagesTest, HeartbeatRejectsGarbage) {
    EXPECT_FALSE(parseHeartbeat("nope"));
    EXPECT_FALSE(
        parseHeartbeat(R"({"v":2,"node":"a","digest":"00000000000000000000000000000000"})"));
    EXPECT_FALSE(
        parseHeartbeat(R"({"v":1,"node":"a.b","digest":"00000000000000000000000000000000"})"));
    EXPECT_FALSE(parseHeartbeat(R"({"v":1,"node":"a","digest":"00"})"));
    EXPECT_FALSE(parseHeartbeat(
        R"({"v":1,"node":"a","digest":"00000000000000000000000000000000","interval_ms":0})"));
    EXPECT_TRUE(parseHeartbeat(
        R"({"v":1,"node":"a","digest":"00000000000000000000000000000000","zones":1e300})"));
}

TEST(NodeMessagesTest, StateRequestIsOneOrTheOther) {
    auto all = parseStateRequest(serializeStateRequest({.buckets = true, .bucket = {}}));
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->buckets);
    auto one = parseStateRequest(serializeStateRequest({.buckets = false, .bucket = 4095}));
    ASSERT_TRUE(one);
    EXPECT_EQ(one->bucket, 4095U);
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"bucket":4096})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"buckets":true,"bucket":1})"));
}

TEST(NodeMessagesTest, StateRequest_GroupsAndBucketRanges) {
    auto groups = parseStateRequest(serializeStateRequest({.groups = true}));
    ASSERT_TRUE(groups);
    EXPECT_TRUE(groups->groups);
    EXPECT_FALSE(groups->buckets);
    auto range =
        parseStateRequest(serializeStateRequest({.buckets = true, .first = 64, .count = 64}));
    ASSERT_TRUE(range);
    EXPECT_TRUE(range->buckets);
    EXPECT_EQ(range->first, 64U);
    EXPECT_EQ(range->count, 64U);
    // Without a range: all 4,096 (what older checkers send).
    auto all = parseStateRequest(R"({"v":1,"buckets":true})");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->first, 0U);
    EXPECT_EQ(all->count, 4096U);
    EXPECT_TRUE(parseStateRequest(R"({"v":1,"buckets":true,"first":4032,"count":64})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"buckets":true,"first":4033,"count":64})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"buckets":true,"first":0,"count":0})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"buckets":true,"first":64})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"buckets":true,"first":-1,"count":1})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"groups":true,"bucket":1})"));
    EXPECT_FALSE(parseStateRequest(R"({"v":1,"groups":true,"buckets":true})"));
}

TEST(ZoneDigestTest, GroupsAreTheXorOfTheirBucketsAndLocateADifference) {
    ZoneDigest a;
    ZoneDigest b;
    for (int i = 0; i < 500; ++i) {
        const auto zone = "z" + std::to_string(i) + ".test.";
        a.toggle(zone, "c1");
        b.toggle(zone, "c1");
    }
    EXPECT_EQ(a.groupsHex(), b.groupsHex());
    b.toggle("z7.test.", "c1");  // remove
    b.toggle("z7.test.", "c2");  // and add with other content
    const size_t k = ZoneDigest::bucketOf("z7.test.");
    const size_t g = k / ZoneDigest::kGroupSize;
    for (size_t i = 0; i < ZoneDigest::kGroups; ++i) {
        EXPECT_EQ(a.group(i) == b.group(i), i != g) << "group " << i;
    }
    // The XOR of the groups is the total.
    auto groups = ZoneDigest::parseHashes(b.groupsHex(), ZoneDigest::kGroups);
    ASSERT_TRUE(groups);
    ZoneDigest::Hash total{};
    for (const auto& h : *groups) {
        for (size_t i = 0; i < total.size(); ++i) total[i] ^= h[i];
    }
    EXPECT_EQ(ZoneDigest::hex(total), b.totalHex());
    // The group's bucket range holds exactly the differing bucket.
    const size_t first = g * ZoneDigest::kGroupSize;
    auto range = ZoneDigest::parseHashes(b.bucketsHex(first, ZoneDigest::kGroupSize),
                                         ZoneDigest::kGroupSize);
    ASSERT_TRUE(range);
    for (size_t i = 0; i < range->size(); ++i) {
        EXPECT_EQ(a.bucket(first + i) == (*range)[i], first + i != k) << "bucket " << first + i;
    }
    EXPECT_EQ(b.bucketsHex(4090, 64).size(), 6U * 32U);  // clipped at the end
    EXPECT_FALSE(ZoneDigest::parseHashes(b.groupsHex(), ZoneDigest::kGroups - 1));
    EXPECT_FALSE(ZoneDigest::parseHashes(std::string(32, 'g'), 1));
}

TEST(NodeMessagesTest, BucketReplyRoundTrip) {
    BucketReply r{.bucket = 7,
                  .zones = {ServedZone{.zone = "A.Test",
                                       .serial = 5,
                                       .content = "c",
                                       .apex = "x",
                                       .expiry = 99,
                                       .error = ""},
                            ServedZone{.zone = "b.test.",
                                       .serial = {},
                                       .content = {},
                                       .apex = {},
                                       .expiry = {},
                                       .error = "not served"}}};
    auto back = parseBucketReply(serializeBucketReply(r));
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->zones.size(), 2U);
    EXPECT_EQ(back->zones[0].zone, "a.test.");
    EXPECT_EQ(back->zones[0].serial, 5U);
    EXPECT_EQ(back->zones[0].expiry, 99U);
    EXPECT_FALSE(back->zones[1].serial);
    EXPECT_EQ(back->zones[1].error, "not served");
    EXPECT_FALSE(parseBucketReply(R"({"v":1,"bucket":1,"zones":[{"zone":"a..b"}]})"));
}

TEST(NodeMessagesTest, AppliedAndResync) {
    auto a = parseAppliedReport(serializeAppliedReport(AppliedReport{.zone = "a.test.",
                                                                     .serial = 3,
                                                                     .apex = "x",
                                                                     .op = "applied",
                                                                     .apply_ms = 12,
                                                                     .event_ms = 15,
                                                                     .error = {}}));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->event_ms, 15);
    EXPECT_EQ(a->serial, 3U);
    auto r = parseResyncRequest(serializeResyncRequest({.zones = {"B.test"}, .all = false}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->zones, std::vector<std::string>{"b.test."});
    EXPECT_TRUE(parseResyncRequest(serializeResyncRequest({.zones = {}, .all = true}))->all);
    EXPECT_FALSE(parseResyncRequest(R"({"v":1})"));
    EXPECT_FALSE(parseResyncRequest(R"({"v":1,"zones":["bad..name"]})"));
}

}  // namespace
}  // namespace pdns_distribute::common
