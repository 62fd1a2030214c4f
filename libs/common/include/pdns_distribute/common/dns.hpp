// SPDX-License-Identifier: Apache-2.0
#pragma once
// Zone model and DNS wire codec (built on ldns). A zone *body* is the zone's RRs, SOA first and
// not repeated, each in uncompressed DNS wire format: owner, type, class, TTL, RDLENGTH, RDATA
// with every embedded name uncompressed (DESIGN §4). Owner names keep the case the primary sent.
// Unknown types pass through untouched (RFC 3597). All functions are pure and thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

namespace rrtype {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kNs = 2;
inline constexpr uint16_t kSoa = 6;
inline constexpr uint16_t kRrsig = 46;
inline constexpr uint16_t kNsec = 47;
inline constexpr uint16_t kDnskey = 48;
inline constexpr uint16_t kNsec3 = 50;
inline constexpr uint16_t kNsec3param = 51;
inline constexpr uint16_t kAxfr = 252;
inline constexpr uint16_t kIxfr = 251;
}  // namespace rrtype

/// One resource record, decoded from a body. Views point into the body it came from.
struct RrView {
    std::span<const std::byte> owner;  ///< uncompressed wire-format owner name
    uint16_t type = 0;
    uint16_t rclass = 0;
    uint32_t ttl = 0;
    std::span<const std::byte> rdata;  ///< uncompressed
    std::span<const std::byte> wire;   ///< the whole RR as it sits in the body
};

/// A zone body plus facts read from it once.
struct ZoneBody {
    std::vector<std::byte> bytes;
    uint32_t rr_count = 0;
    uint32_t serial = 0;
    bool dnssec = false;     ///< DNSKEY, RRSIG, NSEC or NSEC3 present
    bool presigned = false;  ///< RRSIGs present in the body (the secondary serves them as-is)
};

/// Apex fingerprint (DESIGN §3): served serial, hash of the DNSKEY RRset, and the sorted set of
/// (key tag, inception, expiry) of RRSIG(SOA). Never compares signature bytes.
struct ApexFingerprint {
    uint32_t serial = 0;
    std::array<std::byte, 16>
        dnskey_hash{};  ///< BLAKE2b-128 of the sorted DNSKEY rdatas; zero if none
    struct SigInfo {
        uint16_t key_tag = 0;
        uint32_t inception = 0;
        uint32_t expiration = 0;
        auto operator<=>(const SigInfo&) const = default;
    };
    std::vector<SigInfo> soa_sigs;  ///< sorted

    /// Stable hex form used in events and manifests: BLAKE2b-128 over the fields above.
    [[nodiscard]] std::string hex() const;
    /// Like hex() without the signatures' validity windows: serial, DNSKEY RRset and the key tags
    /// that sign the SOA. It moves with data and key changes but not with re-signing, so the
    /// verify digests compare it and DNSSEC freshness is judged from the expiry separately.
    [[nodiscard]] std::string contentHex() const;
    /// hex() and contentHex() as bytes (what the daemons keep per zone).
    [[nodiscard]] Hash128 hash() const;
    [[nodiscard]] Hash128 contentHash() const;
    /// Earliest RRSIG(SOA) expiration field (seconds since the epoch, modulo 2^32 as in RFC
    /// 4034); nullopt for an unsigned zone.
    [[nodiscard]] std::optional<uint32_t> earliestExpiry() const;
    bool operator==(const ApexFingerprint&) const = default;
};

/// Converts a presentation name ("example.org.") to uncompressed wire form.
[[nodiscard]] Result<std::vector<std::byte>> nameToWire(std::string_view name);
/// Converts a wire name to presentation form, absolute, case kept, special bytes escaped.
[[nodiscard]] std::string wireToName(std::span<const std::byte> wire);
/// Case-insensitive comparison of two wire names.
[[nodiscard]] bool wireNamesEqual(std::span<const std::byte> a, std::span<const std::byte> b);
/// True if wire name `name` is `zone` or below it.
[[nodiscard]] bool wireNameAtOrBelow(std::span<const std::byte> name,
                                     std::span<const std::byte> zone);

/// Encodes RRs given in zone-file presentation format (one RR per line, absolute owner names,
/// explicit TTL and class; blank lines and ';' comments skipped) as body bytes, in the order
/// given. For tests, fakes and tools; the daemons build bodies from AXFR.
[[nodiscard]] Result<std::vector<std::byte>> encodeRrsFromText(std::string_view text);

/// Decodes a body into RR views, checking every length; fails on truncation or trailing bytes.
[[nodiscard]] Result<std::vector<RrView>> decodeBody(std::span<const std::byte> body);

/// Validates a body for `zone` (canonical name): decodes it, requires the first RR to be the
/// zone's SOA, no other SOA, every owner at or below the zone. Fills serial/dnssec/presigned/count.
[[nodiscard]] Result<ZoneBody> validateBody(std::string_view zone, std::vector<std::byte> body);

/// Computes the apex fingerprint from a validated body.
[[nodiscard]] Result<ApexFingerprint> fingerprintFromBody(std::string_view zone,
                                                          std::span<const std::byte> body);

/// Builds the AXFR answer to `query` (the raw query message): a sequence of DNS messages each
/// under 64 KiB, SOA first and last, AA set, same id and question. Fails if the body is invalid.
[[nodiscard]] Result<std::vector<std::vector<std::byte>>> buildAxfrResponse(
    std::span<const std::byte> query, std::string_view zone, std::span<const std::byte> body);

/// Builds an error answer (rcode, e.g. REFUSED=5, NOTAUTH=9, FORMERR=1, NOTIMP=4) echoing the
/// query's id and question when they can be parsed; nullopt when the query is too broken to answer.
[[nodiscard]] std::optional<std::vector<std::byte>> buildErrorResponse(
    std::span<const std::byte> query, uint8_t rcode);

/// A parsed incoming query: id, qname (canonical), qtype, qclass.
struct ParsedQuery {
    uint16_t id = 0;
    std::string qname;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    bool is_query = true;  ///< QR bit clear and opcode QUERY
};
[[nodiscard]] Result<ParsedQuery> parseQuery(std::span<const std::byte> message);

/// The body's first RR as it sits there (its SOA in a validated body); fails on a body that does
/// not start with a whole RR.
[[nodiscard]] Result<std::vector<std::byte>> firstRrOf(std::span<const std::byte> body);

/// Builds a SOA answer (UDP/TCP) for a query from the body's first RR.
[[nodiscard]] Result<std::vector<std::byte>> buildSoaResponse(std::span<const std::byte> query,
                                                              std::span<const std::byte> body);

/// BLAKE2b helpers (libsodium).
[[nodiscard]] std::array<std::byte, 32> blake2b256(std::span<const std::byte> data);
[[nodiscard]] std::array<std::byte, 16> blake2b128(std::span<const std::byte> data);
[[nodiscard]] std::string toHex(std::span<const std::byte> data);
[[nodiscard]] Result<std::vector<std::byte>> fromHex(std::string_view hex);

inline std::span<const std::byte> asBytes(std::string_view s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::string_view asChars(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace pdns_distribute::common
