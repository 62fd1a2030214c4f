// SPDX-License-Identifier: Apache-2.0
#pragma once
// The few PowerDNS HTTP API calls we use (pdns 4.7, /api/v1/servers/<id>). Port plus the
// cpp-httplib adapter. Error codes: "not-found" (404, which pdns also answers for a wrong server
// id or a path typo, so it proves nothing alone), "http-<status>", "network", "malformed".

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

struct PdnsApiSettings {
    std::string url = "http://127.0.0.1:8081";  ///< base URL, without /api/v1
    std::string server_id = "localhost";
    std::string api_key_file;  ///< file holding the X-API-Key value
    std::chrono::milliseconds timeout{5000};
};

struct PdnsServerInfo {
    std::string id;
    std::string daemon_type;  ///< "authoritative" for pdns_server
    std::string version;
};

struct PdnsZoneInfo {
    std::string id;
    std::string name;  ///< canonical
    std::string kind;  ///< Native, Master, Slave (pdns 4.7 spelling)
    std::string account;
    std::vector<std::string> masters;
    uint32_t serial = 0;
    std::optional<uint32_t> edited_serial;  ///< only in dnssec=true listings
    bool dnssec = false;
    std::string soa_edit;
    std::vector<std::string> tsig_master_key_ids;
    std::string nsec3param;  ///< "" when the zone uses NSEC (or is unsigned); GET /zones/<id> only
    bool nsec3narrow = false;
};

/// Settings for a secondary zone the syncer manages.
struct SecondaryZoneSpec {
    std::string name;  ///< canonical
    std::vector<std::string> masters;
    std::string account;
    std::vector<std::string> tsig_master_key_ids;
};

/// A TSIG key of the local pdns (pdns 4.7 `/tsigkeys`). `secret` (base64) is filled only by
/// getTsigKey and createTsigKey; it is a secret: never log or format it.
struct PdnsTsigKey {
    std::string id;         ///< pdns's id: the name, absolute, with `=XX` escapes (like zone ids)
    std::string name;       ///< as pdns spells it (pdns 4.7 drops the final dot)
    std::string algorithm;  ///< e.g. "hmac-sha256"
    std::string secret;     ///< base64
};

class PdnsApi {
public:
    virtual ~PdnsApi() = default;
    [[nodiscard]] virtual Result<PdnsServerInfo> serverInfo() = 0;
    /// GET /zones (dnssec flag), optionally filtered by exact zone name.
    [[nodiscard]] virtual Result<std::vector<PdnsZoneInfo>> listZones(
        std::optional<std::string> zone, bool dnssec) = 0;
    /// GET /zones (dnssec flag), every zone handed to `sink` as soon as it is read, so no list of
    /// them all is built (at 100,000 zones that list is ~40 MB). On an error some zones may have
    /// been handed over already. This default lists first (fakes).
    [[nodiscard]] virtual Status forEachZone(bool dnssec,
                                             const std::function<void(PdnsZoneInfo&&)>& sink);
    /// GET /zones/<id>?rrsets=false. Error code "not-found" on 404.
    [[nodiscard]] virtual Result<PdnsZoneInfo> getZone(std::string_view zone) = 0;
    /// POST /zones with kind Slave, masters, account, soa_edit NONE.
    [[nodiscard]] virtual Status createSecondaryZone(const SecondaryZoneSpec& spec) = 0;
    /// PUT /zones/<id> with kind Slave, masters, account, soa_edit NONE.
    [[nodiscard]] virtual Status updateSecondaryZone(const SecondaryZoneSpec& spec) = 0;
    /// DELETE /zones/<id>; 404 counts as success.
    [[nodiscard]] virtual Status deleteZone(std::string_view zone) = 0;
    /// PUT /zones/<id>/axfr-retrieve (pdns 4.7 answers POST with 405).
    [[nodiscard]] virtual Status axfrRetrieve(std::string_view zone) = 0;
    /// PUT /cache/flush?domain=<zone>.
    [[nodiscard]] virtual Status flushCache(std::string_view zone) = 0;
    /// PUT /zones/<id> with `nsec3param`, `nsec3narrow: false` and `dnssec: true` (pdns 4.7
    /// ignores nsec3param without it; it also signs an unsigned zone, so callers check first).
    [[nodiscard]] virtual Status setNsec3Param(std::string_view zone, const std::string& param) = 0;
    /// GET /tsigkeys/<id>, secret included. Error code "not-found" on 404.
    [[nodiscard]] virtual Result<PdnsTsigKey> getTsigKey(std::string_view name) = 0;
    /// POST /tsigkeys without a secret: pdns generates one and answers with it. Error code
    /// "http-409" when a key of that name exists.
    [[nodiscard]] virtual Result<PdnsTsigKey> createTsigKey(std::string_view name,
                                                            std::string_view algorithm) = 0;
};

/// cpp-httplib implementation. One instance may be used from several threads: each call takes a
/// client from a small internal pool. The API key is read once from its file at construction.
class HttpPdnsApi final : public PdnsApi {
public:
    /// Throws std::runtime_error when the key file cannot be read or the URL is malformed.
    explicit HttpPdnsApi(const PdnsApiSettings& settings);
    ~HttpPdnsApi() override;
    [[nodiscard]] Result<PdnsServerInfo> serverInfo() override;
    [[nodiscard]] Result<std::vector<PdnsZoneInfo>> listZones(std::optional<std::string> zone,
                                                              bool dnssec) override;
    [[nodiscard]] Status forEachZone(bool dnssec,
                                     const std::function<void(PdnsZoneInfo&&)>& sink) override;
    [[nodiscard]] Result<PdnsZoneInfo> getZone(std::string_view zone) override;
    [[nodiscard]] Status createSecondaryZone(const SecondaryZoneSpec& spec) override;
    [[nodiscard]] Status updateSecondaryZone(const SecondaryZoneSpec& spec) override;
    [[nodiscard]] Status deleteZone(std::string_view zone) override;
    [[nodiscard]] Status axfrRetrieve(std::string_view zone) override;
    [[nodiscard]] Status flushCache(std::string_view zone) override;
    [[nodiscard]] Status setNsec3Param(std::string_view zone, const std::string& param) override;
    [[nodiscard]] Result<PdnsTsigKey> getTsigKey(std::string_view name) override;
    [[nodiscard]] Result<PdnsTsigKey> createTsigKey(std::string_view name,
                                                    std::string_view algorithm) override;

    struct Impl;

private:
    [[nodiscard]] Status listInto(const std::optional<std::string>& zone, bool dnssec,
                                  const std::function<void(PdnsZoneInfo&&)>& sink);

    std::unique_ptr<Impl> impl_;
};

/// Parses one zone object of the PowerDNS API.
[[nodiscard]] Result<PdnsZoneInfo> parsePdnsZone(const nlohmann::json& j);
/// Parses one TSIGKey object of the PowerDNS API ("key" may be empty or absent, as in listings).
[[nodiscard]] Result<PdnsTsigKey> parsePdnsTsigKey(const nlohmann::json& j);

}  // namespace pdns_distribute::common
