// SPDX-License-Identifier: Apache-2.0
// Zone body codec, DNS name helpers, the apex fingerprint and the few messages the AXFR listener
// builds. Everything that reads bytes from outside (bodies, queries) is a hand parser that checks
// each length before use; ldns is used only to turn presentation-format RRs into wire form.

#include <pdns_distribute/common/dns.hpp>

#include <algorithm>
#include <limits>

#include <sodium.h>

#include "ldns_handles.hpp"

namespace pdns_distribute::common {
namespace {

using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

constexpr size_t kMaxNameLength = 255;  // RFC 1035 §2.3.4, wire form including the root label
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kHeaderLength = 12;
constexpr size_t kRrFixedLength = 10;        // type, class, TTL, RDLENGTH
constexpr size_t kRrsigFixedLength = 18;     // RFC 4034 §3.1, up to the signer's name
constexpr size_t kSoaCountersLength = 20;    // serial, refresh, retry, expire, minimum
constexpr size_t kMaxMessageLength = 65535;  // RFC 1035 §4.2.2: TCP length prefix is 16 bits
// AXFR answers are cut near 32 KiB: a 50,000-RR zone needs a few hundred messages, and one large
// RR (a big TXT) tipping a message over the target still leaves it far below the 64 KiB limit.
constexpr size_t kAxfrMessageTarget = size_t{32} * 1024;

// Header byte 2: QR, opcode (4 bits), AA, TC, RD. Byte 3: RA, Z, AD, CD, rcode (4 bits).
constexpr uint8_t kQrBit = 0x80;
constexpr uint8_t kOpcodeMask = 0x78;
constexpr uint8_t kAaBit = 0x04;
constexpr uint8_t kRdBit = 0x01;
constexpr uint8_t kRcodeMask = 0x0f;
constexpr uint8_t kPointerBits = 0xc0;

uint8_t u8(ByteSpan data, size_t offset) { return std::to_integer<uint8_t>(data[offset]); }

uint16_t readU16(ByteSpan data, size_t offset) {
    return static_cast<uint16_t>((u8(data, offset) << 8) | u8(data, offset + 1));
}

uint32_t readU32(ByteSpan data, size_t offset) {
    return (static_cast<uint32_t>(readU16(data, offset)) << 16) | readU16(data, offset + 2);
}

void putU8(Bytes& out, uint8_t value) { out.push_back(static_cast<std::byte>(value)); }

void putU16(Bytes& out, uint16_t value) {
    putU8(out, static_cast<uint8_t>(value >> 8));
    putU8(out, static_cast<uint8_t>(value & 0xff));
}

void putU32(Bytes& out, uint32_t value) {
    putU16(out, static_cast<uint16_t>(value >> 16));
    putU16(out, static_cast<uint16_t>(value & 0xffff));
}

void putU16At(Bytes& out, size_t offset, uint16_t value) {
    out[offset] = static_cast<std::byte>(value >> 8);
    out[offset + 1] = static_cast<std::byte>(value & 0xff);
}

void append(Bytes& out, ByteSpan data) { out.insert(out.end(), data.begin(), data.end()); }

std::byte lowerByte(std::byte b) {
    const auto c = std::to_integer<uint8_t>(b);
    return (c >= 'A' && c <= 'Z') ? static_cast<std::byte>(c + ('a' - 'A')) : b;
}

Error malformed(std::string message) {
    return Error{.message = std::move(message), .code = "malformed"};
}

// ---- names ------------------------------------------------------------------------------------

// Length of the uncompressed wire name at `offset`, or nullopt when it runs past the end, holds a
// compression pointer or extended label type, or breaks the RFC 1035 label or name limits.
std::optional<size_t> uncompressedNameLength(ByteSpan data, size_t offset) {
    size_t pos = offset;
    while (pos < data.size()) {
        const uint8_t len = u8(data, pos);
        if (len > kMaxLabelLength) {
            return std::nullopt;
        }
        pos += 1 + size_t{len};
        if (pos - offset > kMaxNameLength) {
            return std::nullopt;
        }
        if (len == 0) {
            return pos - offset;
        }
    }
    return std::nullopt;
}

struct MessageName {
    Bytes wire;      // uncompressed, case as received
    size_t end = 0;  // offset just after the name where it sits in the message
};

// Reads a possibly compressed name from a message. Every pointer must aim strictly below the
// previous target (and the name's own start), so a pointer loop cannot run forever; real
// compressors only point back at names written earlier, so no valid message is refused.
std::optional<MessageName> readMessageName(ByteSpan msg, size_t offset) {
    MessageName name;
    std::optional<size_t> end;
    size_t pos = offset;
    size_t limit = offset;
    while (pos < msg.size()) {
        const uint8_t len = u8(msg, pos);
        if ((len & kPointerBits) == kPointerBits) {
            if (pos + 1 >= msg.size()) {
                return std::nullopt;
            }
            const size_t target = (size_t{len & 0x3fu} << 8) | u8(msg, pos + 1);
            if (target >= limit) {
                return std::nullopt;
            }
            end = end.value_or(pos + 2);
            limit = target;
            pos = target;
            continue;
        }
        if (len > kMaxLabelLength || msg.size() - pos < 1 + size_t{len}) {
            return std::nullopt;
        }
        name.wire.insert(name.wire.end(), msg.begin() + static_cast<std::ptrdiff_t>(pos),
                         msg.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
        if (name.wire.size() > kMaxNameLength) {
            return std::nullopt;
        }
        if (len == 0) {
            name.end = end.value_or(pos + 1);
            return name;
        }
        pos += 1 + size_t{len};
    }
    return std::nullopt;
}

// Escapes as PowerDNS prints names (DNSName::toString): only '.', '\\' and bytes outside
// 0x21..0x7e, so a name read from the API compares equal to the same name read from DNS.
void appendEscaped(std::string& out, uint8_t c) {
    if (c <= 0x20 || c >= 0x7f) {
        out += fmt::format("\\{:03d}", c);
    } else if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
    } else {
        out.push_back(static_cast<char>(c));
    }
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Builds wire labels from presentation text; each method returns an error cause or "".
class NameBuilder {
public:
    NameBuilder() { out_.push_back(std::byte{0}); }

    std::string_view addByte(uint8_t c) {
        if (label_length_ == kMaxLabelLength) {
            return "label longer than 63 bytes";
        }
        putU8(out_, c);
        ++label_length_;
        return {};
    }

    std::string_view endLabel() {
        if (label_length_ == 0) {
            return "empty label";
        }
        out_[label_start_] = static_cast<std::byte>(label_length_);
        label_start_ = out_.size();
        out_.push_back(std::byte{0});
        label_length_ = 0;
        return {};
    }

    [[nodiscard]] bool labelOpen() const { return label_length_ > 0; }
    Bytes take() { return std::move(out_); }  // the trailing 0 is already the root label

private:
    Bytes out_;
    size_t label_start_ = 0;
    uint8_t label_length_ = 0;
};

// Parses one escape at name[i] == '\\'; returns the byte and advances i past the escape.
std::optional<uint8_t> readEscape(std::string_view name, size_t& i) {
    if (i + 1 >= name.size()) {
        return std::nullopt;
    }
    if (!isDigit(name[i + 1])) {
        i += 2;
        return static_cast<uint8_t>(name[i - 1]);
    }
    if (i + 3 >= name.size() || !isDigit(name[i + 2]) || !isDigit(name[i + 3])) {
        return std::nullopt;
    }
    const int value = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
    if (value > 255) {
        return std::nullopt;
    }
    i += 4;
    return static_cast<uint8_t>(value);
}

Error nameError(std::string_view name, std::string_view cause) {
    return malformed(fmt::format("cannot parse name '{}' ({})", name, cause));
}

// ---- body records -----------------------------------------------------------------------------

Error bodyError(size_t index, size_t offset, std::string_view cause) {
    return malformed(
        fmt::format("cannot decode 'zone body' (rr {} at offset {}: {})", index, offset, cause));
}

Result<RrView> readBodyRr(ByteSpan body, size_t offset, size_t index) {
    const auto owner_length = uncompressedNameLength(body, offset);
    if (!owner_length) {
        return bodyError(index, offset, "bad or truncated owner name");
    }
    size_t pos = offset + *owner_length;
    if (body.size() - pos < kRrFixedLength) {
        return bodyError(index, offset, "truncated rr header");
    }
    RrView rr;
    rr.owner = body.subspan(offset, *owner_length);
    rr.type = readU16(body, pos);
    rr.rclass = readU16(body, pos + 2);
    rr.ttl = readU32(body, pos + 4);
    const size_t rdlength = readU16(body, pos + 8);
    pos += kRrFixedLength;
    if (body.size() - pos < rdlength) {
        return bodyError(index, offset, "rdata runs past the end");
    }
    rr.rdata = body.subspan(pos, rdlength);
    rr.wire = body.subspan(offset, pos + rdlength - offset);
    return rr;
}

// The serial of a SOA RR, checking the RDATA shape: two uncompressed names, then 20 bytes.
std::optional<uint32_t> soaSerialOf(const RrView& rr) {
    const auto mname = uncompressedNameLength(rr.rdata, 0);
    if (!mname) {
        return std::nullopt;
    }
    const auto rname = uncompressedNameLength(rr.rdata, *mname);
    if (!rname || rr.rdata.size() - *mname - *rname != kSoaCountersLength) {
        return std::nullopt;
    }
    return readU32(rr.rdata, *mname + *rname);
}

bool isDnssecType(uint16_t type) {
    return type == rrtype::kDnskey || type == rrtype::kRrsig || type == rrtype::kNsec ||
           type == rrtype::kNsec3;
}

// RFC 6895 §3.1: meta-TYPEs (OPT 41, TKEY, TSIG) and QTYPEs (128-255) are never zone data. A
// TSIG-typed RR served in an AXFR answer would make the whole answer unverifiable (RFC 8945 §5.1:
// the TSIG RR must be the last additional record), so such a zone could never be transferred.
bool isMetaOrQueryType(uint16_t type) {
    constexpr uint16_t kOpt = 41;
    return type == kOpt || (type >= 128 && type <= 255);
}

struct BodyFacts {
    uint32_t serial = 0;
    uint32_t rr_count = 0;
    bool dnssec = false;
    bool presigned = false;
};

Error bodyRejected(std::string_view zone, std::string_view cause) {
    return malformed(fmt::format("cannot accept body of zone '{}' ({})", zone, cause));
}

// DESIGN §4 acceptance rules on decoded RRs: the zone's SOA first, no other SOA, no owner
// outside the zone; and no meta or query type.
Result<BodyFacts> checkBody(std::string_view zone, ByteSpan zone_wire,
                            std::span<const RrView> rrs) {
    if (rrs.empty() || rrs.front().type != rrtype::kSoa) {
        return bodyRejected(zone, "first rr is not a soa");
    }
    if (!wireNamesEqual(rrs.front().owner, zone_wire)) {
        return bodyRejected(
            zone, fmt::format("soa owner '{}' is not the zone", wireToName(rrs.front().owner)));
    }
    const auto serial = soaSerialOf(rrs.front());
    if (!serial) {
        return bodyRejected(zone, "soa rdata is malformed");
    }
    if (rrs.size() > std::numeric_limits<uint32_t>::max()) {
        return bodyRejected(zone, "too many rrs");
    }
    BodyFacts facts{.serial = *serial, .rr_count = static_cast<uint32_t>(rrs.size())};
    for (size_t i = 1; i < rrs.size(); ++i) {
        const RrView& rr = rrs[i];
        if (rr.type == rrtype::kSoa) {
            return bodyRejected(zone, fmt::format("second soa at rr {}", i));
        }
        if (!wireNameAtOrBelow(rr.owner, zone_wire)) {
            return bodyRejected(
                zone, fmt::format("owner '{}' is outside the zone", wireToName(rr.owner)));
        }
        if (isMetaOrQueryType(rr.type)) {
            return bodyRejected(zone,
                                fmt::format("rr {} has type {}, a meta or query type", i, rr.type));
        }
        facts.dnssec = facts.dnssec || isDnssecType(rr.type);
        facts.presigned = facts.presigned || rr.type == rrtype::kRrsig;
    }
    return facts;
}

struct CheckedBody {
    std::vector<RrView> rrs;
    BodyFacts facts;
};

Result<CheckedBody> decodeAndCheck(std::string_view zone, ByteSpan body) {
    auto zone_wire = nameToWire(zone);
    if (!zone_wire) {
        return std::move(zone_wire).error();
    }
    auto rrs = decodeBody(body);
    if (!rrs) {
        return std::move(rrs).error();
    }
    auto facts = checkBody(zone, *zone_wire, *rrs);
    if (!facts) {
        return std::move(facts).error();
    }
    return CheckedBody{.rrs = std::move(rrs).value(), .facts = *facts};
}

// ---- fingerprint ------------------------------------------------------------------------------

bool lessBytes(ByteSpan a, ByteSpan b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
}

bool equalBytes(ByteSpan a, ByteSpan b) { return std::ranges::equal(a, b); }

// BLAKE2b-128 over each distinct DNSKEY rdata, sorted bytewise, as RDLENGTH(be16) ‖ RDATA, so
// the hash does not depend on the order the server lists the RRset in.
std::array<std::byte, 16> dnskeyHash(std::vector<ByteSpan> keys) {
    if (keys.empty()) {
        return {};
    }
    std::sort(keys.begin(), keys.end(), lessBytes);
    keys.erase(std::unique(keys.begin(), keys.end(), equalBytes), keys.end());
    Bytes input;
    for (const ByteSpan key : keys) {
        putU16(input, static_cast<uint16_t>(key.size()));
        append(input, key);
    }
    return blake2b128(input);
}

Result<ApexFingerprint> fingerprintOf(std::string_view zone, ByteSpan zone_wire,
                                      std::span<const RrView> rrs, uint32_t serial) {
    ApexFingerprint fp;
    fp.serial = serial;
    std::vector<ByteSpan> keys;
    for (const RrView& rr : rrs) {
        if (!wireNamesEqual(rr.owner, zone_wire)) {
            continue;
        }
        if (rr.type == rrtype::kDnskey) {
            keys.push_back(rr.rdata);
        } else if (rr.type == rrtype::kRrsig) {
            if (rr.rdata.size() < kRrsigFixedLength) {
                return malformed(fmt::format(
                    "cannot compute 'apex fingerprint' of zone '{}' (rrsig rdata of {} bytes)",
                    zone, rr.rdata.size()));
            }
            if (readU16(rr.rdata, 0) == rrtype::kSoa) {
                fp.soa_sigs.push_back({.key_tag = readU16(rr.rdata, 16),
                                       .inception = readU32(rr.rdata, 12),
                                       .expiration = readU32(rr.rdata, 8)});
            }
        }
    }
    fp.dnskey_hash = dnskeyHash(std::move(keys));
    std::sort(fp.soa_sigs.begin(), fp.soa_sigs.end());
    fp.soa_sigs.erase(std::unique(fp.soa_sigs.begin(), fp.soa_sigs.end()), fp.soa_sigs.end());
    return fp;
}

// ---- messages ---------------------------------------------------------------------------------

struct Question {
    uint16_t id = 0;
    uint8_t flags = 0;  // header byte 2 (QR, opcode, AA, TC, RD)
    Bytes qname;        // uncompressed, case as received
    uint16_t qtype = 0;
    uint16_t qclass = 0;
};

Error queryError(std::string_view cause) {
    return malformed(fmt::format("cannot parse 'dns query' ({})", cause));
}

Result<Question> readQuestion(ByteSpan msg) {
    if (msg.size() < kHeaderLength) {
        return queryError("shorter than a dns header");
    }
    if (readU16(msg, 4) != 1) {
        return queryError(fmt::format("{} questions", readU16(msg, 4)));
    }
    auto name = readMessageName(msg, kHeaderLength);
    if (!name) {
        return queryError("bad question name");
    }
    if (msg.size() - name->end < 4) {
        return queryError("truncated question");
    }
    return Question{.id = readU16(msg, 0),
                    .flags = u8(msg, 2),
                    .qname = std::move(name->wire),
                    .qtype = readU16(msg, name->end),
                    .qclass = readU16(msg, name->end + 2)};
}

void putHeader(Bytes& out, uint16_t id, uint8_t flags1, uint8_t flags2, uint16_t qdcount,
               uint16_t ancount) {
    putU16(out, id);
    putU8(out, flags1);
    putU8(out, flags2);
    putU16(out, qdcount);
    putU16(out, ancount);
    putU16(out, 0);
    putU16(out, 0);
}

void putQuestion(Bytes& out, const Question& q) {
    append(out, q.qname);
    putU16(out, q.qtype);
    putU16(out, q.qclass);
}

// Header byte 2 of an authoritative answer to `q`: QR and AA set, opcode QUERY, RD echoed.
uint8_t answerFlags(const Question& q) {
    return static_cast<uint8_t>(kQrBit | kAaBit | (q.flags & kRdBit));
}

// Packs whole RRs into AXFR messages of about kAxfrMessageTarget bytes (RFC 5936 §2.2). Every
// message repeats the question, which RFC 5936 §2.2.1 permits and ldns and pdns accept.
class AxfrPacker {
public:
    explicit AxfrPacker(const Question& q) : q_(q) { start(); }

    Status add(ByteSpan rr) {
        if (count_ > 0 && (current_.size() + rr.size() > kAxfrMessageTarget ||
                           count_ == std::numeric_limits<uint16_t>::max())) {
            flush();
            start();
        }
        if (current_.size() + rr.size() > kMaxMessageLength) {
            return malformed(fmt::format(
                "cannot build 'axfr answer' (an rr of {} bytes does not fit in a dns message)",
                rr.size()));
        }
        append(current_, rr);
        ++count_;
        return {};
    }

    std::vector<Bytes> finish() {
        flush();
        return std::move(messages_);
    }

private:
    void start() {
        current_ = Bytes();
        current_.reserve(kAxfrMessageTarget + 512);
        putHeader(current_, q_.id, answerFlags(q_), 0, 1, 0);
        putQuestion(current_, q_);
        count_ = 0;
    }

    void flush() {
        putU16At(current_, 6, count_);
        messages_.push_back(std::move(current_));
    }

    const Question& q_;
    Bytes current_;
    uint16_t count_ = 0;
    std::vector<Bytes> messages_;
};

std::string_view trimLine(std::string_view line) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = line.find_last_not_of(" \t\r");
    return line.substr(first, last - first + 1);
}

Status appendRrFromText(Bytes& out, ldns_buffer* buffer, std::string_view line, size_t line_no) {
    const std::string text(line);
    ldns_rr* raw = nullptr;
    ldns_status status = ldns_rr_new_frm_str(&raw, text.c_str(), 0, nullptr, nullptr);
    const ldns::Rr rr(raw);
    if (status != LDNS_STATUS_OK) {
        return malformed(fmt::format("cannot parse rr on line {} ({})", line_no,
                                     ldns_get_errorstr_by_id(status)));
    }
    ldns_buffer_clear(buffer);
    status = ldns_rr2buffer_wire(buffer, rr.get(), LDNS_SECTION_ANSWER);
    if (status != LDNS_STATUS_OK) {
        return malformed(fmt::format("cannot encode rr on line {} ({})", line_no,
                                     ldns_get_errorstr_by_id(status)));
    }
    const auto* begin = reinterpret_cast<const std::byte*>(ldns_buffer_begin(buffer));
    out.insert(out.end(), begin, begin + ldns_buffer_position(buffer));
    return {};
}

void ensureSodium() {
    // sodium_init is idempotent and thread-safe; a static makes it run once per process.
    [[maybe_unused]] static const int kSodiumInit = sodium_init();
}

template <size_t N>
std::array<std::byte, N> blake2b(ByteSpan data) {
    ensureSodium();
    std::array<std::byte, N> out{};
    crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), N,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr,
                       0);
    return out;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

// ---- public: names ----------------------------------------------------------------------------

Result<std::vector<std::byte>> nameToWire(std::string_view name) {
    if (name.empty()) {
        return nameError(name, "empty name");
    }
    if (name == ".") {
        return Bytes{std::byte{0}};
    }
    NameBuilder builder;
    size_t i = 0;
    while (i < name.size()) {
        std::string_view cause;
        if (name[i] == '.') {
            cause = builder.endLabel();
            ++i;
        } else if (name[i] == '\\') {
            const auto c = readEscape(name, i);
            cause = c ? builder.addByte(*c) : "bad escape";
        } else {
            cause = builder.addByte(static_cast<uint8_t>(name[i]));
            ++i;
        }
        if (!cause.empty()) {
            return nameError(name, cause);
        }
    }
    if (builder.labelOpen()) {  // no trailing dot: the name is still taken as absolute
        builder.endLabel();
    }
    Bytes wire = builder.take();
    if (wire.size() > kMaxNameLength) {
        return nameError(name, "longer than 255 bytes");
    }
    return wire;
}

std::string wireToName(std::span<const std::byte> wire) {
    std::string out;
    size_t pos = 0;
    while (pos < wire.size()) {
        const uint8_t len = u8(wire, pos);
        if (len == 0 || len > kMaxLabelLength || wire.size() - pos - 1 < len) {
            break;
        }
        for (size_t k = pos + 1; k <= pos + len; ++k) {
            appendEscaped(out, u8(wire, k));
        }
        out.push_back('.');
        pos += 1 + size_t{len};
    }
    return out.empty() ? std::string(".") : out;
}

bool wireNamesEqual(std::span<const std::byte> a, std::span<const std::byte> b) {
    // Length bytes are at most 63, below 'A', so lower-casing every byte touches only labels.
    return std::ranges::equal(
        a, b, [](std::byte x, std::byte y) { return lowerByte(x) == lowerByte(y); });
}

bool wireNameAtOrBelow(std::span<const std::byte> name, std::span<const std::byte> zone) {
    size_t pos = 0;
    while (pos < name.size() && name.size() - pos >= zone.size()) {
        if (name.size() - pos == zone.size()) {
            return wireNamesEqual(name.subspan(pos), zone);
        }
        const uint8_t len = u8(name, pos);
        if (len == 0 || len > kMaxLabelLength) {
            return false;
        }
        pos += 1 + size_t{len};
    }
    return false;
}

// ---- public: bodies ---------------------------------------------------------------------------

Result<std::vector<std::byte>> encodeRrsFromText(std::string_view text) {
    const ldns::Buffer buffer(ldns_buffer_new(512));
    if (!buffer) {
        return makeError("cannot encode rrs (out of memory)");
    }
    Bytes out;
    size_t line_no = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++line_no;
        const std::string_view trimmed = trimLine(line);
        if (trimmed.empty() || trimmed.front() == ';') {
            continue;
        }
        if (auto status = appendRrFromText(out, buffer.get(), trimmed, line_no); !status) {
            return std::move(status).error();
        }
    }
    return out;
}

