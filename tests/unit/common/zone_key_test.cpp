// SPDX-License-Identifier: Apache-2.0
#include <string>

#include <gtest/gtest.h>

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::common {
namespace {

std::string canon(std::string_view name) {
    auto r = canonicalZoneName(name);
    EXPECT_TRUE(r) << "name '" << name << "': " << (r ? "" : r.error().message);
    return r ? *r : std::string{};
}

// ---- canonicalZoneName ----

TEST(CanonicalZoneName, PlainName_AddsTrailingDot) {
    EXPECT_EQ(canon("example.org"), "example.org.");
    EXPECT_EQ(canon("example.org."), "example.org.");
}

TEST(CanonicalZoneName, UpperCase_LowerCased) { EXPECT_EQ(canon("ExAmPlE.ORG."), "example.org."); }

TEST(CanonicalZoneName, Root_IsDot) { EXPECT_EQ(canon("."), "."); }

TEST(CanonicalZoneName, Underscore_Kept) {
    EXPECT_EQ(canon("_tcp.Example.com."), "_tcp.example.com.");
}

TEST(CanonicalZoneName, Rfc2317Slash_Kept) {
    EXPECT_EQ(canon("0/26.2.0.192.in-addr.arpa"), "0/26.2.0.192.in-addr.arpa.");
}

TEST(CanonicalZoneName, Idn_KeptAsAce) {
    EXPECT_EQ(canon("XN--BCHER-KVA.example."), "xn--bcher-kva.example.");
}

TEST(CanonicalZoneName, DecimalEscapeOfPrintable_Decoded) {
    EXPECT_EQ(canon("\\065bc.example."), "abc.example.");  // \065 is 'A', lower-cased
}

TEST(CanonicalZoneName, CharEscapeOfPrintable_Decoded) {
    EXPECT_EQ(canon("\\a\\B\\/c.example."), "ab/c.example.");
}

TEST(CanonicalZoneName, EscapedDotInLabel_StaysEscaped) {
    EXPECT_EQ(canon("a\\.b.example."), "a\\.b.example.");
    EXPECT_EQ(canon("a\\046b.example."), "a\\.b.example.");
}

TEST(CanonicalZoneName, NonPrintable_RenderedAsDecimal) {
    EXPECT_EQ(canon("a\\032b.example."), "a\\032b.example.");  // space
    EXPECT_EQ(canon("a\\255.example."), "a\\255.example.");
    EXPECT_EQ(canon("a\\\\b.example."), "a\\\\b.example.");  // backslash
}

TEST(CanonicalZoneName, EmptyInput_Rejected) { EXPECT_FALSE(canonicalZoneName("")); }

TEST(CanonicalZoneName, EmptyLabel_Rejected) {
    EXPECT_FALSE(canonicalZoneName("example..org."));
    EXPECT_FALSE(canonicalZoneName(".example.org."));
    EXPECT_FALSE(canonicalZoneName("example.org.."));
}

TEST(CanonicalZoneName, Label63_Accepted) {
    EXPECT_TRUE(canonicalZoneName(std::string(63, 'a') + ".example."));
}

TEST(CanonicalZoneName, Label64_Rejected) {
    auto r = canonicalZoneName(std::string(64, 'a') + ".example.");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("label"), std::string::npos);
}

TEST(CanonicalZoneName, WireLength255_Accepted) {
    // 4 × (1 + 62) = 252, plus "a" (2) plus root (1) = 255 octets.
    const std::string l(62, 'x');
    EXPECT_TRUE(canonicalZoneName(l + "." + l + "." + l + "." + l + ".a."));
}

TEST(CanonicalZoneName, WireLength256_Rejected) {
    const std::string l(62, 'x');
    EXPECT_FALSE(canonicalZoneName(l + "." + l + "." + l + "." + l + ".ab."));
}

TEST(CanonicalZoneName, EscapeCountsAsOneOctet) {
    // 63 octets written with escapes is still a legal label.
    std::string label;
    for (int i = 0; i < 63; ++i) label += "\\097";
    EXPECT_EQ(canon(label + ".example."), std::string(63, 'a') + ".example.");
}

TEST(CanonicalZoneName, BadEscapes_Rejected) {
    EXPECT_FALSE(canonicalZoneName("a\\"));
    EXPECT_FALSE(canonicalZoneName("a\\25.example."));
    EXPECT_FALSE(canonicalZoneName("a\\256.example."));
    EXPECT_FALSE(canonicalZoneName("a\\2x5.example."));
}

// ---- encodeZoneKey / decodeZoneKey ----

TEST(EncodeZoneKey, DesignExample_Rfc2317) {
    EXPECT_EQ(encodeZoneKey("0/26.2.0.192.in-addr.arpa."), "0%2F26.2.0.192.in-addr.arpa");
}

TEST(EncodeZoneKey, Plain_LabelsAsTokens) {
    EXPECT_EQ(encodeZoneKey("example.org."), "example.org");
    EXPECT_EQ(encodeZoneKey("_tcp.example.com."), "_tcp.example.com");
    EXPECT_EQ(encodeZoneKey("xn--bcher-kva.example."), "xn--bcher-kva.example");
}

TEST(EncodeZoneKey, Root_IsAt) { EXPECT_EQ(encodeZoneKey("."), "@"); }

TEST(EncodeZoneKey, SpecialBytes_PercentEscaped) {
    EXPECT_EQ(encodeZoneKey("a\\.b.example."), "a%2Eb.example");
    EXPECT_EQ(encodeZoneKey("*.example."), "%2A.example");
    EXPECT_EQ(encodeZoneKey(">.example."), "%3E.example");
    EXPECT_EQ(encodeZoneKey("100%.example."), "100%25.example");
    EXPECT_EQ(encodeZoneKey("a\\032b.example."), "a%20b.example");
    EXPECT_EQ(encodeZoneKey("a\\255.example."), "a%FF.example");
    EXPECT_EQ(encodeZoneKey("a\\\\b.example."), "a%5Cb.example");
}

TEST(EncodeZoneKey, NeverContainsWildcardsOrSpaces) {
    const auto key = encodeZoneKey("*.>.a\\032b\\009.example.");
    EXPECT_EQ(key.find_first_of("*> \t"), std::string::npos) << key;
}

TEST(DecodeZoneKey, DesignExample_Rfc2317) {
    auto r = decodeZoneKey("0%2F26.2.0.192.in-addr.arpa");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "0/26.2.0.192.in-addr.arpa.");
}

