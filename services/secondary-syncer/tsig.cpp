// SPDX-License-Identifier: Apache-2.0
#include "tsig.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include <pdns_distribute/common/dns.hpp>

namespace pdns_distribute::secondary_syncer {

namespace {

constexpr size_t kHeaderLength = 12;
constexpr uint16_t kClassAny = 255;
constexpr uint16_t kDefaultFudge = 300;
constexpr uint8_t kRcodeFormErr = 1;

uint8_t u8(ByteSpan b, size_t i) { return std::to_integer<uint8_t>(b[i]); }
uint16_t u16(ByteSpan b, size_t i) { return static_cast<uint16_t>((u8(b, i) << 8) | u8(b, i + 1)); }
uint32_t u32(ByteSpan b, size_t i) {
    return (static_cast<uint32_t>(u16(b, i)) << 16) | u16(b, i + 2);
}
uint64_t u48(ByteSpan b, size_t i) {
    return (static_cast<uint64_t>(u16(b, i)) << 32) | u32(b, i + 2);
}
void put8(Bytes& out, uint8_t v) { out.push_back(static_cast<std::byte>(v)); }
void put16(Bytes& out, uint16_t v) {
    put8(out, static_cast<uint8_t>(v >> 8));
    put8(out, static_cast<uint8_t>(v & 0xff));
}
void put32(Bytes& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v & 0xffff));
}
void put48(Bytes& out, uint64_t v) {
    put16(out, static_cast<uint16_t>((v >> 32) & 0xffff));
    put32(out, static_cast<uint32_t>(v & 0xffffffff));
}
void append(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }
std::byte lower(std::byte b) {
    const auto c = std::to_integer<uint8_t>(b);
    return c >= 'A' && c <= 'Z' ? static_cast<std::byte>(c + ('a' - 'A')) : b;
}

common::Error formErr(std::string_view why) {
    return common::Error{.message = fmt::format("malformed dns message ({})", why),
                         .code = "formerr"};
}

uint64_t epochSeconds(std::chrono::system_clock::time_point t) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    return s < 0 ? 0 : static_cast<uint64_t>(s) & 0xffffffffffffULL;
}

// Skips a name at `pos` without following pointers; returns the offset after it.
std::optional<size_t> skipName(ByteSpan msg, size_t pos) {
    size_t total = 0;
    while (pos < msg.size()) {
        const uint8_t len = u8(msg, pos);
        if ((len & 0xC0) == 0xC0) {
            if (pos + 2 > msg.size()) return std::nullopt;
            return pos + 2;
        }
        if ((len & 0xC0) != 0) return std::nullopt;  // extended label types: not DNS we accept
        pos += 1 + static_cast<size_t>(len);
        total += 1 + static_cast<size_t>(len);
        if (total > 255) return std::nullopt;
        if (len == 0) return pos;
    }
    return std::nullopt;
}

struct ReadName {
    Bytes wire;  // lower case, uncompressed
    size_t end = 0;
};

// Reads a possibly compressed name at `pos`, lower-cased. Pointers must point backwards, which
// rules out loops; the hop limit is a second guard.
std::optional<ReadName> readName(ByteSpan msg, size_t pos) {
    ReadName out;
    size_t end = 0;
    int hops = 0;
    for (;;) {
        if (pos >= msg.size()) return std::nullopt;
        const uint8_t len = u8(msg, pos);
        if ((len & 0xC0) == 0xC0) {
            if (pos + 2 > msg.size()) return std::nullopt;
            const size_t target = (static_cast<size_t>(len & 0x3F) << 8) | u8(msg, pos + 1);
            if (end == 0) end = pos + 2;
            if (target >= pos || ++hops > 127) return std::nullopt;
            pos = target;
            continue;
        }
        if ((len & 0xC0) != 0) return std::nullopt;
        if (pos + 1 + len > msg.size()) return std::nullopt;
        out.wire.push_back(static_cast<std::byte>(len));
        for (size_t i = 0; i < len; ++i) out.wire.push_back(lower(msg[pos + 1 + i]));
        if (out.wire.size() > 255) return std::nullopt;
        pos += 1 + static_cast<size_t>(len);
        if (len == 0) {
            out.end = end == 0 ? pos : end;
            return out;
        }
    }
}

