// SPDX-License-Identifier: Apache-2.0
#pragma once
// pdd-bench: the benchmark of issue 6. One topology on loopback holds both systems side by side:
// nats-server, the primary pdns_server with the four daemons and N secondaries (a Fleet), and N
// more secondaries replicating natively from the same primary. Every change goes through the
// api-proxy, so both systems see the same primary change; each scenario times, per system, how
// long until all N of that system's secondaries answer the new data over DNS.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet.hpp"
#include "native.hpp"
#include "resources.hpp"
#include "soa_poller.hpp"

namespace pdns_distribute::bench {

inline constexpr const char* kOurs = "pdns-distribute";
inline constexpr const char* kNative = "native";

struct BenchOptions {
    std::vector<std::string> scenarios;
    int secondaries = 3;
    int changes = 200;
    std::chrono::milliseconds spacing{300};
    /// Random extra pause (uniform 0..jitter) after each change: native replication acts on a
    /// 1 s loop, and a fixed period would keep every change at the same phase of that loop.
    std::chrono::milliseconds spacing_jitter{1000};
    int burst = 500;
    int large_records = 50000;
    int bootstrap_zones = 10000;
    /// verify: zones on the primary and on every secondary.
    int verify_zones = 100000;
    /// priority: interactive changes made through the api-proxy while the bootstrap runs.
    int priority_changes = 50;
    int ceiling_in_flight = 16;
    std::chrono::milliseconds poll_interval{5};
    int poll_qps = 20000;  ///< cap on SOA queries per second while many probes are open
    std::chrono::seconds timeout{60};
    bool native_autoprimary = false;
    bool tiny = false;
    std::string json_path = "bench-results.json";
    std::string log_level = "info";
    bool keep = false;

    /// Queries per polling round: poll_qps spread over rounds of poll_interval.
    [[nodiscard]] size_t roundBudget() const;
    [[nodiscard]] bool wants(const std::string& scenario) const;
};

/// One measured change as seen by one system.
struct Sample {
    std::string scenario;
    std::string kind;  ///< create, change, delete, zone, …
    std::string system;
    std::string zone;
    std::optional<double>
        ms;  ///< until all of the system's secondaries served it; nullopt: timeout
    std::vector<std::optional<double>> per_secondary_ms;
    /// Per secondary: the last answer that was not yet the wanted one, and when (ms after t0).
    std::vector<std::string> per_secondary_last_other;
    std::vector<std::optional<double>> per_secondary_last_other_ms;
};

/// One line of the printed table.
struct Row {
    std::string scenario;
    std::string system;
    size_t n = 0;
    size_t timeouts = 0;
    std::optional<double> p50, p95, p99, max;
    std::string throughput;
    std::string ratio;  ///< p50 (or time) of this system divided by native's
    /// The system has nothing to measure here (printed as "n/a"; a note says why).
    bool not_applicable = false;
};

struct Results {
    std::vector<Sample> samples;
    std::vector<Row> rows;
    nlohmann::json details = nlohmann::json::object();  ///< per scenario extras
    nlohmann::json resources = nlohmann::json::object();
    std::vector<std::string> notes;
    bool failed = false;
};

/// Both systems, side by side.
class Topology final {
public:
    explicit Topology(const BenchOptions& options);
    ~Topology();
    Topology(const Topology&) = delete;
    Topology& operator=(const Topology&) = delete;

    /// Native secondaries, then the Fleet (primary told to NOTIFY the native ones), then the
    /// catalog zones; returns once everything serves.
    void start();
    /// Stops our daemons; false when one did not exit 0.
    bool stop();
    /// Throws when one of our daemons (or a pdns_server, or nats-server) is no longer running,
    /// with its log tail: every later change would only time out.
    void checkAlive();

    /// POST /zones through the api-proxy: a Master zone (the native side needs NOTIFY) in the
    /// catalog, with NS ns1.pdd.test. and `rrsets`.
    e2e::HttpResult createZone(const std::string& zone, const nlohmann::json& rrsets);
    /// PATCH replacing www.<zone> A through the api-proxy.
    e2e::HttpResult setWww(const std::string& zone, const std::string& ip);
    e2e::HttpResult deleteZone(const std::string& zone);