Result<std::vector<RrView>> decodeBody(std::span<const std::byte> body) {
    std::vector<RrView> rrs;
    size_t offset = 0;
    while (offset < body.size()) {
        auto rr = readBodyRr(body, offset, rrs.size());
        if (!rr) {
            return std::move(rr).error();
        }
        offset += rr->wire.size();
        rrs.push_back(*rr);
    }
    return rrs;
}

Result<ZoneBody> validateBody(std::string_view zone, std::vector<std::byte> body) {
    auto checked = decodeAndCheck(zone, body);
    if (!checked) {
        return std::move(checked).error();
    }
    const BodyFacts& facts = checked->facts;
    return ZoneBody{.bytes = std::move(body),
                    .rr_count = facts.rr_count,
                    .serial = facts.serial,
                    .dnssec = facts.dnssec,
                    .presigned = facts.presigned};
}

Result<ApexFingerprint> fingerprintFromBody(std::string_view zone,
                                            std::span<const std::byte> body) {
    auto checked = decodeAndCheck(zone, body);
    if (!checked) {
        return std::move(checked).error();
    }
    // decodeAndCheck proved the zone name parses and the first RR is its SOA.
    return fingerprintOf(zone, checked->rrs.front().owner, checked->rrs, checked->facts.serial);
}

