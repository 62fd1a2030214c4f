// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <pdns_distribute/common/metrics.hpp>

namespace pdns_distribute::common {
namespace {

TEST(MetricsRegistry, Render_GoldenText) {
    MetricsRegistry r;
    r.counter("pdd_applied_total", "Zones applied.", {{"op", "upsert"}}).inc(3);
    r.counter("pdd_applied_total", "Zones applied.", {{"op", "delete"}}).inc();
    r.gauge("pdd_lag_seconds", "Lag.").set(1.5);
    auto& h = r.histogram("pdd_apply_seconds", "Apply time.", {0.1, 1}, {{"lane", "bulk"}});
    h.observe(0.05);
    h.observe(0.5);
    h.observe(2);
    EXPECT_EQ(r.render(),
              "# HELP pdd_applied_total Zones applied.\n"
              "# TYPE pdd_applied_total counter\n"
              "pdd_applied_total{op=\"delete\"} 1\n"
              "pdd_applied_total{op=\"upsert\"} 3\n"
              "# HELP pdd_apply_seconds Apply time.\n"
              "# TYPE pdd_apply_seconds histogram\n"
              "pdd_apply_seconds_bucket{lane=\"bulk\",le=\"0.1\"} 1\n"
              "pdd_apply_seconds_bucket{lane=\"bulk\",le=\"1\"} 2\n"
              "pdd_apply_seconds_bucket{lane=\"bulk\",le=\"+Inf\"} 3\n"
              "pdd_apply_seconds_sum{lane=\"bulk\"} 2.55\n"
              "pdd_apply_seconds_count{lane=\"bulk\"} 3\n"
              "# HELP pdd_lag_seconds Lag.\n"
              "# TYPE pdd_lag_seconds gauge\n"
              "pdd_lag_seconds 1.5\n");
}

TEST(MetricsRegistry, HistogramWithoutLabels_LeOnly) {
    MetricsRegistry r;
    r.histogram("h", "x", {1}).observe(1);
    EXPECT_EQ(r.render(),
              "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
              "h_sum 1\nh_count 1\n");
}

TEST(MetricsRegistry, LabelValuesAndHelp_Escaped) {
    MetricsRegistry r;
    r.counter("c_total", "line1\nback\\slash", {{"zone", "a\"b\\c\nd"}}).inc();
    EXPECT_EQ(r.render(),
              "# HELP c_total line1\\nback\\\\slash\n"
              "# TYPE c_total counter\n"
              "c_total{zone=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, SameNameAndLabels_SameObject) {
    MetricsRegistry r;
    auto& a = r.counter("x_total", "h", {{"k", "v"}});
    auto& b = r.counter("x_total", "h", {{"k", "v"}});
    auto& c = r.counter("x_total", "h", {{"k", "w"}});
    EXPECT_EQ(&a, &b);
    EXPECT_NE(&a, &c);
    EXPECT_EQ(&r.gauge("g", "h"), &r.gauge("g", "h"));
}

TEST(MetricsRegistry, InvalidName_Aborts) {
    MetricsRegistry r;
    EXPECT_DEATH((void)r.counter("1bad", "h"), "invalid metric name");
    EXPECT_DEATH((void)r.counter("bad-name", "h"), "invalid metric name");
    EXPECT_DEATH((void)r.counter("ok", "h", {{"bad-label", "v"}}), "invalid label name");
}

TEST(MetricsRegistry, TypeClash_Aborts) {
    MetricsRegistry r;
    (void)r.counter("m", "h");
    EXPECT_DEATH((void)r.gauge("m", "h"), "registered as counter and gauge");
}

TEST(Gauge, Add_ConcurrentUpdatesNotLost) {
    Gauge g;
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&g] {
                for (int i = 0; i < 10000; ++i) g.add(1);
            });
        }
    }
    EXPECT_EQ(g.value(), 40000);
    g.add(-0.5);
    EXPECT_EQ(g.value(), 39999.5);
}

TEST(Histogram, Buckets_CumulativeAndSum) {
    Histogram h({1, 2, 5});
    for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) h.observe(v);
    EXPECT_EQ(h.bucketCount(0), 2U);  // <= 1 (inclusive bound)
    EXPECT_EQ(h.bucketCount(1), 3U);
    EXPECT_EQ(h.bucketCount(2), 4U);
    EXPECT_EQ(h.count(), 5U);
    EXPECT_DOUBLE_EQ(h.sum(), 16.0);
}

TEST(Histogram, ConcurrentObserve_SumExact) {
    Histogram h(MetricsRegistry::latencyBuckets());
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&h] {
                for (int i = 0; i < 5000; ++i) h.observe(0.25);
            });
        }
    }
    EXPECT_EQ(h.count(), 20000U);
    EXPECT_DOUBLE_EQ(h.sum(), 5000.0);
}

TEST(Histogram, UnsortedBounds_Abort) { EXPECT_DEATH(Histogram({2, 1}), "strictly increasing"); }

TEST(MetricsRegistry, LatencyBuckets_SortedFrom1msTo60s) {
    const auto b = MetricsRegistry::latencyBuckets();
    ASSERT_FALSE(b.empty());
    EXPECT_DOUBLE_EQ(b.front(), 0.001);
    EXPECT_DOUBLE_EQ(b.back(), 60);
    EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

}  // namespace
}  // namespace pdns_distribute::common
