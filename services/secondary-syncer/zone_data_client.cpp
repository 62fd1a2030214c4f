// SPDX-License-Identifier: Apache-2.0
#include "zone_data_client.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::secondary_syncer {

ZoneDataClient::ZoneDataClient(common::Requester& requester, ZoneDataClientSettings settings,
                               const common::Clock& clock, common::MetricsRegistry& metrics)
    : requester_(requester), settings_(std::move(settings)), clock_(clock), metrics_(metrics) {}

common::Error ZoneDataClient::refuse(common::Refusal why, const std::string& zone,
                                     const std::string& detail) {
    metrics_
        .counter("pdns_distribute_syncer_refused_total",
                 "zone-data replies refused by verification, by reason",
                 {{"reason", std::string(common::toString(why))}})
        .inc();
    spdlog::error("refused zone data for '{}' ({}: {})", zone, common::toString(why), detail);
    return common::Error{
        .message = fmt::format("zone data refused ({}: {})", common::toString(why), detail),
        .code = "refused"};
}

common::Result<FetchedZone> ZoneDataClient::fetch(const std::string& zone,
                                                  const std::string& after) {
    const auto nonce = common::randomNonce();
    nlohmann::json req = {{"v", 1}, {"zone", zone}, {"node", settings_.node}, {"nonce", nonce}};
    if (!after.empty()) req["after"] = after;
    auto reply = requester_.request(common::zoneDataSubject(settings_.group, zone), req.dump(), {},
                                    settings_.timeout);
    if (!reply) {
        return common::Error{.message = "no zone-data reply (" + reply.error().message + ")",
                             .code = "unavailable"};
    }
    const auto sig = reply->header(common::kSigHeader);
    const auto key_id = reply->header(common::kKeyIdHeader);
    if (!sig || !key_id) return refuse(common::Refusal::Malformed, zone, "reply is not signed");
    auto verified = common::verifyManifestReply(reply->data, *sig, *key_id, zone, nonce,
                                                settings_.trusted, clock_.system());
    if (!verified) {
        auto why = common::Refusal::Malformed;
        for (auto r : {common::Refusal::BadSignature, common::Refusal::UnknownKey,
                       common::Refusal::ExpiredKey, common::Refusal::WrongZone,
                       common::Refusal::Malformed}) {
            if (verified.error().code == common::toString(r)) why = r;
        }
        return refuse(why, zone, verified.error().message);
    }
    FetchedZone out{.manifest = std::move(verified->manifest), .body = std::nullopt};
    const auto& m = out.manifest;
    spdlog::debug("zone data for '{}' verified (key {}): {} serial {} {} bytes", zone, *key_id,
                  common::toString(m.status), m.serial, m.size);
    if (m.status != common::ManifestStatus::Present) return out;
    if (m.size > settings_.max_zone_bytes) {
        return refuse(common::Refusal::TooLarge, zone,
                      fmt::format("{} bytes exceeds syncer.max_zone_bytes {}", m.size,
                                  settings_.max_zone_bytes));
    }
    std::vector<std::byte> bytes;
    if (m.inline_body) {
        const auto b = common::asBytes(*m.inline_body);
        bytes.assign(b.begin(), b.end());
    } else {
        auto pulled = pullChunks(m);
        if (!pulled) return std::move(pulled).error();
        bytes = std::move(*pulled);
    }
    auto body = common::verifyBody(m, std::move(bytes));
    if (!body) return refuse(common::Refusal::BodyMismatch, zone, body.error().message);
    out.body = std::move(*body);
    return out;
}

common::Result<std::vector<std::byte>> ZoneDataClient::pullChunks(const common::Manifest& m) {
    if (m.xfer.empty() || m.chunk_size == 0 || m.chunks != m.chunk_digests.size() ||
        uint64_t{m.chunks} * m.chunk_size < m.size) {
        return refuse(common::Refusal::Malformed, m.zone, "inconsistent chunk description");
    }
    std::vector<std::byte> bytes;
    bytes.reserve(m.size);
    // TODO(spine): keep up to 4 chunk requests in flight (DESIGN §4); sequential pulls are correct
    // but slower for very large zones. #6
    for (uint32_t i = 0; i < m.chunks; ++i) {
        const nlohmann::json req = {{"chunk", i}};
        std::optional<common::Error> last;
        bool got = false;
        for (int attempt = 0; attempt < settings_.chunk_attempts && !got; ++attempt) {
            auto reply = requester_.request(m.xfer, req.dump(), {}, settings_.timeout);
            if (!reply) {
                last = reply.error();
                continue;
            }
            if (reply->data.empty()) {
                // The provider no longer holds that transfer (kept ~60 s): not tampering.
                return common::Error{
                    .message = fmt::format("chunk {} of '{}' expired at the provider", i, m.zone),
                    .code = "unavailable"};
            }
            const auto data = common::asBytes(reply->data);
            if (common::toHex(common::blake2b256(data)) != m.chunk_digests[i]) {
                return refuse(common::Refusal::BodyMismatch, m.zone,
                              fmt::format("chunk {} does not match its signed digest", i));
            }
            bytes.insert(bytes.end(), data.begin(), data.end());
            got = true;
        }
        if (!got) {
            return common::Error{.message = fmt::format("cannot pull chunk {} of '{}' ({})", i,
                                                        m.zone, last ? last->message : "no reply"),
                                 .code = "unavailable"};
        }
    }
    return bytes;
}

}  // namespace pdns_distribute::secondary_syncer
