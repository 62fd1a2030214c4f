// SPDX-License-Identifier: Apache-2.0
#pragma once
// The zone-data manifest (DESIGN §4) and its verification on the syncer side. The reply to a
// zone-data request carries the manifest as its exact payload bytes plus two headers:
// `Pdd-Sig` (hex Ed25519 signature) and `Pdd-Key-Id`. The signature is checked before the JSON is
// parsed.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/result.hpp>
#include <pdns_distribute/common/signing.hpp>

namespace pdns_distribute::common {

inline constexpr std::string_view kSigHeader = "Pdd-Sig";
inline constexpr std::string_view kKeyIdHeader = "Pdd-Key-Id";

enum class ManifestStatus { Present, Absent, Error };

struct Manifest {
    int v = 1;
    std::string zone;
    ManifestStatus status = ManifestStatus::Error;
    std::string reason;  ///< for Absent (the proof) and Error
    uint32_t serial = 0;
    std::string apex;  ///< ApexFingerprint::hex()
    uint32_t rr_count = 0;
    uint64_t size = 0;
    bool dnssec = false;
    bool presigned = false;
    std::string signed_at;  ///< RFC 3339 UTC
    std::string digest;     ///< hex BLAKE2b-256 of the body
    uint32_t chunk_size = 0;
    uint32_t chunks = 0;
    std::vector<std::string> chunk_digests;  ///< hex BLAKE2b-256 per chunk
    std::string xfer;                        ///< subject to pull chunks from, when not inline
    std::optional<std::string> inline_body;  ///< raw body bytes (base64 on the wire)
};

[[nodiscard]] std::string serializeManifest(const Manifest& m);
[[nodiscard]] Result<Manifest> parseManifest(std::string_view json);
[[nodiscard]] std::string_view toString(ManifestStatus s);

/// Why a reply was refused; each maps to a metric label on the syncer.
enum class Refusal {
    None,
    BadSignature,
    UnknownKey,
    ExpiredKey,
    WrongZone,
    Malformed,
    BodyMismatch,
    TooLarge
};
[[nodiscard]] std::string_view toString(Refusal r);

struct VerifiedManifest {
    Manifest manifest;
    std::string key_id;
};

/// Checks signature (under a trusted, unexpired key) over manifest ‖ nonce, then parses, then
/// checks the zone. Body checks happen later, in verifyBody.
[[nodiscard]] Result<VerifiedManifest> verifyManifestReply(
    std::string_view payload, std::string_view sig_hex, std::string_view key_id,
    std::string_view expected_zone, std::string_view nonce, std::span<const TrustedKey> trusted,
    std::chrono::system_clock::time_point now);

/// Checks a fully assembled body against the manifest: digest, size, rr_count, SOA first, every
/// owner at or below the zone. Returns the validated body.
[[nodiscard]] Result<ZoneBody> verifyBody(const Manifest& m, std::vector<std::byte> body);

/// Splits a body into chunks and digests (provider side).
struct Chunking {
    uint32_t chunk_size = 0;
    std::vector<std::string> digests;
};
[[nodiscard]] Chunking chunkBody(std::span<const std::byte> body, uint32_t chunk_size);

/// RFC 3339 UTC timestamp, second resolution, e.g. "2026-11-26T13:04:55Z".
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace pdns_distribute::common
