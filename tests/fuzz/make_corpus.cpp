// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora of the fuzz targets into <dir>/<target>/ from the kind of data the unit
// tests use: zone bodies encoded by encodeRrsFromText, queries as resolvers send them, signed and
// tampered zone-data replies, TSIG-signed queries and answers, zone names, events and
// configuration files. Run by hand when an input layout changes; the output is committed under
// tests/fuzz/corpus/.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/signing.hpp>

#include "tsig.hpp"
#include "tsig_input.hpp"

namespace {

namespace common = pdns_distribute::common;
using Bytes = std::vector<std::byte>;

constexpr std::string_view kSoa =
    "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 "
    "1209600 300\n";

constexpr std::string_view kSmallZone =
    "example.org. 3600 IN SOA ns1.example.org. host.example.org. 42 3600 600 604800 3600\n"
    "example.org. 3600 IN NS ns1.example.org.\n"
    "www.example.org. 300 IN A 192.0.2.1\n"
    "www.example.org. 300 IN AAAA 2001:db8::1\n";

constexpr std::string_view kManyTypes =
    R"(example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300
example.org. 3600 IN NS ns1.example.org.
example.org. 3600 IN MX 10 mail.example.org.
WwW.ExAmple.org. 300 IN A 192.0.2.1
www.example.org. 300 IN AAAA 2001:db8::1
alias.example.org. 300 IN CNAME www.example.org.
txt.example.org. 300 IN TXT "hello world" "second"
_sip._udp.example.org. 3600 IN SRV 10 60 5060 sip.example.org.
example.org. 3600 IN CAA 0 issue "letsencrypt.org"
sub.example.org. 3600 IN DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE1AFE51DE1AFE51DE1AFE51DE
unk.example.org. 300 IN TYPE65534 \# 3 abcdef
)";

constexpr std::string_view kSigned =
    R"(example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300
example.org. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
example.org. 3600 IN DNSKEY 256 3 13 oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA==
example.org. 3600 IN RRSIG SOA 13 2 3600 20240201000000 20240101000000 31589 example.org. ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
example.org. 3600 IN NSEC www.example.org. NS SOA MX RRSIG NSEC DNSKEY CAA
2vptu5timamqttgl4luu9kg21e0aor3s.example.org. 3600 IN NSEC3 1 0 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG
example.org. 0 IN NSEC3PARAM 1 0 10 AABBCCDD
www.example.org. 300 IN A 192.0.2.1
)";

constexpr std::string_view kReverse =
    "0/26.2.0.192.in-addr.arpa. 3600 IN SOA ns.example.org. h.example.org. 5 1 1 1 1\n"
    "1.0/26.2.0.192.in-addr.arpa. 3600 IN PTR host.example.org.\n";

Bytes encode(std::string_view text) {
    auto body = common::encodeRrsFromText(text);
    if (!body) {
        std::fprintf(stderr, "cannot encode seed zone (%s)\n", body.error().message.c_str());
        std::exit(1);
    }
    return *body;
}

