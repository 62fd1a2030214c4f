// SPDX-License-Identifier: Apache-2.0
#include "reconciler.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "fake_hashes.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::health_checker {
namespace {

using common::ZoneOp;

using testing::h;
using testing::hx;

MirrorEntry live(uint32_t serial, std::string_view apex, uint64_t seq) {
    return MirrorEntry{.op = ZoneOp::Upsert, .serial = serial, .apex = h(apex), .sequence = seq};
}

std::vector<PrimaryZone> primaryOf(int n) {
    std::vector<PrimaryZone> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(
            PrimaryZone{.name = "z" + std::to_string(i) + ".test.", .serial = 1, .apex = h("a")});
    }
    return out;
}

std::map<std::string, MirrorEntry> mirrorOf(int n) {
    std::map<std::string, MirrorEntry> m;
    for (int i = 0; i < n; ++i) m["z" + std::to_string(i) + ".test."] = live(1, "a", 10 + i);
    return m;
}

MirrorTable tableOf(const std::map<std::string, MirrorEntry>& m) {
    MirrorTable t;
    for (const auto& [zone, entry] : m) t.put(zone, entry);
    return t;
}

std::map<std::string, MirrorEntry> snapshotOf(const ZoneMirror& mirror) {
    std::map<std::string, MirrorEntry> out;
    mirror.forEach([&](std::string_view zone, const MirrorEntry& e) { out.emplace(zone, e); });
    return out;
}

size_t count(const ReconcilePlan& p, ZoneOp op) {
    return static_cast<size_t>(std::count_if(p.publishes.begin(), p.publishes.end(),
                                             [&](const auto& x) { return x.event.op == op; }));
}

class ReconcilerTest : public ::testing::Test {
protected:
    testing::ManualClock clock_;
    Reconciler reconciler_{ReconcilerSettings{.hold_percent = 1, .hold_zones = 100}, clock_};
};

// A pass plans against the live mirror: zones whose event came after the horizon (the last
// sequence applied before the listing was read) are left to the next pass - neither a publish of
// the older listing over them nor a deletion of a zone the listing predates.
TEST_F(ReconcilerTest, EventsAfterTheHorizon_LeftToTheNextPass) {
    auto primary = primaryOf(200);
    auto mirror = mirrorOf(200);  // sequences 10..209
    primary[0].serial = 2;        // the listing differs from z0's event (sequence 10)
    primary[1].serial = 2;        // and from z1's, whose newer event 300 came after the horizon
    mirror["z1.test."].sequence = 300;
    mirror["new.test."] = live(1, "a", 301);  // created after the listing was read
    primary.pop_back();                       // z199 is gone from the listing (sequence 209)
    const auto plan = reconciler_.plan(primary, true, tableOf(mirror), /*horizon=*/250);
    ASSERT_EQ(plan.publishes.size(), 2u);
    EXPECT_EQ(plan.publishes[0].event.zone, "z0.test.");
    EXPECT_EQ(plan.publishes[0].expected_sequence, 10u);
    EXPECT_EQ(plan.publishes[1].event.zone, "z199.test.");
    EXPECT_EQ(plan.publishes[1].event.op, ZoneOp::Delete);
    // Without a horizon the same inputs would also republish z1 and delete new.test.
    EXPECT_EQ(reconciler_.plan(primary, true, tableOf(mirror)).publishes.size(), 4u);
}

TEST_F(ReconcilerTest, InSync_PublishesNothing) {
    const auto plan = reconciler_.plan(primaryOf(5), true, tableOf(mirrorOf(5)));
    EXPECT_TRUE(plan.publishes.empty());
}

TEST_F(ReconcilerTest, ZoneMissingFromStream_UpsertExpectingNoMessage) {
    auto mirror = mirrorOf(5);
    mirror.erase("z2.test.");
    const auto plan = reconciler_.plan(primaryOf(5), true, tableOf(mirror));
    ASSERT_EQ(plan.publishes.size(), 1u);
    EXPECT_EQ(plan.publishes[0].event.zone, "z2.test.");
    EXPECT_EQ(plan.publishes[0].event.cause, common::EventCause::Reconcile);
    EXPECT_EQ(plan.publishes[0].expected_sequence, 0u);
}

