// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/zone_digest.hpp>

#include <algorithm>

#include <sodium.h>

namespace pdns_distribute::common {

namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void appendHex(std::string& out, const ZoneDigest::Hash& h) {
    for (const uint8_t b : h) {
        out.push_back(kHexDigits[b >> 4]);
        out.push_back(kHexDigits[b & 0x0f]);
    }
}

}  // namespace

size_t ZoneDigest::bucketOf(std::string_view zone) {
    std::array<uint8_t, 16> h{};
    crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(zone.data()),
                       zone.size(), nullptr, 0);
    return ((static_cast<size_t>(h[0]) << 8) | h[1]) % kBuckets;
}

ZoneDigest::Hash ZoneDigest::contribution(std::string_view zone, std::string_view content) {
    crypto_generichash_state state;
    Hash out{};
    crypto_generichash_init(&state, nullptr, 0, out.size());
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(zone.data()),
                              zone.size());
    const unsigned char separator = 0;  // zone names never contain NUL in canonical form
    crypto_generichash_update(&state, &separator, 1);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(content.data()),
                              content.size());
    crypto_generichash_final(&state, out.data(), out.size());
    return out;
}

void ZoneDigest::toggle(std::string_view zone, std::string_view content) {
    const Hash c = contribution(zone, content);
    Hash& b = buckets_[bucketOf(zone)];
    for (size_t i = 0; i < c.size(); ++i) {
        b[i] ^= c[i];
        total_[i] ^= c[i];
    }
}

void ZoneDigest::toggle(std::string_view zone, const Hash128& content) {
    toggle(bucketOf(zone), zone, content);
}

void ZoneDigest::toggle(size_t bucket, std::string_view zone, const Hash128& content) {
    const auto digits = content.hexDigits();
    const Hash c = contribution(zone, std::string_view{digits.data(), digits.size()});
    Hash& b = buckets_.at(bucket);
    for (size_t i = 0; i < c.size(); ++i) {
        b[i] ^= c[i];
        total_[i] ^= c[i];
    }
}

std::string ZoneDigest::totalHex() const { return hex(total_); }

std::string ZoneDigest::bucketsHex() const { return bucketsHex(0, kBuckets); }

std::optional<ZoneDigest> ZoneDigest::fromBucketsHex(std::string_view hex) {
    auto hashes = parseHashes(hex, kBuckets);
    if (!hashes) return std::nullopt;
    ZoneDigest d;
    for (size_t k = 0; k < kBuckets; ++k) {
        d.buckets_[k] = (*hashes)[k];
        for (size_t i = 0; i < d.total_.size(); ++i) d.total_[i] ^= d.buckets_[k][i];
    }
    return d;
}

ZoneDigest::Hash ZoneDigest::group(size_t g) const {
    Hash out{};
    for (size_t k = g * kGroupSize; k < (g + 1) * kGroupSize && k < kBuckets; ++k) {
        for (size_t i = 0; i < out.size(); ++i) out[i] ^= buckets_[k][i];
    }
    return out;
}

std::string ZoneDigest::groupsHex() const {
    std::string out;
    out.reserve(kGroups * 32);
    for (size_t g = 0; g < kGroups; ++g) appendHex(out, group(g));
    return out;
}

std::string ZoneDigest::bucketsHex(size_t first, size_t count) const {
    std::string out;
    out.reserve(std::min(count, kBuckets - std::min(first, kBuckets)) * 32);
    for (size_t k = first; k < kBuckets && k - first < count; ++k) appendHex(out, buckets_[k]);
    return out;
}

std::optional<std::vector<ZoneDigest::Hash>> ZoneDigest::parseHashes(std::string_view hex,
                                                                     size_t count) {
    if (hex.size() != count * 32) return std::nullopt;
    std::vector<Hash> out(count);
    for (size_t k = 0; k < count; ++k) {
        for (size_t i = 0; i < 16; ++i) {
            const int hi = hexValue(hex[(k * 32) + (i * 2)]);
            const int lo = hexValue(hex[(k * 32) + (i * 2) + 1]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out[k][i] = static_cast<uint8_t>((hi << 4) | lo);
        }
    }
    return out;
}

std::string ZoneDigest::hex(const Hash& h) {
    std::string out;
    appendHex(out, h);
    return out;
}

std::vector<size_t> ZoneDigest::differingBuckets(const ZoneDigest& other) const {
    std::vector<size_t> out;
    for (size_t k = 0; k < kBuckets; ++k) {
        if (buckets_[k] != other.buckets_[k]) out.push_back(k);
    }
    return out;
}

}  // namespace pdns_distribute::common