TEST(DecodeZoneKey, At_IsRoot) {
    auto r = decodeZoneKey("@");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, ".");
}

TEST(DecodeZoneKey, EscapedDot_BackInLabel) {
    auto r = decodeZoneKey("a%2Eb.example");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "a\\.b.example.");
}

TEST(DecodeZoneKey, Malformed_Rejected) {
    EXPECT_FALSE(decodeZoneKey(""));
    EXPECT_FALSE(decodeZoneKey("example..org"));
    EXPECT_FALSE(decodeZoneKey("example.org."));  // trailing dot is an empty token
    EXPECT_FALSE(decodeZoneKey(".example"));
    EXPECT_FALSE(decodeZoneKey("a%2"));
    EXPECT_FALSE(decodeZoneKey("a%2f.example"));  // lower-case hex
    EXPECT_FALSE(decodeZoneKey("a%GG.example"));
    EXPECT_FALSE(decodeZoneKey("Example.org"));   // upper case is never literal
    EXPECT_FALSE(decodeZoneKey("a/b.example"));   // must be escaped
    EXPECT_FALSE(decodeZoneKey("a%61.example"));  // needless escape of 'a'
    EXPECT_FALSE(decodeZoneKey("a%41.example"));  // 'A' is never in a canonical name
    EXPECT_FALSE(decodeZoneKey(std::string(64, 'a') + ".example"));
}

