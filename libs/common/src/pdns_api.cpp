// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/pdns_api.hpp>

#include <pdns_distribute/common/http_error.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/json_array_splitter.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::common {
namespace {

using nlohmann::json;

/// Idle clients kept for keep-alive reuse; more concurrent calls simply create more clients.
constexpr size_t kMaxPooledClients = 4;
/// Per-read timeout of a zone listing at least (see exchangeStreaming).
constexpr std::chrono::milliseconds kListingTimeout{120000};
/// Upper bound for the slice of an error body quoted in a message.
constexpr size_t kMaxQuotedBody = 200;

std::string trimWhitespace(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n\f\v");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n\f\v");
    return std::string{s.substr(first, last - first + 1)};
}

std::string readKeyFile(const std::string& path) {
    if (path.empty()) {
        throw std::runtime_error(
            "cannot read PowerDNS API key (no key file configured); set pdns.api_key_file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(
            fmt::format("cannot read PowerDNS API key file '{}' ({})", path, std::strerror(errno)));
    }
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) {
        throw std::runtime_error(
            fmt::format("cannot read PowerDNS API key file '{}' ({})", path, std::strerror(errno)));
    }
    auto key = trimWhitespace(content);
    if (key.empty()) {
        throw std::runtime_error(
            fmt::format("cannot read PowerDNS API key file '{}' (file is empty)", path));
    }
    if (key.find_first_of("\r\n") != std::string::npos) {
        throw std::runtime_error(
            fmt::format("cannot read PowerDNS API key file '{}' (key spans several lines)", path));
    }
    return key;
}

/// Percent-encodes everything outside RFC 3986 "unreserved".
std::string urlEncode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 0x0F]);
        }
    }
    return out;
}

/// A short printable slice of an untrusted body for an error message.
std::string quoteBody(std::string_view body) {
    std::string out;
    for (const char c : body.substr(0, kMaxQuotedBody)) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(b >= 0x20 && b < 0x7F ? c : ' ');
    }
    if (body.size() > kMaxQuotedBody) out += "...";
    return trimWhitespace(out);
}

/// pdns answers most errors as {"error": "..."}, some (404, 405, 409) as plain text.
std::string pdnsErrorText(const std::string& body) {
    const auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
        const auto it = j.find("error");
        if (it != j.end() && it->is_string()) return quoteBody(it->get<std::string>());
    }
    return quoteBody(body);
}

struct HttpReply {
    int status = 0;
    std::string body;
};

template <typename T>
Result<T> typedField(const json& j, const char* key, bool required, T fallback) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required)
            return Error{fmt::format("malformed zone object (no '{}')", key), "malformed"};
        return fallback;
    }
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) {
            return Error{fmt::format("malformed zone object ('{}' is not a string)", key),
                         "malformed"};
        }
        return it->template get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) {
            return Error{fmt::format("malformed zone object ('{}' is not a boolean)", key),
                         "malformed"};
        }
        return it->template get<bool>();
    } else if constexpr (std::is_same_v<T, uint32_t>) {
        if (!it->is_number_integer()) {
            return Error{fmt::format("malformed zone object ('{}' is not an integer)", key),
                         "malformed"};
        }
        if (it->is_number_unsigned()) {
            const auto u = it->template get<uint64_t>();
            if (u > 0xFFFFFFFFULL) {
                return Error{fmt::format("malformed zone object ('{}' out of range)", key),
                             "malformed"};
            }
            return static_cast<uint32_t>(u);
        }
        const auto v = it->template get<int64_t>();
        if (v < 0 || v > 0xFFFFFFFFLL) {
            return Error{fmt::format("malformed zone object ('{}' out of range)", key),
                         "malformed"};
        }
        return static_cast<uint32_t>(v);
    } else {
        static_assert(std::is_same_v<T, std::vector<std::string>>);
        if (!it->is_array()) {
            return Error{fmt::format("malformed zone object ('{}' is not an array)", key),
                         "malformed"};
        }
        std::vector<std::string> out;
        for (const auto& e : *it) {
            if (!e.is_string()) {
                return Error{fmt::format("malformed zone object ('{}' holds a non-string)", key),
                             "malformed"};
            }
            out.push_back(e.template get<std::string>());
        }
        return out;
    }
}

