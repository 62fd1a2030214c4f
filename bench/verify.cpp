// SPDX-License-Identifier: Apache-2.0
// Scenario "verify" (issue 6, items 5 and 7): the health-checker's comparison of every secondary
// with the primary at N zones while nothing differs (time per round, bytes over NATS), then every
// process's idle RSS. The secondaries get their N zones without N transfers (a 100,000-zone
// bootstrap takes about 15 minutes per node): each one's sqlite database is seeded with the
// primary's zones as the syncer's own secondary zones, and each node's durable consumer is moved
// past the reconcile events by acking them as that node, which is what applying them would have
// done.

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include <pdns_distribute/common/bus.hpp>

#include "bench.hpp"

namespace pdns_distribute::bench {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// The account that marks a zone as the syncer's own (secondary-syncer's kManagedAccount).
constexpr const char* kManagedAccount = "pdns-distribute";
/// Bench settings, not the shipped defaults (publish_rate 200/s, scan_rate 500/s): at those,
/// publishing 100,000 zones takes over 8 minutes and every scan over 3.
constexpr int kPublishRate = 20000;
constexpr int kScanRate = 20000;
/// The syncer's shipped scan_interval (the Fleet's default, 1 s, would rescan back to back).
constexpr auto kScanInterval = 60s;
constexpr double kRssTargetBytes = 50e6;  // issue 6: "under 50 MB"
constexpr auto kSampleEvery = 100ms;
constexpr auto kProgressEvery = 10s;

void progress(const std::string& text) {
    std::puts(text.c_str());
    std::fflush(stdout);
}

std::string bytesText(double bytes) {
    if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
    if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", bytes / 1024);
    return fmt::format("{:.2f} MiB", bytes / 1048576);
}

double mibOf(uint64_t kib) { return static_cast<double>(kib) / 1024.0; }

/// Polls `done` every `every` until it holds or `deadline` passes, printing `status()` every
/// kProgressEvery; `check` (if set) runs each time and throws to give up early.
bool waitFor(const std::function<bool()>& done, Clock::time_point deadline,
             std::chrono::milliseconds every, const std::function<std::string()>& status,
             const std::function<void()>& check = {}) {
    auto next_progress = Clock::now() + kProgressEvery;
    while (true) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        if (check) check();
        if (Clock::now() >= next_progress) {
            progress(status());
            next_progress += kProgressEvery;
        }
        std::this_thread::sleep_for(every);
    }
}

/// Rows of a query on a stopped pdns's sqlite database, fields split at '|'.
std::vector<std::vector<std::string>> sqliteRows(const std::string& db, const std::string& query) {
    const auto r = e2e::runCommand({"sqlite3", "-batch", "-separator", "|", db, query}, 60s);
    if (r.exit_code != 0) {
        throw std::runtime_error(fmt::format("sqlite3 '{}' failed: {}", db, r.err));
    }
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> fields;
        std::istringstream f(line);
        for (std::string field; std::getline(f, field, '|');) fields.push_back(field);
        rows.push_back(std::move(fields));
    }
    return rows;
}