TEST(ZoneKey, RoundTrip_CanonicalNames) {
    const char* names[] = {
        ".",
        "example.org.",
        "0/26.2.0.192.in-addr.arpa.",
        "_tcp.example.com.",
        "xn--bcher-kva.example.",
        "a\\.b.example.",
        "a\\\\b.example.",
        "a\\032b\\009c.example.",
        "*.wild.example.",
        "100%.example.",
        "a=b.example.",
    };
    for (const char* name : names) {
        ASSERT_EQ(canon(name), name);
        const auto key = encodeZoneKey(name);
        auto back = decodeZoneKey(key);
        ASSERT_TRUE(back) << name << " -> " << key << ": " << back.error().message;
        EXPECT_EQ(*back, name) << "via " << key;
    }
}

TEST(ZoneKey, RoundTrip_AllBytes) {
    std::string label;
    for (int b = 1; b < 256; ++b) {
        if (b >= 'A' && b <= 'Z') continue;  // lower-cased by canonicalisation
        label.clear();
        label += "x\\";
        label += std::to_string(b / 100) + std::to_string((b / 10) % 10) + std::to_string(b % 10);
        const auto name = canon(label + ".example.");
        const auto key = encodeZoneKey(name);
        auto back = decodeZoneKey(key);
        ASSERT_TRUE(back) << "byte " << b;
        EXPECT_EQ(*back, name) << "byte " << b;
        auto via_id = decodePdnsZoneId(encodePdnsZoneId(name));
        ASSERT_TRUE(via_id) << "byte " << b;
        EXPECT_EQ(*via_id, name) << "byte " << b;
    }
}

// ---- PowerDNS zone ids ----

TEST(DecodePdnsZoneId, DesignExample_Rfc2317) {
    auto r = decodePdnsZoneId("0=2F26.2.0.192.in-addr.arpa.");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "0/26.2.0.192.in-addr.arpa.");
}

TEST(DecodePdnsZoneId, MissingTrailingDot_Added) {
    auto r = decodePdnsZoneId("example.org");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "example.org.");
}

TEST(DecodePdnsZoneId, UpperCase_Canonicalised) {
    auto r = decodePdnsZoneId("Example.ORG.");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "example.org.");
}

TEST(DecodePdnsZoneId, UnderscoreEscaped_Decoded) {
    auto r = decodePdnsZoneId("=5Ftcp.example.com.");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "_tcp.example.com.");
    auto literal = decodePdnsZoneId("_tcp.example.com.");
    ASSERT_TRUE(literal);
    EXPECT_EQ(*literal, "_tcp.example.com.");
}

TEST(DecodePdnsZoneId, RootId_IsRoot) {
    auto r = decodePdnsZoneId("=2E");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, ".");
}

TEST(DecodePdnsZoneId, EscapedBackslash_ActsAsPresentationEscape) {
    // pdns renders a dot inside a label as "\." and then encodes the backslash as =5C.
    auto r = decodePdnsZoneId("a=5C.b.example.");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "a\\.b.example.");
}

TEST(DecodePdnsZoneId, Malformed_Rejected) {
    EXPECT_FALSE(decodePdnsZoneId(""));
    EXPECT_FALSE(decodePdnsZoneId("a=2"));
    EXPECT_FALSE(decodePdnsZoneId("a=2f.example."));  // pdns 4.7 accepts upper-case hex only
    EXPECT_FALSE(decodePdnsZoneId("a=ZZ.example."));
    EXPECT_FALSE(decodePdnsZoneId("example..org."));
    EXPECT_FALSE(decodePdnsZoneId(std::string(64, 'a') + ".example."));
}

TEST(EncodePdnsZoneId, LikePdns47) {
    EXPECT_EQ(encodePdnsZoneId("example.org."), "example.org.");
    EXPECT_EQ(encodePdnsZoneId("0/26.2.0.192.in-addr.arpa."), "0=2F26.2.0.192.in-addr.arpa.");
    EXPECT_EQ(encodePdnsZoneId("_tcp.example.com."), "=5Ftcp.example.com.");
    EXPECT_EQ(encodePdnsZoneId("xn--bcher-kva.example."), "xn--bcher-kva.example.");
    EXPECT_EQ(encodePdnsZoneId("a\\.b.example."), "a=5C.b.example.");
    EXPECT_EQ(encodePdnsZoneId("."), "=2E");
}