json secondaryZoneBody(const SecondaryZoneSpec& spec) {
    // pdns 4.7: "masters" (it silently ignores "primaries"); "slave_tsig_key_ids" is the
    // AXFR-MASTER-TSIG metadata, i.e. the key this server signs its transfer requests with.
    return json{{"kind", "Slave"},
                {"masters", spec.masters},
                {"account", spec.account},
                {"soa_edit", "NONE"},
                {"slave_tsig_key_ids", spec.tsig_master_key_ids}};
}

}  // namespace

std::string describeHttpError(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "connection failed";
        case httplib::Error::ConnectionTimeout:
            return "connect timed out";
        case httplib::Error::Read:
            return "read failed or timed out";
        case httplib::Error::Write:
            return "write failed";
        case httplib::Error::SSLConnection:
            return "TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "cannot load CA certificates";
        case httplib::Error::SSLServerVerification:
            return "server certificate not trusted";
        default:
            return httplib::to_string(error);
    }
}

Result<PdnsZoneInfo> parsePdnsZone(const nlohmann::json& j) {
    if (!j.is_object()) return Error{"malformed zone object (not a JSON object)", "malformed"};
    PdnsZoneInfo z;
    auto id = typedField<std::string>(j, "id", true, {});
    if (!id) return std::move(id).error();
    z.id = std::move(*id);
    auto name = typedField<std::string>(j, "name", true, {});
    if (!name) return std::move(name).error();
    auto canonical = canonicalZoneName(*name);
    if (!canonical) {
        return Error{fmt::format("malformed zone object ({})", canonical.error().message),
                     "malformed"};
    }
    z.name = std::move(*canonical);
    auto kind = typedField<std::string>(j, "kind", true, {});
    if (!kind) return std::move(kind).error();
    z.kind = std::move(*kind);
    auto account = typedField<std::string>(j, "account", false, {});
    if (!account) return std::move(account).error();
    z.account = std::move(*account);
    auto masters = typedField<std::vector<std::string>>(j, "masters", false, {});
    if (!masters) return std::move(masters).error();
    z.masters = std::move(*masters);
    auto serial = typedField<uint32_t>(j, "serial", false, 0);
    if (!serial) return std::move(serial).error();
    z.serial = *serial;
    if (j.contains("edited_serial") && !j["edited_serial"].is_null()) {
        auto edited = typedField<uint32_t>(j, "edited_serial", true, 0);
        if (!edited) return std::move(edited).error();
        z.edited_serial = *edited;
    }
    auto dnssec = typedField<bool>(j, "dnssec", false, false);
    if (!dnssec) return std::move(dnssec).error();
    z.dnssec = *dnssec;
    auto soa_edit = typedField<std::string>(j, "soa_edit", false, {});
    if (!soa_edit) return std::move(soa_edit).error();
    z.soa_edit = std::move(*soa_edit);
    auto keys = typedField<std::vector<std::string>>(j, "slave_tsig_key_ids", false, {});
    if (!keys) return std::move(keys).error();
    z.tsig_master_key_ids = std::move(*keys);
    auto nsec3param = typedField<std::string>(j, "nsec3param", false, {});
    if (!nsec3param) return std::move(nsec3param).error();
    z.nsec3param = std::move(*nsec3param);
    auto narrow = typedField<bool>(j, "nsec3narrow", false, false);
    if (!narrow) return std::move(narrow).error();
    z.nsec3narrow = *narrow;
    return z;
}

