// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/dns.hpp>

#include <ldns/ldns.h>

#include <gtest/gtest.h>

#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace pdns_distribute::common {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::string_view kSoa =
    "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 "
    "1209600 300\n";
constexpr std::string_view kKsk =
    "example.org. 3600 IN DNSKEY 257 3 13 "
    "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n";
constexpr std::string_view kZsk =
    "example.org. 3600 IN DNSKEY 256 3 13 "
    "oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA==\n";
constexpr std::string_view kSigA =
    "ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==";
constexpr std::string_view kSigB =
    "AAHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==";

struct PktDeleter {
    void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

Bytes encode(std::string_view text) {
    auto body = encodeRrsFromText(text);
    EXPECT_TRUE(body) << (body ? "" : body.error().message);
    return body ? *body : Bytes{};
}

Bytes wireName(std::string_view name) {
    auto wire = nameToWire(name);
    EXPECT_TRUE(wire) << name;
    return wire ? *wire : Bytes{};
}

Bytes bytesOf(std::initializer_list<int> values) {
    Bytes out;
    for (const int v : values) {
        out.push_back(static_cast<std::byte>(v));
    }
    return out;
}

std::string rrsigSoa(std::string_view expiration, std::string_view inception, int tag,
                     std::string_view sig) {
    return fmt::format("example.org. 3600 IN RRSIG SOA 13 2 3600 {} {} {} example.org. {}\n",
                       expiration, inception, tag, sig);
}

// A query as a resolver would send it: id, RD, one question, optionally compressed or broken
// by the caller afterwards.
Bytes makeQuery(uint16_t id, std::string_view qname, uint16_t qtype, uint8_t flags1 = 0x01) {
    Bytes q = bytesOf({id >> 8, id & 0xff, flags1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    const Bytes name = wireName(qname);
    q.insert(q.end(), name.begin(), name.end());
    const Bytes tail = bytesOf({qtype >> 8, qtype & 0xff, 0, 1});
    q.insert(q.end(), tail.begin(), tail.end());
    return q;
}

Pkt parsePkt(std::span<const std::byte> message) {
    ldns_pkt* raw = nullptr;
    const auto status =
        ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(message.data()), message.size());
    EXPECT_EQ(status, LDNS_STATUS_OK) << ldns_get_errorstr_by_id(status);
    return Pkt(raw);
}

Bytes rrToWire(const ldns_rr* rr) {
    ldns_buffer* buffer = ldns_buffer_new(256);
    EXPECT_EQ(ldns_rr2buffer_wire(buffer, rr, LDNS_SECTION_ANSWER), LDNS_STATUS_OK);
    const auto* begin = reinterpret_cast<const std::byte*>(ldns_buffer_begin(buffer));
    Bytes out(begin, begin + ldns_buffer_position(buffer));
    ldns_buffer_free(buffer);
    return out;
}

uint32_t epoch(int year, int month, int day) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    return static_cast<uint32_t>(timegm(&tm));
}

// ---- names ------------------------------------------------------------------------------------

TEST(NameToWire, SimpleName_EncodesLabels) {
    EXPECT_EQ(wireName("example.org."),
              bytesOf({7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0}));
}

TEST(NameToWire, NoTrailingDot_IsTakenAsAbsolute) {
    EXPECT_EQ(wireName("example.org"), wireName("example.org."));
}

TEST(NameToWire, Root_IsOneZeroByte) { EXPECT_EQ(wireName("."), bytesOf({0})); }

TEST(NameToWire, Rfc2317Name_KeepsSlashAsPlainByte) {
    const Bytes wire = wireName("0/26.2.0.192.in-addr.arpa.");
    ASSERT_GE(wire.size(), 5u);
    EXPECT_EQ(wire[0], std::byte{4});
    EXPECT_EQ(asChars(std::span(wire).subspan(1, 4)), "0/26");
    EXPECT_EQ(wireToName(wire), "0/26.2.0.192.in-addr.arpa.");
}

TEST(NameToWire, Escapes_DecodeToRawBytes) {
    const Bytes wire = wireName(R"(a\.b.c\065\000.)");
    EXPECT_EQ(wire, bytesOf({3, 'a', '.', 'b', 3, 'c', 'A', 0, 0}));
    EXPECT_EQ(wireToName(wire), R"(a\.b.cA\000.)");
}

TEST(NameToWire, BadNames_Fail) {
    const std::string long_label(64, 'a');
    std::string long_name;
    for (int i = 0; i < 5; ++i) {
        long_name += std::string(60, 'b') + ".";
    }
    for (const std::string& bad : {std::string(), std::string("a..b."), std::string(".."),
                                   std::string(".a."), std::string("a\\"), std::string("a\\25"),
                                   std::string("a\\256."), long_label + ".", long_name}) {
        EXPECT_FALSE(nameToWire(bad)) << bad;
    }
    EXPECT_TRUE(nameToWire(std::string(63, 'a') + "."));
}

TEST(WireToName, UnderscoreAndIdn_RoundTripUnescaped) {
    for (const std::string_view name :
         {"_tcp.example.", "_443._tcp.www.example.org.", "xn--bcher-kva.example.", "a-b.c_d."}) {
        EXPECT_EQ(wireToName(wireName(name)), name);
    }
}

TEST(WireToName, SpecialBytes_AreEscapedAndRoundTrip) {
    const Bytes wire = bytesOf({5, ' ', '"', ';', '\\', 0xff, 0});
    const std::string name = wireToName(wire);
    EXPECT_EQ(name, R"(\032";\\\255.)");  // escaped as PowerDNS prints names
    EXPECT_EQ(wireName(name), wire);
}

TEST(WireToName, Root_IsDot) { EXPECT_EQ(wireToName(bytesOf({0})), "."); }

TEST(WireNamesEqual, DifferentCase_AreEqual) {
    EXPECT_TRUE(wireNamesEqual(wireName("WWW.Example.ORG."), wireName("www.example.org.")));
    EXPECT_FALSE(wireNamesEqual(wireName("www.example.org."), wireName("ww.example.org.")));
    EXPECT_FALSE(wireNamesEqual(wireName("a.example.org."), wireName("b.example.org.")));
}

TEST(WireNameAtOrBelow, Cases_FollowLabelBoundaries) {
    const Bytes zone = wireName("example.org.");
    EXPECT_TRUE(wireNameAtOrBelow(wireName("example.org."), zone));
    EXPECT_TRUE(wireNameAtOrBelow(wireName("a.b.EXAMPLE.org."), zone));
    EXPECT_FALSE(wireNameAtOrBelow(wireName("notexample.org."), zone));
    EXPECT_FALSE(wireNameAtOrBelow(wireName("org."), zone));
    EXPECT_FALSE(wireNameAtOrBelow(wireName("example.com."), zone));
    EXPECT_TRUE(wireNameAtOrBelow(wireName("anything.example."), wireName(".")));
    // A label whose bytes look like the zone must not count: "x\007example\003org" as one label.
    EXPECT_FALSE(wireNameAtOrBelow(wireName(R"(x\007example\003org.)"), zone));
}

// ---- body codec ---------------------------------------------------------------------------------

constexpr std::string_view kManyTypes =
    R"(example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300
; a comment line and a blank line follow

example.org. 3600 IN NS ns1.example.org.
example.org. 3600 IN MX 10 mail.example.org.
WwW.ExAmple.org. 300 IN A 192.0.2.1
www.example.org. 300 IN AAAA 2001:db8::1
alias.example.org. 300 IN CNAME www.example.org.
txt.example.org. 300 IN TXT "hello world" "second"
_sip._udp.example.org. 3600 IN SRV 10 60 5060 sip.example.org.
example.org. 3600 IN CAA 0 issue "letsencrypt.org"
example.org. 3600 IN NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.example.org.
_443._tcp.www.example.org. 3600 IN TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
www.example.org. 3600 IN SSHFP 4 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
sub.example.org. 3600 IN DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE1AFE51DE1AFE51DE1AFE51DE
example.org. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
example.org. 3600 IN RRSIG SOA 13 2 3600 20240201000000 20240101000000 31589 example.org. ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
example.org. 3600 IN NSEC www.example.org. NS SOA MX RRSIG NSEC DNSKEY CAA
2vptu5timamqttgl4luu9kg21e0aor3s.example.org. 3600 IN NSEC3 1 0 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG
example.org. 0 IN NSEC3PARAM 1 0 10 AABBCCDD
unk.example.org. 300 IN TYPE65534 \# 3 abcdef
)";

