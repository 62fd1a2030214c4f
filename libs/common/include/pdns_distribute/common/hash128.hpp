// SPDX-License-Identifier: Apache-2.0
#pragma once
// A 16-byte hash (the BLAKE2b-128 apex and content fingerprints of DESIGN §3) held as bytes. The
// daemons keep one or two of these per zone; as 32 hex digits in a std::string each costs ~80
// bytes of heap and object, as bytes 16. Messages keep the hex form (hex(), fromHex()).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pdns_distribute::common {

struct Hash128 {
    std::array<uint8_t, 16> bytes{};

    /// Exactly 32 hex digits (either case); nullopt otherwise.
    [[nodiscard]] static std::optional<Hash128> fromHex(std::string_view hex);
    /// 32 lowercase hex digits.
    [[nodiscard]] std::string hex() const;
    /// The same digits in a value (no allocation), e.g. to feed a digest.
    [[nodiscard]] std::array<char, 32> hexDigits() const;

    bool operator==(const Hash128&) const = default;
};

/// hex() of a present hash, nullopt otherwise: the optional hex fields of messages.
[[nodiscard]] std::optional<std::string> hexOf(const std::optional<Hash128>& h);
/// fromHex() of a present string; a malformed one is nullopt too (it matches no real hash).
[[nodiscard]] std::optional<Hash128> hashOf(const std::optional<std::string>& hex);

}  // namespace pdns_distribute::common