Result<PdnsTsigKey> parsePdnsTsigKey(const nlohmann::json& j) {
    if (!j.is_object()) return Error{"malformed TSIG key object (not a JSON object)", "malformed"};
    PdnsTsigKey k;
    // Reported without the value: "key" is a secret.
    const auto field = [&](const char* name, bool required, std::string& out) -> Status {
        const auto it = j.find(name);
        if (it == j.end() || it->is_null()) {
            if (required) {
                return Error{fmt::format("malformed TSIG key object (no '{}')", name), "malformed"};
            }
            return {};
        }
        if (!it->is_string()) {
            return Error{fmt::format("malformed TSIG key object ('{}' is not a string)", name),
                         "malformed"};
        }
        out = it->get<std::string>();
        return {};
    };
    for (auto [name, required, out] :
         {std::tuple<const char*, bool, std::string*>{"id", true, &k.id},
          {"name", true, &k.name},
          {"algorithm", true, &k.algorithm},
          {"key", false, &k.secret}}) {
        if (auto s = field(name, required, *out); !s) return std::move(s).error();
    }
    return k;
}

struct HttpPdnsApi::Impl {
    std::string origin;     // scheme://host[:port]
    std::string base_path;  // [prefix]/api/v1/servers/<id>
    std::string api_key;
    std::chrono::milliseconds timeout;
    Guarded<std::vector<std::unique_ptr<httplib::Client>>> idle;

    std::unique_ptr<httplib::Client> acquire() {
        {
            auto pool = idle.lock();
            if (!pool->empty()) {
                auto client = std::move(pool->back());
                pool->pop_back();
                return client;
            }
        }
        auto client = std::make_unique<httplib::Client>(origin);
        const auto sec = static_cast<time_t>(timeout.count() / 1000);
        const auto usec = static_cast<time_t>((timeout.count() % 1000) * 1000);
        client->set_connection_timeout(sec, usec);
        client->set_read_timeout(sec, usec);
        client->set_write_timeout(sec, usec);
        client->set_keep_alive(true);
        // We build paths already encoded; httplib must not re-encode them.
        client->set_url_encode(false);
        client->set_default_headers({{"X-API-Key", api_key}, {"Accept", "application/json"}});
        return client;
    }

    void release(std::unique_ptr<httplib::Client> client) {
        auto pool = idle.lock();
        if (pool->size() < kMaxPooledClients) pool->push_back(std::move(client));
    }

    /// One HTTP exchange. Network failures come back as Error code "network" whose message is
    /// only the cause (callers wrap it); any HTTP status is a reply the caller interprets.
    Result<HttpReply> exchange(const std::string& method, const std::string& path,
                               const std::optional<json>& body) {
        httplib::Request req;
        req.method = method;
        req.path = base_path + path;
        if (body) {
            req.body = body->dump();
            req.set_header("Content-Type", "application/json");
        }
        auto client = acquire();
        auto res = client->send(req);
        if (!res) {
            // Drop the client: its connection state is unknown.
            return Error{fmt::format("{} {}{}: {}", method, origin, req.path,
                                     describeHttpError(res.error())),
                         "network"};
        }
        HttpReply reply{.status = res->status, .body = std::move(res->body)};
        release(std::move(client));
        return reply;
    }

