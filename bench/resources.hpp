// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scenario 7: peak RSS and CPU seconds of every process of both systems over one scenario, read
// from /proc (VmHWM from /proc/<pid>/status, utime + stime from /proc/<pid>/stat). The peak is
// reset at the start of the window by writing 5 to /proc/<pid>/clear_refs (Linux >= 4.0; needs
// the right to write it, i.e. same user or root); where that fails, the peak is since process
// start and the row says so.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pdns_distribute::bench {

struct ProcRef {
    std::string system;  ///< "pdns-distribute", "native" or "shared" (primary pdns)
    std::string name;    ///< e.g. "syncer1", "pdns-secondary2", "nats-server"
    pid_t pid = -1;
};

struct ProcUsage {
    ProcRef proc;
    double cpu_seconds = 0;         ///< utime + stime during the window
    uint64_t peak_rss_kib = 0;      ///< VmHWM at the end of the window
    uint64_t rss_kib = 0;           ///< VmRSS at the end of the window
    bool peak_since_start = false;  ///< clear_refs failed: VmHWM covers the process's whole life
    bool gone = false;              ///< the process ended during the window
};

/// A "Vm…" line (e.g. "VmHWM") of /proc/<pid>/status in KiB, or nullopt.
[[nodiscard]] std::optional<uint64_t> statusKib(pid_t pid, const std::string& key);

/// CPU seconds (utime + stime) of a live process, or nullopt.
[[nodiscard]] std::optional<double> cpuSeconds(pid_t pid);

/// Measures a set of processes from construction (peaks reset, CPU read) until end().
class ResourceWindow final {
public:
    explicit ResourceWindow(std::vector<ProcRef> procs);
    [[nodiscard]] std::vector<ProcUsage> end() const;

private:
    std::vector<ProcRef> procs_;
    std::vector<std::optional<double>> cpu_start_;
    std::vector<bool> reset_;
};

[[nodiscard]] nlohmann::json toJson(const std::vector<ProcUsage>& usage);

}  // namespace pdns_distribute::bench
