// SPDX-License-Identifier: Apache-2.0
#include "mirror.hpp"

#include <map>
#include <random>
#include <string>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "fake_hashes.hpp"

namespace pdns_distribute::health_checker {
namespace {

using common::ZoneOp;
using testing::h;

std::map<std::string, MirrorEntry> contents(const MirrorTable& t) {
    std::map<std::string, MirrorEntry> out;
    t.forEach([&](std::string_view zone, const MirrorEntry& e) {
        EXPECT_TRUE(out.emplace(zone, e).second) << "visited twice: " << zone;
    });
    return out;
}

// Every field survives the packing, and every optional's absence does too.
TEST(MirrorTable, EntriesRoundTrip_SetAndUnsetFields) {
    MirrorTable t;
    const MirrorEntry full{
        .op = ZoneOp::Upsert,
        .serial = 0,  // a set zero is not an unset serial
        .apex = h("apex"),
        .sequence = 1ULL << 40U,
        .content = h("content"),
        .expiry = 0xfffffffeU,
        .at = std::chrono::system_clock::time_point{std::chrono::milliseconds{1'790'000'000'123}},
        .look = PrimaryLook{
            .serial = 7, .content = h("lc"), .sequence = 99, .apex = h("la"), .expiry = 0}};
    const MirrorEntry bare{.op = ZoneOp::Delete, .sequence = 3};
    MirrorEntry look_without_expiry = bare;
    look_without_expiry.op = ZoneOp::Upsert;
    look_without_expiry.look = PrimaryLook{.serial = 1, .sequence = 3};
    t.put("full.test.", full);
    t.put("bare.test.", bare);
    t.put("lwe.test.", look_without_expiry);
    EXPECT_EQ(t.find("full.test."), full);
    EXPECT_EQ(t.find("bare.test."), bare);
    EXPECT_EQ(t.find("lwe.test."), look_without_expiry);
    EXPECT_EQ(t.find("other.test."), std::nullopt);
    EXPECT_EQ(t.sequenceOf("full.test."), 1ULL << 40U);
    EXPECT_EQ(t.sequenceOf("other.test."), 0U);

    t.put("full.test.", bare);  // replaced, not added
    EXPECT_EQ(t.size(), 3U);
    EXPECT_EQ(t.find("full.test."), bare);

    EXPECT_TRUE(t.setLook("bare.test.", full.look));
    EXPECT_EQ(t.find("bare.test.")->look, full.look);
    EXPECT_EQ(t.find("bare.test.")->sequence, 3U) << "a look leaves the event alone";
    EXPECT_TRUE(t.setLook("bare.test.", std::nullopt));
    EXPECT_EQ(t.find("bare.test."), bare);
    EXPECT_FALSE(t.setLook("other.test.", full.look));
    EXPECT_EQ(t.size(), 3U);
}

TEST(MirrorTable, EmptyTable_FindsNothing) {
    MirrorTable t;
    EXPECT_EQ(t.find("a.test."), std::nullopt);
    EXPECT_FALSE(t.erase("a.test."));
    EXPECT_FALSE(t.setLook("a.test.", PrimaryLook{}));
    EXPECT_TRUE(t.empty());
    EXPECT_TRUE(contents(t).empty());
}

// Random puts, looks and erases over a small name space (so names are re-added after erases and
// probe runs wrap and shift) checked after every step against a std::map doing the same.
TEST(MirrorTable, RandomOperations_AgreeWithAMap) {
    std::mt19937 rng(20261127);  // NOLINT(cert-msc32-c,cert-msc51-cpp): reproducible on purpose
    const auto next = [&rng] { return static_cast<uint32_t>(rng()); };
    MirrorTable t;
    std::map<std::string, MirrorEntry> model;
    const auto nameOf = [](uint32_t i) { return fmt::format("z{}.example.", i); };
    for (int step = 0; step < 60'000; ++step) {
        const uint32_t i = next() % 3'000;
        const auto zone = nameOf(i);
        switch (next() % 4) {
            case 0:
            case 1: {
                MirrorEntry e{.op = (next() % 5 == 0) ? ZoneOp::Delete : ZoneOp::Upsert,
                              .serial = next(),
                              .apex = h(fmt::format("a{}", next() % 100)),
                              .sequence = static_cast<uint64_t>(step) + 1};
                t.put(zone, e);
                model[zone] = e;
                break;
            }
            case 2: {
                const PrimaryLook look{.serial = next(), .sequence = static_cast<uint64_t>(step)};
                const bool known = model.contains(zone);
                EXPECT_EQ(t.setLook(zone, look), known);
                if (known) model[zone].look = look;
                break;
            }
            default:
                EXPECT_EQ(t.erase(zone), model.erase(zone) == 1) << zone;
        }
        ASSERT_EQ(t.size(), model.size()) << "step " << step;
        ASSERT_EQ(t.find(zone), model.contains(zone) ? std::optional(model[zone]) : std::nullopt)
            << "step " << step << " " << zone;
        if (step % 5'000 == 0) {
            ASSERT_EQ(contents(t), model) << "step " << step;
        }
    }
    EXPECT_EQ(contents(t), model);
    // Erasing everything leaves nothing findable, and the table is usable afterwards.
    for (const auto& [zone, e] : model) ASSERT_TRUE(t.erase(zone)) << zone;
    EXPECT_TRUE(t.empty());
    for (uint32_t i = 0; i < 3'000; ++i) EXPECT_EQ(t.find(nameOf(i)), std::nullopt);
    t.put("again.example.", MirrorEntry{.sequence = 1});
    EXPECT_EQ(t.sequenceOf("again.example."), 1U);
}

// Names that differ only in a character, share prefixes, or are empty stay distinct.
TEST(MirrorTable, SimilarNames_StayDistinct) {
    MirrorTable t;
    const std::vector<std::string> names{".", "a.", "a.a.", "b.", "a\\032b.", "A.", "aa."};
    for (size_t i = 0; i < names.size(); ++i) t.put(names[i], MirrorEntry{.sequence = i + 1});
    for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(t.sequenceOf(names[i]), i + 1) << names[i];
    EXPECT_TRUE(t.erase("a."));
    EXPECT_EQ(t.sequenceOf("a.a."), 3U);
    EXPECT_EQ(t.sequenceOf("aa."), 7U);
}

TEST(MirrorTable, OverlongName_Refused) {
    MirrorTable t;
    EXPECT_THROW(t.put(std::string(70'000, 'a'), MirrorEntry{}), std::length_error);
    EXPECT_TRUE(t.empty());
}

// The mirror drops a purged tombstone only while the zone's latest event is that tombstone.
TEST(ZoneMirror, Erase_OnlyAtTheGivenSequence) {
    ZoneMirror m;
    m.apply(common::ZoneEvent{.zone = "a.test.", .op = ZoneOp::Delete, .at = "x"}, 5);
    m.apply(common::ZoneEvent{.zone = "a.test.", .op = ZoneOp::Upsert, .serial = 1, .at = "x"}, 6);
    m.erase("a.test.", 5);
    EXPECT_EQ(m.sequenceOf("a.test."), 6U) << "a newer event is never erased";
    m.apply(common::ZoneEvent{.zone = "a.test.", .op = ZoneOp::Delete, .at = "x"}, 7);
    m.erase("a.test.", 7);
    EXPECT_EQ(m.sequenceOf("a.test."), 0U);
    EXPECT_EQ(m.size(), 0U);
    EXPECT_EQ(m.lastSequence(), 7U);
}

}  // namespace
}  // namespace pdns_distribute::health_checker