TEST(EncodeRrsFromText, ManyTypes_DecodesInOrderWithFields) {
    const Bytes body = encode(kManyTypes);
    const auto rrs = decodeBody(body);
    ASSERT_TRUE(rrs) << rrs.error().message;
    const std::vector<uint16_t> types = {6,  2,  15, 1,  28, 5,  16, 33, 257,  35,
                                         52, 44, 43, 48, 46, 47, 50, 51, 65534};
    ASSERT_EQ(rrs->size(), types.size());
    for (size_t i = 0; i < types.size(); ++i) {
        EXPECT_EQ((*rrs)[i].type, types[i]) << i;
        EXPECT_EQ((*rrs)[i].rclass, 1) << i;
    }
    EXPECT_EQ((*rrs)[3].ttl, 300u);
    EXPECT_EQ((*rrs)[17].ttl, 0u);
    EXPECT_EQ((*rrs)[18].rdata.size(), 3u);
    EXPECT_EQ(Bytes((*rrs)[18].rdata.begin(), (*rrs)[18].rdata.end()), bytesOf({0xab, 0xcd, 0xef}));
}

TEST(EncodeRrsFromText, EmbeddedNames_AreUncompressed) {
    const Bytes body = encode(kManyTypes);
    const auto rrs = decodeBody(body);
    ASSERT_TRUE(rrs);
    Bytes mx_rdata = bytesOf({0, 10});
    const Bytes mail = wireName("mail.example.org.");
    mx_rdata.insert(mx_rdata.end(), mail.begin(), mail.end());
    EXPECT_EQ(Bytes((*rrs)[2].rdata.begin(), (*rrs)[2].rdata.end()), mx_rdata);
    const Bytes target = wireName("www.example.org.");
    EXPECT_EQ(Bytes((*rrs)[5].rdata.begin(), (*rrs)[5].rdata.end()), target);
}

