// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/hash128.hpp>

#include <span>

#include "sodium_util.hpp"

namespace pdns_distribute::common {

std::optional<Hash128> Hash128::fromHex(std::string_view hex) {
    Hash128 h;
    if (!detail::hexInto(hex, std::as_writable_bytes(std::span(h.bytes)))) return std::nullopt;
    return h;
}

std::array<char, 32> Hash128::hexDigits() const {
    static constexpr std::string_view kDigits = "0123456789abcdef";
    std::array<char, 32> out{};
    for (size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = kDigits[bytes[i] >> 4];
        out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
    }
    return out;
}

std::string Hash128::hex() const {
    const auto digits = hexDigits();
    return {digits.data(), digits.size()};
}

std::optional<std::string> hexOf(const std::optional<Hash128>& h) {
    if (!h) return std::nullopt;
    return h->hex();
}

std::optional<Hash128> hashOf(const std::optional<std::string>& hex) {
    if (!hex) return std::nullopt;
    return Hash128::fromHex(*hex);
}

}  // namespace pdns_distribute::common