// ---- HMAC (OpenSSL 3 EVP_MAC) ------------------------------------------------------------------

struct MacDeleter {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// Fetched once; an EVP_MAC may be shared by any number of contexts and threads.
EVP_MAC* hmacAlgorithm() {
    static const std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    return mac.get();
}

const char* digestName(TsigAlgorithm a) {
    switch (a) {
        case TsigAlgorithm::HmacSha1:
            return "SHA1";
        case TsigAlgorithm::HmacSha224:
            return "SHA224";
        case TsigAlgorithm::HmacSha256:
            return "SHA256";
        case TsigAlgorithm::HmacSha384:
            return "SHA384";
        case TsigAlgorithm::HmacSha512:
            return "SHA512";
    }
    return "SHA256";
}

class Hmac {
public:
    explicit Hmac(const TsigKey& key)
        : ctx_(hmacAlgorithm() != nullptr ? EVP_MAC_CTX_new(hmacAlgorithm()) : nullptr) {
        if (!ctx_) return;
        std::array<OSSL_PARAM, 2> params{
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             const_cast<char*>(digestName(key.algorithm())), 0),
            OSSL_PARAM_construct_end()};
        const auto secret = key.secret();
        ok_ = EVP_MAC_init(ctx_.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                           secret.size(), params.data()) == 1;
    }
    void update(ByteSpan data) {
        if (ok_ && !data.empty()) {
            ok_ = EVP_MAC_update(ctx_.get(), reinterpret_cast<const unsigned char*>(data.data()),
                                 data.size()) == 1;
        }
    }
    void update16(uint16_t v) {
        Bytes b;
        put16(b, v);
        update(b);
    }
    /// Empty on any OpenSSL failure (then nothing verifies and nothing is signed).
    Bytes finish() {
        if (!ok_) return {};
        std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
        size_t len = 0;
        if (EVP_MAC_final(ctx_.get(), out.data(), &len, out.size()) != 1) return {};
        const auto* p = reinterpret_cast<const std::byte*>(out.data());
        return Bytes(p, p + len);
    }

private:
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx_;
    bool ok_ = false;
};

// The message as the MAC sees it (RFC 8945 §4.3.2): the header with the original id and, when a
// TSIG RR was removed, ARCOUNT one less; then everything before the TSIG RR.
void macMessage(Hmac& h, ByteSpan msg, size_t tsig_offset, uint16_t original_id, bool removed) {
    Bytes header(msg.begin(), msg.begin() + kHeaderLength);
    header[0] = static_cast<std::byte>(original_id >> 8);
    header[1] = static_cast<std::byte>(original_id & 0xff);
    if (removed) {
        const auto ar = static_cast<uint16_t>(u16(msg, 10) - 1);
        header[10] = static_cast<std::byte>(ar >> 8);
        header[11] = static_cast<std::byte>(ar & 0xff);
    }
    h.update(header);
    h.update(msg.subspan(kHeaderLength, tsig_offset - kHeaderLength));
}

struct Variables {
    ByteSpan key_name;
    uint16_t rclass = kClassAny;
    uint32_t ttl = 0;
    ByteSpan algorithm;
    uint64_t time_signed = 0;
    uint16_t fudge = kDefaultFudge;
    uint16_t error = 0;
    ByteSpan other;
};

// RFC 8945 §4.3.3.
void macVariables(Hmac& h, const Variables& v) {
    h.update(v.key_name);
    Bytes b;
    put16(b, v.rclass);
    put32(b, v.ttl);
    h.update(b);
    h.update(v.algorithm);
    b.clear();
    put48(b, v.time_signed);
    put16(b, v.fudge);
    put16(b, v.error);
    put16(b, static_cast<uint16_t>(v.other.size()));
    h.update(b);
    h.update(v.other);
}