TEST(EncodeRrsFromText, MixedCaseOwner_CaseIsPreserved) {
    const Bytes body = encode(kManyTypes);
    const auto rrs = decodeBody(body);
    ASSERT_TRUE(rrs);
    EXPECT_EQ(wireToName((*rrs)[3].owner), "WwW.ExAmple.org.");
}

TEST(DecodeBody, ManyTypes_ViewsRebuildTheBodyAndLdnsAgrees) {
    const Bytes body = encode(kManyTypes);
    const auto rrs = decodeBody(body);
    ASSERT_TRUE(rrs);
    Bytes rebuilt;
    for (const RrView& rr : *rrs) {
        rebuilt.insert(rebuilt.end(), rr.owner.begin(), rr.owner.end());
        const Bytes fixed = bytesOf(
            {rr.type >> 8, rr.type & 0xff, rr.rclass >> 8, rr.rclass & 0xff,
             static_cast<int>(rr.ttl >> 24), static_cast<int>((rr.ttl >> 16) & 0xff),
             static_cast<int>((rr.ttl >> 8) & 0xff), static_cast<int>(rr.ttl & 0xff),
             static_cast<int>(rr.rdata.size() >> 8), static_cast<int>(rr.rdata.size() & 0xff)});
        rebuilt.insert(rebuilt.end(), fixed.begin(), fixed.end());
        rebuilt.insert(rebuilt.end(), rr.rdata.begin(), rr.rdata.end());
        // ldns reads the same RR and writes back identical bytes (no compression, case kept).
        ldns_rr* parsed = nullptr;
        size_t pos = 0;
        ASSERT_EQ(ldns_wire2rr(&parsed, reinterpret_cast<const uint8_t*>(rr.wire.data()),
                               rr.wire.size(), &pos, LDNS_SECTION_ANSWER),
                  LDNS_STATUS_OK);
        EXPECT_EQ(rrToWire(parsed), Bytes(rr.wire.begin(), rr.wire.end()));
        ldns_rr_free(parsed);
    }
    EXPECT_EQ(rebuilt, body);
}

TEST(EncodeRrsFromText, BadLine_FailsWithLineNumber) {
    const auto body = encodeRrsFromText("example.org. 300 IN A 192.0.2.1\nbroken line here\n");
    ASSERT_FALSE(body);
    EXPECT_NE(body.error().message.find("line 2"), std::string::npos) << body.error().message;
}

std::vector<size_t> rrBoundaries(const Bytes& body) {
    std::vector<size_t> out{0};
    const auto rrs = decodeBody(body);
    EXPECT_TRUE(rrs);
    for (const RrView& rr : *rrs) {
        out.push_back(out.back() + rr.wire.size());
    }
    return out;
}

