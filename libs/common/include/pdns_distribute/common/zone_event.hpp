// SPDX-License-Identifier: Apache-2.0
#pragma once
// The zone event kept per zone in PDNS_ZONES (DESIGN §3): a hint that a zone changed, never the
// data itself. Serialisation is strict on parse: unknown versions, ops or causes are rejected.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

enum class ZoneOp { Upsert, Delete };
enum class EventCause { Api, Reconcile, Resync, Policy, Freshness };

struct ZoneEvent {
    std::string zone;  ///< canonical
    ZoneOp op = ZoneOp::Upsert;
    std::optional<uint32_t> serial;
    std::optional<std::string> apex;
    EventCause cause = EventCause::Api;
    std::string at;  ///< RFC 3339 UTC
    /// Set by the health-checker: ApexFingerprint::contentHex() and earliestExpiry() of what the
    /// primary served, so re-signing (same content, new windows) is told from a change.
    std::optional<std::string> content = std::nullopt;
    std::optional<uint32_t> expiry = std::nullopt;
};

[[nodiscard]] std::string serializeZoneEvent(const ZoneEvent& e);
[[nodiscard]] Result<ZoneEvent> parseZoneEvent(std::string_view json);
[[nodiscard]] std::string_view toString(ZoneOp op);
[[nodiscard]] std::string_view toString(EventCause cause);

/// RFC 3339 UTC with milliseconds, e.g. "2026-11-26T13:04:55.123Z" (the events' `at`).
[[nodiscard]] std::string rfc3339Millis(std::chrono::system_clock::time_point t);
/// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; nullopt for anything else.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parseRfc3339(
    std::string_view text);

/// Nameserver-group tokens: [A-Za-z0-9_-]{1,64}, and not "x" (reserved for chunk subjects).
[[nodiscard]] bool isValidGroupToken(std::string_view group);

/// Builds `Nats-Msg-Id` values: `<instance>.<counter>`, unique per logical publish. Thread-safe.
class MsgIdGenerator {
public:
    explicit MsgIdGenerator(std::string instance) : instance_(std::move(instance)) {}
    [[nodiscard]] std::string next();

private:
    std::string instance_;
    std::atomic<uint64_t> counter_{0};
};

}  // namespace pdns_distribute::common