std::string ApexFingerprint::hex() const { return hash().hex(); }

std::string ApexFingerprint::contentHex() const { return contentHash().hex(); }

namespace {

Hash128 toHash128(const std::array<std::byte, 16>& h) {
    Hash128 out;
    for (size_t i = 0; i < h.size(); ++i) out.bytes[i] = std::to_integer<uint8_t>(h[i]);
    return out;
}

}  // namespace

Hash128 ApexFingerprint::hash() const {
    Bytes input;
    putU32(input, serial);
    append(input, dnskey_hash);
    for (const SigInfo& sig : soa_sigs) {
        putU16(input, sig.key_tag);
        putU32(input, sig.inception);
        putU32(input, sig.expiration);
    }
    return toHash128(blake2b128(input));
}

Hash128 ApexFingerprint::contentHash() const {
    Bytes input;
    putU32(input, serial);
    append(input, dnskey_hash);
    std::vector<uint16_t> tags;
    tags.reserve(soa_sigs.size());
    for (const SigInfo& sig : soa_sigs) tags.push_back(sig.key_tag);
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    for (const uint16_t tag : tags) putU16(input, tag);
    return toHash128(blake2b128(input));
}

std::optional<uint32_t> ApexFingerprint::earliestExpiry() const {
    std::optional<uint32_t> earliest;
    for (const SigInfo& sig : soa_sigs) {
        if (!earliest || sig.expiration < *earliest) earliest = sig.expiration;
    }
    return earliest;
}

