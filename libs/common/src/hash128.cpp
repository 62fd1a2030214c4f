// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/hash128.hpp>

namespace pdns_distribute::common {

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<Hash128> Hash128::fromHex(std::string_view hex) {
    Hash128 h;
    if (hex.size() != h.bytes.size() * 2) return std::nullopt;
    for (size_t i = 0; i < h.bytes.size(); ++i) {
        const int hi = hexValue(hex[2 * i]);
        const int lo = hexValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        h.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
    }
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