// RFC 8945 §5.3.1: later messages of a multi-message answer cover only the timers.
void macTimers(Hmac& h, uint64_t time_signed, uint16_t fudge) {
    Bytes b;
    put48(b, time_signed);
    put16(b, fudge);
    h.update(b);
}

void macPrior(Hmac& h, ByteSpan mac) {
    h.update16(static_cast<uint16_t>(mac.size()));
    h.update(mac);
}

// Appends a TSIG RR and increments ARCOUNT; fails if the message would exceed 65535 bytes.
common::Status appendTsig(Bytes& message, ByteSpan key_name, ByteSpan algorithm,
                          uint64_t time_signed, uint16_t fudge, ByteSpan mac, uint16_t error,
                          ByteSpan other) {
    if (message.size() < kHeaderLength) return formErr("shorter than a dns header");
    const uint16_t ar = u16(message, 10);
    if (ar == 0xffff) return formErr("too many additional records");
    Bytes rdata;
    append(rdata, algorithm);
    put48(rdata, time_signed);
    put16(rdata, fudge);
    put16(rdata, static_cast<uint16_t>(mac.size()));
    append(rdata, mac);
    put16(rdata, u16(message, 0));  // original id: the message's own
    put16(rdata, error);
    put16(rdata, static_cast<uint16_t>(other.size()));
    append(rdata, other);
    const size_t rr_size = key_name.size() + 10 + rdata.size();
    if (message.size() + rr_size > 65535) {
        return common::makeError("cannot sign a dns message ({} bytes with the TSIG RR)",
                                 message.size() + rr_size);
    }
    append(message, key_name);
    put16(message, kRrTypeTsig);
    put16(message, kClassAny);
    put32(message, 0);
    put16(message, static_cast<uint16_t>(rdata.size()));
    append(message, rdata);
    message[10] = static_cast<std::byte>((ar + 1) >> 8);
    message[11] = static_cast<std::byte>((ar + 1) & 0xff);
    return {};
}

bool equalConstantTime(ByteSpan a, ByteSpan b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool withinFudge(uint64_t time_signed, uint16_t fudge, uint64_t now) {
    const uint64_t diff = now > time_signed ? now - time_signed : time_signed - now;
    return diff <= fudge;
}

Bytes timeBytes(uint64_t t) {
    Bytes b;
    put48(b, t);
    return b;
}

std::optional<Bytes> decodeBase64(std::string_view in) {
    std::string clean;
    for (const char c : in) {
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
    }
    if (clean.empty() || clean.size() % 4 != 0) return std::nullopt;
    Bytes out(clean.size() / 4 * 3);
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(clean.data()),
                                  static_cast<int>(clean.size()));
    if (n < 0) {
        OPENSSL_cleanse(clean.data(), clean.size());
        OPENSSL_cleanse(out.data(), out.size());
        return std::nullopt;
    }
    size_t len = static_cast<size_t>(n);
    // EVP_DecodeBlock counts padding as zero bytes.
    if (clean.ends_with("==")) {
        len -= 2;
    } else if (clean.ends_with('=')) {
        len -= 1;
    }
    OPENSSL_cleanse(clean.data(), clean.size());
    Bytes secret(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
    OPENSSL_cleanse(out.data(), out.size());
    return secret;
}

Bytes canonicalWire(std::string_view name) {
    auto wire = common::nameToWire(name);
    if (!wire) throw std::invalid_argument("not a dns name");
    Bytes out = std::move(*wire);
    // Label length bytes are at most 63, below 'A', so lower-casing every byte is safe.
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

}  // namespace

// ---- algorithms and keys -----------------------------------------------------------------------

std::optional<TsigAlgorithm> parseTsigAlgorithm(std::string_view name) {
    std::string n(name);
    std::transform(n.begin(), n.end(), n.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<uint8_t>(c))); });
    if (n.ends_with('.')) n.pop_back();
    if (n == "hmac-sha1") return TsigAlgorithm::HmacSha1;
    if (n == "hmac-sha224") return TsigAlgorithm::HmacSha224;
    if (n == "hmac-sha256") return TsigAlgorithm::HmacSha256;
    if (n == "hmac-sha384") return TsigAlgorithm::HmacSha384;
    if (n == "hmac-sha512") return TsigAlgorithm::HmacSha512;
    return std::nullopt;
}