TEST(DecodeBody, EveryCutPoint_FailsUnlessOnRrBoundary) {
    const Bytes body = encode(std::string(kSoa) +
                              "www.example.org. 300 IN A 192.0.2.1\n"
                              "txt.example.org. 300 IN TXT \"abc\"\n");
    const auto boundaries = rrBoundaries(body);
    ASSERT_EQ(boundaries.size(), 4u);
    for (size_t cut = 1; cut < body.size(); ++cut) {
        const std::span<const std::byte> prefix(body.data(), cut);
        const bool on_boundary =
            std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
        EXPECT_EQ(decodeBody(prefix).hasValue(), on_boundary) << "cut " << cut;
        if (!on_boundary) {
            EXPECT_FALSE(validateBody("example.org.", Bytes(prefix.begin(), prefix.end())));
        }
    }
}

TEST(DecodeBody, TrailingBytes_Fail) {
    const Bytes body = encode(std::string(kSoa) + "www.example.org. 300 IN A 192.0.2.1\n");
    for (size_t extra = 1; extra <= 12; ++extra) {
        Bytes longer = body;
        longer.insert(longer.end(), extra, std::byte{1});  // never a complete name
        EXPECT_FALSE(decodeBody(longer)) << extra;
        EXPECT_FALSE(validateBody("example.org.", longer)) << extra;
    }
}

TEST(DecodeBody, CompressionPointerInOwner_Fails) {
    Bytes body = encode(kSoa);
    Bytes rr = bytesOf({3, 'w', 'w', 'w', 0xc0, 0x00, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 1, 2, 3, 4});
    body.insert(body.end(), rr.begin(), rr.end());
    EXPECT_FALSE(decodeBody(body));
}

TEST(DecodeBody, RdlengthPastEnd_Fails) {
    Bytes body = encode(std::string(kSoa) + "www.example.org. 300 IN A 192.0.2.1\n");
    body[body.size() - 5] = std::byte{5};  // RDLENGTH 4 -> 5
    EXPECT_FALSE(decodeBody(body));
}

TEST(DecodeBody, Empty_GivesNoRrs) {
    const auto rrs = decodeBody({});
    ASSERT_TRUE(rrs);
    EXPECT_TRUE(rrs->empty());
}

// ---- validation
// -----------------------------------------------------------------------------------

TEST(ValidateBody, PlainZone_FillsFacts) {
    const auto body = validateBody(
        "example.org.", encode(std::string(kSoa) + "www.example.org. 300 IN A 192.0.2.1\n"));
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(body->serial, 2024010101u);
    EXPECT_EQ(body->rr_count, 2u);
    EXPECT_FALSE(body->dnssec);
    EXPECT_FALSE(body->presigned);
}

TEST(ValidateBody, SignedZone_IsDnssecAndPresigned) {
    const auto body = validateBody(
        "example.org.", encode(std::string(kSoa) + std::string(kKsk) +
                               rrsigSoa("20240201000000", "20240101000000", 31589, kSigA)));
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_TRUE(body->dnssec);
    EXPECT_TRUE(body->presigned);
}

TEST(ValidateBody, NsecOnly_IsDnssecNotPresigned) {
    const auto body = validateBody(
        "example.org.",
        encode(std::string(kSoa) + "example.org. 300 IN NSEC www.example.org. NS SOA\n"));
    ASSERT_TRUE(body);
    EXPECT_TRUE(body->dnssec);
    EXPECT_FALSE(body->presigned);
}

TEST(ValidateBody, ZoneNameOtherCase_Accepted) {
    const auto body = validateBody(
        "example.org.",
        encode("EXAMPLE.Org. 3600 IN SOA ns1.example.org. h.example.org. 7 1 1 1 1\n"));
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(body->serial, 7u);
}

TEST(ValidateBody, SoaNotFirst_Fails) {
    const auto body = validateBody(
        "example.org.", encode("www.example.org. 300 IN A 192.0.2.1\n" + std::string(kSoa)));
    ASSERT_FALSE(body);
    EXPECT_EQ(body.error().code, "malformed");
}

TEST(ValidateBody, SecondSoa_Fails) {
    EXPECT_FALSE(validateBody("example.org.", encode(std::string(kSoa) + std::string(kSoa))));
}

TEST(ValidateBody, OwnerOutsideZone_Fails) {
    EXPECT_FALSE(validateBody("example.org.",
                              encode(std::string(kSoa) + "www.example.com. 300 IN A 192.0.2.1\n")));
    EXPECT_FALSE(validateBody("example.org.",
                              encode(std::string(kSoa) + "notexample.org. 300 IN A 192.0.2.1\n")));
}

TEST(ValidateBody, SoaOfOtherZone_Fails) {
    EXPECT_FALSE(validateBody("sub.example.org.", encode(kSoa)));
    EXPECT_FALSE(validateBody("org.", encode(kSoa)));
}

