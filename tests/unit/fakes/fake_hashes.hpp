// SPDX-License-Identifier: Apache-2.0
#pragma once
// Readable stand-ins for apex and content fingerprints in tests: a label's bytes in hex, padded
// to the 32 digits of a real one, and the same as a Hash128.

#include <string>
#include <string_view>

#include <fmt/format.h>

#include <pdns_distribute/common/hash128.hpp>

namespace pdns_distribute::testing {

inline std::string hx(std::string_view label) {
    std::string out;
    for (const char c : label) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
    out.resize(32, '0');
    return out;
}

inline common::Hash128 h(std::string_view label) { return *common::Hash128::fromHex(hx(label)); }

}  // namespace pdns_distribute::testing
