// SPDX-License-Identifier: Apache-2.0
// Verify logic: liveness from heartbeats, bucket comparison, lag and resync backoff, all on a
// manual clock; and the leadership lock.

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "fake_hashes.hpp"
#include "fake_key_value.hpp"
#include "leadership.hpp"
#include "manual_clock.hpp"
#include "verifier.hpp"

namespace pdns_distribute::health_checker {
namespace {

using namespace std::chrono_literals;
using common::BucketReply;
using common::ServedZone;
using common::ZoneDigest;

using testing::h;
using testing::hx;

common::Heartbeat beat(const std::string& node, const std::string& digest,
                       const std::string& instance = "i1") {
    return common::Heartbeat{.node = node,
                             .instance = instance,
                             .version = "t",
                             .zones = 0,
                             .parked = 0,
                             .digest = digest,
                             .load1 = 0,
                             .cores = 2,
                             .since = {},
                             .interval_ms = 1000,
                             .scanned = true};
}

ServedZone served(const std::string& zone, uint32_t serial, const std::string& content) {
    return ServedZone{.zone = zone,
                      .serial = serial,
                      .content = hx(content),
                      .apex = hx(content),
                      .expiry = std::nullopt,
                      .error = {}};
}

class VerifierTest : public ::testing::Test {
protected:
    VerifierTest()
        : verifier_(
              VerifierSettings{
                  .event_check_wait = 20s, .resync_backoff_max = 100s, .missed_heartbeats = 3},
              clock_) {}

    /// The node serves `have` (zone → content); returns its digest.
    static ZoneDigest digestOf(const std::map<std::string, std::string>& have) {
        ZoneDigest d;
        for (const auto& [z, c] : have) d.toggle(z, hx(c));
        return d;
    }

    /// One examination round as the service runs it.
    void examine(const std::string& node, const std::map<std::string, std::string>& have) {
        const auto node_digest = digestOf(have);
        const auto differing = desired_.digest().differingBuckets(node_digest);
        verifier_.examined(node, node_digest.totalHex(), desired_.digest().totalHex(), differing);
        for (const auto k : differing) {
            BucketReply reply{.bucket = static_cast<uint32_t>(k), .zones = {}};
            for (const auto& [z, c] : have) {
                if (ZoneDigest::bucketOf(z) == k) reply.zones.push_back(served(z, 1, c));
            }
            verifier_.compareBucket(node, reply, desired_);
        }
    }

    testing::ManualClock clock_;
    Verifier verifier_;
    DesiredState desired_;
};

TEST_F(VerifierTest, NodeInactiveAfterThreeMissedHeartbeats) {
    verifier_.heartbeat(beat("a", std::string(32, '1')));
    clock_.advance(3s);
    ASSERT_EQ(verifier_.nodes().size(), 1U);
    EXPECT_TRUE(verifier_.nodes()[0].active);
    EXPECT_EQ(verifier_.nodesToExamine(desired_.digest().totalHex()).size(), 1U);
    clock_.advance(1ms);
    EXPECT_FALSE(verifier_.nodes()[0].active);
    // An offline node costs nothing: it is not examined and gets no resyncs.
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
    verifier_.heartbeat(beat("a", std::string(32, '1')));
    EXPECT_TRUE(verifier_.nodes()[0].active);
}

// A node catching up (its lanes hold more than its workers) is left alone until it reports
// otherwise: its digest moves with every apply, and its lanes already hold what differs.
TEST_F(VerifierTest, CatchingUpNode_NotExaminedUntilCaughtUp) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    auto h = beat("n", digestOf({}).totalHex());
    h.backlog = 5000;
    h.catching_up = true;
    verifier_.heartbeat(h);
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
    h.backlog = 3;
    h.catching_up = false;
    verifier_.heartbeat(h);
    EXPECT_EQ(verifier_.nodesToExamine(desired_.digest().totalHex()),
              std::vector<std::string>{"n"});
}

TEST_F(VerifierTest, MatchingDigestIsInSyncAndNeedsNoLook) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({{"a.test.", "x"}}).totalHex()));
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
    EXPECT_TRUE(verifier_.nodes()[0].in_sync);
}

