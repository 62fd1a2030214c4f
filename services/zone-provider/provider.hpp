// SPDX-License-Identifier: Apache-2.0
#pragma once
// Core of pdns-zone-provider: turns a zone-data request into the signed manifest of DESIGN §4.
// Owns no sockets or threads; the service feeds it requests from its own workers. Thread-safe:
// several workers may call handleRequest at once; simultaneous requests for one zone share one
// AXFR (per-zone lock plus a cache of at most cache_ttl).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/metrics.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/signing.hpp>

#include "config.hpp"

namespace pdns_distribute::zone_provider {

struct ProviderMetrics {
    explicit ProviderMetrics(common::MetricsRegistry& r);
    common::Counter& requests_present;
    common::Counter& requests_absent;
    common::Counter& requests_error;
    common::Counter& bad_requests;
    common::Counter& cache_hits;
    common::Counter& chunks_served;
    common::Counter& chunk_misses;
    common::Histogram& axfr_seconds;
};

struct Reply {
    std::string data;
    common::Headers headers;
};

/// Bodies too large to ride inline, kept for a while so syncers can pull their chunks.
class TransferStore {
public:
    TransferStore(const common::Clock& clock, std::chrono::milliseconds keep)
        : clock_(clock), keep_(keep) {}
    /// Registers a body; returns its transfer id (unique within this process).
    std::string add(std::shared_ptr<const std::vector<std::byte>> body, uint32_t chunk_size);
    /// Chunk bytes, or nullopt for an unknown/expired transfer or index.
    [[nodiscard]] std::optional<std::string> chunk(std::string_view transfer, uint32_t index);
    /// Drops expired transfers.
    void expire();
    [[nodiscard]] size_t size();

private:
    struct Entry {
        std::shared_ptr<const std::vector<std::byte>> body;
        uint32_t chunk_size = 0;
        std::chrono::steady_clock::time_point expires;
    };
    const common::Clock& clock_;
    std::chrono::milliseconds keep_;
    common::Guarded<std::map<std::string, Entry, std::less<>>> entries_;
    std::atomic<uint64_t> counter_{0};
};

class ZoneDataProvider {
public:
    ZoneDataProvider(const ProviderSettings& settings, common::AxfrSource& primary_axfr,
                     common::ApexProbe& primary_probe, common::PdnsApi& primary_api,
                     const common::SecretKey& key, const common::Clock& clock,
                     std::string instance_id, ProviderMetrics& metrics);

    /// Answers a `{"v":1,"zone","node","nonce","after"?}` request. A cached body is reused only
    /// if the transfer that produced it started after `after` (the event's time, stamped on this
    /// host) or, without it, after the request arrived: a request racing ahead of the cache
    /// invalidation must never get data from before its event. Always returns a signed manifest,
    /// even for a malformed request (status error), except when no nonce can be read at all.
    [[nodiscard]] std::optional<Reply> handleRequest(std::string_view payload);
    /// Answers a `{"chunk":i}` request for one of this instance's transfers.
    [[nodiscard]] std::optional<std::string> handleChunk(std::string_view transfer_id,
                                                         std::string_view payload);
    /// Drops any cached body of the zone (a newer event arrived).
    void invalidate(std::string_view zone);
    [[nodiscard]] TransferStore& transfers() { return transfers_; }
    /// Subject prefix for chunk pulls: pdns.zonedata.x.<instance>.
    [[nodiscard]] std::string xferPrefix() const;

private:
    struct Cached {
        common::Manifest manifest;  // everything but signed_at
        std::chrono::steady_clock::time_point fetched;
        std::chrono::system_clock::time_point started;  // wall clock when the AXFR began
    };
    [[nodiscard]] common::Manifest buildManifest(const std::string& zone);
    [[nodiscard]] common::Manifest presentManifest(const std::string& zone, common::ZoneBody body);
    [[nodiscard]] common::Manifest errorManifest(const std::string& zone, std::string reason);
    [[nodiscard]] common::Manifest afterTransferFailure(const std::string& zone,
                                                        const common::Error& axfr_error);
    /// Identity check of the primary (DESIGN §4), cached for a minute. Error says why not.
    [[nodiscard]] common::Status primaryIdentity();
    [[nodiscard]] Reply sign(common::Manifest m, std::string_view nonce);
    std::shared_ptr<std::mutex> zoneLock(const std::string& zone);

    const ProviderSettings& settings_;
    common::AxfrSource& axfr_;
    common::ApexProbe& probe_;
    common::PdnsApi& api_;
    const common::SecretKey& key_;
    std::string key_id_;
    const common::Clock& clock_;
    std::string instance_id_;
    ProviderMetrics& metrics_;
    TransferStore transfers_;
    common::Guarded<std::map<std::string, Cached, std::less<>>> cache_;
    common::Guarded<std::map<std::string, std::weak_ptr<std::mutex>, std::less<>>> zone_locks_;
    common::Guarded<std::optional<std::chrono::steady_clock::time_point>> identity_ok_at_;
};

}  // namespace pdns_distribute::zone_provider
