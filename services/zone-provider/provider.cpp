// SPDX-License-Identifier: Apache-2.0
#include "provider.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::zone_provider {

namespace {

using common::Manifest;
using common::ManifestStatus;

// pdns private types that a presigned secondary cannot reproduce: LUA records are evaluated at
// query time on the primary, and ALIAS reaches the AXFR unexpanded unless the primary is set to
// expand it (outgoing-axfr-expand-alias).
constexpr uint16_t kTypeAlias = 65401;
constexpr uint16_t kTypeLua = 65402;

constexpr std::chrono::minutes kIdentityValidity{1};

}  // namespace

ProviderMetrics::ProviderMetrics(common::MetricsRegistry& r)
    : requests_present(r.counter("pdns_distribute_zone_provider_requests_total",
                                 "zone-data requests answered, by manifest status",
                                 {{"status", "present"}})),
      requests_absent(r.counter("pdns_distribute_zone_provider_requests_total",
                                "zone-data requests answered, by manifest status",
                                {{"status", "absent"}})),
      requests_error(r.counter("pdns_distribute_zone_provider_requests_total",
                               "zone-data requests answered, by manifest status",
                               {{"status", "error"}})),
      bad_requests(r.counter("pdns_distribute_zone_provider_bad_requests_total",
                             "requests that could not be parsed")),
      cache_hits(r.counter("pdns_distribute_zone_provider_cache_hits_total",
                           "requests answered from a body fetched within cache_ttl")),
      chunks_served(r.counter("pdns_distribute_zone_provider_chunks_served_total",
                              "body chunks pulled by syncers")),
      chunk_misses(r.counter("pdns_distribute_zone_provider_chunk_misses_total",
                             "chunk pulls for unknown or expired transfers")),
      axfr_seconds(r.histogram("pdns_distribute_zone_provider_axfr_seconds",
                               "time to AXFR a zone from the primary",
                               common::MetricsRegistry::latencyBuckets())) {}

std::string TransferStore::add(std::shared_ptr<const std::vector<std::byte>> body,
                               uint32_t chunk_size) {
    auto id = std::to_string(counter_.fetch_add(1) + 1);
    auto entries = entries_.lock();
    (*entries)[id] = Entry{
        .body = std::move(body), .chunk_size = chunk_size, .expires = clock_.steady() + keep_};
    return id;
}

std::optional<std::string> TransferStore::chunk(std::string_view transfer, uint32_t index) {
    std::shared_ptr<const std::vector<std::byte>> body;
    uint32_t chunk_size = 0;
    {
        auto entries = entries_.lock();
        auto it = entries->find(transfer);
        if (it == entries->end() || it->second.expires < clock_.steady()) return std::nullopt;
        body = it->second.body;
        chunk_size = it->second.chunk_size;
    }
    const uint64_t offset = uint64_t{index} * chunk_size;
    if (chunk_size == 0 || offset >= body->size()) return std::nullopt;
    const auto len = std::min<uint64_t>(chunk_size, body->size() - offset);
    return std::string(reinterpret_cast<const char*>(body->data()) + offset, len);
}

void TransferStore::expire() {
    const auto now = clock_.steady();
    auto entries = entries_.lock();
    std::erase_if(*entries, [&](const auto& kv) { return kv.second.expires < now; });
}

size_t TransferStore::size() { return entries_.lock()->size(); }

ZoneDataProvider::ZoneDataProvider(const ProviderSettings& settings,
                                   common::AxfrSource& primary_axfr,
                                   common::ApexProbe& primary_probe, common::PdnsApi& primary_api,
                                   const common::SecretKey& key, const common::Clock& clock,
                                   std::string instance_id, ProviderMetrics& metrics)
    : settings_(settings),
      axfr_(primary_axfr),
      probe_(primary_probe),
      api_(primary_api),
      key_(key),
      key_id_(key.publicKey().keyId()),
      clock_(clock),
      instance_id_(std::move(instance_id)),
      metrics_(metrics),
      transfers_(clock, settings.transfer_keep) {}

std::string ZoneDataProvider::xferPrefix() const { return "pdns.zonedata.x." + instance_id_ + "."; }