    /// Like exchange() for a GET, but a 200 answer's body goes to `on_chunk` as it arrives and is
    /// never held whole; `on_chunk` returning false cancels the request (Error code "canceled").
    /// Other answers keep their body (64 KiB at most) for the error message.
    Result<HttpReply> exchangeStreaming(const std::string& path,
                                        const std::function<bool(std::string_view)>& on_chunk) {
        constexpr size_t kErrorBodyMax = size_t{64} * 1024;
        httplib::Request req;
        req.method = "GET";
        req.path = base_path + path;
        int status = 0;
        bool canceled = false;
        std::string other;
        req.response_handler = [&](const httplib::Response& r) {
            status = r.status;
            return true;
        };
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
            if (status != 200) {
                other.append(data,
                             std::min(n, kErrorBodyMax - std::min(kErrorBodyMax, other.size())));
                return true;
            }
            if (on_chunk(std::string_view(data, n))) return true;
            canceled = true;
            return false;
        };
        auto client = acquire();
        // pdns 4.7 sends nothing of a zone listing before it has built all of it: 100,000 zones
        // with dnssec=true take seconds, and more on a loaded primary (the 100,000-zone
        // bootstrap: four reconcile listings in a row failed on the 5 s read timeout). A
        // listing's reads wait up to max(timeout, 120 s); the client gets its usual timeout back
        // before it returns to the pool.
        const auto listing_timeout = std::max<std::chrono::milliseconds>(timeout, kListingTimeout);
        client->set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(listing_timeout));
        auto res = client->send(req);
        if (canceled) return Error{"the reader stopped", "canceled"};  // the client is dropped
        if (!res) {
            return Error{
                fmt::format("GET {}{}: {}", origin, req.path, describeHttpError(res.error())),
                "network"};
        }
        HttpReply reply{.status = res->status, .body = std::move(other)};
        client->set_read_timeout(static_cast<time_t>(timeout.count() / 1000),
                                 static_cast<time_t>((timeout.count() % 1000) * 1000));
        release(std::move(client));
        return reply;
    }

    static Error httpError(std::string_view action, const HttpReply& reply) {
        const auto code =
            reply.status == 404 ? std::string{"not-found"} : fmt::format("http-{}", reply.status);
        return Error{fmt::format("cannot {} (PowerDNS answered HTTP {}: {})", action, reply.status,
                                 pdnsErrorText(reply.body)),
                     code};
    }

    static Result<json> parseBody(std::string_view action, const HttpReply& reply) {
        auto j = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
            return Error{fmt::format("cannot {} (PowerDNS answered HTTP {} with a body that is "
                                     "not JSON: {})",
                                     action, reply.status, quoteBody(reply.body)),
                         "malformed"};
        }
        return j;
    }

    /// Like parseBody + parsePdnsTsigKey, but never quotes the body: it holds the secret.
    static Result<PdnsTsigKey> parseTsigKeyBody(std::string_view action, const HttpReply& reply) {
        auto j = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
            return Error{fmt::format("cannot {} (PowerDNS answered HTTP {} with a body that is "
                                     "not JSON)",
                                     action, reply.status),
                         "malformed"};
        }
        auto k = parsePdnsTsigKey(j);
        if (!k) return Error{fmt::format("cannot {} ({})", action, k.error().message), "malformed"};
        return k;
    }

    /// Runs a request whose only interesting outcome is a 2xx.
    Status simple(std::string_view action, const std::string& method, const std::string& path,
                  const std::optional<json>& body, bool not_found_is_success = false) {
        auto reply = exchange(method, path, body);
        if (!reply) {
            return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
        }
        if (reply->status >= 200 && reply->status < 300) return {};
        if (not_found_is_success && reply->status == 404) return {};
        return httpError(action, *reply);
    }
};

HttpPdnsApi::HttpPdnsApi(const PdnsApiSettings& settings) : impl_(std::make_unique<Impl>()) {
    static const std::regex kUrl{R"(^(https?://[^/?#\s]+)(/[^?#\s]*)?$)", std::regex::icase};
    std::smatch m;
    if (!std::regex_match(settings.url, m, kUrl)) {
        throw std::runtime_error(fmt::format(
            "cannot use PowerDNS API URL '{}' (not http(s)://host[:port][/prefix]); check pdns.url",
            settings.url));
    }
    impl_->origin = m[1].str();
    std::string prefix = m[2].matched ? m[2].str() : std::string{};
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (settings.server_id.empty()) {
        throw std::runtime_error("cannot use PowerDNS server id '' (empty); check pdns.server_id");
    }
    impl_->base_path = prefix + "/api/v1/servers/" + urlEncode(settings.server_id);
    impl_->api_key = readKeyFile(settings.api_key_file);
    impl_->timeout = settings.timeout;
    // Fail now, not on the first call, when httplib rejects the origin (bad port and the like).
    httplib::Client probe(impl_->origin);
    if (!probe.is_valid()) {
        throw std::runtime_error(
            fmt::format("cannot use PowerDNS API URL '{}' (rejected by the HTTP client); check "
                        "pdns.url",
                        settings.url));
    }
}