std::string_view tsigAlgorithmName(TsigAlgorithm algorithm) {
    switch (algorithm) {
        case TsigAlgorithm::HmacSha1:
            return "hmac-sha1";
        case TsigAlgorithm::HmacSha224:
            return "hmac-sha224";
        case TsigAlgorithm::HmacSha256:
            return "hmac-sha256";
        case TsigAlgorithm::HmacSha384:
            return "hmac-sha384";
        case TsigAlgorithm::HmacSha512:
            return "hmac-sha512";
    }
    return "hmac-sha256";
}

TsigKey::TsigKey(std::string_view name, TsigAlgorithm algorithm, Bytes secret)
    : algorithm_(algorithm), secret_(std::move(secret)) {
    if (secret_.empty()) throw std::invalid_argument("empty TSIG secret");
    name_wire_ = canonicalWire(name);
    name_ = common::wireToName(name_wire_);
    algorithm_wire_ = canonicalWire(std::string(tsigAlgorithmName(algorithm)) + ".");
}

common::Result<TsigKey> TsigKey::fromBase64(std::string_view name, std::string_view algorithm,
                                            std::string_view secret_base64) {
    auto alg = parseTsigAlgorithm(algorithm);
    if (!alg) {
        return common::makeError(
            "cannot use TSIG key '{}' (algorithm '{}' is not one of hmac-sha1, hmac-sha224, "
            "hmac-sha256, hmac-sha384, hmac-sha512)",
            name, algorithm);
    }
    auto secret = decodeBase64(secret_base64);
    if (!secret || secret->empty()) {
        return common::makeError("cannot use TSIG key '{}' (the secret is not base64)", name);
    }
    if (!common::nameToWire(name)) {
        return common::makeError("cannot use TSIG key '{}' (not a dns name)", name);
    }
    return TsigKey(name, *alg, std::move(*secret));
}

