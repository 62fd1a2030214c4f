// SPDX-License-Identifier: Apache-2.0
#include "served_table.hpp"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace pdns_distribute::secondary_syncer {
namespace {

using common::ZoneDigest;

ServedState served(uint32_t serial) {
    return ServedState{.serial = serial,
                       .content = *common::Hash128::fromHex(fmt::format("{:032x}", serial)),
                       .apex = *common::Hash128::fromHex(fmt::format("{:032x}", serial + 1)),
                       .expiry = std::nullopt,
                       .error = {}};
}

std::set<std::string> namesIn(const common::BucketReply& reply) {
    std::set<std::string> out;
    for (const auto& z : reply.zones) out.insert(z.zone);
    return out;
}

// Every bucket request answers exactly the zones of that bucket, in name order, through sets,
// errors and erasures; the served count and the digest follow along.
TEST(ServedTable, BucketsAndCountsFollowEveryChange) {
    ServedTable table;
    std::map<size_t, std::set<std::string>> expected;
    for (int i = 0; i < 2000; ++i) {
        const auto zone = fmt::format("z{}.example.", i);
        table.set(zone, served(static_cast<uint32_t>(i + 1)));
        expected[ZoneDigest::bucketOf(zone)].insert(zone);
    }
    for (int i = 0; i < 2000; i += 3) {
        const auto zone = fmt::format("z{}.example.", i);
        table.erase(zone);
        expected[ZoneDigest::bucketOf(zone)].erase(zone);
    }
    table.setError("z1.example.", "apply failed");    // stays served, with the error noted
    table.setError("new.example.", "not there yet");  // listed, not served
    expected[ZoneDigest::bucketOf("new.example.")].insert("new.example.");
    table.erase("never.example.");

    size_t listed = 0;
    for (const auto& [k, zones] : expected) {
        const auto reply = table.bucket(static_cast<uint32_t>(k));
        EXPECT_EQ(namesIn(reply), zones) << "bucket " << k;
        EXPECT_EQ(table.zonesIn(static_cast<uint32_t>(k)),
                  std::vector<std::string>(zones.begin(), zones.end()))
            << "bucket " << k;  // what the scan walks: the same names, in order
        for (size_t i = 1; i < reply.zones.size(); ++i) {
            EXPECT_LT(reply.zones[i - 1].zone, reply.zones[i].zone);
        }
        listed += zones.size();
    }
    EXPECT_EQ(table.zones().size(), listed);
    EXPECT_EQ(table.size(), listed);
    EXPECT_EQ(table.servedCount(), listed - 1);  // new.example. is not served
    size_t walked = 0;
    for (uint32_t k = 0; k < ZoneDigest::kBuckets; ++k) walked += table.zonesIn(k).size();
    EXPECT_EQ(walked, listed);
    EXPECT_TRUE(table.zonesIn(static_cast<uint32_t>(ZoneDigest::kBuckets)).empty());

    const auto newcomer = table.bucket(static_cast<uint32_t>(ZoneDigest::bucketOf("new.example.")));
    for (const auto& z : newcomer.zones) {
        if (z.zone == "new.example.") {
            EXPECT_FALSE(z.serial);
            EXPECT_EQ(z.error, "not there yet");
        }
    }
    EXPECT_TRUE(table.bucket(static_cast<uint32_t>(ZoneDigest::kBuckets)).zones.empty());
}

TEST(ServedTable, MarkAllUnserved_CountsNothingServedAndDigestIsEmpty) {
    ServedTable table;
    const std::string empty = table.digestHex();
    for (int i = 0; i < 50; ++i) table.set(fmt::format("z{}.example.", i), served(1));
    EXPECT_EQ(table.servedCount(), 50u);
    EXPECT_NE(table.digestHex(), empty);
    table.markAllUnserved("the local pdns does not answer");
    EXPECT_EQ(table.servedCount(), 0u);
    EXPECT_EQ(table.digestHex(), empty);
    EXPECT_EQ(table.zones().size(), 50u);
    table.set("z3.example.", served(2));
    EXPECT_EQ(table.servedCount(), 1u);
    table.erase("z3.example.");
    EXPECT_EQ(table.servedCount(), 0u);
    EXPECT_EQ(table.digestHex(), empty);
}

TEST(ServedTable, SetIfVersion_KeepsTheBucketIndexForNewZones) {
    ServedTable table;
    EXPECT_TRUE(table.setIfVersion("a.example.", served(1), 0));
    EXPECT_FALSE(table.setIfVersion("a.example.", served(2), 0));  // a newer record won
    const auto reply = table.bucket(static_cast<uint32_t>(ZoneDigest::bucketOf("a.example.")));
    ASSERT_EQ(reply.zones.size(), 1u);
    EXPECT_EQ(reply.zones[0].serial, 1u);
}

// The table keeps fingerprints as bytes; the digest and the bucket replies must still be those of
// their hex forms (DESIGN §7: the checker hashes the hex it reads from the stream).
TEST(ServedTable, DigestAndRepliesUseTheHexForms) {
    ServedTable table;
    table.set("a.example.", served(7));
    table.set("b.example.", served(9));
    ZoneDigest expected;
    expected.toggle("a.example.", fmt::format("{:032x}", 7));
    expected.toggle("b.example.", fmt::format("{:032x}", 9));
    EXPECT_EQ(table.digestHex(), expected.totalHex());
    EXPECT_EQ(table.bucketsHex(), expected.bucketsHex());
    const auto reply = table.bucket(static_cast<uint32_t>(ZoneDigest::bucketOf("a.example.")));
    ASSERT_FALSE(reply.zones.empty());
    const auto& a =
        reply.zones.front().zone == "a.example." ? reply.zones.front() : reply.zones.back();
    EXPECT_EQ(a.content, fmt::format("{:032x}", 7));
    EXPECT_EQ(a.apex, fmt::format("{:032x}", 8));
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
