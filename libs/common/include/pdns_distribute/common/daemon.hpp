// SPDX-License-Identifier: Apache-2.0
#pragma once
// The shared daemon main (userver's DaemonMain idea, STYLE §4). A service supplies a
// DaemonDefinition; runDaemon parses --config/--check-config/--version/--help, loads the strict
// config (the service reads its own sections, the runner reads [log] and [http]), sets up
// logging and metrics, builds the service, serves /health and /metrics on loopback, sends
// READY=1, waits for SIGTERM/SIGINT (sigwait in main; signals blocked elsewhere), sends
// STOPPING=1, stops the service and exits 0. Exit 2 on bad usage or config, 1 otherwise.

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <pdns_distribute/common/config.hpp>
#include <pdns_distribute/common/metrics.hpp>

namespace httplib {
class Server;
}

namespace pdns_distribute::common {

enum class HealthLevel { Ok, Warn, Critical };
[[nodiscard]] std::string_view toString(HealthLevel level);

struct HealthReport {
    HealthLevel level = HealthLevel::Ok;
    nlohmann::json details = nlohmann::json::object();
};

/// A running service. start() launches its workers and returns; stop() requests them to stop,
/// drains in-flight work and joins. health() is called from the HTTP thread: thread-safe.
class Service {
public:
    virtual ~Service() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    [[nodiscard]] virtual HealthReport health() = 0;
};

/// What the runner hands to the service factory.
struct DaemonContext {
    MetricsRegistry& metrics;
    httplib::Server& http;  ///< add extra routes (status pages) before start()
    std::string config_file;
};

class DaemonDefinition {
public:
    virtual ~DaemonDefinition() = default;
    [[nodiscard]] virtual std::string name() const = 0;         ///< "pdns-secondary-syncer"
    [[nodiscard]] virtual std::string description() const = 0;  ///< one line for --help
    [[nodiscard]] virtual std::string defaultConfigPath() const = 0;
    [[nodiscard]] virtual std::string defaultHttpListen() const = 0;  ///< "127.0.0.1:9381"
    /// Reads every key of the service's own sections; throws ConfigError.
    virtual void loadConfig(ConfigSection root) = 0;
    /// Extra checks for --check-config that need no network (warnings go to the log).
    virtual void checkConfig() {}
    /// Connects and builds the service; throws std::runtime_error with an operator message.
    [[nodiscard]] virtual std::unique_ptr<Service> build(DaemonContext& context) = 0;
};

/// Returns the process exit code.
int runDaemon(int argc, char** argv, DaemonDefinition& definition);

/// Parses "host:port" / "[v6]:port". Throws ConfigError-free std::invalid_argument.
struct HostPort {
    std::string host;
    uint16_t port = 0;
};
[[nodiscard]] Result<HostPort> parseHostPort(std::string_view text);

/// 1-minute load average and core count, for the /health load warning.
struct LoadInfo {
    double load1 = 0;
    unsigned cores = 1;
};
[[nodiscard]] LoadInfo readLoad();

/// Hands memory freed after a pass over every zone (a listing, a scan, a reconcile) back to the
/// kernel (glibc's malloc_trim): such a pass allocates and frees hundreds of bytes per zone, and
/// glibc otherwise keeps the freed pages, so an idle daemon would stay at its peak.
void releaseFreedMemory();

/// Makes glibc's malloc give freed memory back on its own (runDaemon calls it first). By default
/// glibc raises its mmap and trim thresholds each time a large block is freed (up to 32 and 64
/// MB); from then on the free space at the top of a thread's arena is kept, and malloc_trim does
/// not return a secondary arena's top either. Measured in the health-checker at 100,000 zones:
/// 20 MB of one arena resident with 26 KB of it in use. Fixed thresholds (blocks of 256 KiB and
/// more in their own mappings, an arena's top returned past 512 KiB) end that.
void configureMemoryRelease();

/// The project version these daemons were built as (e.g. "0.1.0").
[[nodiscard]] std::string_view version();

}  // namespace pdns_distribute::common