TEST_F(ReconcilerTest, SerialOrApexChangedBehindTheProxy_UpsertConditionalOnMirror) {
    auto primary = primaryOf(3);
    primary[0].serial = 2;     // pdnsutil edit
    primary[1].apex = h("b");  // key rollover, same serial
    const auto plan = reconciler_.plan(primary, true, tableOf(mirrorOf(3)));
    ASSERT_EQ(plan.publishes.size(), 2u);
    EXPECT_EQ(plan.publishes[0].event.serial, 2u);
    EXPECT_EQ(plan.publishes[0].expected_sequence, 10u);
    EXPECT_EQ(plan.publishes[1].event.apex, hx("b"));
    EXPECT_EQ(plan.publishes[1].expected_sequence, 11u);
}

TEST_F(ReconcilerTest, ApiEventWithoutSerial_FilledInOnce) {
    auto mirror = mirrorOf(1);
    mirror["z0.test."].serial.reset();
    mirror["z0.test."].apex.reset();
    EXPECT_EQ(reconciler_.plan(primaryOf(1), true, tableOf(mirror)).publishes.size(), 1u);
}

TEST_F(ReconcilerTest, FewZonesGone_DeletePublished) {
    auto primary = primaryOf(200);
    primary.erase(primary.begin());  // 1 of 200: within 1 %
    const auto plan = reconciler_.plan(primary, true, tableOf(mirrorOf(200)));
    ASSERT_EQ(count(plan, ZoneOp::Delete), 1u);
    EXPECT_EQ(plan.publishes[0].event.zone, "z0.test.");
    EXPECT_EQ(plan.publishes[0].expected_sequence, 10u);
    EXPECT_TRUE(reconciler_.held().empty());
}

TEST_F(ReconcilerTest, EmptyListing_EveryDeletionHeld) {
    const auto plan = reconciler_.plan({}, true, tableOf(mirrorOf(5)));
    EXPECT_EQ(count(plan, ZoneOp::Delete), 0u);
    EXPECT_EQ(reconciler_.held().size(), 5u);
    EXPECT_NE(reconciler_.holdReason().find("no zones"), std::string::npos);
}

TEST_F(ReconcilerTest, CanaryFailed_DeletionsHeld) {
    auto primary = primaryOf(200);
    primary.pop_back();
    const auto plan = reconciler_.plan(primary, false, tableOf(mirrorOf(200)));
    EXPECT_EQ(count(plan, ZoneOp::Delete), 0u);
    EXPECT_EQ(reconciler_.held().size(), 1u);
}

TEST_F(ReconcilerTest, ListingShrankTooMuch_HeldAndStayHeldOnLaterPasses) {
    auto primary = primaryOf(200);
    primary.resize(150);  // 25 % gone
    EXPECT_EQ(count(reconciler_.plan(primary, true, tableOf(mirrorOf(200))), ZoneOp::Delete), 0u);
    EXPECT_EQ(reconciler_.held().size(), 50u);
    // Nothing new vanished, but what was held stays held.
    EXPECT_EQ(count(reconciler_.plan(primary, true, tableOf(mirrorOf(200))), ZoneOp::Delete), 0u);
    EXPECT_EQ(reconciler_.held().size(), 50u);
}

TEST_F(ReconcilerTest, MoreThanHoldZonesGone_HeldEvenBelowPercentage) {
    Reconciler r(ReconcilerSettings{.hold_percent = 50, .hold_zones = 10}, clock_);
    auto primary = primaryOf(100);
    primary.resize(85);
    EXPECT_EQ(count(r.plan(primary, true, tableOf(mirrorOf(100))), ZoneOp::Delete), 0u);
    EXPECT_EQ(r.held().size(), 15u);
}

TEST_F(ReconcilerTest, Approval_PublishesExactlyTheHeldDeletions) {
    (void)reconciler_.plan({}, true, tableOf(mirrorOf(3)));
    ASSERT_EQ(reconciler_.held().size(), 3u);
    EXPECT_EQ(reconciler_.approve(), 3u);
    auto mirror = mirrorOf(3);
    mirror["new.test."] = live(1, "a", 99);  // vanished after the approval: not covered
    const auto plan = reconciler_.plan({}, true, tableOf(mirror));
    EXPECT_EQ(count(plan, ZoneOp::Delete), 3u);
    EXPECT_EQ(reconciler_.held(), std::vector<std::string>{"new.test."});
}

TEST_F(ReconcilerTest, HeldZoneReturns_NoLongerHeld) {
    auto primary = primaryOf(4);
    (void)reconciler_.plan({}, true, tableOf(mirrorOf(4)));
    ASSERT_EQ(reconciler_.held().size(), 4u);
    const auto plan = reconciler_.plan(primary, true, tableOf(mirrorOf(4)));
    EXPECT_TRUE(reconciler_.held().empty());
    EXPECT_EQ(count(plan, ZoneOp::Delete), 0u);
}

