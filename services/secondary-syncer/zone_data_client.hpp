// SPDX-License-Identifier: Apache-2.0
#pragma once
// Fetches and verifies zone data (DESIGN §4, syncer side): issues a fresh nonce per request,
// verifies the signed manifest before parsing it, pulls chunks of large bodies (verifying each
// against the signed chunk digests) and finally the whole body. Thread-safe (stateless apart from
// metrics).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/metrics.hpp>
#include <pdns_distribute/common/signing.hpp>

namespace pdns_distribute::secondary_syncer {

struct FetchedZone {
    common::Manifest manifest;
    std::optional<common::ZoneBody> body;  ///< set for status present
};

/// Port the applier uses. Error codes: "unavailable" (no reply, retry later), "refused"
/// (the reply failed verification: never applied), "error" (the provider answered an error).
class ZoneDataSource {
public:
    virtual ~ZoneDataSource() = default;
    /// `after` is the triggering event's `at` (RFC 3339): the provider may answer from a body it
    /// fetched after that instant; empty demands a fresh transfer.
    [[nodiscard]] virtual common::Result<FetchedZone> fetch(const std::string& zone,
                                                            const std::string& after) = 0;
};

struct ZoneDataClientSettings {
    std::string group;
    std::string node;
    std::vector<common::TrustedKey> trusted;
    uint64_t max_zone_bytes = 0;
    std::chrono::milliseconds timeout{10000};
    int chunk_attempts = 3;
};

class ZoneDataClient final : public ZoneDataSource {
public:
    ZoneDataClient(common::Requester& requester, ZoneDataClientSettings settings,
                   const common::Clock& clock, common::MetricsRegistry& metrics);
    [[nodiscard]] common::Result<FetchedZone> fetch(const std::string& zone,
                                                    const std::string& after) override;

private:
    [[nodiscard]] common::Result<std::vector<std::byte>> pullChunks(const common::Manifest& m);
    common::Error refuse(common::Refusal why, const std::string& zone, const std::string& detail);

    common::Requester& requester_;
    ZoneDataClientSettings settings_;
    const common::Clock& clock_;
    common::MetricsRegistry& metrics_;
};

}  // namespace pdns_distribute::secondary_syncer