bool equalsNoCase(const std::string& a, const std::string& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

/// The domains row and metadata the syncer gave the canary zone in a (stopped) secondary's
/// database: what each seeded zone gets, so the syncer takes them for its own.
SeedDomain managedCopy(const e2e::PdnsServer& secondary, std::string canary) {
    if (canary.ends_with('.')) canary.pop_back();
    const auto db = secondary.databasePath();
    const auto rows = sqliteRows(
        db, fmt::format("SELECT id, type, master, account FROM domains WHERE name='{}'", canary));
    if (rows.size() != 1 || rows[0].size() != 4 ||
        !(equalsNoCase(rows[0][1], "slave") || equalsNoCase(rows[0][1], "secondary")) ||
        rows[0][2].empty() || rows[0][3] != kManagedAccount) {
        throw std::runtime_error(fmt::format(
            "the canary zone '{}' in '{}' is not a secondary zone of account '{}' with a master",
            canary, db, kManagedAccount));
    }
    SeedDomain d{.type = rows[0][1],
                 .master = rows[0][2],
                 .account = rows[0][3],
                 // Transferred just now: pdns's own refresh check is not due for the SOA refresh
                 // (10800 s), as on a node that applied the zones.
                 .last_check = static_cast<long long>(std::time(nullptr)),
                 .metadata = {}};
    for (auto& m : sqliteRows(db, fmt::format("SELECT kind, content FROM domainmetadata WHERE "
                                              "domain_id={} AND kind='AXFR-MASTER-TSIG'",
                                              rows[0][0]))) {
        if (m.size() == 2) d.metadata.emplace_back(m[0], m[1]);
    }
    if (d.metadata.empty()) {
        throw std::runtime_error(
            fmt::format("the canary zone '{}' in '{}' has no AXFR-MASTER-TSIG", canary, db));
    }
    return d;
}

/// (num_pending, num_ack_pending) of a durable consumer of PDNS_ZONES, from /jsz.
std::optional<std::pair<long long, long long>> consumerPending(int monitor_port,
                                                               const std::string& durable) {
    httplib::Client c("127.0.0.1", monitor_port);
    c.set_read_timeout(5, 0);
    const auto r = c.Get("/jsz?consumers=true");
    if (!r || r->status != 200) return std::nullopt;
    const auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("account_details")) return std::nullopt;
    for (const auto& account : j["account_details"]) {
        for (const auto& stream : account.value("stream_detail", json::array())) {
            if (stream.value("name", "") != "PDNS_ZONES") continue;
            for (const auto& consumer : stream.value("consumer_detail", json::array())) {
                if (consumer.value("name", "") == durable) {
                    return std::pair{consumer.value("num_pending", 0LL),
                                     consumer.value("num_ack_pending", 0LL)};
                }
            }
        }
    }
    return std::nullopt;
}

std::string durableOf(size_t i) { return "syncer-" + e2e::Fleet::nodeId(i); }

/// Acks every message pending on secondary i's durable consumer, connected as that node (its
/// NATS user): what the node does once it applied them. Returns how many it acked.
size_t advanceConsumer(const e2e::Fleet& f, size_t i, Clock::time_point deadline) {
    auto settings = f.natsSettingsFor(e2e::Fleet::Role::Secondary, i);
    settings.name = "pdd-bench advance " + durableOf(i);
    auto bus = common::NatsBus::connect(settings);
    auto consumer = bus->bindPullConsumer("PDNS_ZONES", durableOf(i));
    if (!consumer) throw std::runtime_error(consumer.error().message);
    size_t acked = 0;
    while (Clock::now() < deadline) {
        auto batch = (*consumer)->fetch(256, 200ms);
        if (!batch) throw std::runtime_error(batch.error().message);
        if (batch->empty()) {
            const auto pending = consumerPending(f.nats.monitorPort(), durableOf(i));
            if (pending && pending->first == 0 && pending->second == 0) break;
            continue;
        }
        for (auto& d : *batch) {
            if (auto s = d->ack(); !s) throw std::runtime_error(s.error().message);
            ++acked;
        }
    }
    consumer->reset();
    bus->close();
    return acked;
}

struct CheckerMetrics {
    std::optional<double> rounds;
    std::optional<double> round_seconds;
    std::optional<double> state_bytes;
    std::optional<double> in_sync;
};

CheckerMetrics readCheckerMetrics(e2e::Fleet& f) {
    const auto r = f.checkerHttp("GET", "/metrics");
    if (r.status != 200) return {};
    return CheckerMetrics{
        .rounds = promSample(r.body, "pdns_distribute_health_checker_verify_rounds_total"),
        .round_seconds = promSample(r.body, "pdns_distribute_health_checker_verify_round_seconds"),
        .state_bytes = promSample(r.body, "pdns_distribute_health_checker_state_bytes_total"),
        .in_sync = promSample(r.body, "pdns_distribute_health_checker_nodes_in_sync")};
}