Bytes bytesOf(std::initializer_list<int> values) {
    Bytes out;
    for (const int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

void append(Bytes& out, std::span<const std::byte> data) {
    out.insert(out.end(), data.begin(), data.end());
}

void append(Bytes& out, std::string_view data) { append(out, common::asBytes(data)); }

Bytes makeQuery(uint16_t id, std::string_view qname, uint16_t qtype, uint8_t flags1 = 0x01) {
    Bytes q = bytesOf({id >> 8, id & 0xff, flags1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    append(q, common::nameToWire(qname).value());
    append(q, bytesOf({qtype >> 8, qtype & 0xff, 0, 1}));
    return q;
}

class CorpusWriter {
public:
    CorpusWriter(const std::filesystem::path& root, std::string_view target) : dir_(root / target) {
        std::filesystem::create_directories(dir_);
    }
    void write(std::string_view name, std::span<const std::byte> data) const {
        std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data.data()),
                  static_cast<std::streamsize>(data.size()));
        if (!out) {
            std::fprintf(stderr, "cannot write seed '%s'\n", (dir_ / name).c_str());
            std::exit(1);
        }
    }
    void write(std::string_view name, std::string_view text) const {
        write(name, common::asBytes(text));
    }

private:
    std::filesystem::path dir_;
};

// ---- fuzz_dns_codec: [rcode][query length u16][query][body] -----------------------------------

Bytes dnsInput(uint8_t rcode, const Bytes& query, const Bytes& body) {
    Bytes out = bytesOf(
        {rcode, static_cast<int>(query.size() >> 8), static_cast<int>(query.size() & 0xff)});
    append(out, query);
    append(out, body);
    return out;
}

void writeDnsCodec(const std::filesystem::path& root) {
    const CorpusWriter w(root, "fuzz_dns_codec");
    const Bytes soa = encode(kSoa);
    const Bytes small = encode(kSmallZone);
    const Bytes many = encode(kManyTypes);
    const Bytes signed_zone = encode(kSigned);
    const Bytes reverse = encode(kReverse);
    const Bytes axfr = makeQuery(0x4242, "example.org.", common::rrtype::kAxfr);
    w.write("axfr_small", dnsInput(5, axfr, small));
    w.write("axfr_many_types", dnsInput(5, axfr, many));
    w.write("axfr_signed", dnsInput(9, axfr, signed_zone));
    w.write("axfr_mixed_case_query",
            dnsInput(5, makeQuery(7, "EXAMPLE.Org.", common::rrtype::kAxfr), small));
    w.write(
        "axfr_reverse",
        dnsInput(5, makeQuery(1, "0/26.2.0.192.in-addr.arpa.", common::rrtype::kAxfr), reverse));
    w.write("soa_query", dnsInput(5, makeQuery(77, "example.org.", common::rrtype::kSoa), soa));
    w.write("ixfr_query", dnsInput(5, makeQuery(78, "example.org.", common::rrtype::kIxfr), small));
    w.write("notify_opcode4",
            dnsInput(4, makeQuery(1, "example.org.", common::rrtype::kSoa, 0x20), soa));
    w.write("response_qr",
            dnsInput(1, makeQuery(1, "example.org.", common::rrtype::kSoa, 0x80), soa));
    w.write("other_zone", dnsInput(5, makeQuery(9, "other.org.", common::rrtype::kAxfr), soa));
    // Over 32 KiB: the answer spans two messages.
    std::string large(kSoa);
    for (int i = 0; i < 300; ++i) {
        large += fmt::format("r{}.example.org. 300 IN TXT \"{}\"\n", i, std::string(100, 'x'));
    }
    w.write("axfr_two_messages", dnsInput(5, axfr, encode(large)));
    Bytes two_questions = axfr;
    two_questions[5] = std::byte{2};
    w.write("two_questions", dnsInput(1, two_questions, small));
    // Compressed question names: a pointer into the header, a self pointer, a pointer pair and a
    // forward pointer.
    const Bytes header = bytesOf({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    int n = 0;
    for (const Bytes& tail :
         {bytesOf({0xc0, 12, 0, 1, 0, 1}), bytesOf({1, 'a', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1}),
          bytesOf({0xc0, 14, 0, 0, 1, 0, 1}),
          bytesOf({7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0xc0, 2, 0, 252, 0, 1})}) {
        Bytes q = header;
        append(q, tail);
        w.write(fmt::format("compressed_{}", n++), dnsInput(1, q, small));
    }
    Bytes truncated = small;
    truncated.resize(truncated.size() - 3);
    w.write("body_truncated", dnsInput(5, axfr, truncated));
    Bytes trailing = small;
    trailing.push_back(std::byte{0});
    w.write("body_trailing_byte", dnsInput(5, axfr, trailing));
    w.write("body_no_soa", dnsInput(5, axfr, encode("www.example.org. 1 IN A 192.0.2.1\n")));
    w.write("body_second_soa", dnsInput(5, axfr, encode(std::string(kSoa) + std::string(kSoa))));
    w.write("body_outside_zone",
            dnsInput(5, axfr, encode(std::string(kSoa) + "www.example.com. 1 IN A 192.0.2.1\n")));
    w.write("header_only", bytesOf({0, 12, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
}

// ---- fuzz_zone_data: [flags] records [tag][length u16][payload] -------------------------------

constexpr uint8_t kSign = 0x01;
constexpr uint8_t kFixUp = 0x02;
constexpr uint8_t kInline = 0x04;
constexpr uint8_t kExpired = 0x08;
constexpr uint8_t kNoReply = 0x10;
constexpr uint8_t kNoSig = 0x20;
constexpr uint8_t kStaleNonce = 0x80;

struct ZoneDataInput {
    Bytes bytes;
    explicit ZoneDataInput(uint8_t flags) { bytes.push_back(static_cast<std::byte>(flags)); }
    ZoneDataInput& record(char tag, std::span<const std::byte> payload) {
        bytes.push_back(static_cast<std::byte>(tag));
        bytes.push_back(static_cast<std::byte>(payload.size() >> 8));
        bytes.push_back(static_cast<std::byte>(payload.size() & 0xff));
        append(bytes, payload);
        return *this;
    }
    ZoneDataInput& record(char tag, std::string_view payload) {
        return record(tag, common::asBytes(payload));
    }
    ZoneDataInput& chunk(char tag, uint16_t index, uint8_t attempt, std::string_view data = {}) {
        Bytes payload = bytesOf({index >> 8, index & 0xff, attempt});
        append(payload, data);
        return record(tag, payload);
    }
};

common::Manifest presentManifest(const Bytes& body, bool inline_body, uint32_t chunk_size) {
    auto validated = common::validateBody("example.org.", body).value();
    common::Manifest m{.zone = "example.org.",
                       .status = common::ManifestStatus::Present,
                       .serial = validated.serial,
                       .apex = common::fingerprintFromBody("example.org.", body)->hex(),
                       .rr_count = validated.rr_count,
                       .size = body.size(),
                       .dnssec = validated.dnssec,
                       .presigned = validated.presigned,
                       .signed_at = "2026-09-20T00:00:00Z",
                       .digest = common::toHex(common::blake2b256(body))};
    if (inline_body) {
        m.inline_body = std::string(common::asChars(body));
    } else {
        auto chunking = common::chunkBody(body, chunk_size);
        m.chunk_size = chunk_size;
        m.chunks = static_cast<uint32_t>(chunking.digests.size());
        m.chunk_digests = std::move(chunking.digests);
        m.xfer = "pdns.zonedata.x.0123456789abcdef";
    }
    return m;
}

void writeZoneData(const std::filesystem::path& root) {
    const CorpusWriter w(root, "fuzz_zone_data");
    const Bytes small = encode(kSmallZone);
    const Bytes many = encode(kManyTypes);
    const Bytes signed_zone = encode(kSigned);
    const auto chars = [](const Bytes& b) { return common::asChars(b); };

    // Fix-up mode: the harness derives digests from 'B' and signs, so these reach body checks.
    w.write(
        "fixup_inline_small",
        ZoneDataInput(kSign | kFixUp | kInline).record('M', "{}").record('B', chars(small)).bytes);
    w.write("fixup_inline_signed_zone", ZoneDataInput(kSign | kFixUp | kInline)
                                            .record('M', "{}")
                                            .record('B', chars(signed_zone))
                                            .bytes);
    w.write("fixup_chunked_many", ZoneDataInput(kSign | kFixUp)
                                      .record('M', R"({"chunk_size":64})")
                                      .record('B', chars(many))
                                      .bytes);
    w.write("fixup_chunked_retry", ZoneDataInput(kSign | kFixUp)
                                       .record('M', R"({"chunk_size":100})")
                                       .record('B', chars(small))
                                       .chunk('T', 0, 0)
                                       .chunk('T', 1, 0)
                                       .chunk('T', 1, 1)
                                       .bytes);
    w.write("fixup_chunk_tampered", ZoneDataInput(kSign | kFixUp)
                                        .record('M', R"({"chunk_size":32})")
                                        .record('B', chars(small))
                                        .chunk('C', 1, 0, "not the chunk")
                                        .bytes);
    w.write("fixup_chunk_expired", ZoneDataInput(kSign | kFixUp)
                                       .record('M', R"({"chunk_size":32})")
                                       .record('B', chars(small))
                                       .chunk('C', 2, 0, "")
                                       .bytes);
    w.write("fixup_chunk_all_timeouts", ZoneDataInput(kSign | kFixUp)
                                            .record('M', R"({"chunk_size":4096})")
                                            .record('B', chars(small))
                                            .chunk('T', 0, 0)
                                            .chunk('T', 0, 1)
                                            .chunk('T', 0, 2)
                                            .bytes);
    w.write("fixup_wrong_serial", ZoneDataInput(kSign | kFixUp | kInline)
                                      .record('M', R"({"serial":43,"rr_count":4})")
                                      .record('B', chars(small))
                                      .bytes);
    w.write("fixup_other_zone", ZoneDataInput(kSign | kFixUp | kInline)
                                    .record('M', "{}")
                                    .record('Z', "other.org.")
                                    .record('B', chars(small))
                                    .bytes);
    // Raw manifests, signed as the provider would send them.
    const std::string inline_manifest = common::serializeManifest(presentManifest(small, true, 0));
    const std::string chunked_manifest =
        common::serializeManifest(presentManifest(many, false, 128));
    w.write("raw_inline", ZoneDataInput(kSign).record('M', inline_manifest).bytes);
    w.write("raw_chunked",
            ZoneDataInput(kSign).record('M', chunked_manifest).record('B', chars(many)).bytes);
    w.write("raw_absent", ZoneDataInput(kSign)
                              .record('M', R"({"v":1,"zone":"example.org.","status":"absent",)"
                                           R"("reason":"listing empty and zone url 404",)"
                                           R"("signed_at":"2026-09-20T00:00:00Z"})")
                              .bytes);
    w.write("raw_error",
            ZoneDataInput(kSign)
                .record('M', R"({"v":1,"zone":"example.org.","status":"error",)"
                             R"("reason":"axfr refused","signed_at":"2026-09-20T00:00:00Z"})")
                .bytes);
    w.write("raw_version2", ZoneDataInput(kSign)
                                .record('M', R"({"v":2,"zone":"example.org.","status":"present"})")
                                .bytes);
    // Refusals: unsigned, forged signature, unknown key, expired key, replayed nonce, no reply.
    w.write("unsigned", ZoneDataInput(kNoSig).record('M', inline_manifest).bytes);
    w.write("forged_sig",
            ZoneDataInput(0).record('M', inline_manifest).record('S', std::string(128, 'a')).bytes);
    w.write(
        "unknown_key",
        ZoneDataInput(kSign).record('M', inline_manifest).record('K', "0011223344556677").bytes);
    w.write("expired_key", ZoneDataInput(kSign | kExpired).record('M', inline_manifest).bytes);
    w.write("stale_nonce", ZoneDataInput(kSign | kStaleNonce).record('M', inline_manifest).bytes);
    w.write("no_reply", ZoneDataInput(kNoReply).bytes);
}

// ---- fuzz_zone_key: the whole input as a name, key, id, event or time ---------------------------

void writeZoneKey(const std::filesystem::path& root) {
    const CorpusWriter w(root, "fuzz_zone_key");
    int n = 0;
    for (
        const std::string_view seed : {
            "example.org.",
            "Example.ORG",
            ".",
            "0/26.2.0.192.in-addr.arpa.",
            R"(a\.b.example.org.)",
            R"(\000\255x.example.)",
            R"(back\\slash.example.)",
            "xn--bcher-kva.example.",
            "example.org",
            "org.example",
            "@",
            "%2F26.2.0.192.in-addr.arpa",
            "a%2Eb.example.org",
            "0=2F26.2.0.192.in-addr.arpa.",
            "=2E",
            "under=5Fscore.example.",
            "2026-11-26T13:04:55.123Z",
            "2026-11-26T13:04:55Z",
            R"({"v":1,"zone":"example.org.","op":"upsert","serial":42,"apex":"00112233445566778899aabbccddeeff","cause":"api","at":"2026-11-26T13:04:55.123Z"})",
            R"({"v":1,"zone":"Example.Org","op":"delete","serial":null,"apex":null,"cause":"reconcile","at":"2026-11-26T13:04:55.123Z"})",
            R"({"v":1,"zone":"example.org.","op":"upsert","serial":4294967295,"cause":"resync"})",
            R"({"v":1,"zone":"example.org.","op":"upsert","serial":-1,"cause":"policy"})",
            R"({"v":2,"zone":"example.org.","op":"upsert"})",
            R"({"v":1,"zone":"a\\.b.example.","op":"upsert","cause":"freshness","at":""})",
            "node-1_host",
            "2-11-26T13:04:55Z",  // once overflowed system_clock in parseRfc3339
            // Floats that do not fit an integer once reached nlohmann's get<int>() unchecked.
            R"({"v":1e300,"zone":"example.org.","op":"upsert"})",
            R"({"v":1,"zone":"example.org.","op":"upsert","serial":-1e300})",
        }) {
        w.write(fmt::format("seed_{:02}", n++), seed);
    }
}

// ---- fuzz_tsig: [control][offset u16][mask][skew s16][fudge u16][mac len] payload ------------

namespace syncer = pdns_distribute::secondary_syncer;

namespace tsig_input = pdns_distribute::fuzz::tsig_input;
constexpr uint8_t kTsigSignQuery = tsig_input::kModeSignQuery;
constexpr uint8_t kTsigChain = tsig_input::kModeChain;
constexpr uint8_t kTsigAxfr = tsig_input::kModeAxfr;
constexpr uint8_t kTsigDrop = tsig_input::kDrop;
constexpr uint8_t kTsigSwap = tsig_input::kSwap;
constexpr uint8_t kTsigOtherKeyOrMac = tsig_input::kOtherKeyOrMac;
// Where a TSIG signed with the fuzz key ("pdns-distribute-fuzz.", hmac-sha256) keeps its fields,
// counted from the start of the RR.
constexpr size_t kTsigKeyNameLength = 22;
constexpr size_t kTsigAlgorithmAt = kTsigKeyNameLength + 10;
constexpr size_t kTsigMacAt = kTsigAlgorithmAt + 13 + 10;
const auto kTsigNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'760'000'000}};

using TsigSeed = tsig_input::Header;

Bytes tsigInput(const TsigSeed& s, std::span<const std::byte> payload) {
    return tsig_input::encode(s, payload);
}

// The fuzz key's name and algorithm with another secret: its MACs reach the HMAC check and fail.
const syncer::TsigKey& corpusKey() {
    static const syncer::TsigKey key("pdns-distribute-fuzz.", syncer::TsigAlgorithm::HmacSha256,
                                     Bytes(32, std::byte{'c'}));
    return key;
}

Bytes signedWith(const syncer::TsigKey& key, Bytes query) {
    if (!syncer::signQuery(query, key, kTsigNow)) {
        std::fprintf(stderr, "cannot sign seed query\n");
        std::exit(1);
    }
    return query;
}

// An IXFR query carries the client's SOA in the authority section (RFC 1995 §3).
Bytes ixfrQuery(uint16_t id) {
    Bytes q = bytesOf({id >> 8, id & 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0});
    append(q, common::nameToWire("example.org.").value());
    append(q, bytesOf({0, common::rrtype::kIxfr, 0, 1}));
    append(q, encode(kSoa));
    return q;
}

// Records [length u16][message] as mode 2 reads them.
Bytes chainPayload(std::initializer_list<std::span<const std::byte>> messages) {
    Bytes out;
    for (const auto m : messages) {
        append(out, bytesOf({static_cast<int>(m.size() >> 8), static_cast<int>(m.size() & 0xff)}));
        append(out, m);
    }
    return out;
}

void writeTsig(const std::filesystem::path& root) {
    const CorpusWriter w(root, "fuzz_tsig");
    const Bytes soa = makeQuery(0x1234, "example.org.", common::rrtype::kSoa, 0);
    const Bytes axfr = makeQuery(0x4242, "example.org.", common::rrtype::kAxfr, 0);
    const Bytes ixfr = ixfrQuery(0x7777);
    Bytes with_opt = axfr;  // an EDNS OPT RR in the additional section
    with_opt[11] = std::byte{1};
    append(with_opt, bytesOf({0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}));

    // Mode 1: the harness signs the payload with the real signer, then tampers as told.
    const TsigSeed sign{.control = kTsigSignQuery};
    w.write("sign_soa", tsigInput(sign, soa));
    w.write("sign_axfr", tsigInput(sign, axfr));
    w.write("sign_ixfr", tsigInput(sign, ixfr));
    w.write("sign_axfr_with_opt", tsigInput(sign, with_opt));
    const size_t at = axfr.size();
    w.write("sign_axfr_id_flipped",
            tsigInput({.control = kTsigSignQuery, .offset = 1, .mask = 0xff}, axfr));
    w.write("sign_axfr_qname_case",
            tsigInput({.control = kTsigSignQuery, .offset = 13, .mask = 0x20}, axfr));
    w.write("sign_axfr_mac_flipped",
            tsigInput({.control = kTsigSignQuery,
                       .offset = static_cast<uint16_t>(at + kTsigMacAt + 5),
                       .mask = 1},
                      axfr));
    w.write("sign_axfr_key_name_case",
            tsigInput(
                {.control = kTsigSignQuery, .offset = static_cast<uint16_t>(at + 1), .mask = 0x20},
                axfr));
    w.write("sign_axfr_algorithm_case",
            tsigInput({.control = kTsigSignQuery,
                       .offset = static_cast<uint16_t>(at + kTsigAlgorithmAt + 1),
                       .mask = 0x20},
                      axfr));
    w.write("sign_axfr_arcount_flipped",
            tsigInput({.control = kTsigSignQuery, .offset = 11, .mask = 0x03}, axfr));
    w.write("sign_axfr_badtime", tsigInput({.control = kTsigSignQuery, .skew = 301}, axfr));
    w.write("sign_axfr_badtime_fudge0",
            tsigInput({.control = kTsigSignQuery, .skew = -1, .fudge = 0}, axfr));
    w.write("sign_axfr_trunc16", tsigInput({.control = kTsigSignQuery, .mac_length = 16}, axfr));
    w.write("sign_axfr_trunc9", tsigInput({.control = kTsigSignQuery, .mac_length = 9}, axfr));
    w.write("sign_axfr_trunc16_badtime",
            tsigInput({.control = kTsigSignQuery, .skew = 4000, .mac_length = 16}, axfr));
    for (const auto& [name, key] :
         {std::pair{"sign_axfr_key_upper_case", 1}, std::pair{"sign_axfr_other_secret", 2},
          std::pair{"sign_axfr_other_name", 3}, std::pair{"sign_axfr_sha512", 4},
          std::pair{"sign_axfr_sha1", 5}}) {
        w.write(name,
                tsigInput({.control = static_cast<uint8_t>(kTsigSignQuery | (key << 2))}, axfr));
    }
    w.write("sign_axfr_no_listener_key",
            tsigInput({.control = kTsigSignQuery | kTsigOtherKeyOrMac}, axfr));
    w.write("sign_response", tsigInput(sign, makeQuery(1, "example.org.", 6, 0x84)));
    w.write("sign_notify", tsigInput(sign, makeQuery(2, "example.org.", 6, 0x20)));
    Bytes cut = axfr;
    cut.resize(cut.size() - 3);
    w.write("sign_truncated_query", tsigInput(sign, cut));

    // Mode 0: raw messages, signed (if at all) with a key of the same name and another secret.
    const TsigSeed raw{};
    w.write("raw_soa_badsig", tsigInput(raw, signedWith(corpusKey(), soa)));
    w.write("raw_axfr_badsig", tsigInput(raw, signedWith(corpusKey(), axfr)));
    w.write("raw_ixfr_badsig", tsigInput(raw, signedWith(corpusKey(), ixfr)));
    w.write("raw_axfr_unsigned", tsigInput(raw, axfr));
    Bytes truncated = signedWith(corpusKey(), axfr);
    truncated.resize(truncated.size() - 5);
    w.write("raw_axfr_truncated", tsigInput(raw, truncated));
    w.write("raw_axfr_two_tsigs",
            tsigInput(raw, signedWith(corpusKey(), signedWith(corpusKey(), axfr))));
    Bytes not_last = signedWith(corpusKey(), axfr);  // an OPT RR after the TSIG
    not_last[11] = std::byte{2};
    append(not_last, bytesOf({0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}));
    w.write("raw_axfr_tsig_not_last", tsigInput(raw, not_last));
    Bytes class_in = signedWith(corpusKey(), axfr);
    class_in[at + kTsigKeyNameLength + 3] = std::byte{1};
    w.write("raw_axfr_tsig_class_in", tsigInput(raw, class_in));
    // The key name as a pointer to the question name, and as a pointer to itself.
    const Bytes signed_axfr = signedWith(corpusKey(), axfr);
    for (const auto& [name, pointer] :
         {std::pair{"raw_axfr_key_name_pointer", bytesOf({0xc0, 12})},
          std::pair{"raw_axfr_key_name_loop",
                    bytesOf({0xc0 | static_cast<int>(at >> 8), static_cast<int>(at & 0xff)})}}) {
        Bytes m(signed_axfr.begin(), signed_axfr.begin() + static_cast<std::ptrdiff_t>(at));
        append(m, pointer);
        m.insert(m.end(),
                 signed_axfr.begin() + static_cast<std::ptrdiff_t>(at + kTsigKeyNameLength),
                 signed_axfr.end());
        w.write(name, tsigInput(raw, m));
    }
    Bytes zero_mac = signed_axfr;  // MAC size field zeroed
    zero_mac[at + kTsigMacAt - 2] = std::byte{0};
    zero_mac[at + kTsigMacAt - 1] = std::byte{0};
    w.write("raw_axfr_mac_size_zero", tsigInput(raw, zero_mac));
    // What the listener answers a query signed with another secret: NOTAUTH with a TSIG whose MAC
    // is empty (RFC 8945 §5.3.2). No client may take it for a signed answer.
    const syncer::TsigKey other_secret("pdns-distribute-fuzz.", syncer::TsigAlgorithm::HmacSha256,
                                       Bytes(32, std::byte{'d'}));
    const auto badsig = syncer::verifyRequest(signed_axfr, other_secret, kTsigNow);
    w.write(
        "raw_badsig_reply",
        tsigInput(raw,
                  syncer::tsigErrorResponse(signed_axfr, badsig, other_secret, kTsigNow).value()));
    w.write("raw_header_only", tsigInput(raw, bytesOf({0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})));
    w.write("raw_short", bytesOf({0, 1, 2, 3}));

    // Modes 2 and 3: the listener's answer chain, signed, tampered, checked by the client.
    const Bytes small = encode(kSmallZone);
    const Bytes many = encode(kManyTypes);
    const auto small_axfr = common::buildAxfrResponse(axfr, "example.org.", small).value();
    const auto many_axfr = common::buildAxfrResponse(axfr, "example.org.", many).value();
    const Bytes soa_answer = common::buildSoaResponse(soa, small).value();
    const Bytes chain = chainPayload({small_axfr.front(), many_axfr.front(), soa_answer});
    w.write("chain_three", tsigInput({.control = kTsigChain}, chain));
    w.write("chain_three_flip_second",
            tsigInput({.control = kTsigChain,
                       .offset = static_cast<uint16_t>(small_axfr.front().size() + 200),
                       .mask = 4},
                      chain));
    w.write("chain_three_drop_first", tsigInput({.control = kTsigChain | kTsigDrop}, chain));
    w.write("chain_three_swap_first", tsigInput({.control = kTsigChain | kTsigSwap}, chain));
    w.write("chain_three_badtime", tsigInput({.control = kTsigChain, .skew = -600}, chain));
    w.write("chain_three_second_mac_cut_to_nothing",
            tsigInput({.control = kTsigChain | kTsigDrop | kTsigSwap, .offset = 1}, chain));
    w.write("chain_three_first_mac_cut_to_16",
            tsigInput({.control = kTsigChain | kTsigDrop | kTsigSwap, .mac_length = 16}, chain));
    w.write("chain_three_other_request_mac",
            tsigInput({.control = kTsigChain | kTsigOtherKeyOrMac}, chain));
    const Bytes header_only = bytesOf({0x42, 0x42, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    const Bytes missing_question = bytesOf({0x42, 0x42, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    w.write("chain_malformed_middle",
            tsigInput({.control = kTsigChain},
                      chainPayload({small_axfr.front(), missing_question, header_only})));
    w.write("chain_short_message",
            tsigInput({.control = kTsigChain},
                      chainPayload({header_only, bytesOf({0x42, 0x42, 0x84, 0, 0, 0})})));
    const Bytes signed_zone = encode(kSigned);
    const Bytes reverse = encode(kReverse);
    w.write("axfr_small", tsigInput({.control = kTsigAxfr}, small));
    w.write("axfr_many_types", tsigInput({.control = kTsigAxfr}, many));
    w.write("axfr_signed_zone", tsigInput({.control = kTsigAxfr}, signed_zone));
    w.write("axfr_reverse", tsigInput({.control = kTsigAxfr}, reverse));
    w.write("axfr_small_flip",
            tsigInput({.control = kTsigAxfr, .offset = 40, .mask = 0x80}, small));
    // Once made every message of the listener's answer unverifiable: an RR of type TSIG inside the
    // body (validateBody now refuses meta and query types).
    Bytes tsig_typed = small;
    append(tsig_typed, common::nameToWire("example.org.").value());
    append(tsig_typed, bytesOf({0, 250, 0, 255, 0, 0, 0, 0, 0, 0}));
    w.write("axfr_tsig_typed_rr_in_body", tsigInput({.control = kTsigAxfr}, tsig_typed));
    w.write("axfr_small_badtime",
            tsigInput({.control = kTsigAxfr, .skew = 20, .fudge = 10}, small));
}

// ---- fuzz_config: TOML ----------------------------------------------------------------------

void writeConfig(const std::filesystem::path& root) {
    const CorpusWriter w(root, "fuzz_config");
    w.write("syncer_full", R"(# secondary syncer
[syncer]
node_id = "ns2-fra"
group = "default"
state_dir = "/var/lib/pdns-distribute/secondary-syncer"
listen = "127.0.0.1:5300"
allow = ["127.0.0.1", "::1"]
pdns_dns = "127.0.0.1:53"
max_zone_bytes = 268435456
request_timeout = "10s"
apply_timeout = "30s"
ack_wait = "1m"
heartbeat = "5s"
max_ack_pending = 1000
workers = 8
delete_budget_min = 100
delete_budget_percent = 5
delete_budget_window = "10m"
park_backoff_max = "10m"

[[trusted_key]]
file = "/etc/pdns-distribute/primary-2026.pub"
not_after = "2027-01-31T00:00:00Z"

[[trusted_key]]
file = "/etc/pdns-distribute/primary-2027.pub"

[pdns]
url = "http://127.0.0.1:8081"
server_id = "localhost"
api_key_file = "/etc/pdns-distribute/api-key"
timeout = "5s"

[nats]
urls = ["tls://nats1:4222", "tls://nats2:4222"]
name = "syncer-ns2"
connect_timeout = "2s"
reconnect_wait = "250ms"
initial_connect_deadline = "30s"
user = "secondary"
password_file = "/etc/pdns-distribute/nats-password"
tls_ca_file = "/etc/ssl/nats-ca.pem"
tls_cert_file = "/etc/ssl/syncer.pem"
tls_key_file = "/etc/ssl/syncer.key"
)");
    w.write("representative", R"(debug = true
log_level = "debug"
[syncer]
enabled = false
delete_budget_min = -5
heartbeat = "1d"
[syncer.limits]
depth = 3
strict = true
unknown = 1
)");
    w.write("wrong_types", R"(s = 1
[nats]
urls = "nats://single:4222"
connect_timeout = 5
user = "u"
[pdns]
url = "ftp://x"
server_id = ""
timeout = "0"
[syncer]
workers = 1.5
allow = ["a", 2]
max_zone_bytes = 9223372036854775807
request_timeout = "99999999999999999999d"
)");
    w.write("inline_tables", R"(nats = { urls = ["nats://a:4222"], name = "x" }
syncer = { node_id = "n1", group = "x" }
trusted_key = [ { file = "/k1" }, { file = "/k2", not_after = "not a time" } ]
pdns.url = "https://[::1]:8081"
)");
    w.write("trusted_key_year_2",  // once overflowed system_clock in parseRfc3339
            "[[trusted_key]]\nfile = \"/k\"\nnot_after = \"2-11-26T13:04:55Z\"\n");
    w.write("trusted_key_not_array", "trusted_key = \"/k\"\n[syncer]\nnode_id = \"bad id!\"\n");
    w.write("syntax_error", "[nats\nurls = [\"a\"\n");
    w.write("strings", R"(log_level = 'lit\eral'
[syncer]
node_id = """
multi
line"""
group = "\u00e9\t\\"
)");
    w.write("dates_and_floats", "a = 1979-05-27T07:32:00Z\nb = 07:32:00\nc = inf\nd = 0x1f\n");
    w.write("duration_5s", "5s");
    // Inputs on which toml++ 3.3 trips its own debug assertion ("[{") and reaches
    // TOML_UNREACHABLE (U+FEF8 at the start of a line); the release library refuses both cleanly.
    w.write("toml_brace_in_table_header", "[{ }syncer]\nworkers = 1\n");
    w.write("toml_u_fef8_line_start", "\xef\xbb\xb8ts\nlsena\x01=e6da\x13\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path root(argv[1]);
    writeDnsCodec(root);
    writeZoneData(root);
    writeZoneKey(root);
    writeConfig(root);
    writeTsig(root);
    return 0;
}
