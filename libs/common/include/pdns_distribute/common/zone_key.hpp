// SPDX-License-Identifier: Apache-2.0
#pragma once
// Zone names as they appear on the wire of our contract (DESIGN §3 "Zone keys").
// Pure functions, thread-safe.

#include <string>
#include <string_view>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

/// Canonical zone name: lower-case ASCII, absolute (trailing dot); the root is ".". Accepts
/// presentation format with `\DDD` and `\X` escapes; rejects empty labels, labels over 63 octets
/// and names over 255 octets in wire form. Output spelling equals pdns's DNSName::toString():
/// '.' and backslash inside a label stay backslash-escaped, bytes outside 0x21..0x7E become \DDD.
[[nodiscard]] Result<std::string> canonicalZoneName(std::string_view name);

/// `<zkey>` subject tokens for a canonical zone name: labels in DNS order joined by '.', bytes
/// outside [a-z0-9_-] as %XX (upper-case hex); the root zone is "@".
[[nodiscard]] std::string encodeZoneKey(std::string_view canonical_name);

/// Inverse of encodeZoneKey; rejects malformed escapes and empty tokens.
[[nodiscard]] Result<std::string> decodeZoneKey(std::string_view zkey);

/// Decodes a PowerDNS API zone id (`=XX` escapes, e.g. `0=2F26.2.0.192.in-addr.arpa.`) into a
/// canonical zone name.
[[nodiscard]] Result<std::string> decodePdnsZoneId(std::string_view zone_id);

/// Encodes a canonical zone name as a PowerDNS API zone id like pdns 4.7 does: bytes outside
/// [A-Za-z0-9.-] as =XX ('_' too); the root is "=2E".
[[nodiscard]] std::string encodePdnsZoneId(std::string_view canonical_name);

/// True if `name` (canonical) is `zone` or below it (canonical).
[[nodiscard]] bool isAtOrBelow(std::string_view name, std::string_view zone);

/// Subject helpers (DESIGN §3 table).
[[nodiscard]] std::string zoneEventSubject(std::string_view group, std::string_view canonical_zone);
[[nodiscard]] std::string zoneDataSubject(std::string_view group, std::string_view canonical_zone);

/// Node ids are [A-Za-z0-9_-]{1,64}.
[[nodiscard]] bool isValidNodeId(std::string_view node);
/// Default node id from a host name: other characters become '-', truncated to 64.
[[nodiscard]] std::string nodeIdFromHostname(std::string_view hostname);

}  // namespace pdns_distribute::common