    /// Targets of one system (indices into targets()).
    [[nodiscard]] const std::vector<size_t>& systemTargets(const std::string& system) const;
    [[nodiscard]] const std::vector<DnsTarget>& targets() const { return targets_; }
    [[nodiscard]] size_t primaryTarget() const { return primary_target_; }
    [[nodiscard]] std::vector<ProcRef> processes();
    /// nats-server /varz counters (in_bytes, out_bytes, in_msgs, out_msgs).
    [[nodiscard]] nlohmann::json natsVarz() const;
    /// Per client connection (by connection name): in_bytes and out_bytes so far, from /connz.
    [[nodiscard]] nlohmann::json natsConnz() const;

    e2e::Fleet fleet;
    NativeSecondaries native;
    std::unique_ptr<Notifier> notifier;

private:
    std::vector<DnsTarget> targets_;
    std::vector<size_t> ours_;
    std::vector<size_t> natives_;
    size_t primary_target_ = 0;
};

/// Throws std::runtime_error naming the first process of `procs` that is not running (with its
/// log tail).
void requireRunning(const std::vector<std::pair<std::string, e2e::ChildProcess*>>& procs);
/// Every process of a fleet by name, for requireRunning: the primary's daemons, nats-server, the
/// primary's pdns_server, and each syncer and secondary pdns_server.
[[nodiscard]] std::vector<std::pair<std::string, e2e::ChildProcess*>> fleetProcesses(
    e2e::Fleet& fleet);

/// nats-server /varz counters (in_bytes, out_bytes, in_msgs, out_msgs); null on failure.
[[nodiscard]] nlohmann::json natsVarzAt(int monitor_port);
/// Per client connection (by connection name): in_bytes and out_bytes so far, from /connz.
[[nodiscard]] nlohmann::json natsConnzAt(int monitor_port);

/// after - before per connection name (in_bytes, out_bytes); connections absent before count
/// from zero.
[[nodiscard]] nlohmann::json connzDelta(const nlohmann::json& after, const nlohmann::json& before);

void runPropagation(Topology& topo, const BenchOptions& options, Results& results);
void runBurst(Topology& topo, const BenchOptions& options, Results& results);
void runLargeZone(Topology& topo, const BenchOptions& options, Results& results);
/// Builds its own topology (a Fleet whose only secondary joins while the primary holds the
/// zones). With scenario "priority" selected, interactive changes are made and timed while the
/// joining node bootstraps (DESIGN §5.2, the two lanes).
void runBootstrap(const BenchOptions& options, Results& results);
/// Builds its own topology (a Fleet of `secondaries` nodes), puts options.verify_zones zones on
/// the primary and, without transfers, on every secondary, waits until the health-checker sees
/// every node in sync, then measures its verify rounds and the NATS bytes while nothing differs
/// and every process's idle RSS (issue 6, items 5 and 7).
void runVerify(const BenchOptions& options, Results& results);

// Seeding zones straight into a stopped pdns_server's sqlite database (scenarios.cpp).
/// Name of seeded zone i ("s<i>.boot.bench.").
[[nodiscard]] std::string seedZoneName(int i);
/// The domains row (and metadata) of each seeded zone: the primary's by default; a secondary's
/// managed copy names its master, account, last check and the metadata the syncer sets.
struct SeedDomain {
    std::string type = "NATIVE";
    std::string master;   ///< empty: NULL
    std::string account;  ///< empty: NULL
    std::optional<long long> last_check;
    std::vector<std::pair<std::string, std::string>> metadata;  ///< (kind, content), per zone
};
/// Writes `zones` zones (SOA serial 1, NS, www A; the same records on every server) into a
/// stopped server's sqlite database with one `sqlite3 .read` of the SQL written to `sql_path`.
void seedZones(const e2e::PdnsServer& server, const std::string& sql_path, int zones,
               const SeedDomain& domain = {});
/// Messages in stream PDNS_ZONES, from nats-server's /jsz.
[[nodiscard]] std::optional<long long> streamMessages(int monitor_port);
/// One sample of a Prometheus text exposition (`name{labels}` exactly); nullopt when absent.
[[nodiscard]] std::optional<double> promSample(const std::string& text, const std::string& sample);

// report.cpp
[[nodiscard]] std::optional<double> percentile(std::vector<double> values, double p);
/// Adds one row per system for the samples of (scenario, kind); `label` names the table row.
void addLatencyRows(Results& results, const std::string& scenario, const std::string& kind,
                    const std::string& label);
void printTable(const Results& results, const BenchOptions& options);
[[nodiscard]] nlohmann::json machineInfo();
[[nodiscard]] nlohmann::json toJson(const Results& results, const BenchOptions& options,
                                    const nlohmann::json& machine);
[[nodiscard]] double msSince(Clock::time_point t0, Clock::time_point t);

}  // namespace pdns_distribute::bench
