// SPDX-License-Identifier: Apache-2.0
#pragma once
// Private libsodium helpers shared by signing.cpp and manifest.cpp (kept apart from dns.cpp so
// that signing does not depend on the DNS codec).

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pdns_distribute::common::detail {

/// Calls sodium_init() once (thread-safe); aborts if libsodium cannot initialise, since no
/// signature could be trusted then.
void ensureSodium();

[[nodiscard]] std::array<std::byte, 32> blake2b256Of(std::span<const std::byte> data);
/// Lower-case hex.
[[nodiscard]] std::string hexOf(std::span<const std::byte> data);
/// Decodes exactly `out.size()` bytes from lower- or upper-case hex; false on any other input.
[[nodiscard]] bool hexInto(std::string_view hex, std::span<std::byte> out);

[[nodiscard]] std::string base64Of(std::span<const std::byte> data);
[[nodiscard]] std::optional<std::vector<std::byte>> base64Decode(std::string_view text);

}  // namespace pdns_distribute::common::detail
