// SPDX-License-Identifier: Apache-2.0
// pdd-bench: sets up pdns-distribute and native PowerDNS replication side by side on loopback,
// runs the scenarios of issue 6 and prints a table; raw samples go to a JSON file.
// `pdd-bench --help` lists the flags; `--tiny` is the CI configuration.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench.hpp"

namespace {

using namespace pdns_distribute::bench;

const std::vector<std::string> kKnownScenarios{"propagation", "burst",  "large",   "bootstrap",
                                               "resources",   "verify", "priority"};

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

void progress(const std::string& text) {
    std::puts(text.c_str());
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    BenchOptions o;
    std::string scenarios = "propagation,burst,large,bootstrap,priority,verify";
    bool bootstrap_100k = false;
    long spacing_ms = o.spacing.count();
    long jitter_ms = o.spacing_jitter.count();
    long poll_interval_ms = o.poll_interval.count();
    long timeout_s = o.timeout.count();
    CLI::App app{
        "pdd-bench: pdns-distribute vs native PowerDNS NOTIFY/AXFR replication, side by side on "
        "loopback (issue 6)"};
    app.add_option("--scenarios", scenarios,
                   "comma-separated: propagation, burst, large, bootstrap, priority (interactive "
                   "changes during the bootstrap: runs the bootstrap too), verify (the "
                   "health-checker's comparison of --verify-zones zones on every secondary while "
                   "nothing differs, then idle RSS); resources are measured in burst, large, "
                   "bootstrap and verify")
        ->capture_default_str();
    app.add_flag("--tiny", o.tiny,
                 "CI size: 10 changes, burst 20, large zone 2,000 records, bootstrap 200 zones, "
                 "5 priority changes, verify 300 zones (flags given explicitly still win)");
    auto* secondaries = app.add_option("--secondaries", o.secondaries, "secondaries per system")
                            ->capture_default_str();
    auto* changes = app.add_option("--changes", o.changes,
                                   "propagation: number of changes "
                                   "(create, change, delete in turn)")
                        ->capture_default_str();
    app.add_option("--spacing-ms", spacing_ms,
                   "propagation: pause after both systems converged on a change")
        ->capture_default_str();
    app.add_option("--spacing-jitter-ms", jitter_ms,
                   "propagation: plus a random pause up to this long (native acts on a 1 s loop; "
                   "a fixed period would sample one phase of it)")
        ->capture_default_str();
    auto* burst = app.add_option("--burst", o.burst, "burst: zones created back to back")
                      ->capture_default_str();
    auto* large = app.add_option("--large-records", o.large_records, "large: records in the zone")
                      ->capture_default_str();
    auto* bootstrap = app.add_option("--bootstrap-zones", o.bootstrap_zones,
                                     "bootstrap: zones the new secondary must sync")
                          ->capture_default_str();
    app.add_flag("--bootstrap-100k", bootstrap_100k, "bootstrap: 100,000 zones");
    auto* verify = app.add_option("--verify-zones", o.verify_zones,
                                  "verify: zones on the primary and on every secondary")
                       ->capture_default_str();
    auto* priority = app.add_option("--priority-changes", o.priority_changes,
                                    "priority: zones created through the api-proxy, one every "
                                    "100-200 ms, while the bootstrap runs (fewer when it ends "
                                    "first)")
                         ->capture_default_str();
    app.add_option("--ceiling-in-flight", o.ceiling_in_flight,
                   "bootstrap ceiling: zones created + axfr-retrieved at once")
        ->capture_default_str();
    app.add_option("--poll-interval-ms", poll_interval_ms, "DNS polling interval (<= 5 ms)")
        ->capture_default_str();
    app.add_option("--poll-qps", o.poll_qps,
                   "cap on SOA queries per second while many probes are open")
        ->capture_default_str();
    app.add_option("--timeout-s", timeout_s,
                   "per change: give up waiting for a system after this long")
        ->capture_default_str();
    app.add_flag("--native-autoprimary", o.native_autoprimary,
                 "also register the primary as autoprimary on the native secondaries (root: the "
                 "primary listens on 127.53.x.y:53); zones it creates never get deleted");
    app.add_option("--json", o.json_path, "raw results file")->capture_default_str();
    app.add_option("--log-level", o.log_level, "our daemons' log level")->capture_default_str();
    app.add_flag("--keep", o.keep, "keep every temp dir (logs, databases) and print where");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    o.spacing = std::chrono::milliseconds(spacing_ms);
    o.spacing_jitter = std::chrono::milliseconds(std::max<long>(jitter_ms, 0));
    o.poll_interval = std::chrono::milliseconds(std::clamp<long>(poll_interval_ms, 1, 5));
    o.timeout = std::chrono::seconds(timeout_s);
    o.scenarios = splitList(scenarios);
    for (const auto& s : o.scenarios) {
        if (std::find(kKnownScenarios.begin(), kKnownScenarios.end(), s) == kKnownScenarios.end()) {
            std::fprintf(stderr, "unknown scenario '%s' (known: %s)\n", s.c_str(),
                         fmt::format("{}", fmt::join(kKnownScenarios, ", ")).c_str());
            return 2;
        }
    }
    if (bootstrap_100k && bootstrap->count() == 0) o.bootstrap_zones = 100000;
    if (o.tiny) {
        if (changes->count() == 0) o.changes = 10;
        if (burst->count() == 0) o.burst = 20;
        if (large->count() == 0) o.large_records = 2000;
        if (bootstrap->count() == 0 && !bootstrap_100k) o.bootstrap_zones = 200;
        if (priority->count() == 0) o.priority_changes = 5;
        if (verify->count() == 0) o.verify_zones = 300;
    }
    if (o.secondaries < 1 || o.changes < 0 || o.burst < 1 || o.large_records < 2 ||
        o.bootstrap_zones < 1 || o.priority_changes < 1 || o.verify_zones < 1 || o.poll_qps < 100) {
        std::fprintf(stderr,
                     "bad sizes: secondaries, burst, large, bootstrap, priority-changes and "
                     "verify-zones must be >= 1, poll-qps >= 100\n");
        return 2;
    }
    (void)secondaries;
    if (o.keep) ::setenv("PDD_KEEP_TMP", "1", 1);

    const auto machine = machineInfo();
    Results results;
    std::string error;
    try {
        if (o.wants("propagation") || o.wants("burst") || o.wants("large")) {
            progress(
                fmt::format("starting nats-server, the primary with the 4 daemons, {} "
                            "secondaries with syncers and {} native secondaries ...",
                            o.secondaries, o.secondaries));
            Topology topo(o);
            topo.start();
            if (o.keep) progress("  fleet dir (daemon logs): " + topo.fleet.dir.path());
            if (o.wants("propagation")) {
                progress(fmt::format("propagation: {} changes ...", o.changes));
                runPropagation(topo, o, results);
            }
            if (o.wants("burst")) {
                progress(fmt::format("burst: {} zones ...", o.burst));
                runBurst(topo, o, results);
            }
            if (o.wants("large")) {
                progress(fmt::format("large zone: {} records ...", o.large_records));
                runLargeZone(topo, o, results);
            }
            if (!topo.stop()) {
                results.failed = true;
                results.notes.push_back("a daemon did not exit 0 on SIGTERM");
            }
        }
        if (o.wants("bootstrap") || o.wants("priority")) {
            progress(fmt::format(
                "bootstrap: {} zones{} ...", o.bootstrap_zones,
                o.wants("priority")
                    ? fmt::format(", up to {} interactive changes meanwhile", o.priority_changes)
                    : std::string{}));
            runBootstrap(o, results);
        }
        if (o.wants("verify")) {
            progress(
                fmt::format("verify: {} zones on the primary and on each of {} secondaries ...",
                            o.verify_zones, o.secondaries));
            runVerify(o, results);
        }
    } catch (const std::exception& e) {
        error = e.what();
        results.failed = true;
    }
    printTable(results, o);
    auto j = toJson(results, o, machine);
    if (!error.empty()) j["error"] = error;
    std::ofstream out(o.json_path);
    out << j.dump(2) << '\n';
    if (!out) {
        std::fprintf(stderr, "cannot write '%s'\n", o.json_path.c_str());
        return 1;
    }
    std::printf("\nraw results: %s\n", o.json_path.c_str());
    if (!error.empty()) {
        std::fprintf(stderr, "bench failed: %s\n", error.c_str());
        return 1;
    }
    return results.failed ? 1 : 0;
}