TEST_F(VerifierTest, FindsMissingDifferentAndUnwantedZones) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    desired_.set("b.test.", {.serial = 2, .content = h("y")});
    desired_.set("same.test.", {.serial = 3, .content = h("z")});
    const std::map<std::string, std::string> have{
        {"b.test.", "old"}, {"c.test.", "w"}, {"same.test.", "z"}};
    verifier_.heartbeat(beat("n", digestOf(have).totalHex()));
    ASSERT_EQ(verifier_.nodesToExamine(desired_.digest().totalHex()),
              std::vector<std::string>{"n"});
    examine("n", have);
    std::map<std::string, Divergence> by_zone;
    for (const auto& d : verifier_.divergences()) by_zone[d.zone] = d;
    ASSERT_EQ(by_zone.size(), 3U);
    EXPECT_FALSE(by_zone["a.test."].served_serial.has_value());  // missing
    EXPECT_EQ(by_zone["a.test."].wanted_serial, 1U);
    EXPECT_EQ(by_zone["b.test."].served_content, hx("old"));     // different
    EXPECT_FALSE(by_zone["c.test."].wanted_serial.has_value());  // not wanted
    EXPECT_FALSE(verifier_.nodes()[0].in_sync);
    EXPECT_EQ(verifier_.nodes()[0].out_of_sync, 3U);
    // Same digests again: no second look.
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
}

TEST_F(VerifierTest, UnknownZonesAreNeverReported) {
    desired_.setUnknown("new.test.");
    const std::map<std::string, std::string> have{{"new.test.", "v"}};
    verifier_.heartbeat(beat("n", digestOf(have).totalHex()));
    examine("n", have);
    EXPECT_TRUE(verifier_.divergences().empty());
}

TEST_F(VerifierTest, ResyncOnlyAfterEventCheckWaitThenWithDoublingBackoff) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    examine("n", {});
    EXPECT_TRUE(verifier_.dueResyncs().empty());
    clock_.advance(19s);
    EXPECT_TRUE(verifier_.dueResyncs().empty());
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    clock_.advance(1s);
    auto due = verifier_.dueResyncs();
    ASSERT_EQ(due.size(), 1U);
    EXPECT_EQ(due["n"], std::vector<std::string>{"a.test."});
    EXPECT_EQ(verifier_.nodes()[0].max_lag, 20s);
    // The next try waits 40 s, then 80 s, then the 100 s cap.
    for (const auto wait : {40s, 80s, 100s, 100s}) {
        verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
        clock_.advance(wait - 1s);
        verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
        EXPECT_TRUE(verifier_.dueResyncs().empty());
        clock_.advance(1s);
        verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
        EXPECT_EQ(verifier_.dueResyncs().size(), 1U) << wait.count();
    }
}

// A node that started reading a long backlog after it was examined (a node joining a fleet,
// whose first heartbeat came before its first fetch answered): what differs is in its backlog,
// so it gets no resync until it says it has caught up. (Found in the 100,000-zone bootstrap: the
// joining node was asked to resync 47,252 zones it was about to apply anyway.)
TEST_F(VerifierTest, CatchingUpNode_NoResyncUntilCaughtUp) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    examine("n", {});
    auto busy = beat("n", digestOf({}).totalHex());
    busy.backlog = 99'000;
    busy.catching_up = true;
    for (int i = 0; i < 10; ++i) {
        clock_.advance(5s);
        verifier_.heartbeat(busy);
        EXPECT_TRUE(verifier_.dueResyncs().empty()) << i;
    }
    EXPECT_EQ(verifier_.divergences().size(), 1U);  // still shown
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    auto due = verifier_.dueResyncs();
    EXPECT_EQ(due["n"], std::vector<std::string>{"a.test."});
}