TsigKey::~TsigKey() {
    if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

TsigKey::TsigKey(TsigKey&& other) noexcept
    : name_(std::move(other.name_)),
      algorithm_(other.algorithm_),
      name_wire_(std::move(other.name_wire_)),
      algorithm_wire_(std::move(other.algorithm_wire_)),
      secret_(std::move(other.secret_)) {
    other.secret_.clear();
}

TsigKey& TsigKey::operator=(TsigKey&& other) noexcept {
    if (this != &other) {
        if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
        name_ = std::move(other.name_);
        algorithm_ = other.algorithm_;
        name_wire_ = std::move(other.name_wire_);
        algorithm_wire_ = std::move(other.algorithm_wire_);
        secret_ = std::move(other.secret_);
        other.secret_.clear();
    }
    return *this;
}

size_t TsigKey::macSize() const {
    switch (algorithm_) {
        case TsigAlgorithm::HmacSha1:
            return 20;
        case TsigAlgorithm::HmacSha224:
            return 28;
        case TsigAlgorithm::HmacSha256:
            return 32;
        case TsigAlgorithm::HmacSha384:
            return 48;
        case TsigAlgorithm::HmacSha512:
            return 64;
    }
    return 32;
}

std::string tsigKeyNameForNode(std::string_view node_id) {
    std::string label = "pdns-distribute-";
    for (const char c : node_id) {
        label.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (label.size() > 63) label.resize(63);
    return label + ".";
}

// ---- finding the TSIG RR -----------------------------------------------------------------------

common::Result<std::optional<TsigRecord>> findTsig(ByteSpan msg) {
    if (msg.size() < kHeaderLength) return formErr("shorter than a dns header");
    const size_t qd = u16(msg, 4);
    const size_t an = u16(msg, 6);
    const size_t ns = u16(msg, 8);
    const size_t ar = u16(msg, 10);
    size_t pos = kHeaderLength;
    for (size_t i = 0; i < qd; ++i) {
        auto end = skipName(msg, pos);
        if (!end || *end + 4 > msg.size()) return formErr("truncated question");
        pos = *end + 4;
    }
    const size_t total = an + ns + ar;
    std::optional<size_t> tsig_at;
    for (size_t i = 0; i < total; ++i) {
        const size_t start = pos;
        auto end = skipName(msg, pos);
        if (!end || *end + 10 > msg.size()) return formErr("truncated record");
        const uint16_t type = u16(msg, *end);
        const size_t rdlength = u16(msg, *end + 8);
        pos = *end + 10 + rdlength;
        if (pos > msg.size()) return formErr("record data beyond the message");
        if (type == kRrTypeTsig) {
            // RFC 8945 §5.1: one TSIG, the last record of the additional section.
            if (i != total - 1 || i < an + ns) return formErr("TSIG is not the last record");
            tsig_at = start;
        }
    }
    if (pos != msg.size()) return formErr("bytes after the last record");
    if (!tsig_at) return std::optional<TsigRecord>{};

    TsigRecord r;
    r.offset = *tsig_at;
    auto owner = readName(msg, r.offset);
    if (!owner) return formErr("bad TSIG key name");
    r.key_name = std::move(owner->wire);
    size_t p = owner->end;
    r.rclass = u16(msg, p + 2);
    r.ttl = u32(msg, p + 4);
    const size_t rdlength = u16(msg, p + 8);
    const size_t rdata = p + 10;
    const size_t rdata_end = rdata + rdlength;
    if (r.rclass != kClassAny) return formErr("TSIG class is not ANY");
    auto alg = readName(msg.first(rdata_end), rdata);
    if (!alg) return formErr("bad TSIG algorithm name");
    r.algorithm = std::move(alg->wire);
    p = alg->end;
    if (p + 10 > rdata_end) return formErr("truncated TSIG");
    r.time_signed = u48(msg, p);
    r.fudge = u16(msg, p + 6);
    const size_t mac_size = u16(msg, p + 8);
    p += 10;
    if (p + mac_size + 6 > rdata_end) return formErr("truncated TSIG MAC");
    r.mac.assign(msg.begin() + static_cast<std::ptrdiff_t>(p),
                 msg.begin() + static_cast<std::ptrdiff_t>(p + mac_size));
    p += mac_size;
    r.original_id = u16(msg, p);
    r.error = u16(msg, p + 2);
    const size_t other_len = u16(msg, p + 4);
    p += 6;
    if (p + other_len != rdata_end) return formErr("TSIG length mismatch");
    r.other.assign(msg.begin() + static_cast<std::ptrdiff_t>(p),
                   msg.begin() + static_cast<std::ptrdiff_t>(rdata_end));
    return std::optional<TsigRecord>(std::move(r));
}

std::string_view toString(TsigStatus status) {
    switch (status) {
        case TsigStatus::Unsigned:
            return "unsigned";
        case TsigStatus::Valid:
            return "valid";
        case TsigStatus::FormErr:
            return "malformed";
        case TsigStatus::BadKey:
            return "BADKEY";
        case TsigStatus::BadSig:
            return "BADSIG";
        case TsigStatus::BadTime:
            return "BADTIME";
        case TsigStatus::BadTrunc:
            return "BADTRUNC";
    }
    return "?";
}

// ---- server side -------------------------------------------------------------------------------

TsigCheck verifyRequest(ByteSpan message, const TsigKey& key,
                        std::chrono::system_clock::time_point now) {
    auto found = findTsig(message);
    if (!found) return TsigCheck{.status = TsigStatus::FormErr, .record = std::nullopt};
    if (!*found) return TsigCheck{.status = TsigStatus::Unsigned, .record = std::nullopt};
    TsigCheck check{.status = TsigStatus::Valid, .record = std::move(**found)};
    const TsigRecord& r = *check.record;
    // 1. Key check (RFC 8945 §5.2.1).
    if (!std::ranges::equal(r.key_name, key.nameWire()) ||
        !std::ranges::equal(r.algorithm, key.algorithmWire())) {
        check.status = TsigStatus::BadKey;
        return check;
    }
    // 2. MAC check (§5.2.2); §5.2.2.1 bounds the length of a truncated MAC.
    const size_t full = key.macSize();
    if (r.mac.size() > full || r.mac.size() < std::max<size_t>(10, full / 2)) {
        check.status = TsigStatus::FormErr;
        return check;
    }
    Hmac h(key);
    macMessage(h, message, r.offset, r.original_id, true);
    macVariables(h, Variables{.key_name = r.key_name,
                              .rclass = r.rclass,
                              .ttl = r.ttl,
                              .algorithm = r.algorithm,
                              .time_signed = r.time_signed,
                              .fudge = r.fudge,
                              .error = r.error,
                              .other = r.other});
    const Bytes expected = h.finish();
    if (expected.size() != full ||
        !equalConstantTime(r.mac, ByteSpan(expected).first(r.mac.size()))) {
        check.status = TsigStatus::BadSig;
        return check;
    }
    // 3. Time check (§5.2.3).
    if (!withinFudge(r.time_signed, r.fudge, epochSeconds(now))) {
        check.status = TsigStatus::BadTime;
        return check;
    }
    // 4. Truncation check (§5.2.4): our policy is full-length MACs.
    if (r.mac.size() < full) check.status = TsigStatus::BadTrunc;
    return check;
}

TsigSigner::TsigSigner(const TsigKey& key, Bytes request_mac)
    : key_(key), prior_mac_(std::move(request_mac)) {}

common::Status TsigSigner::sign(Bytes& message, std::chrono::system_clock::time_point now) {
    return sign(message, epochSeconds(now));
}

common::Status TsigSigner::sign(Bytes& message, uint64_t time_signed, uint16_t fudge,
                                TsigError error, ByteSpan other) {
    if (message.size() < kHeaderLength) return formErr("shorter than a dns header");
    Hmac h(key_);
    macPrior(h, prior_mac_);
    macMessage(h, message, message.size(), u16(message, 0), false);
    if (first_) {
        macVariables(h, Variables{.key_name = key_.nameWire(),
                                  .rclass = kClassAny,
                                  .ttl = 0,
                                  .algorithm = key_.algorithmWire(),
                                  .time_signed = time_signed,
                                  .fudge = fudge,
                                  .error = static_cast<uint16_t>(error),
                                  .other = other});
    } else {
        macTimers(h, time_signed, fudge);
    }
    Bytes mac = h.finish();
    if (mac.size() != key_.macSize()) return common::makeError("cannot compute a TSIG MAC");
    // Later messages carry no error or other data: their MAC does not cover them.
    auto s = appendTsig(message, key_.nameWire(), key_.algorithmWire(), time_signed, fudge, mac,
                        first_ ? static_cast<uint16_t>(error) : 0, first_ ? other : ByteSpan{});
    if (!s) return s;
    prior_mac_ = std::move(mac);
    first_ = false;
    return {};
}

std::optional<Bytes> tsigErrorResponse(ByteSpan query, const TsigCheck& check, const TsigKey& key,
                                       std::chrono::system_clock::time_point now) {
    if (check.status == TsigStatus::FormErr || !check.record) {
        return common::buildErrorResponse(query, kRcodeFormErr);
    }
    auto reply = common::buildErrorResponse(query, kRcodeNotAuth);
    if (!reply) return std::nullopt;
    const TsigRecord& r = *check.record;
    const uint64_t t = epochSeconds(now);
    switch (check.status) {
        case TsigStatus::BadKey:
        case TsigStatus::BadSig: {
            // Unsigned (RFC 8945 §5.3.2): the client cannot check it, and we must not sign with a
            // key the request did not prove.
            const auto error =
                check.status == TsigStatus::BadKey ? TsigError::BadKey : TsigError::BadSig;
            if (!appendTsig(*reply, r.key_name, r.algorithm, t, r.fudge, {},
                            static_cast<uint16_t>(error), {})) {
                return std::nullopt;
            }
            return reply;
        }
        case TsigStatus::BadTime: {
            TsigSigner signer(key, r.mac);
            const Bytes ours = timeBytes(t);
            if (!signer.sign(*reply, r.time_signed, r.fudge, TsigError::BadTime, ours)) {
                return std::nullopt;
            }
            return reply;
        }
        case TsigStatus::BadTrunc: {
            TsigSigner signer(key, r.mac);
            if (!signer.sign(*reply, t, r.fudge, TsigError::BadTrunc)) return std::nullopt;
            return reply;
        }
        case TsigStatus::Unsigned:
        case TsigStatus::Valid:
        case TsigStatus::FormErr:
            break;
    }
    return std::nullopt;
}

// ---- client side -------------------------------------------------------------------------------

common::Result<Bytes> signQuery(Bytes& query, const TsigKey& key,
                                std::chrono::system_clock::time_point now, uint16_t fudge) {
    if (query.size() < kHeaderLength) return formErr("shorter than a dns header");
    const uint64_t t = epochSeconds(now);
    Hmac h(key);
    macMessage(h, query, query.size(), u16(query, 0), false);
    macVariables(h, Variables{.key_name = key.nameWire(),
                              .rclass = kClassAny,
                              .ttl = 0,
                              .algorithm = key.algorithmWire(),
                              .time_signed = t,
                              .fudge = fudge,
                              .error = 0,
                              .other = {}});
    Bytes mac = h.finish();
    if (mac.size() != key.macSize()) return common::makeError("cannot compute a TSIG MAC");
    auto s = appendTsig(query, key.nameWire(), key.algorithmWire(), t, fudge, mac, 0, {});
    if (!s) return std::move(s).error();
    return mac;
}

TsigResponseVerifier::TsigResponseVerifier(const TsigKey& key, Bytes request_mac)
    : key_(key), prior_mac_(std::move(request_mac)) {}

TsigStatus TsigResponseVerifier::verify(ByteSpan message,
                                        std::chrono::system_clock::time_point now) {
    auto fail = [&](TsigStatus s) {
        failed_ = true;
        return s;
    };
    if (failed_) return TsigStatus::BadSig;
    auto found = findTsig(message);
    if (!found) return fail(TsigStatus::FormErr);
    if (!*found) return fail(TsigStatus::Unsigned);
    const TsigRecord& r = **found;
    if (!std::ranges::equal(r.key_name, key_.nameWire()) ||
        !std::ranges::equal(r.algorithm, key_.algorithmWire())) {
        return fail(TsigStatus::BadKey);
    }
    if (r.mac.size() != key_.macSize()) return fail(TsigStatus::BadTrunc);
    Hmac h(key_);
    macPrior(h, prior_mac_);
    macMessage(h, message, r.offset, r.original_id, true);
    if (first_) {
        macVariables(h, Variables{.key_name = r.key_name,
                                  .rclass = r.rclass,
                                  .ttl = r.ttl,
                                  .algorithm = r.algorithm,
                                  .time_signed = r.time_signed,
                                  .fudge = r.fudge,
                                  .error = r.error,
                                  .other = r.other});
    } else {
        macTimers(h, r.time_signed, r.fudge);
    }
    const Bytes expected = h.finish();
    if (expected.empty() || !equalConstantTime(r.mac, expected)) return fail(TsigStatus::BadSig);
    if (!withinFudge(r.time_signed, r.fudge, epochSeconds(now))) return fail(TsigStatus::BadTime);
    prior_mac_ = r.mac;
    first_ = false;
    last_ = std::move(**found);
    return TsigStatus::Valid;
}

}  // namespace pdns_distribute::secondary_syncer
