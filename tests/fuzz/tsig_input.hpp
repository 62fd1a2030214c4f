// SPDX-License-Identifier: Apache-2.0
#pragma once
// The layout of a fuzz_tsig input, shared by the target (which decodes it) and the corpus writer
// (which encodes the seeds), so that the two cannot drift apart. See fuzz_tsig.cpp for what each
// field makes the harness do.
//
//   byte 0: control (bits 0-1 mode, bits 2-7 mode-specific flags)
//   bytes 1-2: tamper offset (u16 BE)   byte 3: flip mask
//   bytes 4-5: time skew in seconds (i16 BE)   bytes 6-7: fudge (u16 BE)   byte 8: mac length
//   bytes 9-: the payload

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pdns_distribute::fuzz::tsig_input {

constexpr size_t kSize = 9;
constexpr uint8_t kModeMask = 0x03;
constexpr uint8_t kModeSignQuery = 1;
constexpr uint8_t kModeChain = 2;
constexpr uint8_t kModeAxfr = 3;
constexpr uint8_t kDrop = 0x20;
constexpr uint8_t kSwap = 0x40;
constexpr uint8_t kOtherKeyOrMac = 0x80;

struct Header {
    uint8_t control = 0;
    uint16_t offset = 0;
    uint8_t mask = 0;
    int16_t skew = 0;
    uint16_t fudge = 300;
    uint8_t mac_length = 0;
};

/// The header of an input of at least kSize bytes.
inline Header decode(std::span<const std::byte> in) {
    const auto u8 = [&](size_t i) { return std::to_integer<uint8_t>(in[i]); };
    const auto u16 = [&](size_t i) { return static_cast<uint16_t>((u8(i) << 8) | u8(i + 1)); };
    return Header{.control = u8(0),
                  .offset = u16(1),
                  .mask = u8(3),
                  .skew = static_cast<int16_t>(u16(4)),
                  .fudge = u16(6),
                  .mac_length = u8(8)};
}

inline std::vector<std::byte> encode(const Header& h, std::span<const std::byte> payload) {
    const auto skew = static_cast<uint16_t>(h.skew);
    std::vector<std::byte> out;
    for (const unsigned v : {unsigned{h.control}, unsigned{h.offset} >> 8, unsigned{h.offset},
                             unsigned{h.mask}, unsigned{skew} >> 8, unsigned{skew},
                             unsigned{h.fudge} >> 8, unsigned{h.fudge}, unsigned{h.mac_length}}) {
        out.push_back(static_cast<std::byte>(v & 0xff));
    }
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

}  // namespace pdns_distribute::fuzz::tsig_input
