// SPDX-License-Identifier: Apache-2.0
#pragma once
// SOA serial arithmetic (RFC 1982, SERIAL_BITS = 32). Only status labels use it ("behind",
// "ahead"): a syncer applies whatever serial a fresh signed manifest carries (DESIGN §3).

#include <cstdint>
#include <string_view>

namespace pdns_distribute::common {

enum class SerialOrder { Equal, Less, Greater, Undefined };

/// Compares `a` with `b`: Less when a is behind b. Exactly 2^31 apart is Undefined (RFC 1982
/// §3.2: neither is greater).
[[nodiscard]] constexpr SerialOrder compareSerial(uint32_t a, uint32_t b) {
    if (a == b) return SerialOrder::Equal;
    constexpr uint32_t kHalf = uint32_t{1} << 31;
    const uint32_t forward = b - a;  // wraps: distance from a up to b
    if (forward == kHalf) return SerialOrder::Undefined;
    return forward < kHalf ? SerialOrder::Less : SerialOrder::Greater;
}

[[nodiscard]] constexpr std::string_view toString(SerialOrder o) {
    switch (o) {
        case SerialOrder::Equal:
            return "equal";
        case SerialOrder::Less:
            return "behind";
        case SerialOrder::Greater:
            return "ahead";
        case SerialOrder::Undefined:
            return "undefined";
    }
    return "?";
}

}  // namespace pdns_distribute::common