// ---- public: messages -------------------------------------------------------------------------

Result<std::vector<std::vector<std::byte>>> buildAxfrResponse(std::span<const std::byte> query,
                                                              std::string_view zone,
                                                              std::span<const std::byte> body) {
    auto q = readQuestion(query);
    if (!q) {
        return std::move(q).error();
    }
    if ((q->flags & kQrBit) != 0) {
        return queryError("qr bit set");
    }
    auto checked = decodeAndCheck(zone, body);
    if (!checked) {
        return std::move(checked).error();
    }
    const std::vector<RrView>& rrs = checked->rrs;
    if (!wireNamesEqual(q->qname, rrs.front().owner)) {
        return malformed(fmt::format("cannot build 'axfr answer' (question '{}' is not zone '{}')",
                                     wireToName(q->qname), zone));
    }
    AxfrPacker packer(*q);
    for (const RrView& rr : rrs) {
        if (auto status = packer.add(rr.wire); !status) {
            return std::move(status).error();
        }
    }
    if (auto status = packer.add(rrs.front().wire); !status) {  // RFC 5936 §2.2: SOA closes
        return std::move(status).error();
    }
    return packer.finish();
}

std::optional<std::vector<std::byte>> buildErrorResponse(std::span<const std::byte> query,
                                                         uint8_t rcode) {
    // Never answer a response (QR set): two servers could bounce errors at each other forever.
    if (query.size() < kHeaderLength || (u8(query, 2) & kQrBit) != 0) {
        return std::nullopt;
    }
    const auto q = readQuestion(query);
    const auto flags1 = static_cast<uint8_t>(kQrBit | (u8(query, 2) & (kOpcodeMask | kRdBit)));
    Bytes out;
    putHeader(out, readU16(query, 0), flags1, static_cast<uint8_t>(rcode & kRcodeMask),
              static_cast<uint16_t>(q ? 1 : 0), 0);
    if (q) {
        putQuestion(out, *q);
    }
    return out;
}

