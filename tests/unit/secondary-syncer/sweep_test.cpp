// SPDX-License-Identifier: Apache-2.0
#include "sweep.hpp"

#include <gtest/gtest.h>

#include "config.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

constexpr auto kMaster = "127.0.0.1:5300";

common::PdnsZoneInfo local(const std::string& name, uint32_t serial,
                           std::string account = std::string(kManagedAccount),
                           std::string master = kMaster) {
    common::PdnsZoneInfo z;
    z.name = name;
    z.serial = serial;
    z.kind = "Slave";
    z.account = std::move(account);
    z.masters = {std::move(master)};
    return z;
}

std::vector<std::string> describe(const SweepPlan& p) {
    std::vector<std::string> out;
    for (const auto& e : p.events)
        out.push_back(std::string(common::toString(e.op)) + " " + e.zone);
    return out;
}

TEST(Sweep, MissingLocally_Upsert) {
    const auto plan = planSweep({{"a.test.", DesiredZone{.serial = 3}}}, {}, kMaster);
    EXPECT_EQ(describe(plan), std::vector<std::string>{"upsert a.test."});
    EXPECT_EQ(plan.events[0].cause, common::EventCause::Resync);
}

TEST(Sweep, SameSerial_NothingToDo) {
    const auto plan =
        planSweep({{"a.test.", DesiredZone{.serial = 3}}}, {local("a.test.", 3)}, kMaster);
    EXPECT_TRUE(plan.events.empty());
}

TEST(Sweep, OtherSerialOrUnknownSerial_Upsert) {
    const auto plan = planSweep({{"a.test.", DesiredZone{.serial = 4}}, {"b.test.", DesiredZone{}}},
                                {local("a.test.", 3), local("b.test.", 1)}, kMaster);
    EXPECT_EQ(describe(plan), (std::vector<std::string>{"upsert a.test.", "upsert b.test."}));
}

TEST(Sweep, ManagedButNoLongerWanted_DeletePlanned) {
    const auto plan = planSweep({{"gone.test.", DesiredZone{.op = common::ZoneOp::Delete}}},
                                {local("gone.test.", 1), local("stray.test.", 1)}, kMaster);
    EXPECT_EQ(describe(plan),
              (std::vector<std::string>{"delete gone.test.", "delete stray.test."}));
}

TEST(Sweep, UnmanagedZones_NeverTouchedAndClashReported) {
    const auto plan =
        planSweep({{"mine.test.", DesiredZone{.serial = 1}}},
                  {local("mine.test.", 1, "operator"), local("other.test.", 1, "")}, kMaster);
    EXPECT_TRUE(plan.events.empty());
    EXPECT_EQ(plan.clashes, std::vector<std::string>{"mine.test."});
}

TEST(Sweep, ManagedZonePointingElsewhere_UpsertedNotDeleted) {
    const auto plan =
        planSweep({{"a.test.", DesiredZone{.serial = 1}}},
                  {local("a.test.", 1, std::string(kManagedAccount), "127.0.0.1:9999")}, kMaster);
    EXPECT_EQ(describe(plan), std::vector<std::string>{"upsert a.test."});
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
