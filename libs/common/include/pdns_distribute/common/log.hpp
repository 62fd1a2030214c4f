// SPDX-License-Identifier: Apache-2.0
#pragma once
// Logging facade over spdlog: stderr only (journald adds time and unit), text or JSON lines.
// Use spdlog's free functions (spdlog::info(...)) after setupLogging(). Never log secrets or
// payloads.

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace pdns_distribute::common {

struct LogSettings {
    std::string level = "info";   ///< trace, debug, info, warn, error, critical
    std::string format = "text";  ///< text or json
};

/// Installs the default logger; throws std::runtime_error on an unknown level or format.
void setupLogging(std::string_view daemon_name, const LogSettings& settings);

/// Lets one message through per interval (for reconnect loops; userver's LOG_LIMITED).
/// Thread-safe. allow() returns true and the number suppressed since the last pass.
class LogLimiter {
public:
    explicit LogLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
    [[nodiscard]] bool allow(uint64_t* suppressed = nullptr);
    /// allow() at a given steady-clock instant (allow() passes now()); lets tests drive time.
    [[nodiscard]] bool allowAt(std::chrono::steady_clock::time_point now,
                               uint64_t* suppressed = nullptr);

private:
    std::mutex mutex_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_{};
    uint64_t suppressed_ = 0;
    bool first_ = true;
};

}  // namespace pdns_distribute::common