std::optional<Reply> ZoneDataProvider::handleRequest(std::string_view payload) {
    const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("nonce") || !j["nonce"].is_string()) {
        metrics_.bad_requests.inc();
        return std::nullopt;
    }
    const auto nonce = j["nonce"].get<std::string>();
    if (nonce.empty() || nonce.size() > 128) {
        metrics_.bad_requests.inc();
        return std::nullopt;
    }
    const auto zone_raw =
        j.contains("zone") && j["zone"].is_string() ? j["zone"].get<std::string>() : std::string{};
    auto zone = common::canonicalZoneName(zone_raw);
    if (!zone) {
        metrics_.bad_requests.inc();
        return sign(errorManifest(zone_raw, "bad request: " + zone.error().message), nonce);
    }
    // A cached body is fresh enough if its transfer began after the event (whose `at` is rounded
    // down to the millisecond, hence the extra millisecond), or, without an event time, after
    // this request arrived (it then merges with a transfer already running for another request).
    auto fresh_after = clock_.system() + std::chrono::system_clock::duration{1};
    if (j.contains("after") && j["after"].is_string()) {
        if (auto at = common::parseRfc3339(j["after"].get<std::string>())) {
            fresh_after = *at + std::chrono::milliseconds{1};
        }
    }
    auto lock = zoneLock(*zone);
    std::lock_guard guard(*lock);
    Manifest m;
    bool from_cache = false;
    {
        auto cache = cache_.lock();
        auto it = cache->find(*zone);
        if (it != cache->end() && clock_.steady() - it->second.fetched <= settings_.cache_ttl &&
            it->second.started >= fresh_after) {
            m = it->second.manifest;
            from_cache = true;
        }
    }
    if (from_cache) {
        metrics_.cache_hits.inc();
    } else {
        const auto started = clock_.system();
        m = buildManifest(*zone);
        if (m.status == ManifestStatus::Present && settings_.cache_ttl.count() > 0) {
            auto cache = cache_.lock();
            (*cache)[*zone] = Cached{.manifest = m, .fetched = clock_.steady(), .started = started};
        }
    }
    switch (m.status) {
        case ManifestStatus::Present:
            metrics_.requests_present.inc();
            break;
        case ManifestStatus::Absent:
            metrics_.requests_absent.inc();
            break;
        case ManifestStatus::Error:
            metrics_.requests_error.inc();
            break;
    }
    return sign(std::move(m), nonce);
}

std::optional<std::string> ZoneDataProvider::handleChunk(std::string_view transfer_id,
                                                         std::string_view payload) {
    const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("chunk") ||
        !j["chunk"].is_number_unsigned()) {
        metrics_.bad_requests.inc();
        return std::nullopt;
    }
    const auto index = j["chunk"].get<uint64_t>();
    if (index > UINT32_MAX) return std::nullopt;
    auto c = transfers_.chunk(transfer_id, static_cast<uint32_t>(index));
    if (c) {
        metrics_.chunks_served.inc();
    } else {
        metrics_.chunk_misses.inc();
    }
    return c;
}

void ZoneDataProvider::invalidate(std::string_view zone) {
    auto cache = cache_.lock();
    auto it = cache->find(zone);
    if (it != cache->end()) cache->erase(it);
}

std::shared_ptr<std::mutex> ZoneDataProvider::zoneLock(const std::string& zone) {
    auto locks = zone_locks_.lock();
    auto& weak = (*locks)[zone];
    auto strong = weak.lock();
    if (!strong) {
        strong = std::make_shared<std::mutex>();
        weak = strong;
    }
    if (locks->size() > 4096) {
        std::erase_if(*locks, [](const auto& kv) { return kv.second.expired(); });
    }
    return strong;
}

Manifest ZoneDataProvider::buildManifest(const std::string& zone) {
    const auto start = clock_.steady();
    auto body = axfr_.transfer(zone);
    metrics_.axfr_seconds.observe(std::chrono::duration<double>(clock_.steady() - start).count());
    if (!body) return afterTransferFailure(zone, body.error());
    return presentManifest(zone, std::move(*body));
}

