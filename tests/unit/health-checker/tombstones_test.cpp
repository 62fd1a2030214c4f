// SPDX-License-Identifier: Apache-2.0
// Tombstone purge planning: age, ack floors of the durables that cover a subject, NATS subject
// wildcards, and reading a tombstone from a stream message.

#include <gtest/gtest.h>

#include <pdns_distribute/common/zone_event.hpp>

#include "tombstones.hpp"

namespace pdns_distribute::health_checker {
namespace {

using namespace std::chrono_literals;
using common::ConsumerFloor;
using Clock = std::chrono::system_clock;

constexpr std::chrono::milliseconds kWeek = std::chrono::hours(24 * 7);
const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(24 * 365 * 50);

Tombstone tombstone(const std::string& subject, uint64_t sequence, Clock::time_point at) {
    return Tombstone{.zone = subject.substr(subject.rfind('.') + 1) + ".",
                     .subject = subject,
                     .sequence = sequence,
                     .at = at};
}

ConsumerFloor consumer(const std::string& name, const std::string& filter, uint64_t ack_floor,
                       uint64_t num_pending = 0, uint64_t num_ack_pending = 0) {
    return ConsumerFloor{.name = name,
                         .filter_subject = filter,
                         .ack_floor_stream_seq = ack_floor,
                         .num_pending = num_pending,
                         .num_ack_pending = num_ack_pending};
}

std::vector<std::string> subjectsOf(const std::vector<Tombstone>& tombstones) {
    std::vector<std::string> out;
    out.reserve(tombstones.size());
    for (const auto& t : tombstones) {
        out.push_back(t.subject);
    }
    return out;
}

// --- subjectMatches ------------------------------------------------------------------------------

TEST(SubjectMatches, LiteralFilter_MatchesOnlyTheSameSubject) {
    EXPECT_TRUE(subjectMatches("pdns.zones.g1.a", "pdns.zones.g1.a"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.a", "pdns.zones.g1.b"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1", "pdns.zones.g1.a"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.a.b", "pdns.zones.g1.a"));
}

TEST(SubjectMatches, FullWildcard_MatchesOneOrMoreTrailingTokens) {
    EXPECT_TRUE(subjectMatches("pdns.zones.g1.>", "pdns.zones.g1.a"));
    EXPECT_TRUE(subjectMatches("pdns.zones.g1.>", "pdns.zones.g1.x.a.b"));
    EXPECT_TRUE(subjectMatches(">", "pdns"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.>", "pdns.zones.g1"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.>", "pdns.zones.g2.a"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.>", "pdns.zones.g10.a"));
}

TEST(SubjectMatches, FullWildcardNotLast_MatchesNothing) {
    EXPECT_FALSE(subjectMatches("pdns.>.a", "pdns.zones.a"));
}

TEST(SubjectMatches, SingleWildcard_MatchesExactlyOneToken) {
    EXPECT_TRUE(subjectMatches("pdns.zones.*.a", "pdns.zones.g1.a"));
    EXPECT_TRUE(subjectMatches("pdns.*.*.*", "pdns.zones.g1.a"));
    EXPECT_FALSE(subjectMatches("pdns.zones.*", "pdns.zones.g1.a"));
    EXPECT_FALSE(subjectMatches("pdns.zones.*.a", "pdns.zones.g1.b"));
    EXPECT_FALSE(subjectMatches("pdns.zones.g1.*", "pdns.zones.g1"));
}

TEST(SubjectMatches, WildcardCharacterInsideToken_IsLiteral) {
    EXPECT_FALSE(subjectMatches("pdns.zones.g*.a", "pdns.zones.g1.a"));
    EXPECT_TRUE(subjectMatches("pdns.zones.g*.a", "pdns.zones.g*.a"));
}

TEST(SubjectMatches, EmptyFilter_MatchesEverything) {
    EXPECT_TRUE(subjectMatches("", "pdns.zones.g1.a"));
}

// --- tombstonesToPurge ---------------------------------------------------------------------------

TEST(TombstonesToPurge, TooYoung_NotPurged) {
    const auto young = tombstone("pdns.zones.g1.a", 5, kNow - kWeek + 1s);
    const auto result =
        tombstonesToPurge({young}, {consumer("syncer-n1", "pdns.zones.g1.>", 10)}, kNow, kWeek);
    EXPECT_TRUE(result.empty());
}

TEST(TombstonesToPurge, ExactlyMinAge_Purged) {
    const auto old = tombstone("pdns.zones.g1.a", 5, kNow - kWeek);
    const auto result =
        tombstonesToPurge({old}, {consumer("syncer-n1", "pdns.zones.g1.>", 5)}, kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g1.a"});
}

TEST(TombstonesToPurge, AtInTheFuture_NotPurged) {
    const auto future = tombstone("pdns.zones.g1.a", 5, kNow + 1h);
    EXPECT_TRUE(tombstonesToPurge({future}, {}, kNow, kWeek).empty());
}

TEST(TombstonesToPurge, AckedByAllCoveringConsumers_PurgedWithItsFields) {
    const auto old = tombstone("pdns.zones.g1.a", 7, kNow - kWeek - 1h);
    const auto result = tombstonesToPurge(
        {old},
        {consumer("syncer-n1", "pdns.zones.g1.>", 7), consumer("syncer-n2", "pdns.zones.g1.>", 9)},
        kNow, kWeek);
    ASSERT_EQ(result.size(), 1U);
    EXPECT_EQ(result[0].zone, "a.");
    EXPECT_EQ(result[0].subject, "pdns.zones.g1.a");
    EXPECT_EQ(result[0].sequence, 7U);
    EXPECT_EQ(result[0].at, old.at);
}

TEST(TombstonesToPurge, OneCoveringConsumerBehind_NotPurged) {
    const auto old = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto result = tombstonesToPurge(
        {old},
        {consumer("syncer-n1", "pdns.zones.g1.>", 9), consumer("syncer-n2", "pdns.zones.g1.>", 6)},
        kNow, kWeek);
    EXPECT_TRUE(result.empty());
}

TEST(TombstonesToPurge, CoveringConsumerBehindWithNothingPending_NotPurged) {
    // Conservative: nothing pending does not prove this consumer ever delivered the tombstone.
    const auto old = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto result =
        tombstonesToPurge({old}, {consumer("syncer-n1", "pdns.zones.g1.>", 6, 0, 0)}, kNow, kWeek);
    EXPECT_TRUE(result.empty());
}

TEST(TombstonesToPurge, BehindConsumerOfAnotherGroup_DoesNotBlock) {
    const auto old = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto result = tombstonesToPurge(
        {old},
        {consumer("syncer-n1", "pdns.zones.g1.>", 7), consumer("syncer-n2", "pdns.zones.g2.>", 0)},
        kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g1.a"});
}

TEST(TombstonesToPurge, NoConsumerCoversTheSubject_Purged) {
    const auto old = tombstone("pdns.zones.g3.a", 7, kNow - 2 * kWeek);
    const auto result = tombstonesToPurge(
        {old},
        {consumer("syncer-n1", "pdns.zones.g1.>", 0), consumer("syncer-n2", "pdns.zones.g2.>", 0)},
        kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g3.a"});
}

TEST(TombstonesToPurge, EmptyConsumerList_PurgesOldOnly) {
    const auto old = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto young = tombstone("pdns.zones.g1.b", 8, kNow - 1h);
    const auto result = tombstonesToPurge({old, young}, {}, kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g1.a"});
}

TEST(TombstonesToPurge, UnfilteredConsumerBehind_BlocksEverySubject) {
    const auto a = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto b = tombstone("pdns.zones.g2.b", 8, kNow - 2 * kWeek);
    const auto result = tombstonesToPurge({a, b}, {consumer("syncer-all", "", 7)}, kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g1.a"});
}

TEST(TombstonesToPurge, SingleWildcardFilters_DecidePerSubject) {
    const auto a = tombstone("pdns.zones.g1.a", 7, kNow - 2 * kWeek);
    const auto b = tombstone("pdns.zones.g1.x.b", 8, kNow - 2 * kWeek);
    // `pdns.zones.*.*` covers a (and is behind for it) but not the four-token-deep b.
    const auto result =
        tombstonesToPurge({a, b}, {consumer("syncer-n1", "pdns.zones.*.*", 3)}, kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), std::vector<std::string>{"pdns.zones.g1.x.b"});
}

TEST(TombstonesToPurge, MixedCandidates_KeepInputOrder) {
    const auto a = tombstone("pdns.zones.g1.a", 3, kNow - 2 * kWeek);
    const auto b = tombstone("pdns.zones.g1.b", 12, kNow - 2 * kWeek);
    const auto c = tombstone("pdns.zones.g1.c", 5, kNow - 2 * kWeek);
    const auto result =
        tombstonesToPurge({a, b, c}, {consumer("syncer-n1", "pdns.zones.g1.>", 10)}, kNow, kWeek);
    EXPECT_EQ(subjectsOf(result), (std::vector<std::string>{"pdns.zones.g1.a", "pdns.zones.g1.c"}));
}

// --- tombstoneFrom -------------------------------------------------------------------------------

common::StreamMessage streamMessage(const std::string& subject, uint64_t sequence,
                                    std::string data) {
    return common::StreamMessage{
        .message =
            common::BusMessage{
                .subject = subject, .reply = {}, .data = std::move(data), .headers = {}},
        .sequence = sequence,
        .pending = 0};
}

TEST(TombstoneFrom, DeleteEvent_GivesZoneSubjectSequenceAndTime) {
    const auto at = *common::parseRfc3339("2026-01-02T03:04:05.678Z");
    const common::ZoneEvent event{.zone = "example.org.",
                                  .op = common::ZoneOp::Delete,
                                  .serial = std::nullopt,
                                  .apex = std::nullopt,
                                  .cause = common::EventCause::Api,
                                  .at = common::rfc3339Millis(at)};
    const auto t =
        tombstoneFrom(streamMessage("pdns.zones.g1.k", 42, common::serializeZoneEvent(event)));
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->zone, "example.org.");
    EXPECT_EQ(t->subject, "pdns.zones.g1.k");
    EXPECT_EQ(t->sequence, 42U);
    EXPECT_EQ(t->at, at);
}

TEST(TombstoneFrom, UpsertEvent_IsNotATombstone) {
    const common::ZoneEvent event{.zone = "example.org.",
                                  .op = common::ZoneOp::Upsert,
                                  .serial = 1,
                                  .apex = std::nullopt,
                                  .cause = common::EventCause::Api,
                                  .at = "2026-01-02T03:04:05.678Z"};
    EXPECT_FALSE(
        tombstoneFrom(streamMessage("pdns.zones.g1.k", 42, common::serializeZoneEvent(event))));
}

TEST(TombstoneFrom, UnparsableEventOrTime_IsNotATombstone) {
    EXPECT_FALSE(tombstoneFrom(streamMessage("pdns.zones.g1.k", 1, "not json")));
    const common::ZoneEvent event{.zone = "example.org.",
                                  .op = common::ZoneOp::Delete,
                                  .serial = std::nullopt,
                                  .apex = std::nullopt,
                                  .cause = common::EventCause::Api,
                                  .at = "yesterday"};
    EXPECT_FALSE(
        tombstoneFrom(streamMessage("pdns.zones.g1.k", 1, common::serializeZoneEvent(event))));
}

}  // namespace
}  // namespace pdns_distribute::health_checker
