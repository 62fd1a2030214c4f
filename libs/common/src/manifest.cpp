// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/manifest.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sodium_util.hpp"

namespace pdns_distribute::common {

namespace {

using nlohmann::json;

Error refusal(Refusal r, std::string message) {
    return Error{.message = std::move(message), .code = std::string(toString(r))};
}

std::optional<ManifestStatus> statusFromString(std::string_view s) {
    if (s == "present") return ManifestStatus::Present;
    if (s == "absent") return ManifestStatus::Absent;
    if (s == "error") return ManifestStatus::Error;
    return std::nullopt;
}

/// Reads typed fields out of a parsed manifest, remembering the first problem.
class FieldReader {
public:
    explicit FieldReader(const json& j) : j_(j) {}

    [[nodiscard]] bool ok() const { return error_.empty(); }
    [[nodiscard]] const std::string& error() const { return error_; }

    void str(const char* key, bool required, std::string& out) {
        const json* v = find(key, required);
        if (v == nullptr) return;
        if (!v->is_string()) return typeError(key, "a string");
        out = v->get<std::string>();
    }
    void boolean(const char* key, bool required, bool& out) {
        const json* v = find(key, required);
        if (v == nullptr) return;
        if (!v->is_boolean()) return typeError(key, "a boolean");
        out = v->get<bool>();
    }
    template <typename T>
    void unsignedInt(const char* key, bool required, T& out) {
        const json* v = find(key, required);
        if (v == nullptr) return;
        if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
            return typeError(key, "a non-negative integer");
        }
        const auto value = v->get<uint64_t>();
        if (value > std::numeric_limits<T>::max()) {
            return fail(fmt::format("field '{}' out of range ({})", key, value));
        }
        out = static_cast<T>(value);
    }
    void stringList(const char* key, bool required, std::vector<std::string>& out) {
        const json* v = find(key, required);
        if (v == nullptr) return;
        if (!v->is_array()) return typeError(key, "an array of strings");
        out.clear();
        for (const auto& e : *v) {
            if (!e.is_string()) return typeError(key, "an array of strings");
            out.push_back(e.get<std::string>());
        }
    }
    [[nodiscard]] const json* find(const char* key, bool required) {
        if (!ok()) return nullptr;
        const auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) {
            if (required) fail(fmt::format("missing field '{}'", key));
            return nullptr;
        }
        return &*it;
    }
    void fail(std::string message) {
        if (ok()) error_ = std::move(message);
    }

private:
    void typeError(const char* key, const char* want) {
        fail(fmt::format("field '{}' must be {}", key, want));
    }
    const json& j_;
    std::string error_;
};

bool isHexDigest(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

// The Pdd-Key-Id header is unverified input: it goes into error messages (and so into logs)
// only when it looks like a key id, so that a reply cannot inject control bytes or fake lines.
std::string shownKeyId(std::string_view key_id) {
    constexpr size_t kMaxShown = 64;
    const bool hex = !key_id.empty() && key_id.size() <= kMaxShown &&
                     std::all_of(key_id.begin(), key_id.end(), [](char c) {
                         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                     });
    return hex ? std::string(key_id) : fmt::format("<{} bytes, not hex>", key_id.size());
}

}  // namespace

std::string_view toString(ManifestStatus s) {
    switch (s) {
        case ManifestStatus::Present:
            return "present";
        case ManifestStatus::Absent:
            return "absent";
        case ManifestStatus::Error:
            return "error";
    }
    return "error";
}

std::string_view toString(Refusal r) {
    switch (r) {
        case Refusal::None:
            return "none";
        case Refusal::BadSignature:
            return "bad_signature";
        case Refusal::UnknownKey:
            return "unknown_key";
        case Refusal::ExpiredKey:
            return "expired_key";
        case Refusal::WrongZone:
            return "wrong_zone";
        case Refusal::Malformed:
            return "malformed";
        case Refusal::BodyMismatch:
            return "body_mismatch";
        case Refusal::TooLarge:
            return "too_large";
    }
    return "malformed";
}