TEST_F(ReconcilerTest, DeletedInStream_NotDeletedAgain) {
    auto mirror = mirrorOf(2);
    mirror["z1.test."].op = ZoneOp::Delete;
    const auto plan = reconciler_.plan(primaryOf(1), true, tableOf(mirror));
    EXPECT_TRUE(plan.publishes.empty());
}

TEST_F(ReconcilerTest, ResignedOnly_IsPlannedForFreshnessNotPublished) {
    std::map<std::string, MirrorEntry> mirror{{"s.test.", live(7, "old-apex", 3)}};
    mirror["s.test."].content = h("c1");
    mirror["s.test."].expiry = 1000;
    const std::vector<PrimaryZone> primary{PrimaryZone{
        .name = "s.test.", .serial = 7, .apex = h("new-apex"), .content = h("c1"), .expiry = 2000}};
    const auto plan = reconciler_.plan(primary, true, tableOf(mirror));
    EXPECT_TRUE(plan.publishes.empty());
    ASSERT_EQ(plan.resigned.size(), 1u);
    EXPECT_EQ(plan.resigned[0].apex, hx("new-apex"));
    EXPECT_EQ(plan.resigned[0].old_expiry, 1000u);
}

TEST_F(ReconcilerTest, KeyChangeKeepingTheSerial_IsPublishedAtOnceWithContent) {
    std::map<std::string, MirrorEntry> mirror{{"k.test.", live(7, "old-apex", 3)}};
    mirror["k.test."].content = h("c1");
    const std::vector<PrimaryZone> primary{PrimaryZone{
        .name = "k.test.", .serial = 7, .apex = h("new-apex"), .content = h("c2"), .expiry = 2000}};
    const auto plan = reconciler_.plan(primary, true, tableOf(mirror));
    ASSERT_EQ(plan.publishes.size(), 1u);
    EXPECT_TRUE(plan.resigned.empty());
    EXPECT_EQ(plan.publishes[0].event.content, hx("c2"));
    EXPECT_EQ(plan.publishes[0].event.expiry, 2000u);
    EXPECT_FALSE(plan.publishes[0].maybe_weekly);
}

TEST_F(ReconcilerTest, SerialAndWindowsMovedTogether_MayBeTheWeeklyJump) {
    std::map<std::string, MirrorEntry> mirror{{"w.test.", live(7, "old-apex", 3)}};
    mirror["w.test."].content = h("c1");
    mirror["w.test."].expiry = 1000;
    const std::vector<PrimaryZone> primary{PrimaryZone{
        .name = "w.test.", .serial = 8, .apex = h("new-apex"), .content = h("c2"), .expiry = 2000}};
    const auto plan = reconciler_.plan(primary, true, tableOf(mirror));
    ASSERT_EQ(plan.publishes.size(), 1u);
    EXPECT_TRUE(plan.publishes[0].maybe_weekly);
    // A serial change alone (same windows) is an ordinary change.
    const std::vector<PrimaryZone> edited{PrimaryZone{
        .name = "w.test.", .serial = 8, .apex = h("new-apex"), .content = h("c2"), .expiry = 1000}};
    EXPECT_FALSE(reconciler_.plan(edited, true, tableOf(mirror)).publishes[0].maybe_weekly);
}

TEST_F(ReconcilerTest, ApiEventWithoutContent_IsCompletedByAPublish) {
    std::map<std::string, MirrorEntry> mirror{
        {"a.test.",
         MirrorEntry{
             .op = ZoneOp::Upsert, .serial = std::nullopt, .apex = std::nullopt, .sequence = 4}}};
    const std::vector<PrimaryZone> primary{PrimaryZone{
        .name = "a.test.", .serial = 1, .apex = h("x"), .content = h("c"), .expiry = std::nullopt}};
    const auto plan = reconciler_.plan(primary, true, tableOf(mirror));
    ASSERT_EQ(plan.publishes.size(), 1u);
    EXPECT_EQ(plan.publishes[0].expected_sequence, 4u);
    EXPECT_EQ(plan.publishes[0].event.content, hx("c"));
}

