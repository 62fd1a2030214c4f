// SPDX-License-Identifier: Apache-2.0
#pragma once
// An in-memory PowerDNS API: zones in a map, every call logged, failures injectable per call
// name. Thread-safe.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/pdns_api.hpp>

namespace pdns_distribute::testing {

class FakePdnsApi final : public common::PdnsApi {
public:
    common::PdnsServerInfo server{
        .id = "localhost", .daemon_type = "authoritative", .version = "4.7.3"};
    bool server_ok = true;
    /// Called on every successful axfrRetrieve (to simulate the local pdns transferring).
    std::function<void(const std::string&)> on_retrieve;
    std::function<void(const std::string&)> on_flush;

    void addZone(common::PdnsZoneInfo z) {
        std::lock_guard l(m_);
        zones_[z.name] = std::move(z);
    }
    bool has(const std::string& zone) {
        std::lock_guard l(m_);
        return zones_.contains(zone);
    }
    std::optional<common::PdnsZoneInfo> zone(const std::string& zone) {
        std::lock_guard l(m_);
        auto it = zones_.find(zone);
        if (it == zones_.end()) return std::nullopt;
        return it->second;
    }
    /// The next `times` calls named `call` fail with `error`.
    void failNext(const std::string& call, common::Error error, int times = 1) {
        std::lock_guard l(m_);
        failures_[call] = {std::move(error), times};
    }
    /// Every call as "name zone".
    std::vector<std::string> calls() {
        std::lock_guard l(m_);
        return calls_;
    }
    int count(const std::string& call) {
        std::lock_guard l(m_);
        int n = 0;
        for (const auto& c : calls_) n += c.rfind(call + " ", 0) == 0 ? 1 : 0;
        return n;
    }

    common::Result<common::PdnsServerInfo> serverInfo() override {
        if (auto e = hit("serverInfo", "")) return *e;
        if (!server_ok) return common::Error{.message = "down", .code = "network"};
        return server;
    }
    common::Result<std::vector<common::PdnsZoneInfo>> listZones(std::optional<std::string> zone,
                                                                bool) override {
        if (auto e = hit("listZones", zone.value_or(""))) return *e;
        std::lock_guard l(m_);
        std::vector<common::PdnsZoneInfo> out;
        for (const auto& [name, z] : zones_) {
            if (!zone || *zone == name) out.push_back(z);
        }
        return out;
    }
    common::Result<common::PdnsZoneInfo> getZone(std::string_view zone) override {
        if (auto e = hit("getZone", std::string(zone))) return *e;
        std::lock_guard l(m_);
        auto it = zones_.find(std::string(zone));
        if (it == zones_.end()) return common::Error{.message = "Not Found", .code = "not-found"};
        return it->second;
    }
    common::Status createSecondaryZone(const common::SecondaryZoneSpec& spec) override {
        if (auto e = hit("createSecondaryZone", spec.name)) return *e;
        std::lock_guard l(m_);
        if (zones_.contains(spec.name))
            return common::Error{.message = "Conflict", .code = "http-409"};
        zones_[spec.name] = toInfo(spec);
        return {};
    }
    common::Status updateSecondaryZone(const common::SecondaryZoneSpec& spec) override {
        if (auto e = hit("updateSecondaryZone", spec.name)) return *e;
        std::lock_guard l(m_);
        zones_[spec.name] = toInfo(spec);
        return {};
    }
    common::Status deleteZone(std::string_view zone) override {
        if (auto e = hit("deleteZone", std::string(zone))) return *e;
        std::lock_guard l(m_);
        zones_.erase(std::string(zone));
        return {};
    }
    common::Status axfrRetrieve(std::string_view zone) override {
        if (auto e = hit("axfrRetrieve", std::string(zone))) return *e;
        if (on_retrieve) on_retrieve(std::string(zone));
        return {};
    }
    common::Status flushCache(std::string_view zone) override {
        if (auto e = hit("flushCache", std::string(zone))) return *e;
        if (on_flush) on_flush(std::string(zone));
        return {};
    }
    common::Status setNsec3Param(std::string_view zone, const std::string& param) override {
        if (auto e = hit("setNsec3Param", std::string(zone))) return *e;
        std::lock_guard l(m_);
        auto it = zones_.find(std::string(zone));
        if (it == zones_.end()) return common::Error{.message = "Not Found", .code = "not-found"};
        it->second.nsec3param = param;
        it->second.nsec3narrow = false;
        return {};
    }

    /// TSIG keys by id (pdns 4.7: the name with a final dot); createTsigKey makes the secret.
    void addTsigKey(common::PdnsTsigKey k) {
        std::lock_guard l(m_);
        tsig_keys_[k.id] = std::move(k);
    }
    void removeTsigKey(const std::string& id) {
        std::lock_guard l(m_);
        tsig_keys_.erase(id);
    }
    common::Result<common::PdnsTsigKey> getTsigKey(std::string_view name) override {
        if (auto e = hit("getTsigKey", std::string(name))) return *e;
        std::lock_guard l(m_);
        auto it = tsig_keys_.find(tsigId(name));
        if (it == tsig_keys_.end())
            return common::Error{.message = "Not Found", .code = "not-found"};
        return it->second;
    }
    common::Result<common::PdnsTsigKey> createTsigKey(std::string_view name,
                                                      std::string_view algorithm) override {
        if (auto e = hit("createTsigKey", std::string(name))) return *e;
        std::lock_guard l(m_);
        const auto id = tsigId(name);
        if (tsig_keys_.contains(id))
            return common::Error{.message = "Conflict", .code = "http-409"};
        auto& k = tsig_keys_[id];
        k = common::PdnsTsigKey{.id = id,
                                .name = id.substr(0, id.size() - 1),
                                .algorithm = std::string(algorithm),
                                .secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="};
        return k;
    }

private:
    static std::string tsigId(std::string_view name) {
        std::string id(name);
        if (!id.ends_with('.')) id += '.';
        return id;
    }
    static common::PdnsZoneInfo toInfo(const common::SecondaryZoneSpec& spec) {
        common::PdnsZoneInfo z;
        z.id = spec.name;
        z.name = spec.name;
        z.kind = "Slave";
        z.account = spec.account;
        z.masters = spec.masters;
        z.tsig_master_key_ids = spec.tsig_master_key_ids;
        return z;
    }
    std::optional<common::Error> hit(const std::string& call, const std::string& zone) {
        std::lock_guard l(m_);
        calls_.push_back(call + " " + zone);
        auto it = failures_.find(call);
        if (it == failures_.end() || it->second.second <= 0) return std::nullopt;
        --it->second.second;
        return it->second.first;
    }

    std::mutex m_;
    std::map<std::string, common::PdnsZoneInfo> zones_;
    std::map<std::string, std::pair<common::Error, int>> failures_;
    std::map<std::string, common::PdnsTsigKey> tsig_keys_;
    std::vector<std::string> calls_;
};

}  // namespace pdns_distribute::testing