TEST_F(VerifierTest, InactiveNodeGetsNoResync) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    examine("n", {});
    clock_.advance(25s);
    EXPECT_TRUE(verifier_.dueResyncs().empty());
    EXPECT_EQ(verifier_.divergences().size(), 1U);  // still shown
}

TEST_F(VerifierTest, RepairedZoneClearsAndLagRestarts) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    examine("n", {});
    clock_.advance(5s);
    const std::map<std::string, std::string> fixed{{"a.test.", "x"}};
    verifier_.heartbeat(beat("n", digestOf(fixed).totalHex()));
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
    EXPECT_TRUE(verifier_.divergences().empty());
    EXPECT_TRUE(verifier_.nodes()[0].in_sync);
    EXPECT_EQ(verifier_.nodes()[0].max_lag, 0ms);
}

TEST_F(VerifierTest, PersistingDivergenceKeepsItsAge) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    desired_.set("b.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex()));
    examine("n", {});
    clock_.advance(10s);
    // b gets fixed, a does not: a's divergence is still 10 s old after the next look.
    const std::map<std::string, std::string> half{{"b.test.", "x"}};
    verifier_.heartbeat(beat("n", digestOf(half).totalHex()));
    ASSERT_EQ(verifier_.nodesToExamine(desired_.digest().totalHex()).size(), 1U);
    examine("n", half);
    ASSERT_EQ(verifier_.divergences().size(), 1U);
    EXPECT_EQ(verifier_.divergences()[0].zone, "a.test.");
    EXPECT_EQ(verifier_.nodes()[0].max_lag, 10s);
}

TEST_F(VerifierTest, NewInstanceIsExaminedAgain) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    verifier_.heartbeat(beat("n", digestOf({}).totalHex(), "i1"));
    examine("n", {});
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
    verifier_.heartbeat(beat("n", digestOf({}).totalHex(), "i2"));
    EXPECT_EQ(verifier_.nodesToExamine(desired_.digest().totalHex()).size(), 1U);
}

TEST_F(VerifierTest, NotYetScannedNodeIsNotJudged) {
    desired_.set("a.test.", {.serial = 1, .content = h("x")});
    auto h = beat("n", digestOf({}).totalHex());
    h.scanned = false;
    verifier_.heartbeat(h);
    EXPECT_TRUE(verifier_.nodesToExamine(desired_.digest().totalHex()).empty());
}

TEST(LeadershipTest, OneLeaderRenewsAStandbyWaits) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "checker.default", "a", 9s, clock);
    Leadership b(kv, "checker.default", "b", 9s, clock);
    EXPECT_TRUE(a.tick());
    EXPECT_FALSE(b.tick());
    EXPECT_EQ(b.holder(), "a");
    clock.advance(3s);
    EXPECT_TRUE(a.tick());
    EXPECT_FALSE(b.tick());
}

TEST(LeadershipTest, StandbyTakesOverWhenTheLockExpires) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "k", "a", 9s, clock);
    Leadership b(kv, "k", "b", 9s, clock);
    ASSERT_TRUE(a.tick());
    ASSERT_FALSE(b.tick());
    kv.expire("k");  // a died; the bucket TTL removed its entry
    EXPECT_TRUE(b.tick());
    EXPECT_EQ(b.holder(), "b");
    // a comes back from a pause: its renewal conflicts and it stops at once.
    EXPECT_FALSE(a.tick());
    EXPECT_FALSE(a.leading());
}

TEST(LeadershipTest, LateRenewalStopsActingBeforeTheLockExpires) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "k", "a", 10s, clock);
    ASSERT_TRUE(a.tick());
    clock.advance(4999ms);
    EXPECT_TRUE(a.leading());
    clock.advance(1ms);
    EXPECT_FALSE(a.leading());  // TTL/2 without a renewal: not acting any more
    kv.failNext(1);
    EXPECT_FALSE(a.tick());  // renewal failed: gives up (create then finds the key held)
}