TEST(ValidateBody, Empty_Fails) { EXPECT_FALSE(validateBody("example.org.", {})); }

// Found by fuzz_tsig: a TSIG-typed RR in a body made every AXFR message the listener signed fail
// verification (the TSIG RR must be the last additional record), so the zone never transferred.
TEST(ValidateBody, MetaOrQueryType_Fails) {
    for (const int type : {41, 128, 249, 250, 251, 252, 255}) {
        Bytes body = encode(kSoa);
        const auto owner = nameToWire("www.example.org.");
        body.insert(body.end(), owner->begin(), owner->end());
        for (const int b : {type >> 8, type & 0xff, 0, 1, 0, 0, 1, 44, 0, 0}) {
            body.push_back(static_cast<std::byte>(b));
        }
        const auto validated = validateBody("example.org.", body);
        ASSERT_FALSE(validated) << "type " << type;
        EXPECT_EQ(validated.error().code, "malformed");
        EXPECT_FALSE(
            buildAxfrResponse(makeQuery(9, "example.org.", rrtype::kAxfr), "example.org.", body))
            << "type " << type;
    }
    // Data types on either side of the range still pass, unknown ones included (RFC 3597).
    EXPECT_TRUE(validateBody("example.org.",
                             encode(std::string(kSoa) + "a.example.org. 1 IN TYPE127 \\# 0\n" +
                                    "b.example.org. 1 IN TYPE256 \\# 0\n")));
}

TEST(ValidateBody, Rfc2317Zone_Accepted) {
    const auto body = validateBody(
        "0/26.2.0.192.in-addr.arpa.",
        encode("0/26.2.0.192.in-addr.arpa. 3600 IN SOA ns.example.org. h.example.org. 5 1 1 1 1\n"
               "1.0/26.2.0.192.in-addr.arpa. 3600 IN PTR host.example.org.\n"));
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(body->rr_count, 2u);
}

// ---- fingerprint
// ----------------------------------------------------------------------------------

std::string signedZone(std::string_view inception, std::string_view sig, bool keys_swapped) {
    std::string text(kSoa);
    text += keys_swapped ? std::string(kZsk) + std::string(kKsk)
                         : std::string(kKsk) + std::string(kZsk);
    text += rrsigSoa("20240201000000", inception, 31589, sig);
    text += rrsigSoa("20240215000000", "20240110000000", 4711, kSigB);
    text +=
        "example.org. 3600 IN RRSIG DNSKEY 13 2 3600 20240201000000 20240101000000 31589 "
        "example.org. " +
        std::string(kSigA) + "\n";
    text += "www.example.org. 300 IN A 192.0.2.1\n";
    return text;
}

ApexFingerprint fingerprint(const std::string& text) {
    const auto fp = fingerprintFromBody("example.org.", encode(text));
    EXPECT_TRUE(fp) << (fp ? "" : fp.error().message);
    return fp ? *fp : ApexFingerprint{};
}

TEST(FingerprintFromBody, SignedZone_ReadsSerialKeysAndSoaSignatures) {
    const ApexFingerprint fp = fingerprint(signedZone("20240101000000", kSigA, false));
    EXPECT_EQ(fp.serial, 2024010101u);
    EXPECT_NE(fp.dnskey_hash, (std::array<std::byte, 16>{}));
    ASSERT_EQ(fp.soa_sigs.size(), 2u);  // RRSIG(DNSKEY) is not counted
    EXPECT_EQ(fp.soa_sigs[0].key_tag, 4711);
    EXPECT_EQ(fp.soa_sigs[0].inception, epoch(2024, 1, 10));
    EXPECT_EQ(fp.soa_sigs[0].expiration, epoch(2024, 2, 15));
    EXPECT_EQ(fp.soa_sigs[1].key_tag, 31589);
    EXPECT_EQ(fp.soa_sigs[1].inception, epoch(2024, 1, 1));
    EXPECT_EQ(fp.soa_sigs[1].expiration, epoch(2024, 2, 1));
    EXPECT_EQ(fp.hex().size(), 32u);
}

TEST(FingerprintFromBody, DnskeyOrder_DoesNotMatter) {
    EXPECT_EQ(fingerprint(signedZone("20240101000000", kSigA, false)),
              fingerprint(signedZone("20240101000000", kSigA, true)));
}

TEST(FingerprintFromBody, NewInception_ChangesHex) {
    EXPECT_NE(fingerprint(signedZone("20240101000000", kSigA, false)).hex(),
              fingerprint(signedZone("20240102000000", kSigA, false)).hex());
}

