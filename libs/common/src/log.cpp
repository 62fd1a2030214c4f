// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/log.hpp>

#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace pdns_distribute::common {

namespace {

spdlog::level::level_enum parseLevel(std::string_view level) {
    if (level == "trace") return spdlog::level::trace;
    if (level == "debug") return spdlog::level::debug;
    if (level == "info") return spdlog::level::info;
    if (level == "warn") return spdlog::level::warn;
    if (level == "error") return spdlog::level::err;
    if (level == "critical") return spdlog::level::critical;
    throw std::runtime_error(fmt::format(
        "cannot set log level '{}' (unknown); use trace, debug, info, warn, error or critical",
        level));
}

std::string_view levelName(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
            return "trace";
        case spdlog::level::debug:
            return "debug";
        case spdlog::level::info:
            return "info";
        case spdlog::level::warn:
            return "warn";
        case spdlog::level::err:
            return "error";
        case spdlog::level::critical:
            return "critical";
        default:
            return "off";
    }
}

/// One JSON object per line: {"time","level","logger","msg"}. nlohmann escapes the message;
/// invalid UTF-8 is replaced rather than thrown on (log text may quote outside input).
class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto since_epoch = msg.time.time_since_epoch();
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
        const std::time_t tt = static_cast<std::time_t>(secs.count());
        std::tm tm{};
        gmtime_r(&tt, &tm);
        nlohmann::ordered_json j;
        j["time"] =
            fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        j["level"] = levelName(msg.level);
        j["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
        j["msg"] = std::string(msg.payload.data(), msg.payload.size());
        const std::string line =
            j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        dest.append(line.data(), line.data() + line.size());
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void setupLogging(std::string_view daemon_name, const LogSettings& settings) {
    const auto level = parseLevel(settings.level);
    if (settings.format != "text" && settings.format != "json") {
        throw std::runtime_error(
            fmt::format("cannot set log format '{}' (unknown); use text or json", settings.format));
    }
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(std::string(daemon_name), sink);
    if (settings.format == "json") {
        logger->set_formatter(std::make_unique<JsonFormatter>());
    } else if (std::getenv("JOURNAL_STREAM") != nullptr) {
        // Under systemd, journald stamps time and unit; repeating them only costs width.
        logger->set_pattern("[%l] %v");
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%n] [%l] %v");
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

bool LogLimiter::allow(uint64_t* suppressed) {
    return allowAt(std::chrono::steady_clock::now(), suppressed);
}

bool LogLimiter::allowAt(std::chrono::steady_clock::time_point now, uint64_t* suppressed) {
    std::lock_guard lock(mutex_);
    if (first_ || now - last_ >= interval_) {
        if (suppressed != nullptr) *suppressed = suppressed_;
        suppressed_ = 0;
        last_ = now;
        first_ = false;
        return true;
    }
    ++suppressed_;
    return false;
}

}  // namespace pdns_distribute::common
