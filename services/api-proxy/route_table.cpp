// SPDX-License-Identifier: Apache-2.0
#include "route_table.hpp"

#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::api_proxy {
namespace {

using common::ZoneOp;

std::vector<std::string_view> splitPath(std::string_view path) {
    std::vector<std::string_view> segments;
    size_t start = 0;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string_view::npos ? path.size() : slash;
        segments.push_back(path.substr(start, end - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return segments;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// pdns 4.7 percent-decodes the id segment before its own =XX decoding (checked: a GET of
/// /zones/0%3D2F26.2.0.192.in-addr.arpa. finds 0/26.2.0.192.in-addr.arpa.), while the literal
/// segments must match as sent (/z%6Fnes/ is a 404).
std::optional<std::string> percentDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hexValue(s[i + 1]);
        const int lo = hexValue(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

Classification fromZoneId(std::string_view raw_id, ZoneOp op) {
    const auto decoded = percentDecode(raw_id);
    if (!decoded)
        return {.change = std::nullopt,
                .unresolved = fmt::format("bad percent-escape in zone id '{}'", raw_id)};
    auto zone = common::decodePdnsZoneId(*decoded);
    if (!zone) return {.change = std::nullopt, .unresolved = zone.error().message};
    return {.change = ZoneChange{.zone = std::move(*zone), .op = op}, .unresolved = {}};
}

Classification fromCreateAnswer(std::string_view body) {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return {.change = std::nullopt, .unresolved = "zone creation answer is not a JSON object"};
    }
    const auto it = j.find("name");
    if (it == j.end() || !it->is_string()) {
        return {.change = std::nullopt, .unresolved = "zone creation answer has no string 'name'"};
    }
    auto zone = common::canonicalZoneName(it->get<std::string>());
    if (!zone) return {.change = std::nullopt, .unresolved = zone.error().message};
    return {.change = ZoneChange{.zone = std::move(*zone), .op = ZoneOp::Upsert}, .unresolved = {}};
}

bool isWrite(std::string_view method) {
    return method == "POST" || method == "PUT" || method == "DELETE";
}

}  // namespace

Classification classify(std::string_view method, std::string_view target, int status,
                        std::string_view response_body) {
    if (status < 200 || status > 299) return {};
    if (method == "GET" || method == "HEAD" || method == "OPTIONS") return {};
    const auto path = target.substr(0, target.find_first_of("?#"));
    const auto seg = splitPath(path);
    // "", "api", "v1", "servers", <server id>, "zones", ...
    if (seg.size() < 6 || !seg[0].empty() || seg[1] != "api" || seg[2] != "v1" ||
        seg[3] != "servers" || seg[4].empty() || seg[5] != "zones") {
        return {};
    }
    const size_t n = seg.size() - 6;  // segments after "zones"
    if (n == 0) {
        if (method == "POST") return fromCreateAnswer(response_body);
        return {};
    }
    const auto id = seg[6];
    if (id.empty()) return {};
    if (n == 1) {
        if (method == "PUT" || method == "PATCH") return fromZoneId(id, ZoneOp::Upsert);
        if (method == "DELETE") return fromZoneId(id, ZoneOp::Delete);
        return {};
    }
    const auto sub = seg[7];
    if (n == 2 && (sub == "rectify" || sub == "axfr-retrieve")) {
        if (method == "PUT") return fromZoneId(id, ZoneOp::Upsert);
        return {};
    }
    if ((sub == "metadata" || sub == "cryptokeys") && (n == 2 || (n == 3 && !seg[8].empty()))) {
        if (isWrite(method)) return fromZoneId(id, ZoneOp::Upsert);
        return {};
    }
    return {};
}

}  // namespace pdns_distribute::api_proxy
