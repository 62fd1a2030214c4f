// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/zone_event.hpp>

#include <ctime>

#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::common {

std::string_view toString(ZoneOp op) {
    switch (op) {
        case ZoneOp::Upsert:
            return "upsert";
        case ZoneOp::Delete:
            return "delete";
    }
    return "upsert";
}

std::string_view toString(EventCause cause) {
    switch (cause) {
        case EventCause::Api:
            return "api";
        case EventCause::Reconcile:
            return "reconcile";
        case EventCause::Resync:
            return "resync";
        case EventCause::Policy:
            return "policy";
        case EventCause::Freshness:
            return "freshness";
    }
    return "api";
}

std::string serializeZoneEvent(const ZoneEvent& e) {
    nlohmann::json j;
    j["v"] = 1;
    j["zone"] = e.zone;
    j["op"] = toString(e.op);
    j["serial"] = e.serial ? nlohmann::json(*e.serial) : nlohmann::json(nullptr);
    j["apex"] = e.apex ? nlohmann::json(*e.apex) : nlohmann::json(nullptr);
    j["cause"] = toString(e.cause);
    j["at"] = e.at;
    if (e.content) j["content"] = *e.content;
    if (e.expiry) j["expiry"] = *e.expiry;
    return j.dump();
}

Result<ZoneEvent> parseZoneEvent(std::string_view json) {
    const auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        return makeError("malformed zone event (not a JSON object)");
    try {
        // Numbers are type-checked before get<>(): nlohmann converts a float such as 1e300 to an
        // integer with a plain cast, which is undefined behaviour when it does not fit.
        const auto v = j.find("v");
        if (v == j.end() || !v->is_number_unsigned() || v->get<uint64_t>() != 1) {
            return makeError("unsupported zone event version");
        }
        ZoneEvent e;
        auto zone = canonicalZoneName(j.at("zone").get<std::string>());
        if (!zone) return makeError("malformed zone event ({})", zone.error().message);
        e.zone = std::move(*zone);
        const auto op = j.at("op").get<std::string>();
        if (op == "upsert") {
            e.op = ZoneOp::Upsert;
        } else if (op == "delete") {
            e.op = ZoneOp::Delete;
        } else {
            return makeError("malformed zone event (unknown op '{}')", op);
        }
        if (j.contains("serial") && !j["serial"].is_null()) {
            if (!j["serial"].is_number_integer()) {
                return makeError("malformed zone event (serial is not an integer)");
            }
            const auto s = j["serial"].get<int64_t>();
            if (s < 0 || s > 0xFFFFFFFFLL)
                return makeError("malformed zone event (serial out of range)");
            e.serial = static_cast<uint32_t>(s);
        }
        if (j.contains("apex") && !j["apex"].is_null()) e.apex = j["apex"].get<std::string>();
        const auto cause = j.value("cause", std::string{"api"});
        if (cause == "api") {
            e.cause = EventCause::Api;
        } else if (cause == "reconcile") {
            e.cause = EventCause::Reconcile;
        } else if (cause == "resync") {
            e.cause = EventCause::Resync;
        } else if (cause == "policy") {
            e.cause = EventCause::Policy;
        } else if (cause == "freshness") {
            e.cause = EventCause::Freshness;
        } else {
            return makeError("malformed zone event (unknown cause '{}')", cause);
        }
        e.at = j.value("at", std::string{});
        if (j.contains("content") && j["content"].is_string()) {
            e.content = j["content"].get<std::string>();
        }
        if (j.contains("expiry") && j["expiry"].is_number_unsigned() &&
            j["expiry"].get<uint64_t>() <= 0xFFFFFFFFULL) {
            e.expiry = static_cast<uint32_t>(j["expiry"].get<uint64_t>());
        }
        return e;
    } catch (const nlohmann::json::exception& ex) {
        return makeError("malformed zone event ({})", ex.what());
    }
}

std::string rfc3339Millis(std::chrono::system_clock::time_point t) {
    const auto since_epoch =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
    const auto millis = (since_epoch - secs).count();
    const auto tt = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text) {
    const std::string s(text);
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) return std::nullopt;
    std::chrono::milliseconds frac{0};
    if (*end == '.') {
        ++end;
        int digits = 0;
        int64_t value = 0;
        while (*end >= '0' && *end <= '9') {
            if (digits < 3) {
                value = value * 10 + (*end - '0');
                ++digits;
            }
            ++end;
        }
        if (digits == 0) return std::nullopt;
        while (digits < 3) {
            value *= 10;
            ++digits;
        }
        frac = std::chrono::milliseconds{value};
    }
    // The 'Z' must end the text: c_str() would hide anything after an embedded NUL.
    if (*end != 'Z' || end + 1 != s.c_str() + s.size()) return std::nullopt;
    const std::time_t secs = timegm(&tm);
    // system_clock counts nanoseconds in 64 bits (years 1678..2262); from_time_t overflows
    // outside that range, and strptime accepts any year from 0 to 9999.
    using Seconds = std::chrono::seconds;
    constexpr int64_t kMaxSeconds =
        std::chrono::duration_cast<Seconds>(std::chrono::system_clock::duration::max()).count() - 1;
    if (secs < -kMaxSeconds || secs > kMaxSeconds) return std::nullopt;
    return std::chrono::system_clock::from_time_t(secs) + frac;
}

bool isValidGroupToken(std::string_view group) {
    if (group.empty() || group.size() > 64 || group == "x") return false;
    for (const char c : group) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string MsgIdGenerator::next() {
    return instance_ + "." + std::to_string(counter_.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace pdns_distribute::common