std::string serializeManifest(const Manifest& m) {
    // ordered_json keeps insertion order: the byte string is what gets signed, so a fixed order
    // keeps it stable and readable.
    nlohmann::ordered_json j;
    j["v"] = m.v;
    j["zone"] = m.zone;
    j["status"] = toString(m.status);
    if (!m.reason.empty()) j["reason"] = m.reason;
    j["serial"] = m.serial;
    j["apex"] = m.apex;
    j["rr_count"] = m.rr_count;
    j["size"] = m.size;
    j["dnssec"] = m.dnssec;
    j["presigned"] = m.presigned;
    j["signed_at"] = m.signed_at;
    j["digest"] = m.digest;
    j["chunk_size"] = m.chunk_size;
    j["chunks"] = m.chunks;
    j["chunk_digests"] = m.chunk_digests;
    if (!m.xfer.empty()) j["xfer"] = m.xfer;
    if (m.inline_body) {
        j["inline"] = detail::base64Of(std::as_bytes(std::span(*m.inline_body)));
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Manifest> parseManifest(std::string_view text) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return makeError("cannot parse manifest (invalid JSON)");
    if (!j.is_object()) return makeError("cannot parse manifest (not a JSON object)");

    Manifest m;
    FieldReader r(j);
    int64_t version = 0;
    if (const json* v = r.find("v", true); v != nullptr) {
        if (!v->is_number_integer()) {
            r.fail("field 'v' must be an integer");
        } else {
            version = v->get<int64_t>();
            if (version != 1) r.fail(fmt::format("unsupported manifest version {}", version));
        }
    }
    r.str("zone", true, m.zone);
    std::string status;
    r.str("status", true, status);
    if (r.ok()) {
        const auto s = statusFromString(status);
        if (!s) {
            r.fail(
                fmt::format("field 'status' must be present, absent or error (got '{}')", status));
        } else {
            m.status = *s;
        }
    }
    if (r.ok() && m.zone.empty()) r.fail("field 'zone' is empty");
    const bool present = m.status == ManifestStatus::Present;
    r.str("reason", !present, m.reason);
    r.unsignedInt("serial", present, m.serial);
    r.str("apex", present, m.apex);
    r.unsignedInt("rr_count", present, m.rr_count);
    r.unsignedInt("size", present, m.size);
    r.boolean("dnssec", present, m.dnssec);
    r.boolean("presigned", present, m.presigned);
    r.str("signed_at", true, m.signed_at);
    r.str("digest", present, m.digest);
    r.unsignedInt("chunk_size", present, m.chunk_size);
    r.unsignedInt("chunks", present, m.chunks);
    r.stringList("chunk_digests", present, m.chunk_digests);
    r.str("xfer", false, m.xfer);
    std::string inline_b64;
    const bool has_inline = r.find("inline", false) != nullptr;
    r.str("inline", false, inline_b64);
    if (r.ok() && has_inline) {
        auto decoded = detail::base64Decode(inline_b64);
        if (!decoded) {
            r.fail("field 'inline' is not valid base64");
        } else {
            m.inline_body =
                std::string(reinterpret_cast<const char*>(decoded->data()), decoded->size());
        }
    }
    m.v = static_cast<int>(version);
    if (r.ok() && present) {
        if (!isHexDigest(m.digest)) r.fail("field 'digest' must be 64 lower-case hex digits");
        if (!m.inline_body) {
            if (m.xfer.empty()) r.fail("manifest has neither 'inline' nor 'xfer'");
            if (m.chunk_size == 0 && m.size > 0) r.fail("field 'chunk_size' is 0");
            if (r.ok()) {
                // Rounded up without m.size + chunk_size - 1, which wraps for sizes near 2^64.
                const uint64_t want = m.size / m.chunk_size + (m.size % m.chunk_size != 0 ? 1 : 0);
                if (m.chunks != want) {
                    r.fail(fmt::format("field 'chunks' is {} but size {} in chunks of {} needs {}",
                                       m.chunks, m.size, m.chunk_size, want));
                }
            }
        }
        if (r.ok() && m.chunk_digests.size() != m.chunks) {
            r.fail(fmt::format("field 'chunk_digests' has {} entries for {} chunks",
                               m.chunk_digests.size(), m.chunks));
        }
        for (const auto& d : m.chunk_digests) {
            if (r.ok() && !isHexDigest(d)) {
                r.fail("field 'chunk_digests' must hold 64-hex-digit digests");
            }
        }
    }
    if (!r.ok()) return makeError("cannot parse manifest ({})", r.error());
    return m;
}

Result<VerifiedManifest> verifyManifestReply(std::string_view payload, std::string_view sig_hex,
                                             std::string_view key_id,
                                             std::string_view expected_zone, std::string_view nonce,
                                             std::span<const TrustedKey> trusted,
                                             std::chrono::system_clock::time_point now) {
    // 1. The key: known, then unexpired. Several entries may share an id (the same key listed
    // with different expiry during a rotation); any unexpired one will do.
    const TrustedKey* chosen = nullptr;
    bool seen = false;
    for (const auto& t : trusted) {
        if (t.key.keyId() != key_id) continue;
        seen = true;
        if (!t.not_after || now <= *t.not_after) {
            chosen = &t;
            break;
        }
    }
    if (!seen) {
        return refusal(Refusal::UnknownKey,
                       fmt::format("cannot verify manifest for '{}' (unknown key id '{}'); add its "
                                   "public key to the trusted keys",
                                   expected_zone, shownKeyId(key_id)));
    }
    if (chosen == nullptr) {
        return refusal(Refusal::ExpiredKey,
                       fmt::format("cannot verify manifest for '{}' (key '{}' is past its "
                                   "not_after date)",
                                   expected_zone, key_id));
    }
    // 2. The signature, over the exact bytes, before any parsing.
    std::array<std::byte, 64> sig{};
    if (!detail::hexInto(sig_hex, sig)) {
        return refusal(Refusal::BadSignature,
                       fmt::format("cannot verify manifest for '{}' (signature is not 128 hex "
                                   "digits)",
                                   expected_zone));
    }
    if (!verifyManifest(chosen->key, payload, nonce, sig)) {
        return refusal(Refusal::BadSignature,
                       fmt::format("cannot verify manifest for '{}' (bad signature under key '{}')",
                                   expected_zone, key_id));
    }
    // 3. Now the bytes are trusted to come from the primary: parse them.
    auto parsed = parseManifest(payload);
    if (!parsed) return refusal(Refusal::Malformed, std::move(parsed).error().message);
    // 4. The zone must be the one asked for (a signed answer for another zone is a replay).
    if (parsed->zone != expected_zone) {
        return refusal(Refusal::WrongZone,
                       fmt::format("cannot accept manifest for '{}' (it is for zone '{}')",
                                   expected_zone, parsed->zone));
    }
    return VerifiedManifest{.manifest = std::move(parsed).value(), .key_id = std::string(key_id)};
}

Result<ZoneBody> verifyBody(const Manifest& m, std::vector<std::byte> body) {
    if (m.status != ManifestStatus::Present) {
        return refusal(Refusal::Malformed,
                       fmt::format("cannot verify body of '{}' (manifest status is {})", m.zone,
                                   toString(m.status)));
    }
    if (body.size() != m.size) {
        return refusal(Refusal::BodyMismatch,
                       fmt::format("cannot verify body of '{}' (size {} bytes, manifest says {})",
                                   m.zone, body.size(), m.size));
    }
    const std::string digest = detail::hexOf(detail::blake2b256Of(body));
    if (digest != m.digest) {
        return refusal(Refusal::BodyMismatch,
                       fmt::format("cannot verify body of '{}' (digest {} differs from the "
                                   "manifest's {})",
                                   m.zone, digest, m.digest));
    }
    auto validated = validateBody(m.zone, std::move(body));
    if (!validated) {
        return refusal(Refusal::BodyMismatch, fmt::format("cannot verify body of '{}' ({})", m.zone,
                                                          validated.error().message));
    }
    if (validated->rr_count != m.rr_count) {
        return refusal(Refusal::BodyMismatch,
                       fmt::format("cannot verify body of '{}' ({} records, manifest says {})",
                                   m.zone, validated->rr_count, m.rr_count));
    }
    if (validated->serial != m.serial) {
        return refusal(Refusal::BodyMismatch,
                       fmt::format("cannot verify body of '{}' (SOA serial {}, manifest says {})",
                                   m.zone, validated->serial, m.serial));
    }
    return validated;
}

Chunking chunkBody(std::span<const std::byte> body, uint32_t chunk_size) {
    if (chunk_size == 0) {
        std::fputs("fatal: chunkBody called with chunk_size 0\n", stderr);
        std::abort();
    }
    Chunking c{.chunk_size = chunk_size, .digests = {}};
    for (size_t off = 0; off < body.size(); off += chunk_size) {
        const size_t n = std::min<size_t>(chunk_size, body.size() - off);
        c.digests.push_back(detail::hexOf(detail::blake2b256Of(body.subspan(off, n))));
    }
    return c;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    const std::time_t tt =
        std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace pdns_distribute::common
