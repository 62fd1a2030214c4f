// SPDX-License-Identifier: Apache-2.0
// The table on stdout and the JSON beside it.

#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "bench.hpp"

namespace pdns_distribute::bench {

namespace {

std::string cell(const std::optional<double>& ms) { return ms ? fmt::format("{:.1f}", *ms) : "-"; }

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

/// From `needle` to the end of its line in `text` (pdns prefixes its lines with a date).
std::string fromNeedle(const std::string& text, const std::string& needle) {
    const auto pos = text.find(needle);
    if (pos == std::string::npos) return firstLine(text);
    return firstLine(text.substr(pos));
}

std::string readFirstMatching(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) {
            const auto colon = line.find(':');
            return colon == std::string::npos ? line : line.substr(colon + 2);
        }
    }
    return {};
}

}  // namespace

std::optional<double> percentile(std::vector<double> values, double p) {
    if (values.empty()) return std::nullopt;
    std::sort(values.begin(), values.end());
    // Nearest rank: the smallest value with at least p % of the samples at or below it.
    const auto rank =
        static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

void addLatencyRows(Results& results, const std::string& scenario, const std::string& kind,
                    const std::string& label) {
    std::optional<double> native_p50;
    std::vector<Row> rows;
    for (const char* system : {kOurs, kNative}) {
        std::vector<double> ms;
        Row row{.scenario = label, .system = system};
        for (const auto& s : results.samples) {
            if (s.scenario != scenario || s.system != system) continue;
            if (!kind.empty() && s.kind != kind) continue;
            ++row.n;
            if (s.ms) {
                ms.push_back(*s.ms);
            } else {
                ++row.timeouts;
            }
        }
        row.p50 = percentile(ms, 50);
        row.p95 = percentile(ms, 95);
        row.p99 = percentile(ms, 99);
        row.max = percentile(ms, 100);
        if (std::string(system) == kNative) {
            native_p50 = row.p50;
            if (row.n > 0 && row.timeouts == row.n) {
                results.failed = true;
                results.notes.push_back(fmt::format(
                    "FAILED: native replication served none of '{}': the native setup is broken "
                    "(or, "
                    "with --native-autoprimary, these are deletions of zones its autoprimary "
                    "created, which pdns 4.7 never deletes)",
                    label));
            }
        }
        rows.push_back(row);
    }
    if (rows[0].p50 && native_p50 && *native_p50 > 0) {
        rows[0].ratio = fmt::format("{:.3f}", *rows[0].p50 / *native_p50);
    }
    results.rows.insert(results.rows.end(), rows.begin(), rows.end());
}

void printTable(const Results& results, const BenchOptions& options) {
    std::puts("");
    std::puts(fmt::format("{:<40} {:<22} {:>5} {:>9} {:>9} {:>9} {:>9}  {:<26} {}", "scenario",
                          "system", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "throughput",
                          "ours/native")
                  .c_str());
    std::puts(std::string(150, '-').c_str());
    for (const auto& r : results.rows) {
        std::string n = std::to_string(r.n);
        if (r.timeouts > 0) n += fmt::format(" ({} timed out)", r.timeouts);
        if (r.not_applicable) {
            std::puts(fmt::format("{:<40} {:<22} {:>5} {:>9} {:>9} {:>9} {:>9}  {:<26} {}",
                                  r.scenario, r.system, "n/a", "n/a", "n/a", "n/a", "n/a",
                                  "(see note)", "")
                          .c_str());
            continue;
        }
        std::puts(fmt::format("{:<40} {:<22} {:>5} {:>9} {:>9} {:>9} {:>9}  {:<26} {}", r.scenario,
                              r.system, n, cell(r.p50), cell(r.p95), cell(r.p99), cell(r.max),
                              r.throughput, r.ratio)
                      .c_str());
    }
    std::puts("");
    std::puts(
        "ours/native: p50 (or the single time) of pdns-distribute divided by native's; below 1 "
        "means faster. Every time runs from the API's 2xx answer until ALL of a system's "
        "secondaries answer the new data over DNS.");
    std::puts(fmt::format("polling: SOA over UDP every {} ms, at most {} queries per second while "
                          "many probes are open",
                          options.poll_interval.count(), options.poll_qps)
                  .c_str());
    for (const auto& [scenario, procs] : results.resources.items()) {
        std::puts(fmt::format("\nresources during {} (CPU s during the scenario, peak RSS MiB):",
                              scenario)
                      .c_str());
        std::string line;
        for (const auto& p : procs) {
            if (p["gone"].get<bool>()) {
                line += fmt::format("  {} (exited)", p["process"].get<std::string>());
                continue;
            }
            line += fmt::format("  {}{} {:.2f}s {:.1f}MiB{}",
                                p["system"].get<std::string>() == kNative ? "native:" : "",
                                p["process"].get<std::string>(), p["cpu_seconds"].get<double>(),
                                static_cast<double>(p["peak_rss_kib"].get<uint64_t>()) / 1024.0,
                                p["peak_since_process_start"].get<bool>() ? "*" : "");
            if (line.size() > 110) {
                std::puts(line.c_str());
                line.clear();
            }
        }
        if (!line.empty()) std::puts(line.c_str());
    }
    if (!results.resources.empty()) std::puts("  (* peak since the process started)");
    for (const auto& note : results.notes) std::puts(note.c_str());
}

nlohmann::json machineInfo() {
    nlohmann::json m;
    m["nproc"] = std::thread::hardware_concurrency();
    m["cpu_model"] = readFirstMatching("/proc/cpuinfo", "model name");
    utsname u{};
    if (::uname(&u) == 0) m["kernel"] = fmt::format("{} {}", u.sysname, u.release);
    std::ifstream load("/proc/loadavg");
    std::string loadavg;
    std::getline(load, loadavg);
    m["loadavg_at_start"] = loadavg;
    const auto pdns = e2e::runCommand({"pdns_server", "--version"}, std::chrono::seconds(10));
    m["pdns_server"] = fromNeedle(pdns.err + pdns.out, "PowerDNS Authoritative Server");
    m["nats_server"] = firstLine(e2e::runCommand({"nats-server", "--version"}).out);
    const auto rev = e2e::runCommand({"git", "-C", PDD_SOURCE_DIR, "rev-parse", "HEAD"});
    m["git_commit"] = rev.exit_code == 0 ? firstLine(rev.out) : "unknown";
    const auto dirty = e2e::runCommand({"git", "-C", PDD_SOURCE_DIR, "status", "--porcelain"});
    m["git_dirty"] = dirty.exit_code == 0 && !dirty.out.empty();
    const auto now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    m["started_utc"] = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900,
                                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return m;
}

nlohmann::json toJson(const Results& results, const BenchOptions& o,
                      const nlohmann::json& machine) {
    nlohmann::json j;
    j["machine"] = machine;
    std::ifstream load("/proc/loadavg");
    std::string loadavg;
    std::getline(load, loadavg);
    j["machine"]["loadavg_at_end"] = loadavg;
    j["config"] = {
        {"scenarios", o.scenarios},
        {"secondaries_per_system", o.secondaries},
        {"changes", o.changes},
        {"spacing_ms", o.spacing.count()},
        {"burst", o.burst},
        {"large_records", o.large_records},
        {"bootstrap_zones", o.bootstrap_zones},
        {"verify_zones", o.verify_zones},
        {"priority_changes", o.priority_changes},
        {"ceiling_in_flight", o.ceiling_in_flight},
        {"poll_interval_ms", o.poll_interval.count()},
        {"poll_qps", o.poll_qps},
        {"timeout_s", o.timeout.count()},
        {"tiny", o.tiny},
        {"native_autoprimary", o.native_autoprimary},
        {"native_secondary_settings", NativeSecondaries::secondarySettings(o.native_autoprimary)},
        {"native_catalog_zone", kCatalogZone}};
    auto samples = nlohmann::json::array();
    for (const auto& s : results.samples) {
        auto per = nlohmann::json::array();
        for (const auto& p : s.per_secondary_ms) {
            per.push_back(p ? nlohmann::json(*p) : nlohmann::json(nullptr));
        }
        auto last_ms = nlohmann::json::array();
        for (const auto& p : s.per_secondary_last_other_ms) {
            last_ms.push_back(p ? nlohmann::json(*p) : nlohmann::json(nullptr));
        }
        samples.push_back({{"scenario", s.scenario},
                           {"kind", s.kind},
                           {"system", s.system},
                           {"zone", s.zone},
                           {"ms", s.ms ? nlohmann::json(*s.ms) : nlohmann::json(nullptr)},
                           {"per_secondary_ms", per},
                           {"per_secondary_last_other", s.per_secondary_last_other},
                           {"per_secondary_last_other_ms", last_ms}});
    }
    j["samples"] = samples;
    auto rows = nlohmann::json::array();
    for (const auto& r : results.rows) {
        const auto opt = [](const std::optional<double>& v) {
            return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
        };
        rows.push_back({{"scenario", r.scenario},
                        {"system", r.system},
                        {"n", r.n},
                        {"timeouts", r.timeouts},
                        {"p50_ms", opt(r.p50)},
                        {"p95_ms", opt(r.p95)},
                        {"p99_ms", opt(r.p99)},
                        {"max_ms", opt(r.max)},
                        {"throughput", r.throughput},
                        {"ratio_to_native", r.ratio},
                        {"not_applicable", r.not_applicable}});
    }
    j["table"] = rows;
    j["details"] = results.details;
    j["resources"] = results.resources;
    j["notes"] = results.notes;
    j["failed"] = results.failed;
    return j;
}

}  // namespace pdns_distribute::bench