Result<ParsedQuery> parseQuery(std::span<const std::byte> message) {
    auto q = readQuestion(message);
    if (!q) {
        return std::move(q).error();
    }
    Bytes lowered(q->qname.size());
    std::transform(q->qname.begin(), q->qname.end(), lowered.begin(), lowerByte);
    return ParsedQuery{.id = q->id,
                       .qname = wireToName(lowered),
                       .qtype = q->qtype,
                       .qclass = q->qclass,
                       .is_query = (q->flags & (kQrBit | kOpcodeMask)) == 0};
}

Result<std::vector<std::byte>> firstRrOf(std::span<const std::byte> body) {
    auto rr = readBodyRr(body, 0, 0);
    if (!rr) {
        return std::move(rr).error();
    }
    return Bytes(rr->wire.begin(), rr->wire.end());
}

Result<std::vector<std::byte>> buildSoaResponse(std::span<const std::byte> query,
                                                std::span<const std::byte> body) {
    auto q = readQuestion(query);
    if (!q) {
        return std::move(q).error();
    }
    if ((q->flags & kQrBit) != 0) {
        return queryError("qr bit set");
    }
    auto soa = readBodyRr(body, 0, 0);
    if (!soa) {
        return std::move(soa).error();
    }
    if (soa->type != rrtype::kSoa || !wireNamesEqual(q->qname, soa->owner)) {
        return malformed(
            fmt::format("cannot build 'soa answer' for '{}' (body starts with no "
                        "soa for that name)",
                        wireToName(q->qname)));
    }
    Bytes out;
    putHeader(out, q->id, answerFlags(*q), 0, 1, 1);
    putQuestion(out, *q);
    append(out, soa->wire);
    return out;
}

// ---- public: hashing and hex ------------------------------------------------------------------

std::array<std::byte, 32> blake2b256(std::span<const std::byte> data) { return blake2b<32>(data); }

std::array<std::byte, 16> blake2b128(std::span<const std::byte> data) { return blake2b<16>(data); }

std::string toHex(std::span<const std::byte> data) {
    static constexpr std::string_view kDigits = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (const std::byte b : data) {
        const auto v = std::to_integer<uint8_t>(b);
        out.push_back(kDigits[v >> 4]);
        out.push_back(kDigits[v & 0x0f]);
    }
    return out;
}

Result<std::vector<std::byte>> fromHex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return malformed(fmt::format("cannot decode hex (odd length {})", hex.size()));
    }
    Bytes out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hexValue(hex[i]);
        const int lo = hexValue(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return malformed(fmt::format("cannot decode hex (bad digit at offset {})", i));
        }
        putU8(out, static_cast<uint8_t>(hi * 16 + lo));
    }
    return out;
}

}  // namespace pdns_distribute::common
