// SPDX-License-Identifier: Apache-2.0
// The syncer's two lanes (DESIGN §5.2): a change made through the api-proxy is served on a
// secondary while that secondary's durable consumer still has a long backlog to work through.
// Without the priority lane the change's stream message sits behind the whole backlog.

#include <cstdio>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kBacklog = 1500;

// A Prometheus sample of syncer 0's /metrics; nullopt when the endpoint does not answer.
std::optional<double> metric(Fleet& f, const std::string& sample) {
    const auto r = f.syncerHttp(0, "/metrics");
    if (r.status != 200) return std::nullopt;
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    }
    return 0.0;
}

long long msSince(Clock::time_point t0) {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

TEST(LanesTest, ApiChangeDuringABacklog_IsServedLongBeforeTheBacklogIsDone) {
    // No reconcile during the test: the backlog is exactly the events published below.
    Fleet f(FleetOptions{.secondaries = 1, .reconcile_interval = std::chrono::hours{1}});
    f.start();
    auto& secondary = *f.secondaries[0];

    const std::string hot = "hot.lanes.test.";
    ASSERT_EQ(f.createZone(hot).status, 201);
    ASSERT_TRUE(f.waitLikePrimary(hot));
    ASSERT_EQ(f.stopSyncer(0), 0);

    // The backlog: zones made on the primary's own API (no events), then one resync event each,
    // published as the health-checker would, all waiting in the stopped syncer's consumer.
    const auto created_at = Clock::now();
    std::vector<std::string> zones;
    for (int i = 0; i < kBacklog; ++i) {
        zones.push_back("b" + std::to_string(i) + ".lanes.test.");
        const json z = {{"name", zones.back()},
                        {"kind", "Native"},
                        {"nameservers", {"ns1.pdd.test."}},
                        {"rrsets", json::array()}};
        const auto r = f.primaryApi("POST", "/api/v1/servers/localhost/zones", z.dump());
        ASSERT_EQ(r.status, 201) << zones.back() << ": " << r.body << r.error;
    }
    auto bus = common::NatsBus::connect(f.natsSettingsFor(Fleet::Role::Primary));
    for (int i = 0; i < kBacklog; ++i) {
        const common::ZoneEvent e{.zone = zones[static_cast<size_t>(i)],
                                  .op = common::ZoneOp::Upsert,
                                  .serial = std::nullopt,
                                  .apex = std::nullopt,
                                  .cause = common::EventCause::Resync,
                                  .at = common::rfc3339Millis(std::chrono::system_clock::now())};
        auto ack =
            bus->publish(common::zoneEventSubject("default", e.zone), common::serializeZoneEvent(e),
                         common::PublishOptions{.msg_id = "lanes-test." + std::to_string(i),
                                                .expected_last_subject_seq = std::nullopt,
                                                .timeout = std::chrono::seconds{5}});
        ASSERT_TRUE(ack) << ack.error().message;
    }
    std::printf("[ measure ] backlog of %d zones made in %lld ms\n", kBacklog, msSince(created_at));

    f.startSyncer(0);
    const auto started = Clock::now();
    // The syncer is into its backlog: it serves some of those zones, far from all.
    const auto managed = [&] {
        return metric(f, "pdns_distribute_syncer_managed_zones").value_or(0);
    };
    ASSERT_TRUE(waitUntil([&] { return managed() >= 20; }, 60s, 20ms));

    const auto before = f.serial(f.primary, hot);
    ASSERT_EQ(f.setA(hot, "www." + hot, {"192.0.2.77"}).status, 204);
    const auto t0 = Clock::now();
    ASSERT_TRUE(waitUntil([&] { return f.serial(f.primary, hot) != before; }, 5s, 5ms));
    const auto want = f.serial(f.primary, hot);
    ASSERT_TRUE(want);
    ASSERT_TRUE(waitUntil([&] { return f.serial(secondary, hot) == want; }, 300s, 5ms));
    const auto served_ms = msSince(t0);
    // Zones of the backlog the syncer did not serve yet when the change was served (at most:
    // the listener's count includes the hot zone, and the canary when it changed meanwhile).
    const double remaining = kBacklog - managed();
    std::printf(
        "[ measure ] api change served in %lld ms, %.0f of %d backlog zones still to do "
        "(%lld ms after the syncer started)\n",
        served_ms, remaining, kBacklog, msSince(started));
    EXPECT_GE(remaining, kBacklog / 3.0)
        << "the change was served only after most of the backlog: no priority lane?";
    // The worker counts the apply just after the local pdns serves it: poll, don't race it.
    EXPECT_TRUE(waitUntil(
        [&] {
            return metric(f, R"(pdns_distribute_syncer_lane_applied_total{lane="priority"})")
                       .value_or(0) >= 1;
        },
        5s, 20ms))
        << "the change was not applied by the priority lane";

    // The backlog completes, and the stream's copy of the change (behind the backlog) is acked
    // without a second apply.
    size_t done = 0;
    ASSERT_TRUE(waitUntil(
        [&] {
            while (done < zones.size() && f.serial(secondary, zones[done])) ++done;
            return done == zones.size();
        },
        600s, 250ms))
        << "backlog not done: " << zones[done] << " not served";
    std::printf("[ measure ] backlog done %lld ms after the syncer started\n", msSince(started));
    EXPECT_TRUE(waitUntil(
        [&] { return metric(f, "pdns_distribute_syncer_priority_dedup_total").value_or(0) >= 1; },
        30s, 100ms));
    EXPECT_EQ(f.serial(secondary, hot), want);
    EXPECT_TRUE(f.stopDaemons()) << "a daemon did not exit 0 on SIGTERM";
}

}  // namespace
}  // namespace pdns_distribute::e2e