// The mirror keeps each event's fingerprints as bytes and its time parsed; a fingerprint that is
// not 32 hex digits matches nothing, so the reconcile replaces the event with the primary's.
TEST_F(ReconcilerTest, Mirror_KeepsBytesAndParsedTimes_AMalformedApexIsRepublished) {
    ZoneMirror mirror;
    mirror.apply(common::ZoneEvent{.zone = "b.test.",
                                   .op = ZoneOp::Upsert,
                                   .serial = 1,
                                   .apex = "not a fingerprint",
                                   .cause = common::EventCause::Api,
                                   .at = "yesterday",
                                   .content = "nor this",
                                   .expiry = std::nullopt},
                 8);
    mirror.apply(common::ZoneEvent{.zone = "a.test.",
                                   .op = ZoneOp::Upsert,
                                   .serial = 1,
                                   .apex = hx("a"),
                                   .cause = common::EventCause::Api,
                                   .at = "2026-01-02T03:04:05.678Z",
                                   .content = hx("c"),
                                   .expiry = std::nullopt},
                 9);
    const auto snapshot = snapshotOf(mirror);
    EXPECT_EQ(snapshot.at("a.test.").apex, h("a"));
    EXPECT_EQ(snapshot.at("a.test.").content, h("c"));
    EXPECT_EQ(snapshot.at("a.test.").at, common::parseRfc3339("2026-01-02T03:04:05.678Z"));
    EXPECT_EQ(snapshot.at("b.test.").apex, std::nullopt);
    EXPECT_EQ(snapshot.at("b.test.").content, std::nullopt);
    EXPECT_EQ(snapshot.at("b.test.").at, std::nullopt);
    std::vector<std::string> visited;
    mirror.forEach([&](std::string_view zone, const MirrorEntry&) { visited.emplace_back(zone); });
    std::sort(visited.begin(), visited.end());  // the mirror's order is unspecified
    EXPECT_EQ(visited, (std::vector<std::string>{"a.test.", "b.test."}));

    const std::vector<PrimaryZone> primary{
        PrimaryZone{.name = "a.test.", .serial = 1, .apex = h("a"), .content = h("c")},
        PrimaryZone{.name = "b.test.", .serial = 1, .apex = h("a"), .content = h("c")}};
    const auto plan = reconciler_.plan(primary, true, tableOf(snapshot));
    ASSERT_EQ(plan.publishes.size(), 1u);
    EXPECT_EQ(plan.publishes[0].event.zone, "b.test.");
    EXPECT_EQ(plan.publishes[0].event.apex, hx("a"));
    EXPECT_EQ(plan.publishes[0].expected_sequence, 8u);
}

// The primary's look lives in the zone's mirror entry: kept across upserts (its sequence then
// says it covers an older event), dropped by a delete, never recorded for a zone the mirror does
// not have, and a pass's look (only_if_newer) never replaces one covering a later event.
TEST(ZoneMirrorLook, KeptAcrossUpserts_DroppedByDeletes_OnlyForMirroredZones) {
    ZoneMirror mirror;
    auto event = [](ZoneOp op, uint32_t serial) {
        return common::ZoneEvent{.zone = "a.test.",
                                 .op = op,
                                 .serial = serial,
                                 .apex = std::nullopt,
                                 .cause = common::EventCause::Api,
                                 .at = "2026-01-02T03:04:05.678Z"};
    };
    const PrimaryLook look{.serial = 1, .content = h("c1"), .sequence = 5, .apex = h("a1")};
    mirror.setLook("a.test.", look);
    EXPECT_FALSE(mirror.look("a.test.")) << "no event yet: nothing to cover";

    mirror.apply(event(ZoneOp::Upsert, 1), 5);
    mirror.setLook("a.test.", look);
    ASSERT_TRUE(mirror.look("a.test."));
    EXPECT_EQ(mirror.look("a.test.")->content, h("c1"));

    mirror.apply(event(ZoneOp::Upsert, 2), 9);
    ASSERT_TRUE(mirror.look("a.test.")) << "kept across an upsert";
    EXPECT_EQ(mirror.look("a.test.")->sequence, 5u);

    PrimaryLook newer = look;
    newer.sequence = 9;
    newer.content = h("c2");
    mirror.setLook("a.test.", newer);
    PrimaryLook stale = look;  // a pass that read the mirror before event 9
    stale.content = h("c0");
    mirror.setLook("a.test.", stale, /*only_if_newer=*/true);
    EXPECT_EQ(mirror.look("a.test.")->content, h("c2"));
    mirror.setLook("a.test.", stale);  // a probe or a confirmed look replaces it
    EXPECT_EQ(mirror.look("a.test.")->content, h("c0"));

    mirror.apply(event(ZoneOp::Delete, 2), 10);
    EXPECT_FALSE(mirror.look("a.test.")) << "dropped by a delete";
    mirror.apply(event(ZoneOp::Upsert, 3), 11);
    EXPECT_FALSE(mirror.look("a.test.")) << "a zone created again is looked at afresh";
}

}  // namespace
}  // namespace pdns_distribute::health_checker
