// SPDX-License-Identifier: Apache-2.0
#pragma once
// Helpers shared by the fuzz targets: turning the raw input into views, and checking invariants.
// A broken invariant prints what broke and aborts, which libFuzzer reports as a crash and saves
// the input that caused it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace pdns_distribute::fuzz {

inline std::span<const std::byte> bytesOf(const uint8_t* data, size_t size) {
    return std::as_bytes(std::span<const uint8_t>(data, size));
}

inline std::string_view textOf(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Aborts with `what` unless `ok`. Not assert(): it must stay on in every build type.
inline void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
        std::abort();
    }
}

}  // namespace pdns_distribute::fuzz