TEST(FingerprintFromBody, OtherSignatureBytes_KeepsHex) {
    EXPECT_EQ(fingerprint(signedZone("20240101000000", kSigA, false)).hex(),
              fingerprint(signedZone("20240101000000", kSigB, false)).hex());
}

TEST(FingerprintFromBody, KeyRemoved_ChangesHex) {
    std::string without_zsk = signedZone("20240101000000", kSigA, false);
    without_zsk.erase(without_zsk.find(kZsk), kZsk.size());
    EXPECT_NE(fingerprint(signedZone("20240101000000", kSigA, false)).hex(),
              fingerprint(without_zsk).hex());
}

TEST(FingerprintFromBody, UnsignedZone_HasZeroKeyHashAndNoSigs) {
    const ApexFingerprint fp = fingerprint(std::string(kSoa));
    EXPECT_EQ(fp.dnskey_hash, (std::array<std::byte, 16>{}));
    EXPECT_TRUE(fp.soa_sigs.empty());
    EXPECT_EQ(fp.serial, 2024010101u);
}

TEST(FingerprintFromBody, NewSerial_ChangesHex) {
    std::string bumped(kSoa);
    bumped.replace(bumped.find("2024010101"), 10, "2024010102");
    EXPECT_NE(fingerprint(std::string(kSoa)).hex(), fingerprint(bumped).hex());
}

TEST(FingerprintFromBody, InvalidBody_Fails) {
    EXPECT_FALSE(fingerprintFromBody("example.org.", encode("www.example.org. 1 IN A 1.2.3.4\n")));
}

TEST(ApexFingerprintHex, KnownInput_MatchesSpecifiedLayout) {
    ApexFingerprint fp;
    fp.serial = 0x01020304;
    fp.soa_sigs.push_back({.key_tag = 0x0506, .inception = 0x0708090a, .expiration = 0x0b0c0d0e});
    Bytes input = bytesOf({1, 2, 3, 4});
    input.insert(input.end(), 16, std::byte{0});
    const Bytes sig = bytesOf({5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
    input.insert(input.end(), sig.begin(), sig.end());
    EXPECT_EQ(fp.hex(), toHex(blake2b128(input)));
}

// ---- hashing and hex
// -------------------------------------------------------------------------------

TEST(Blake2b256, EmptyInput_MatchesReferenceVector) {
    EXPECT_EQ(toHex(blake2b256({})),
              "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(Blake2b128, Input_IsNotATruncated256) {
    const auto h128 = toHex(blake2b128(asBytes("abc")));
    EXPECT_EQ(h128.size(), 32u);
    EXPECT_NE(h128, toHex(blake2b256(asBytes("abc"))).substr(0, 32));
}

TEST(ToHex, Bytes_IsLowerCase) { EXPECT_EQ(toHex(bytesOf({0x00, 0xab, 0xff, 0x10})), "00abff10"); }

TEST(FromHex, Valid_RoundTrips) {
    const auto bytes = fromHex("00abff10");
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, bytesOf({0x00, 0xab, 0xff, 0x10}));
    EXPECT_TRUE(fromHex(""));
}

TEST(FromHex, Invalid_Fails) {
    for (const std::string_view bad : {"0", "abc", "zz", "0g", " 00", "00 ", "+1"}) {
        EXPECT_FALSE(fromHex(bad)) << bad;
    }
}

// ---- messages -----------------------------------------------------------------------------------

TEST(ParseQuery, MixedCaseQuestion_GivesCanonicalName) {
    const auto q = parseQuery(makeQuery(0x1234, "WWW.Example.ORG.", rrtype::kAxfr));
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ(q->id, 0x1234);
    EXPECT_EQ(q->qname, "www.example.org.");
    EXPECT_EQ(q->qtype, rrtype::kAxfr);
    EXPECT_EQ(q->qclass, 1);
    EXPECT_TRUE(q->is_query);
}

TEST(ParseQuery, NotifyOrResponse_IsNotAQuery) {
    const auto notify = parseQuery(makeQuery(1, "example.org.", rrtype::kSoa, 0x20));  // opcode 4
    ASSERT_TRUE(notify);
    EXPECT_FALSE(notify->is_query);
    const auto response = parseQuery(makeQuery(1, "example.org.", rrtype::kSoa, 0x80));
    ASSERT_TRUE(response);
    EXPECT_FALSE(response->is_query);
}

TEST(ParseQuery, CompressionLoops_Fail) {
    // A pointer to itself, two pointers to each other, and a forward pointer.
    const Bytes header = bytesOf({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    for (const Bytes& tail :
         {bytesOf({0xc0, 12, 0, 1, 0, 1}), bytesOf({1, 'a', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1}),
          bytesOf({0xc0, 14, 0, 0, 1, 0, 1})}) {
        Bytes q = header;
        q.insert(q.end(), tail.begin(), tail.end());
        EXPECT_FALSE(parseQuery(q));
        const auto error = buildErrorResponse(q, 1);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->size(), 12u);  // header only: the question could not be read
    }
}

TEST(ParseQuery, TwoQuestions_Fails) {
    Bytes q = makeQuery(1, "example.org.", rrtype::kSoa);
    q[5] = std::byte{2};
    EXPECT_FALSE(parseQuery(q));
}

TEST(BuildErrorResponse, Refused_EchoesIdAndQuestion) {
    const Bytes query = makeQuery(0xbeef, "Example.org.", rrtype::kAxfr);
    const auto answer = buildErrorResponse(query, LDNS_RCODE_REFUSED);
    ASSERT_TRUE(answer);
    const Pkt pkt = parsePkt(*answer);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_id(pkt.get()), 0xbeef);
    EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_REFUSED);
    ASSERT_EQ(ldns_pkt_qdcount(pkt.get()), 1);
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0);
    EXPECT_EQ(ldns_rr_get_type(question), LDNS_RR_TYPE_AXFR);
    // The question comes back as sent, case included.
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ldns_rdf_data(ldns_rr_owner(question))),
                          ldns_rdf_size(ldns_rr_owner(question))),
              std::string("\7Example\3org", 12) + std::string(1, '\0'));
}

