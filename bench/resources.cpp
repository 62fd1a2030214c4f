// SPDX-License-Identifier: Apache-2.0
#include "resources.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace pdns_distribute::bench {

std::optional<uint64_t> statusKib(pid_t pid, const std::string& key) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) {
            std::istringstream fields(line.substr(key.size() + 1));
            uint64_t kib = 0;
            if (fields >> kib) return kib;
        }
    }
    return std::nullopt;
}

namespace {

bool resetPeak(pid_t pid) {
    std::ofstream out(fmt::format("/proc/{}/clear_refs", pid));
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

}  // namespace

std::optional<double> cpuSeconds(pid_t pid) {
    if (pid <= 0) return std::nullopt;
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string stat;
    if (!std::getline(in, stat)) return std::nullopt;
    // The command name (field 2) may hold spaces and parentheses: fields restart after the
    // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    uint64_t utime = 0;
    uint64_t stime = 0;
    for (int i = 1; i <= 13 && fields >> field; ++i) {
        if (i == 12) utime = std::stoull(field);
        if (i == 13) stime = std::stoull(field);
    }
    static const long kTicks = ::sysconf(_SC_CLK_TCK);
    return static_cast<double>(utime + stime) / static_cast<double>(kTicks > 0 ? kTicks : 100);
}

ResourceWindow::ResourceWindow(std::vector<ProcRef> procs) : procs_(std::move(procs)) {
    for (const auto& p : procs_) {
        reset_.push_back(p.pid > 0 && resetPeak(p.pid));
        cpu_start_.push_back(cpuSeconds(p.pid));
    }
}

std::vector<ProcUsage> ResourceWindow::end() const {
    std::vector<ProcUsage> out;
    for (size_t i = 0; i < procs_.size(); ++i) {
        ProcUsage u{.proc = procs_[i]};
        const auto cpu = cpuSeconds(procs_[i].pid);
        const auto hwm = statusKib(procs_[i].pid, "VmHWM");
        if (!cpu || !hwm || !cpu_start_[i]) {
            u.gone = true;
        } else {
            u.cpu_seconds = *cpu - *cpu_start_[i];
            u.peak_rss_kib = *hwm;
            u.rss_kib = statusKib(procs_[i].pid, "VmRSS").value_or(0);
            u.peak_since_start = !reset_[i];
        }
        out.push_back(u);
    }
    return out;
}

nlohmann::json toJson(const std::vector<ProcUsage>& usage) {
    auto out = nlohmann::json::array();
    for (const auto& u : usage) {
        out.push_back({{"system", u.proc.system},
                       {"process", u.proc.name},
                       {"pid", u.proc.pid},
                       {"cpu_seconds", u.cpu_seconds},
                       {"peak_rss_kib", u.peak_rss_kib},
                       {"rss_kib", u.rss_kib},
                       {"peak_since_process_start", u.peak_since_start},
                       {"gone", u.gone}});
    }
    return out;
}

}  // namespace pdns_distribute::bench