TEST(LeadershipTest, TransientRenewalFailureWithinHalfTtlKeepsTheLead) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "k", "a", 9s, clock);
    ASSERT_TRUE(a.tick());
    clock.advance(3s);
    kv.failNext(1);
    EXPECT_TRUE(a.tick());
    clock.advance(1s);
    EXPECT_TRUE(a.tick());  // renewed
}

TEST(LeadershipTest, ReleaseLetsTheStandbyIn) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "k", "a", 9s, clock);
    Leadership b(kv, "k", "b", 9s, clock);
    ASSERT_TRUE(a.tick());
    a.release();
    EXPECT_FALSE(a.leading());
    EXPECT_TRUE(b.tick());
}

TEST(LeadershipTest, OverwrittenLockIsLost) {
    testing::ManualClock clock;
    testing::FakeKeyValue kv;
    Leadership a(kv, "k", "a", 9s, clock);
    ASSERT_TRUE(a.tick());
    kv.overwrite("k", "intruder");
    EXPECT_FALSE(a.tick());
    EXPECT_EQ(a.holder(), "intruder");
}

// The desired state keeps each bucket as a sorted vector: zones set in any order, or set again,
// are found, kept in name order, counted once, and the digest holds each zone's latest content.
TEST(DesiredState, AnyOrderAndReplacements_SortedCountedOnceLatestContent) {
    DesiredState desired;
    std::vector<std::string> names;
    for (int i = 0; i < 3000; ++i) names.push_back(fmt::format("z{}.test.", (i * 7919) % 3000));
    for (const auto& n : names) desired.set(n, {.serial = 1, .content = h("old")});
    for (int i = 0; i < 3000; i += 2) {
        desired.set(fmt::format("z{}.test.", i), {.serial = 2, .content = h("new")});
    }
    EXPECT_EQ(desired.size(), 3000u);
    ZoneDigest expected;
    size_t listed = 0;
    for (int i = 0; i < 3000; ++i) {
        const auto zone = fmt::format("z{}.test.", i);
        expected.toggle(zone, hx(i % 2 == 0 ? "new" : "old"));
        const auto z = desired.find(zone);
        ASSERT_TRUE(z.has_value()) << zone;
        EXPECT_EQ(z->serial, i % 2 == 0 ? 2u : 1u);
    }
    EXPECT_EQ(desired.digest(), expected);
    for (size_t k = 0; k < ZoneDigest::kBuckets; ++k) {
        const auto& b = desired.bucket(k);
        listed += b.size();
        for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(desired.name(b[i - 1]), desired.name(b[i]));
        for (const auto& e : b) {
            EXPECT_EQ(ZoneDigest::bucketOf(desired.name(e)), k);
            EXPECT_EQ(desired.find(b, desired.name(e)), &e.zone);
        }
    }
    EXPECT_EQ(listed, 3000u);
    EXPECT_FALSE(desired.find("missing.test."));
}

// Sized before it is filled (what every rebuild does), the state holds no growth slack: each
// bucket's capacity is its size.
TEST(DesiredState, Reserved_NoGrowthSlack) {
    std::vector<std::string> names;
    for (int i = 0; i < 20000; ++i) names.push_back(fmt::format("r{}.test.", (i * 7919) % 20000));
    std::vector<uint32_t> per_bucket(ZoneDigest::kBuckets);
    size_t name_bytes = 0;
    for (const auto& n : names) {
        ++per_bucket[ZoneDigest::bucketOf(n)];
        name_bytes += n.size();
    }
    DesiredState desired;
    desired.reserve(per_bucket, name_bytes);
    for (const auto& n : names) desired.set(n, {.serial = 1, .content = h("c")});
    EXPECT_EQ(desired.size(), names.size());
    size_t slack = 0;
    for (size_t k = 0; k < ZoneDigest::kBuckets; ++k) {
        slack += desired.bucket(k).capacity() - desired.bucket(k).size();
    }
    EXPECT_EQ(slack, 0U);
}

}  // namespace
}  // namespace pdns_distribute::health_checker