TEST(PdnsZoneId, RoundTrip) {
    for (const char* name : {".", "example.org.", "0/26.2.0.192.in-addr.arpa.", "_tcp.example.com.",
                             "a\\.b.example.", "a=b.example.", "a\\032b.example."}) {
        auto r = decodePdnsZoneId(encodePdnsZoneId(name));
        ASSERT_TRUE(r) << name;
        EXPECT_EQ(*r, name);
    }
}

// ---- isAtOrBelow ----

TEST(IsAtOrBelow, SameName_True) { EXPECT_TRUE(isAtOrBelow("example.org.", "example.org.")); }

TEST(IsAtOrBelow, Child_True) {
    EXPECT_TRUE(isAtOrBelow("www.example.org.", "example.org."));
    EXPECT_TRUE(isAtOrBelow("a.b.c.example.org.", "example.org."));
}

TEST(IsAtOrBelow, StringSuffixOnly_False) {
    EXPECT_FALSE(isAtOrBelow("badexample.org.", "example.org."));
}

TEST(IsAtOrBelow, EscapedDotLabel_False) {
    // One label "a.example" under "org." is not below "example.org.".
    EXPECT_FALSE(isAtOrBelow("a\\.example.org.", "example.org."));
}

TEST(IsAtOrBelow, Parent_False) { EXPECT_FALSE(isAtOrBelow("org.", "example.org.")); }

TEST(IsAtOrBelow, Root_ContainsEverything) {
    EXPECT_TRUE(isAtOrBelow("example.org.", "."));
    EXPECT_TRUE(isAtOrBelow(".", "."));
    EXPECT_FALSE(isAtOrBelow(".", "org."));
}

TEST(IsAtOrBelow, CaseInsensitive) { EXPECT_TRUE(isAtOrBelow("WWW.Example.org.", "example.ORG.")); }

TEST(IsAtOrBelow, InvalidName_False) {
    EXPECT_FALSE(isAtOrBelow("a..example.org.", "example.org."));
}

// ---- subjects ----

TEST(Subjects, ZoneEventAndZoneData) {
    EXPECT_EQ(zoneEventSubject("default", "0/26.2.0.192.in-addr.arpa."),
              "pdns.zones.default.0%2F26.2.0.192.in-addr.arpa");
    EXPECT_EQ(zoneDataSubject("default", "example.org."), "pdns.zonedata.default.example.org");
    EXPECT_EQ(zoneEventSubject("g1", "."), "pdns.zones.g1.@");
}

// ---- node ids ----

TEST(NodeId, Valid) {
    EXPECT_TRUE(isValidNodeId("ns1"));
    EXPECT_TRUE(isValidNodeId("NS-1_a"));
    EXPECT_TRUE(isValidNodeId(std::string(64, 'n')));
}

TEST(NodeId, Invalid) {
    EXPECT_FALSE(isValidNodeId(""));
    EXPECT_FALSE(isValidNodeId(std::string(65, 'n')));
    EXPECT_FALSE(isValidNodeId("ns1.example.org"));
    EXPECT_FALSE(isValidNodeId("ns 1"));
    EXPECT_FALSE(isValidNodeId("ns*"));
}

TEST(NodeId, FromHostname_ReplacesAndTruncates) {
    EXPECT_EQ(nodeIdFromHostname("ns1.example.org"), "ns1-example-org");
    EXPECT_EQ(nodeIdFromHostname("Host_A-1"), "Host_A-1");
    const auto long_id = nodeIdFromHostname(std::string(70, 'h'));
    EXPECT_EQ(long_id.size(), 64U);
    EXPECT_TRUE(isValidNodeId(long_id));
}

}  // namespace
}  // namespace pdns_distribute::common
