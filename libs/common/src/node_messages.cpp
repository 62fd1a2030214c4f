// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/node_messages.hpp>

#include <limits>

#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::common {

namespace {

using nlohmann::json;

Result<json> parseObject(std::string_view text, std::string_view what) {
    auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        return makeError("malformed {} (not a JSON object)", what);
    const auto v = j.find("v");
    if (v == j.end() || !v->is_number_unsigned() || v->get<uint64_t>() != 1) {
        return makeError("unsupported {} version", what);
    }
    return j;
}

// Numbers are type-checked before get<>(): nlohmann casts an out-of-range float to an integer,
// which is undefined behaviour.
std::optional<uint64_t> unsignedField(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<uint64_t>();
}

std::optional<uint32_t> serialField(const json& j, const char* key) {
    auto v = unsignedField(j, key);
    if (!v || *v > std::numeric_limits<uint32_t>::max()) return std::nullopt;
    return static_cast<uint32_t>(*v);
}

std::string stringField(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::optional<std::string> optionalString(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

template <typename T>
void putOptional(json& j, const char* key, const std::optional<T>& v) {
    j[key] = v ? json(*v) : json(nullptr);
}

}  // namespace

std::string nodeSubject(std::string_view node, std::string_view kind) {
    return "pdns.node." + std::string(node) + "." + std::string(kind);
}

std::string nodeReplySubject(std::string_view node, std::string_view token) {
    return nodeSubject(node, "reply." + std::string(token));
}

std::string serializeHeartbeat(const Heartbeat& h) {
    return json{{"v", 1},
                {"node", h.node},
                {"instance", h.instance},
                {"version", h.version},
                {"zones", h.zones},
                {"parked", h.parked},
                {"digest", h.digest},
                {"load1", h.load1},
                {"cores", h.cores},
                {"since", h.since},
                {"interval_ms", h.interval_ms},
                {"scanned", h.scanned},
                {"backlog", h.backlog},
                {"catching_up", h.catching_up}}
        .dump();
}

Result<Heartbeat> parseHeartbeat(std::string_view text) {
    auto j = parseObject(text, "heartbeat");
    if (!j) return std::move(j).error();
    Heartbeat h;
    h.node = stringField(*j, "node");
    if (!isValidNodeId(h.node)) return makeError("malformed heartbeat (bad node id)");
    h.instance = stringField(*j, "instance");
    h.version = stringField(*j, "version");
    h.zones = unsignedField(*j, "zones").value_or(0);
    h.parked = unsignedField(*j, "parked").value_or(0);
    h.digest = stringField(*j, "digest");
    if (h.digest.size() != 32) return makeError("malformed heartbeat (digest)");
    const auto load = j->find("load1");
    h.load1 = load != j->end() && load->is_number() ? load->get<double>() : 0.0;
    h.cores = serialField(*j, "cores").value_or(0);
    h.since = stringField(*j, "since");
    h.interval_ms = unsignedField(*j, "interval_ms").value_or(5000);
    if (h.interval_ms == 0 || h.interval_ms > 3'600'000) {
        return makeError("malformed heartbeat (interval_ms)");
    }
    const auto scanned = j->find("scanned");
    h.scanned = scanned != j->end() && scanned->is_boolean() && scanned->get<bool>();
    h.backlog = unsignedField(*j, "backlog").value_or(0);
    const auto catching_up = j->find("catching_up");
    h.catching_up =
        catching_up != j->end() && catching_up->is_boolean() && catching_up->get<bool>();
    return h;
}

std::string serializeStateRequest(const StateRequest& r) {
    json j{{"v", 1}};
    if (r.buckets) {
        j["buckets"] = true;
        if (r.first != 0 || r.count != 4096) {
            j["first"] = r.first;
            j["count"] = r.count;
        }
    }
    if (r.bucket) j["bucket"] = *r.bucket;
    if (r.groups) j["groups"] = true;
    return j.dump();
}

Result<StateRequest> parseStateRequest(std::string_view text) {
    auto j = parseObject(text, "state request");
    if (!j) return std::move(j).error();
    StateRequest r;
    const auto flag = [&](const char* key) {
        const auto it = j->find(key);
        return it != j->end() && it->is_boolean() && it->get<bool>();
    };
    r.buckets = flag("buckets");
    r.groups = flag("groups");
    if (j->contains("bucket")) {
        r.bucket = serialField(*j, "bucket");
        if (!r.bucket || *r.bucket >= 4096) return makeError("malformed state request (bucket)");
    }
    if (static_cast<int>(r.buckets) + static_cast<int>(r.groups) +
            static_cast<int>(r.bucket.has_value()) !=
        1) {
        return makeError("malformed state request (ask for either buckets, groups or one bucket)");
    }
    if (r.buckets && (j->contains("first") || j->contains("count"))) {
        const auto first = serialField(*j, "first");
        const auto count = serialField(*j, "count");
        if (!first || !count || *count == 0 || *first >= 4096 || *count > 4096 - *first) {
            return makeError("malformed state request (first/count outside the 4,096 buckets)");
        }
        r.first = *first;
        r.count = *count;
    }
    return r;
}

std::string serializeBucketReply(const BucketReply& r) {
    json zones = json::array();
    for (const auto& z : r.zones) {
        json e{{"zone", z.zone}};
        putOptional(e, "serial", z.serial);
        putOptional(e, "content", z.content);
        putOptional(e, "apex", z.apex);
        putOptional(e, "expiry", z.expiry);
        if (!z.error.empty()) e["error"] = z.error;
        zones.push_back(std::move(e));
    }
    return json{{"v", 1}, {"bucket", r.bucket}, {"zones", std::move(zones)}}.dump();
}

Result<BucketReply> parseBucketReply(std::string_view text) {
    auto j = parseObject(text, "bucket reply");
    if (!j) return std::move(j).error();
    BucketReply r;
    const auto bucket = serialField(*j, "bucket");
    if (!bucket || *bucket >= 4096) return makeError("malformed bucket reply (bucket)");
    r.bucket = *bucket;
    const auto zones = j->find("zones");
    if (zones == j->end() || !zones->is_array()) return makeError("malformed bucket reply (zones)");
    for (const auto& e : *zones) {
        if (!e.is_object()) return makeError("malformed bucket reply (zone entry)");
        auto name = canonicalZoneName(stringField(e, "zone"));
        if (!name) return makeError("malformed bucket reply ({})", name.error().message);
        r.zones.push_back(ServedZone{.zone = std::move(*name),
                                     .serial = serialField(e, "serial"),
                                     .content = optionalString(e, "content"),
                                     .apex = optionalString(e, "apex"),
                                     .expiry = serialField(e, "expiry"),
                                     .error = stringField(e, "error")});
    }
    return r;
}

std::string serializeAppliedReport(const AppliedReport& r) {
    json j{{"v", 1}, {"zone", r.zone}, {"apex", r.apex}, {"op", r.op}, {"apply_ms", r.apply_ms}};
    putOptional(j, "serial", r.serial);
    if (r.event_ms) j["event_ms"] = *r.event_ms;
    if (!r.error.empty()) j["error"] = r.error;
    return j.dump();
}

Result<AppliedReport> parseAppliedReport(std::string_view text) {
    auto j = parseObject(text, "applied report");
    if (!j) return std::move(j).error();
    AppliedReport r;
    auto name = canonicalZoneName(stringField(*j, "zone"));
    if (!name) return makeError("malformed applied report ({})", name.error().message);
    r.zone = std::move(*name);
    r.serial = serialField(*j, "serial");
    r.apex = stringField(*j, "apex");
    r.op = stringField(*j, "op");
    const auto apply = j->find("apply_ms");
    if (apply != j->end() && apply->is_number_integer()) r.apply_ms = apply->get<int64_t>();
    const auto event = j->find("event_ms");
    if (event != j->end() && event->is_number_integer()) r.event_ms = event->get<int64_t>();
    r.error = stringField(*j, "error");
    return r;
}

std::string serializeResyncRequest(const ResyncRequest& r) {
    json j{{"v", 1}};
    if (r.all) {
        j["all"] = true;
    } else {
        j["zones"] = r.zones;
    }
    return j.dump();
}

Result<ResyncRequest> parseResyncRequest(std::string_view text) {
    auto j = parseObject(text, "resync request");
    if (!j) return std::move(j).error();
    ResyncRequest r;
    const auto all = j->find("all");
    r.all = all != j->end() && all->is_boolean() && all->get<bool>();
    const auto zones = j->find("zones");
    if (zones != j->end()) {
        if (!zones->is_array()) return makeError("malformed resync request (zones)");
        for (const auto& z : *zones) {
            if (!z.is_string()) return makeError("malformed resync request (zone)");
            auto name = canonicalZoneName(z.get<std::string>());
            if (!name) return makeError("malformed resync request ({})", name.error().message);
            r.zones.push_back(std::move(*name));
        }
    }
    if (!r.all && r.zones.empty()) return makeError("malformed resync request (no zones)");
    return r;
}

std::string serializeResyncReply(const ResyncReply& r) {
    json j{{"v", 1}, {"accepted", r.accepted}};
    if (!r.error.empty()) j["error"] = r.error;
    return j.dump();
}

Result<ResyncReply> parseResyncReply(std::string_view text) {
    auto j = parseObject(text, "resync reply");
    if (!j) return std::move(j).error();
    return ResyncReply{.accepted = unsignedField(*j, "accepted").value_or(0),
                       .error = stringField(*j, "error")};
}

}  // namespace pdns_distribute::common
