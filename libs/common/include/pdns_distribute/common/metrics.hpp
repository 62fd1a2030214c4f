// SPDX-License-Identifier: Apache-2.0
#pragma once
// Metrics registry rendered as Prometheus text (exposition format 0.0.4). Each service declares
// its metrics once in a struct built at start-up; the returned references stay valid for the
// registry's lifetime. Updates are lock-free atomics; render() takes a mutex.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pdns_distribute::common {

class Counter {
public:
    void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

class Gauge {
public:
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    void add(double v);
    [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    [[nodiscard]] uint64_t count() const { return count_.load(std::memory_order_relaxed); }
    [[nodiscard]] double sum() const;
    [[nodiscard]] const std::vector<double>& bounds() const { return bounds_; }
    [[nodiscard]] uint64_t bucketCount(size_t i) const;  ///< cumulative, i < bounds().size()

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sum_micros_{0};
};

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
public:
    /// Same name+labels returns the same object. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
    Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
    Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
    Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                         const Labels& labels = {});
    [[nodiscard]] std::string render() const;

    /// Latency buckets in seconds, 1 ms .. 60 s.
    static std::vector<double> latencyBuckets();

private:
    struct Family {
        std::string help;
        std::string type;
        std::map<std::string, std::unique_ptr<Counter>> counters;  // key: rendered labels
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::unique_ptr<Histogram>> histograms;
    };
    mutable std::mutex mutex_;
    std::map<std::string, Family, std::less<>> families_;
};

}  // namespace pdns_distribute::common