HttpPdnsApi::~HttpPdnsApi() = default;

Result<PdnsServerInfo> HttpPdnsApi::serverInfo() {
    const std::string action = "get PowerDNS server info";
    auto reply = impl_->exchange("GET", "", std::nullopt);
    if (!reply)
        return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
    if (reply->status != 200) return Impl::httpError(action, *reply);
    auto j = Impl::parseBody(action, *reply);
    if (!j) return std::move(j).error();
    if (!j->is_object()) {
        return Error{fmt::format("cannot {} (answer is not a JSON object)", action), "malformed"};
    }
    PdnsServerInfo info;
    const auto str = [&](const char* key) -> std::optional<std::string> {
        const auto it = j->find(key);
        if (it == j->end()) return std::string{};
        if (!it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    const auto id = str("id");
    const auto type = str("daemon_type");
    const auto version = str("version");
    if (!id || !type || !version) {
        return Error{fmt::format("cannot {} (a field has the wrong type)", action), "malformed"};
    }
    info.id = *id;
    info.daemon_type = *type;
    info.version = *version;
    return info;
}

Status HttpPdnsApi::listInto(const std::optional<std::string>& zone, bool dnssec,
                             const std::function<void(PdnsZoneInfo&&)>& sink) {
    const std::string action =
        zone ? fmt::format("list PowerDNS zone '{}'", *zone) : std::string{"list PowerDNS zones"};
    std::string path = fmt::format("/zones?dnssec={}", dnssec ? "true" : "false");
    if (zone) path += "&zone=" + urlEncode(*zone);
    // The body is read as it arrives and each zone object parsed on its own: a listing of
    // 100,000 zones is never held whole, neither as text (~30 MB) nor as a JSON tree.
    std::optional<Error> bad;
    JsonArraySplitter splitter([&](std::string_view object) {
        auto j = json::parse(object, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
            bad = Error{fmt::format("PowerDNS answered HTTP 200 with a body that is not JSON: {}",
                                    quoteBody(object)),
                        "malformed"};
            return false;
        }
        auto z = parsePdnsZone(j);
        if (!z) {
            bad = std::move(z).error();
            return false;
        }
        sink(std::move(*z));
        return true;
    });
    auto reply = impl_->exchangeStreaming(
        path, [&](std::string_view chunk) { return splitter.feed(chunk); });
    if (!reply && reply.error().code != "canceled") {
        return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
    }
    if (reply && reply->status != 200) return Impl::httpError(action, *reply);
    if (reply) (void)splitter.finish();
    switch (splitter.failure()) {
        case JsonArraySplitter::Failure::None:
            return {};
        case JsonArraySplitter::Failure::NotJson:
            return Error{fmt::format("cannot {} (PowerDNS answered HTTP 200 with a body that is "
                                     "not JSON: {})",
                                     action, quoteBody(splitter.head())),
                         "malformed"};
        case JsonArraySplitter::Failure::NotAnArray:
            return Error{fmt::format("cannot {} (answer is not a JSON array)", action),
                         "malformed"};
        case JsonArraySplitter::Failure::NotAnObject:
            return Error{
                fmt::format("cannot {} (malformed zone object (not a JSON object))", action),
                "malformed"};
        case JsonArraySplitter::Failure::Refused:
            break;
    }
    return Error{fmt::format("cannot {} ({})", action,
                             bad ? bad->message : std::string{"the listing was cut short"}),
                 "malformed"};
}

Status PdnsApi::forEachZone(bool dnssec, const std::function<void(PdnsZoneInfo&&)>& sink) {
    auto zones = listZones(std::nullopt, dnssec);
    if (!zones) return std::move(zones).error();
    for (auto& z : *zones) sink(std::move(z));
    return {};
}

Result<std::vector<PdnsZoneInfo>> HttpPdnsApi::listZones(std::optional<std::string> zone,
                                                         bool dnssec) {
    std::vector<PdnsZoneInfo> zones;
    auto s = listInto(zone, dnssec, [&](PdnsZoneInfo&& z) { zones.push_back(std::move(z)); });
    if (!s) return std::move(s).error();
    return zones;
}

Status HttpPdnsApi::forEachZone(bool dnssec, const std::function<void(PdnsZoneInfo&&)>& sink) {
    return listInto(std::nullopt, dnssec, sink);
}

Result<PdnsZoneInfo> HttpPdnsApi::getZone(std::string_view zone) {
    const std::string action = fmt::format("get PowerDNS zone '{}'", zone);
    // pdns 4.7 honours rrsets=false, which keeps large zones from being serialised for nothing.
    auto reply =
        impl_->exchange("GET", "/zones/" + encodePdnsZoneId(zone) + "?rrsets=false", std::nullopt);
    if (!reply)
        return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
    if (reply->status != 200) return Impl::httpError(action, *reply);
    auto j = Impl::parseBody(action, *reply);
    if (!j) return std::move(j).error();
    auto z = parsePdnsZone(*j);
    if (!z) return Error{fmt::format("cannot {} ({})", action, z.error().message), "malformed"};
    return z;
}

Status HttpPdnsApi::createSecondaryZone(const SecondaryZoneSpec& spec) {
    auto body = secondaryZoneBody(spec);
    body["name"] = spec.name;
    return impl_->simple(fmt::format("create PowerDNS zone '{}'", spec.name), "POST", "/zones",
                         body);
}

Status HttpPdnsApi::updateSecondaryZone(const SecondaryZoneSpec& spec) {
    return impl_->simple(fmt::format("update PowerDNS zone '{}'", spec.name), "PUT",
                         "/zones/" + encodePdnsZoneId(spec.name), secondaryZoneBody(spec));
}

Status HttpPdnsApi::deleteZone(std::string_view zone) {
    return impl_->simple(fmt::format("delete PowerDNS zone '{}'", zone), "DELETE",
                         "/zones/" + encodePdnsZoneId(zone), std::nullopt,
                         /*not_found_is_success=*/true);
}

Status HttpPdnsApi::axfrRetrieve(std::string_view zone) {
    return impl_->simple(fmt::format("start a transfer of PowerDNS zone '{}'", zone), "PUT",
                         "/zones/" + encodePdnsZoneId(zone) + "/axfr-retrieve", std::nullopt);
}

Status HttpPdnsApi::setNsec3Param(std::string_view zone, const std::string& param) {
    return impl_->simple(fmt::format("set NSEC3 parameters of PowerDNS zone '{}'", zone), "PUT",
                         "/zones/" + encodePdnsZoneId(zone),
                         json{{"dnssec", true}, {"nsec3param", param}, {"nsec3narrow", false}});
}

Result<PdnsTsigKey> HttpPdnsApi::getTsigKey(std::string_view name) {
    const std::string action = fmt::format("get PowerDNS TSIG key '{}'", name);
    auto reply = impl_->exchange("GET", "/tsigkeys/" + encodePdnsZoneId(name), std::nullopt);
    if (!reply)
        return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
    if (reply->status != 200) return Impl::httpError(action, *reply);
    return Impl::parseTsigKeyBody(action, *reply);
}

Result<PdnsTsigKey> HttpPdnsApi::createTsigKey(std::string_view name, std::string_view algorithm) {
    const std::string action = fmt::format("create PowerDNS TSIG key '{}'", name);
    auto reply =
        impl_->exchange("POST", "/tsigkeys",
                        json{{"name", std::string(name)}, {"algorithm", std::string(algorithm)}});
    if (!reply)
        return Error{fmt::format("cannot {} ({})", action, reply.error().message), "network"};
    if (reply->status != 201) return Impl::httpError(action, *reply);
    return Impl::parseTsigKeyBody(action, *reply);
}

Status HttpPdnsApi::flushCache(std::string_view zone) {
    return impl_->simple(fmt::format("flush the PowerDNS cache for '{}'", zone), "PUT",
                         "/cache/flush?domain=" + urlEncode(zone), std::nullopt);
}

}  // namespace pdns_distribute::common
