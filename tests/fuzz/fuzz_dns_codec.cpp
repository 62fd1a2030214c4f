// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the DNS wire codec (dns.hpp). Zone bodies come from the network (zone-data replies,
// verified only after decoding) and queries come from whoever reaches the AXFR listener, so every
// decoder and every message builder is fed arbitrary bytes here.
//
// Input layout: [rcode u8][query length u16 BE][query bytes][body bytes]. Inputs shorter than three
// bytes are used whole, as both the query and the body. The zone is "example.org." and, when the
// body decodes, also the owner of its first RR, so that the fuzzer reaches the checks behind
// validateBody.

#include <algorithm>
#include <string>
#include <vector>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fuzz_check.hpp"

namespace {

namespace common = pdns_distribute::common;
using pdns_distribute::fuzz::check;
using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

constexpr size_t kHeaderLength = 12;
constexpr size_t kMaxMessageLength = 65535;
constexpr uint8_t kQrBit = 0x80;
constexpr uint8_t kAaBit = 0x04;

uint16_t u16At(ByteSpan data, size_t offset) {
    return static_cast<uint16_t>((std::to_integer<unsigned>(data[offset]) << 8) |
                                 std::to_integer<unsigned>(data[offset + 1]));
}

// Every decoded RR lies inside the body, back to back, and its owner survives a round trip through
// presentation format byte for byte (case kept, escapes undone).
void checkDecodedBody(ByteSpan body, const std::vector<common::RrView>& rrs) {
    size_t offset = 0;
    for (const auto& rr : rrs) {
        check(rr.wire.data() == body.data() + offset, "rr wire is not where the previous rr ended");
        check(rr.wire.size() <= body.size() - offset, "rr wire runs past the body");
        check(rr.owner.data() == rr.wire.data(), "owner is not at the start of the rr");
        check(rr.rdata.data() + rr.rdata.size() == rr.wire.data() + rr.wire.size(),
              "rdata is not at the end of the rr");
        offset += rr.wire.size();
        const std::string name = common::wireToName(rr.owner);
        auto wire = common::nameToWire(name);
        check(static_cast<bool>(wire), "wireToName output does not parse back");
        check(std::ranges::equal(*wire, rr.owner), "owner name does not round-trip");
        check(common::wireNameAtOrBelow(rr.owner, rr.owner), "name is not at or below itself");
    }
    check(offset == body.size(), "decoded rrs do not cover the body");
}

void checkZone(const std::string& zone, ByteSpan body, size_t rr_count) {
    auto validated = common::validateBody(zone, Bytes(body.begin(), body.end()));
    auto fingerprint = common::fingerprintFromBody(zone, body);
    if (validated) {
        check(validated->rr_count == rr_count, "validateBody counted a different number of rrs");
        check(std::ranges::equal(validated->bytes, body), "validateBody changed the body");
        check(!validated->presigned || validated->dnssec, "presigned body without dnssec flag");
    } else {
        check(!fingerprint, "fingerprint of a body that does not validate");
    }
    if (fingerprint) {
        check(validated && fingerprint->serial == validated->serial, "fingerprint serial differs");
        check(std::is_sorted(fingerprint->soa_sigs.begin(), fingerprint->soa_sigs.end()),
              "soa_sigs not sorted");
        check(fingerprint->hex().size() == 32, "fingerprint hex is not 32 digits");
    }
}

// An AXFR answer: messages under 64 KiB with the query's id, QR and AA, one question, and answer
// sections that hold the body followed by its SOA again.
void checkAxfr(const common::ParsedQuery& pq, ByteSpan body, const std::vector<Bytes>& messages) {
    check(!messages.empty(), "axfr answer without messages");
    const auto qname = common::nameToWire(pq.qname);
    check(static_cast<bool>(qname), "parsed qname does not convert back to wire");
    const size_t question_length = qname->size() + 4;
    Bytes answers;
    size_t ancount = 0;
    for (const auto& m : messages) {
        check(m.size() <= kMaxMessageLength, "axfr message over 64 KiB");
        check(m.size() >= kHeaderLength + question_length,
              "axfr message shorter than its question");
        const ByteSpan msg(m);
        check(u16At(msg, 0) == pq.id, "axfr message id differs from the query");
        const auto flags = std::to_integer<uint8_t>(msg[2]);
        check((flags & kQrBit) != 0 && (flags & kAaBit) != 0, "axfr message without QR and AA");
        check(u16At(msg, 4) == 1, "axfr message without exactly one question");
        check(common::wireNamesEqual(msg.subspan(kHeaderLength, qname->size()), *qname) &&
                  u16At(msg, kHeaderLength + qname->size()) == pq.qtype &&
                  u16At(msg, kHeaderLength + qname->size() + 2) == pq.qclass,
              "axfr message question differs from the query");
        ancount += u16At(msg, 6);
        const auto section = msg.subspan(kHeaderLength + question_length);
        answers.insert(answers.end(), section.begin(), section.end());
    }
    auto rrs = common::decodeBody(body);
    check(static_cast<bool>(rrs) && !rrs->empty(), "axfr answer for a body that does not decode");
    check(ancount == rrs->size() + 1, "axfr answer count is not rr count + 1");
    Bytes expected(body.begin(), body.end());
    expected.insert(expected.end(), rrs->front().wire.begin(), rrs->front().wire.end());
    check(answers == expected, "axfr answer sections are not body + closing soa");
}

void fuzzQuery(ByteSpan query, uint8_t rcode, ByteSpan body) {
    auto parsed = common::parseQuery(query);
    auto error = common::buildErrorResponse(query, rcode);
    auto soa = common::buildSoaResponse(query, body);
    if (error) {
        check(error->size() >= kHeaderLength, "error response shorter than a header");
        check(u16At(*error, 0) == u16At(query, 0), "error response id differs from the query");
        check((std::to_integer<uint8_t>((*error)[2]) & kQrBit) != 0, "error response without QR");
        auto echoed = common::parseQuery(*error);
        if (parsed) {
            check(static_cast<bool>(echoed), "error response question does not parse");
            check(echoed->qname == parsed->qname && echoed->qtype == parsed->qtype &&
                      echoed->qclass == parsed->qclass,
                  "error response question differs from the query");
        }
    }
    if (!parsed) {
        check(!soa, "soa answer to a query that does not parse");
        return;
    }
    // The qname is canonical: lower case, absolute, escaped as pdns prints it.
    auto canonical = common::canonicalZoneName(parsed->qname);
    check(canonical && *canonical == parsed->qname, "parsed qname is not canonical");
    check(error.has_value() == ((std::to_integer<uint8_t>(query[2]) & kQrBit) == 0),
          "error response given to a response or refused to a query");
    if (soa) {
        check(soa->size() > kHeaderLength && u16At(*soa, 0) == parsed->id, "bad soa answer");
        check(u16At(*soa, 6) == 1, "soa answer without exactly one answer");
    }
    auto axfr = common::buildAxfrResponse(query, parsed->qname, body);
    if (axfr) checkAxfr(*parsed, body, *axfr);
    // A body valid for the queried zone can always be answered with its SOA.
    if ((std::to_integer<uint8_t>(query[2]) & kQrBit) == 0 &&
        common::validateBody(parsed->qname, Bytes(body.begin(), body.end()))) {
        check(static_cast<bool>(soa), "no soa answer although the body is valid for the qname");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ByteSpan input = pdns_distribute::fuzz::bytesOf(data, size);
    ByteSpan query = input;
    ByteSpan body = input;
    uint8_t rcode = 5;
    if (size >= 3) {
        rcode = data[0];
        const size_t query_length = std::min<size_t>((size_t{data[1]} << 8) | data[2], size - 3);
        query = input.subspan(3, query_length);
        body = input.subspan(3 + query_length);
    }

    auto rrs = common::decodeBody(body);
    size_t rr_count = 0;
    if (rrs) {
        checkDecodedBody(body, *rrs);
        rr_count = rrs->size();
    }
    checkZone("example.org.", body, rr_count);
    if (rrs && !rrs->empty()) {
        checkZone(common::wireToName(rrs->front().owner), body, rr_count);
    }
    fuzzQuery(query, rcode, body);
    return 0;
}
