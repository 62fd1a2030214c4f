// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/metrics.hpp>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace pdns_distribute::common {

namespace {

// A bad metric name or label set is a programming error (the set is fixed at start-up): abort
// rather than serve an exposition Prometheus would reject.
[[noreturn]] void brokenInvariant(const std::string& what) {
    std::fprintf(stderr, "fatal: %s\n", what.c_str());
    std::abort();
}

bool validName(std::string_view name, bool allow_colon) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                           (allow_colon && c == ':');
        const bool digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && i > 0)) return false;
    }
    return true;
}

std::string escapeLabelValue(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string escapeHelp(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

/// `{a="x",b="y"}`, or "" without labels. Used as the series key and in the output.
std::string renderLabels(std::string_view metric, const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    for (size_t i = 0; i < labels.size(); ++i) {
        const auto& [k, v] = labels[i];
        if (!validName(k, false) || k.starts_with("__") || k == "le") {
            brokenInvariant(fmt::format("invalid label name '{}' on metric '{}'", k, metric));
        }
        if (i > 0) out += ',';
        out += fmt::format("{}=\"{}\"", k, escapeLabelValue(v));
    }
    out += '}';
    return out;
}

std::string withLe(const std::string& labels, std::string_view le) {
    if (labels.empty()) return fmt::format("{{le=\"{}\"}}", le);
    return fmt::format("{},le=\"{}\"}}", std::string_view(labels).substr(0, labels.size() - 1), le);
}

std::string formatValue(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

}  // namespace

void Gauge::add(double v) {
    double current = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
    }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size())) {
    for (size_t i = 0; i < bounds_.size(); ++i) {
        if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
            brokenInvariant("histogram bounds must be finite and strictly increasing");
        }
    }
    sum_micros_.store(std::bit_cast<uint64_t>(0.0), std::memory_order_relaxed);
}

void Histogram::observe(double v) {
    // Per-bucket (non-cumulative) counts; bucketCount() adds them up.
    for (size_t i = 0; i < bounds_.size(); ++i) {
        if (v <= bounds_[i]) {
            buckets_[i].fetch_add(1, std::memory_order_relaxed);
            break;
        }
    }
    // sum_micros_ holds the bit pattern of a double, updated with a CAS loop: exact for any
    // magnitude (byte sizes as well as seconds) where fixed-point micro-units could overflow.
    uint64_t current = sum_micros_.load(std::memory_order_relaxed);
    while (!sum_micros_.compare_exchange_weak(
        current, std::bit_cast<uint64_t>(std::bit_cast<double>(current) + v),
        std::memory_order_relaxed)) {
    }
    count_.fetch_add(1, std::memory_order_relaxed);
}

double Histogram::sum() const {
    return std::bit_cast<double>(sum_micros_.load(std::memory_order_relaxed));
}

uint64_t Histogram::bucketCount(size_t i) const {
    uint64_t total = 0;
    for (size_t k = 0; k <= i && k < bounds_.size(); ++k) {
        total += buckets_[k].load(std::memory_order_relaxed);
    }
    return total;
}

namespace {

template <typename Map, typename Make>
auto& findOrAdd(Map& map, const std::string& key, Make make) {
    auto it = map.find(key);
    if (it == map.end()) it = map.emplace(key, make()).first;
    return *it->second;
}

}  // namespace

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const Labels& labels) {
    if (!validName(name, true)) brokenInvariant(fmt::format("invalid metric name '{}'", name));
    const std::string key = renderLabels(name, labels);
    std::lock_guard lock(mutex_);
    auto it = families_.find(name);
    if (it == families_.end()) {
        it = families_.emplace(std::string(name), Family{std::string(help), "counter", {}, {}, {}})
                 .first;
    }
    if (it->second.type != "counter") {
        brokenInvariant(
            fmt::format("metric '{}' registered as {} and counter", name, it->second.type));
    }
    return findOrAdd(it->second.counters, key, [] { return std::make_unique<Counter>(); });
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
    if (!validName(name, true)) brokenInvariant(fmt::format("invalid metric name '{}'", name));
    const std::string key = renderLabels(name, labels);
    std::lock_guard lock(mutex_);
    auto it = families_.find(name);
    if (it == families_.end()) {
        it = families_.emplace(std::string(name), Family{std::string(help), "gauge", {}, {}, {}})
                 .first;
    }
    if (it->second.type != "gauge") {
        brokenInvariant(
            fmt::format("metric '{}' registered as {} and gauge", name, it->second.type));
    }
    return findOrAdd(it->second.gauges, key, [] { return std::make_unique<Gauge>(); });
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> bounds, const Labels& labels) {
    if (!validName(name, true)) brokenInvariant(fmt::format("invalid metric name '{}'", name));
    const std::string key = renderLabels(name, labels);
    std::lock_guard lock(mutex_);
    auto it = families_.find(name);
    if (it == families_.end()) {
        it =
            families_.emplace(std::string(name), Family{std::string(help), "histogram", {}, {}, {}})
                .first;
    }
    if (it->second.type != "histogram") {
        brokenInvariant(
            fmt::format("metric '{}' registered as {} and histogram", name, it->second.type));
    }
    return findOrAdd(it->second.histograms, key,
                     [&] { return std::make_unique<Histogram>(std::move(bounds)); });
}

std::string MetricsRegistry::render() const {
    std::string out;
    std::lock_guard lock(mutex_);
    for (const auto& [name, family] : families_) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escapeHelp(family.help), name,
                           family.type);
        for (const auto& [labels, c] : family.counters) {
            out += fmt::format("{}{} {}\n", name, labels, c->value());
        }
        for (const auto& [labels, g] : family.gauges) {
            out += fmt::format("{}{} {}\n", name, labels, formatValue(g->value()));
        }
        for (const auto& [labels, h] : family.histograms) {
            // observe() bumps a bucket before the count, so a bucket read after the count may be
            // one ahead of it; clamping keeps the series cumulative up to +Inf.
            const uint64_t count = h->count();
            for (size_t i = 0; i < h->bounds().size(); ++i) {
                out += fmt::format("{}_bucket{} {}\n", name,
                                   withLe(labels, formatValue(h->bounds()[i])),
                                   std::min(h->bucketCount(i), count));
            }
            out += fmt::format("{}_bucket{} {}\n", name, withLe(labels, "+Inf"), count);
            out += fmt::format("{}_sum{} {}\n", name, labels, formatValue(h->sum()));
            out += fmt::format("{}_count{} {}\n", name, labels, count);
        }
    }
    return out;
}

std::vector<double> MetricsRegistry::latencyBuckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace pdns_distribute::common