TEST(BuildErrorResponse, TooShortOrResponse_GivesNothing) {
    EXPECT_FALSE(buildErrorResponse(bytesOf({0, 1, 0}), 1));
    EXPECT_FALSE(buildErrorResponse(makeQuery(1, "example.org.", rrtype::kSoa, 0x80), 5));
}

TEST(BuildSoaResponse, Query_AnswersTheBodySoa) {
    const Bytes body = encode(std::string(kSoa) + "www.example.org. 300 IN A 192.0.2.1\n");
    const auto answer = buildSoaResponse(makeQuery(77, "example.org.", rrtype::kSoa), body);
    ASSERT_TRUE(answer) << answer.error().message;
    const Pkt pkt = parsePkt(*answer);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_id(pkt.get()), 77);
    EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
    ASSERT_EQ(ldns_pkt_ancount(pkt.get()), 1);
    const ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 0);
    EXPECT_EQ(rrToWire(soa), encode(kSoa));
}

TEST(BuildSoaResponse, OtherName_Fails) {
    EXPECT_FALSE(buildSoaResponse(makeQuery(1, "other.org.", rrtype::kSoa), encode(kSoa)));
    EXPECT_FALSE(buildSoaResponse(makeQuery(1, "example.org.", rrtype::kSoa), {}));
}

// A body of 1 + n RRs, each TXT about 200 bytes: big enough to need several AXFR messages.
Bytes largeBody(size_t n) {
    std::string text(kSoa);
    const std::string payload(180, 'x');
    for (size_t i = 0; i < n; ++i) {
        text += fmt::format("r{}.example.org. 300 IN TXT \"{}\"\n", i, payload);
    }
    return encode(text);
}

TEST(BuildAxfrResponse, LargeBody_SplitsIntoMessagesThatReassemble) {
    const Bytes body = largeBody(2000);
    const Bytes query = makeQuery(0x4242, "example.org.", rrtype::kAxfr);
    const auto messages = buildAxfrResponse(query, "example.org.", body);
    ASSERT_TRUE(messages) << messages.error().message;
    ASSERT_GE(messages->size(), 5u);
    Bytes reassembled;
    size_t soa_count = 0;
    for (const Bytes& message : *messages) {
        EXPECT_LE(message.size(), 65535u);
        if (&message != &messages->back()) {
            EXPECT_GE(message.size(), 16u * 1024) << "only the last message may be small";
        }
        const Pkt pkt = parsePkt(message);
        ASSERT_TRUE(pkt);
        EXPECT_EQ(ldns_pkt_id(pkt.get()), 0x4242);
        EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
        EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
        EXPECT_EQ(ldns_pkt_get_opcode(pkt.get()), LDNS_PACKET_QUERY);
        EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
        ASSERT_EQ(ldns_pkt_qdcount(pkt.get()), 1);
        EXPECT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0)),
                  LDNS_RR_TYPE_AXFR);
        const ldns_rr_list* answers = ldns_pkt_answer(pkt.get());
        for (size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
            const Bytes rr = rrToWire(ldns_rr_list_rr(answers, i));
            soa_count += ldns_rr_get_type(ldns_rr_list_rr(answers, i)) == LDNS_RR_TYPE_SOA;
            reassembled.insert(reassembled.end(), rr.begin(), rr.end());
        }
    }
    EXPECT_EQ(soa_count, 2u);
    const Bytes soa = encode(kSoa);
    ASSERT_EQ(reassembled.size(), body.size() + soa.size());
    EXPECT_TRUE(std::equal(body.begin(), body.end(), reassembled.begin()));  // SOA first
    EXPECT_TRUE(
        std::equal(soa.begin(), soa.end(), reassembled.end() - std::ssize(soa)));  // and last
}