/// One line on the nodes as the health-checker's /status shows them.
std::string nodesLine(e2e::Fleet& f) {
    const auto s = f.checkerStatus();
    if (!s.is_object()) return " (status unavailable)";
    std::string out;
    for (const auto& n : s.value("nodes", json::array())) {
        out += fmt::format(" {}: {} zones{}{}", n.value("node", ""), n.value("zones", uint64_t{0}),
                           n.value("scanned", false) ? ", scanned" : ", scanning",
                           n.value("state", "") == "active" ? "" : ", inactive");
    }
    return out.empty() ? " (no node known yet)" : out;
}

long long delta(const json& after, const json& before, const char* key) {
    if (!after.is_object() || !before.is_object()) return -1;
    return after.value(key, 0LL) - before.value(key, 0LL);
}

}  // namespace

void runVerify(const BenchOptions& o, Results& results) {
    const int zones = o.verify_zones;
    const auto nodes = static_cast<size_t>(o.secondaries);
    // Each reconcile pass marks the desired state for a rebuild, so in steady state a full
    // comparison happens once per pass: the window holds a few of them.
    const std::chrono::seconds reconcile = o.tiny ? 2s : 10s;
    const std::chrono::seconds window_length = o.tiny ? 5s : 30s;
    e2e::FleetOptions fo;
    fo.secondaries = o.secondaries;
    fo.log_level = o.log_level;
    fo.reconcile_interval = reconcile;
    fo.publish_rate = kPublishRate;
    fo.scan_rate = kScanRate;
    fo.scan_interval = kScanInterval;
    e2e::Fleet f(fo);
    f.start();
    if (o.keep) progress("  verify fleet dir (daemon logs): " + f.dir.path());
    const auto& canary = f.options.canary_zone;

    // Every syncer has its TSIG key in its pdns, has applied the canary and has written its
    // tsig-zones marker (so its next start skips the per-zone key pass).
    if (!f.waitLikePrimary(canary, 60s)) {
        throw std::runtime_error("verify: a secondary does not serve the canary zone");
    }
    for (size_t i = 0; i < nodes; ++i) {
        const auto marker = f.dir.file(e2e::Fleet::nodeId(i) + "-state/tsig-zones");
        if (!e2e::waitUntil([&] { return std::filesystem::exists(marker); }, 60s, 50ms)) {
            throw std::runtime_error("verify: no marker '" + marker + "'");
        }
    }
    for (size_t i = 0; i < nodes; ++i) {
        if (const int rc = f.stopSyncer(i); rc != 0) {
            throw std::runtime_error(
                fmt::format("verify: syncer{} did not exit 0 on SIGTERM ({})", i + 1, rc));
        }
    }

    progress(fmt::format(
        "verify: seeding {} zones into the databases of the primary and {} secondaries ...", zones,
        nodes));
    const auto seed_start = Clock::now();
    for (size_t i = 0; i < nodes; ++i) {
        auto& s = *f.secondaries[i];
        (void)s.stop();
        seedZones(s, f.dir.file(fmt::format("seed-secondary{}.sql", i + 1)), zones,
                  managedCopy(s, canary));
        s.start(120s);
    }
    (void)f.primary.stop();
    seedZones(f.primary, f.dir.file("seed-primary.sql"), zones);
    // Restarted after seeding, so its zone cache holds every zone; the health-checker's next
    // reconcile publishes them all.
    f.primary.start(120s);
    const double seed_ms = msSince(seed_start, Clock::now());

    const auto monitor = f.nats.monitorPort();
    const auto publish_start = Clock::now();
    long long in_stream = 0;
    if (!waitFor(
            [&] {
                in_stream = streamMessages(monitor).value_or(0);
                return in_stream >= zones + 1;  // + canary
            },
            publish_start + o.timeout + reconcile + std::chrono::milliseconds(zones) * 20, 200ms,
            [&] {
                return fmt::format("verify: {} of {} events in PDNS_ZONES", in_stream, zones + 1);
            })) {
        throw std::runtime_error("verify: the health-checker did not publish every zone in time");
    }
    const double publish_ms = msSince(publish_start, Clock::now());
    progress(
        fmt::format("verify: {} zones in PDNS_ZONES {:.0f} ms after the primary restarted "
                    "(publish_rate {}/s); moving each node's consumer past them ...",
                    zones, publish_ms, kPublishRate));

    const auto advance_start = Clock::now();
    std::vector<size_t> acked(nodes, 0);
    std::vector<std::string> advance_errors(nodes);
    {
        const auto deadline = advance_start + o.timeout + std::chrono::milliseconds(zones) * 10;
        std::vector<std::jthread> threads;
        for (size_t i = 0; i < nodes; ++i) {
            threads.emplace_back([&, i] {
                try {
                    acked[i] = advanceConsumer(f, i, deadline);
                } catch (const std::exception& e) {
                    advance_errors[i] = e.what();
                }
            });
        }
    }
    for (size_t i = 0; i < nodes; ++i) {
        if (!advance_errors[i].empty()) {
            throw std::runtime_error(fmt::format("verify: cannot ack the events of '{}' ({})",
                                                 durableOf(i), advance_errors[i]));
        }
        const auto pending = consumerPending(monitor, durableOf(i));
        if (!pending || pending->first != 0 || pending->second != 0) {
            throw std::runtime_error(
                fmt::format("verify: consumer '{}' still has events pending", durableOf(i)));
        }
    }
    const double advance_ms = msSince(advance_start, Clock::now());

    progress(fmt::format("verify: starting the {} syncers (scan_rate {}/s) ...", nodes, kScanRate));
    const auto sync_start = Clock::now();
    for (size_t i = 0; i < nodes; ++i) f.startSyncer(i);
    const auto ours = fleetProcesses(f);
    CheckerMetrics m;
    if (!waitFor(
            [&] {
                m = readCheckerMetrics(f);
                return m.in_sync && *m.in_sync >= static_cast<double>(nodes);
            },
            sync_start + o.timeout + std::chrono::milliseconds(zones) * 10, 200ms,
            [&] {
                return fmt::format("verify: {} of {} nodes in sync;{}",
                                   m.in_sync ? *m.in_sync : 0.0, nodes, nodesLine(f));
            },
            [&] { requireRunning(ours); })) {
        throw std::runtime_error("verify: the health-checker did not see every node in sync (" +
                                 nodesLine(f) + ")");
    }
    const double sync_ms = msSince(sync_start, Clock::now());
    progress(fmt::format(
        "verify: every node in sync {:.0f} ms after the syncers started; steady state for {} s ...",
        sync_ms, window_length.count()));

    // The premise: no zone came by transfer (the sweep and the scan found every one current).
    std::vector<double> applied(nodes, 0);
    for (size_t i = 0; i < nodes; ++i) {
        const auto r = f.syncerHttp(i, "/metrics");
        if (r.status == 200) {
            applied[i] =
                promSample(r.body,
                           R"(pdns_distribute_syncer_zone_results_total{outcome="applied"})")
                    .value_or(0);
        }
    }

    // Steady state, nothing differing.
    std::vector<ProcRef> procs{{.system = kOurs, .name = "api-proxy", .pid = f.proxy.pid()},
                               {.system = kOurs, .name = "zone-provider", .pid = f.provider.pid()},
                               {.system = kOurs, .name = "health-checker", .pid = f.checker.pid()}};
    for (size_t i = 0; i < nodes; ++i) {
        procs.push_back(
            {.system = kOurs, .name = fmt::format("syncer{}", i + 1), .pid = f.syncers[i]->pid()});
    }
    procs.push_back({.system = kOurs, .name = "nats-server", .pid = f.nats.process().pid()});
    procs.push_back({.system = "shared", .name = "pdns-primary", .pid = f.primary.process().pid()});
    for (size_t i = 0; i < nodes; ++i) {
        procs.push_back({.system = kOurs,
                         .name = fmt::format("pdns-secondary{}", i + 1),
                         .pid = f.secondaries[i]->process().pid()});
    }
    std::vector<uint64_t> hwm_before_window;
    hwm_before_window.reserve(procs.size());
    for (const auto& p : procs) hwm_before_window.push_back(statusKib(p.pid, "VmHWM").value_or(0));
    const auto varz0 = natsVarzAt(monitor);
    const auto connz0 = natsConnzAt(monitor);
    const auto m0 = readCheckerMetrics(f);
    const ResourceWindow window(procs);
    const auto w0 = Clock::now();
    std::vector<double> round_ms;
    size_t rounds_unsampled = 0;
    double min_in_sync = static_cast<double>(nodes);
    auto last = m0;
    // VmRSS of every process once a second: a daemon's periodic pass over every zone (the
    // syncer's scan, the checker's reconcile) shows as a spike; the median is the idle level.
    std::vector<std::vector<uint64_t>> rss_samples(procs.size());
    auto next_rss = w0;
    while (Clock::now() < w0 + window_length) {
        if (Clock::now() >= next_rss) {
            for (size_t k = 0; k < procs.size(); ++k) {
                if (auto v = statusKib(procs[k].pid, "VmRSS")) rss_samples[k].push_back(*v);
            }
            next_rss += 1s;
        }
        std::this_thread::sleep_for(kSampleEvery);
        const auto s = readCheckerMetrics(f);
        if (!s.rounds || !s.round_seconds) continue;
        if (last.rounds && *s.rounds > *last.rounds) {
            round_ms.push_back(*s.round_seconds * 1000.0);
            rounds_unsampled += static_cast<size_t>(*s.rounds - *last.rounds) - 1;
        }
        if (s.in_sync) min_in_sync = std::min(min_in_sync, *s.in_sync);
        last = s;
    }
    const double window_s = msSince(w0, Clock::now()) / 1000.0;
    const auto usage = window.end();
    const auto varz1 = natsVarzAt(monitor);
    const auto connz1 = natsConnzAt(monitor);
    const auto m1 = readCheckerMetrics(f);
    requireRunning(ours);

    const double rounds = m1.rounds && m0.rounds ? *m1.rounds - *m0.rounds : 0;
    const double state_bytes =
        m1.state_bytes && m0.state_bytes ? *m1.state_bytes - *m0.state_bytes : -1;
    const long long nats_in = delta(varz1, varz0, "in_bytes");
    const long long nats_out = delta(varz1, varz0, "out_bytes");
    const double nats_bytes = static_cast<double>(nats_in + nats_out);

    const auto label = fmt::format("verify {} zones x {} secondaries", zones, nodes);
    Row row{.scenario = label, .system = kOurs, .n = round_ms.size()};
    bool last_only = false;
    if (round_ms.empty() && last.round_seconds) {
        // No full round inside the window: the last one before it.
        round_ms.push_back(*last.round_seconds * 1000.0);
        row.n = 1;
        last_only = true;
    }
    row.p50 = percentile(round_ms, 50);
    row.p95 = percentile(round_ms, 95);
    row.p99 = percentile(round_ms, 99);
    row.max = percentile(round_ms, 100);
    row.throughput = rounds > 0
                         ? fmt::format("NATS {}/round, {}/{:.0f}s", bytesText(nats_bytes / rounds),
                                       bytesText(nats_bytes), window_s)
                         : fmt::format("NATS {}/{:.0f}s", bytesText(nats_bytes), window_s);
    results.rows.push_back(row);
    results.rows.push_back(Row{.scenario = label, .system = kNative, .not_applicable = true});
    const auto sync_label = fmt::format("verify {}: syncers start->in sync", zones);
    results.rows.push_back(
        Row{.scenario = sync_label,
            .system = kOurs,
            .n = 1,
            .max = sync_ms,
            .throughput = fmt::format("{:.0f} zones/s per node", zones / (sync_ms / 1000.0))});
    results.rows.push_back(Row{.scenario = sync_label, .system = kNative, .not_applicable = true});

    const double total_applied = [&] {
        double t = 0;
        for (const double a : applied) t += a;
        return t;
    }();
    results.notes.push_back(fmt::format(
        "verify: setup. {} zones seeded straight into the sqlite databases of the primary and of "
        "each secondary ({:.1f} s in all): the same names and records, on the secondaries as "
        "type SLAVE with the canary's master, account '{}' and the canary's AXFR-MASTER-TSIG, "
        "last_check now. The health-checker published them at publish_rate {}/s (a bench "
        "setting; shipped: 200/s) in {:.1f} s after the primary restarted (reconcile_interval "
        "{} s). Each node's durable consumer was then moved past those events by acking them as "
        "that node ({:.1f} s; what applying them would have done). Zones the syncers then "
        "applied (transferred): {:.0f} (0 expected).",
        zones, seed_ms / 1000.0, kManagedAccount, kPublishRate, publish_ms / 1000.0,
        reconcile.count(), advance_ms / 1000.0, total_applied));
    results.notes.push_back(fmt::format(
        "verify: {} syncers started -> health-checker sees every node in sync: {:.1f} s. This is "
        "NOT the comparison: it includes each syncer's start-up and startup sweep (reading the "
        "{} events, listing its local zones) and every node's full scan of its {} zones from its "
        "local pdns at scan_rate {}/s (a bench setting; shipped: 500/s, i.e. {:.0f} s per scan), "
        "scan_interval {} s.",
        nodes, sync_ms / 1000.0, zones, zones, kScanRate, zones / 500.0, kScanInterval.count()));
    results.notes.push_back(fmt::format(
        "verify: steady state, nothing differing, {:.1f} s window: {:.0f} full verify round(s) "
        "(a round that rebuilt the desired state of {} zones and compared it with every node; "
        "each reconcile pass starts one), {} sampled{}; round time p50 {} ms, max {} ms (gauge "
        "pdns_distribute_health_checker_verify_round_seconds). Node state fetched: {} (counter "
        "..._state_bytes_total; 0 = every node's heartbeat digest matched, nothing more asked). "
        "NATS, ALL traffic (nats-server /varz in+out: heartbeats, leader lock, node claims "
        "included): {} in the window{}. Lowest nodes-in-sync seen: {:.0f} of {}. Issue 6 "
        "target: < 2 s and < 5 MB per full comparison.",
        window_s, rounds, zones, round_ms.size(),
        last_only ? " (none in the window: the last round before it is shown)"
                  : (rounds_unsampled > 0 ? fmt::format(", {} not sampled", rounds_unsampled)
                                          : std::string{}),
        row.p50 ? fmt::format("{:.1f}", *row.p50) : "-",
        row.max ? fmt::format("{:.1f}", *row.max) : "-",
        state_bytes < 0 ? std::string("unknown") : bytesText(state_bytes), bytesText(nats_bytes),
        rounds > 0 ? fmt::format(", {} per round", bytesText(nats_bytes / rounds)) : std::string{},
        min_in_sync, nodes));
    results.notes.push_back(fmt::format(
        "verify: native n/a. Native replication has no verify; the closest is pdns's SOA refresh "
        "check: every secondary asks the primary for each zone's SOA once per SOA refresh "
        "interval (10800 s here), i.e. {} x {} queries per interval, and it sees only serials.",
        zones, nodes));
    if (total_applied > 0) {
        results.notes.push_back(fmt::format(
            "verify: WARNING: the syncers transferred {:.0f} zone(s) after their start: those are "
            "not the seeded copies (see the syncers' logs)",
            total_applied));
    }
    if (min_in_sync < static_cast<double>(nodes) || state_bytes > 0) {
        results.notes.push_back(
            "verify: WARNING: something differed during the window (a node left sync or node "
            "state was fetched): the window is not the 'nothing differs' case");
    }

    // Idle memory after the window.
    json idle = json::array();
    std::string lines = fmt::format(
        "verify: idle memory at {} zones (VmRSS: median of one sample a second over the window, "
        "and at its end; the window's peak (VmHWM reset at its start) shows a periodic pass over "
        "every zone; VmHWM since process start covers start-up; issue 6 target, judged on the "
        "median: each daemon < 50 MB = {:.1f} MiB):",
        zones, kRssTargetBytes / 1048576.0);
    for (size_t k = 0; k < usage.size(); ++k) {
        const auto& u = usage[k];
        const bool daemon = u.proc.name.starts_with("syncer") || u.proc.name == "api-proxy" ||
                            u.proc.name == "zone-provider" || u.proc.name == "health-checker";
        auto samples = rss_samples[k];
        std::sort(samples.begin(), samples.end());
        const uint64_t median = samples.empty() ? u.rss_kib : samples[samples.size() / 2];
        const bool under = static_cast<double>(median) * 1024.0 < kRssTargetBytes;
        // The window reset the peak: the lifetime peak is the larger of before and during.
        const uint64_t hwm = std::max(hwm_before_window[k], u.peak_rss_kib);
        idle.push_back({{"process", u.proc.name},
                        {"system", u.proc.system},
                        {"pid", u.proc.pid},
                        {"ours", daemon},
                        {"rss_kib", u.rss_kib},
                        {"rss_median_kib", median},
                        {"rss_samples", samples.size()},
                        {"hwm_since_start_kib", hwm},
                        {"hwm_during_window_kib", u.peak_rss_kib},
                        {"under_50mb", under},
                        {"gone", u.gone}});
        lines += fmt::format(
            "\n  {:<16} median {:>7.1f} MiB, end {:>7.1f}, window peak {:>7.1f}, HWM {:>7.1f}  "
            "{}{}",
            u.proc.name, mibOf(median), mibOf(u.rss_kib), mibOf(u.peak_rss_kib), mibOf(hwm),
            u.gone ? "exited" : (under ? "under" : "OVER"),
            daemon ? "" : " (not one of our daemons)");
    }
    results.notes.push_back(lines);
    results.notes.push_back(
        "verify: the secondaries were seeded directly, so the syncers' AXFR listeners hold "
        "nothing for these zones; a node that applied its zones through the system keeps each "
        "one's SOA in its listener (the body is dropped once the local pdns serves it), a few "
        "dozen bytes more per zone.");

    results.details["verify"] = {
        {"zones", zones},
        {"secondaries", nodes},
        {"publish_rate", kPublishRate},
        {"scan_rate", kScanRate},
        {"scan_interval_s", kScanInterval.count()},
        {"reconcile_interval_s", reconcile.count()},
        {"seed_ms", seed_ms},
        {"health_checker_publish_ms", publish_ms},
        {"consumer_advance_ms", advance_ms},
        {"consumer_acked", acked},
        {"syncer_applied_after_start", applied},
        {"syncers_start_to_all_in_sync_ms", sync_ms},
        {"window_s", window_s},
        {"rounds_in_window", rounds},
        {"round_ms_samples", round_ms},
        {"round_ms_last_only", last_only},
        {"rounds_not_sampled", rounds_unsampled},
        {"state_bytes_in_window", state_bytes},
        {"nats_in_bytes", nats_in},
        {"nats_out_bytes", nats_out},
        {"nats_bytes_per_round", rounds > 0 ? json(nats_bytes / rounds) : json(nullptr)},
        {"nats_per_connection", connzDelta(connz1, connz0)},
        {"nats_note",
         "nats-server /varz in_bytes+out_bytes deltas over the window: all clients, heartbeats "
         "included"},
        {"min_nodes_in_sync", min_in_sync},
        {"idle_memory", idle},
        {kNative, "n/a: native replication has no verify (closest: pdns's SOA refresh checks)"}};
    results.resources["verify-idle"] = toJson(usage);
    if (!f.stopDaemons()) {
        results.failed = true;
        results.notes.push_back("verify: a daemon did not exit 0 on SIGTERM");
    }
}

}  // namespace pdns_distribute::bench