Manifest ZoneDataProvider::presentManifest(const std::string& zone, common::ZoneBody body) {
    auto rrs = common::decodeBody(body.bytes);
    if (!rrs) return errorManifest(zone, "primary sent an unusable zone: " + rrs.error().message);
    for (const auto& rr : *rrs) {
        if (rr.type == kTypeLua) {
            return errorManifest(zone,
                                 "zone has LUA records, which a presigned secondary cannot serve");
        }
        if (rr.type == kTypeAlias) {
            return errorManifest(zone,
                                 "zone has ALIAS records the primary does not expand on AXFR; set "
                                 "outgoing-axfr-expand-alias=yes on the primary");
        }
    }
    auto apex = common::fingerprintFromBody(zone, body.bytes);
    if (!apex) return errorManifest(zone, "cannot read the zone apex: " + apex.error().message);

    Manifest m;
    m.zone = zone;
    m.status = ManifestStatus::Present;
    m.serial = body.serial;
    m.apex = apex->hex();
    m.rr_count = body.rr_count;
    m.size = body.bytes.size();
    m.dnssec = body.dnssec;
    m.presigned = body.presigned;
    m.digest = common::toHex(common::blake2b256(body.bytes));
    if (body.bytes.size() <= settings_.inline_max) {
        m.chunk_size = 0;
        m.chunks = 0;
        m.inline_body = std::string(common::asChars(body.bytes));
    } else {
        auto chunking = common::chunkBody(body.bytes, settings_.chunk_size);
        m.chunk_size = chunking.chunk_size;
        m.chunks = static_cast<uint32_t>(chunking.digests.size());
        m.chunk_digests = std::move(chunking.digests);
        auto shared = std::make_shared<const std::vector<std::byte>>(std::move(body.bytes));
        m.xfer = xferPrefix() + transfers_.add(std::move(shared), settings_.chunk_size);
    }
    return m;
}

Manifest ZoneDataProvider::afterTransferFailure(const std::string& zone,
                                                const common::Error& axfr_error) {
    // An AXFR that failed proves nothing about absence: pdns answers NOTAUTH both for a zone it
    // does not have and while its backend is broken. Absence needs the positive proof of §4.
    if (axfr_error.code != "refused" && axfr_error.code != "notauth") {
        return errorManifest(zone,
                             "cannot transfer the zone from the primary: " + axfr_error.message);
    }
    auto identity = primaryIdentity();
    if (!identity) {
        return errorManifest(zone, "transfer refused and the primary's identity is unproven: " +
                                       identity.error().message);
    }
    auto listing = api_.listZones(zone, false);
    if (!listing) {
        return errorManifest(
            zone, "transfer refused and the zone listing failed: " + listing.error().message);
    }
    if (!listing->empty()) {
        return errorManifest(zone, "the primary has the zone but refused to transfer it (" +
                                       axfr_error.message +
                                       "); narrow NSEC3 zones cannot be transferred");
    }
    auto single = api_.getZone(zone);
    if (single) {
        return errorManifest(zone, "zone listing is empty but the zone URL answers; not absent");
    }
    if (single.error().code != "not-found") {
        return errorManifest(zone, "zone URL did not answer 404: " + single.error().message);
    }
    Manifest m;
    m.zone = zone;
    m.status = ManifestStatus::Absent;
    m.reason = "zone listing empty, zone URL 404, AXFR refused; primary identity and canary '" +
               settings_.canary_zone + "' verified";
    return m;
}

common::Status ZoneDataProvider::primaryIdentity() {
    {
        auto ok_at = identity_ok_at_.lock();
        if (*ok_at && clock_.steady() - **ok_at < kIdentityValidity) return {};
    }
    if (settings_.canary_zone.empty()) {
        return common::makeError("no canary zone is configured (provider.canary_zone)");
    }
    auto info = api_.serverInfo();
    if (!info) return common::makeError("server info failed: {}", info.error().message);
    if (info->daemon_type != "authoritative") {
        return common::makeError("server '{}' is a '{}', not an authoritative server", info->id,
                                 info->daemon_type);
    }
    auto canary = api_.getZone(settings_.canary_zone);
    if (!canary) {
        return common::makeError("canary zone '{}' is missing from the API ({})",
                                 settings_.canary_zone, canary.error().message);
    }
    auto served = probe_.apex(settings_.canary_zone);
    if (!served) {
        return common::makeError("canary zone '{}' is not served over DNS ({})",
                                 settings_.canary_zone, served.error().message);
    }
    *identity_ok_at_.lock() = clock_.steady();
    return {};
}

Manifest ZoneDataProvider::errorManifest(const std::string& zone, std::string reason) {
    spdlog::warn("zone '{}' answered with error ({})", zone, reason);
    Manifest m;
    m.zone = zone;
    m.status = ManifestStatus::Error;
    m.reason = std::move(reason);
    return m;
}

Reply ZoneDataProvider::sign(Manifest m, std::string_view nonce) {
    m.signed_at = common::rfc3339(clock_.system());
    Reply r;
    r.data = common::serializeManifest(m);
    const auto sig = common::signManifest(key_, r.data, nonce);
    r.headers.emplace_back(std::string(common::kSigHeader), common::toHex(sig));
    r.headers.emplace_back(std::string(common::kKeyIdHeader), key_id_);
    return r;
}

}  // namespace pdns_distribute::zone_provider