TEST(BuildAxfrResponse, SoaOnlyBody_IsOneMessageWithTwoSoas) {
    const auto messages = buildAxfrResponse(makeQuery(9, "example.org.", rrtype::kAxfr),
                                            "example.org.", encode(kSoa));
    ASSERT_TRUE(messages);
    ASSERT_EQ(messages->size(), 1u);
    const Pkt pkt = parsePkt(messages->front());
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 2);
}

TEST(BuildAxfrResponse, InvalidBodyOrOtherZone_Fails) {
    const Bytes query = makeQuery(9, "example.org.", rrtype::kAxfr);
    EXPECT_FALSE(
        buildAxfrResponse(query, "example.org.", encode("www.example.org. 1 IN A 1.2.3.4")));
    EXPECT_FALSE(
        buildAxfrResponse(makeQuery(9, "other.org.", rrtype::kAxfr), "example.org.", encode(kSoa)));
    EXPECT_FALSE(buildAxfrResponse(bytesOf({0, 1}), "example.org.", encode(kSoa)));
}

TEST(BuildAxfrResponse, RrTooLargeForAMessage_Fails) {
    Bytes body = encode(kSoa);
    const Bytes owner = wireName("big.example.org.");
    body.insert(body.end(), owner.begin(), owner.end());
    const Bytes fixed = bytesOf({0xfd, 0xe8, 0, 1, 0, 0, 1, 44, 0xff, 0xdc});  // RDLENGTH 65500
    body.insert(body.end(), fixed.begin(), fixed.end());
    body.insert(body.end(), 65500, std::byte{0});
    ASSERT_TRUE(validateBody("example.org.", body));
    EXPECT_FALSE(
        buildAxfrResponse(makeQuery(9, "example.org.", rrtype::kAxfr), "example.org.", body));
}

// Truncated, random, bit-flipped and compression-looping input must give errors, never a crash
// (run under ASan/UBSan in CI).
TEST(MessageParsers, MalformedInput_NeverCrash) {
    std::mt19937 rng(20240101);  // fixed seed: failures must reproduce
    const Bytes body = encode(std::string(kSoa) + "www.example.org. 300 IN A 192.0.2.1\n");
    const Bytes valid = makeQuery(7, "example.org.", rrtype::kAxfr);
    for (int i = 0; i < 1000; ++i) {
        Bytes input;
        switch (i % 4) {
            case 0:
                input.assign(valid.begin(), valid.begin() + rng() % valid.size());
                break;
            case 1:
                input.resize(rng() % 64);
                for (auto& b : input) {
                    b = static_cast<std::byte>(rng());
                }
                break;
            case 2:
                input = valid;
                input[rng() % input.size()] = static_cast<std::byte>(rng());
                input[rng() % input.size()] ^= std::byte{0xc0};
                break;
            default:
                input = bytesOf({0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0,
                                 static_cast<int>(12 + rng() % 4), 0xc0, 12, 0, 1});
                break;
        }
        const auto parsed = parseQuery(input);
        if (i % 4 == 3) {
            EXPECT_FALSE(parsed) << "compression loop accepted at iteration " << i;
        }
        (void)buildErrorResponse(input, 1);
        (void)buildSoaResponse(input, body);
        (void)buildAxfrResponse(input, "example.org.", body);
        Bytes mutated = body;
        mutated[rng() % mutated.size()] = static_cast<std::byte>(rng());
        (void)decodeBody(mutated);
        (void)validateBody("example.org.", mutated);
        (void)fingerprintFromBody("example.org.", mutated);
    }
    SUCCEED();
}

}  // namespace
}  // namespace pdns_distribute::common
