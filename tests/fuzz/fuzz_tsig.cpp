// SPDX-License-Identifier: Apache-2.0
// Fuzz target: TSIG (tsig.hpp) and the AXFR listener's screening of what reaches its port
// (screenQuery in axfr_listener.hpp). Whoever reaches the listener writes every byte of a query,
// and whoever sits between the listener and the local pdns every byte of an answer, so both sides
// of RFC 8945 are fed here: findTsig, verifyRequest, tsigErrorResponse and screenQuery on the
// server side, TsigSigner chains and TsigResponseVerifier on the client side.
//
// Input layout: a 9-byte header, then the payload (an input shorter than the header is used whole
// as a raw message):
//   [control u8][tamper offset u16 BE][flip mask u8][clock skew s16 BE][fudge u16 BE][mac len u8]
// control bits 0-1 (mode): every mode first feeds the payload as a raw message to every reader;
//   1 also signs the payload as a query with the real signer (skew and fudge set time signed and
//     fudge; for a well-formed payload, a mac len in 1..full-1 cuts the MAC to that many bytes)
//     and screens the result;
//   2 also signs, as the listener's answer to a signed AXFR query, the messages held in the
//     payload as records [length u16 BE][bytes], and verifies the chain as the client does;
//   3 likewise with the listener's real AXFR answer for the payload as a zone body.
// bits 2-4 (mode 1): the key that signs (KeyChoice); bit 5 (modes 2, 3): drop the message the
//   tamper offset picks; bit 6: swap it with the next one; bits 5 and 6: cut its MAC to mac len
//   bytes (0 included); bit 7: mode 1, the listener has no key yet; modes 2, 3, the client
//   expects another request MAC.
// Unless bit 5 or 6 is used, a non-zero flip mask is XORed into the byte the tamper offset picks
// (modulo the signed message, or the concatenated chain).
//
// PDD_FUZZ_VERBOSE=1 prints the verdicts for each input (for triage and for checking seeds).
//
// Invariants: nothing is accepted (Valid, or BADTIME/BADTRUNC, which the RFC only reports once the
// MAC verified) unless the real signer made its MAC with the test key; a message the harness signed
// verifies exactly when untouched, except for changes RFC 8945 tells the MAC to ignore (the
// message id, the case of the key and algorithm names); the listener accepts exactly the queries
// verifyRequest finds Valid, and every refusal it sends is the one RFC 8945 §5.3.2 prescribes and
// verifies (or is unsigned) as the client would check it.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "axfr_listener.hpp"
#include "fuzz_check.hpp"
#include "tsig.hpp"
#include "tsig_input.hpp"

namespace {

namespace common = pdns_distribute::common;
namespace syncer = pdns_distribute::secondary_syncer;
using pdns_distribute::fuzz::check;
using syncer::Bytes;
using syncer::ByteSpan;
using syncer::TsigStatus;
using Outcome = syncer::ScreenedQuery::Outcome;

using pdns_distribute::fuzz::tsig_input::Header;
using pdns_distribute::fuzz::tsig_input::kDrop;
using pdns_distribute::fuzz::tsig_input::kModeAxfr;
using pdns_distribute::fuzz::tsig_input::kModeChain;
using pdns_distribute::fuzz::tsig_input::kModeMask;
using pdns_distribute::fuzz::tsig_input::kModeSignQuery;
using pdns_distribute::fuzz::tsig_input::kOtherKeyOrMac;
using pdns_distribute::fuzz::tsig_input::kSwap;
constexpr size_t kDnsHeader = 12;
constexpr size_t kMaxChain = 16;
constexpr uint8_t kRcodeFormErr = 1;
constexpr uint8_t kQrBit = 0x80;

bool verbose = false;

const char* outcomeName(Outcome o) {
    switch (o) {
        case Outcome::Malformed:
            return "malformed";
        case Outcome::NotAQuery:
            return "not a query";
        case Outcome::Refused:
            return "refused";
        case Outcome::Accepted:
            return "accepted";
    }
    return "?";
}

const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'760'000'000}};
constexpr std::string_view kKeyName = "pdns-distribute-fuzz.";

uint8_t u8(ByteSpan b, size_t i) { return std::to_integer<uint8_t>(b[i]); }
uint16_t u16(ByteSpan b, size_t i) { return static_cast<uint16_t>((u8(b, i) << 8) | u8(b, i + 1)); }
uint8_t rcodeOf(ByteSpan m) { return u8(m, 3) & 0x0f; }
void put16(Bytes& out, size_t v) {
    out.push_back(static_cast<std::byte>((v >> 8) & 0xff));
    out.push_back(static_cast<std::byte>(v & 0xff));
}
void append(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }
// Gives `b` a buffer of exactly its size: bytes a vector keeps spare after growing are not
// poisoned for ASan, so a read past the end of a message would go unnoticed.
void shrink(Bytes& b) { b = Bytes(b.begin(), b.end()); }

syncer::TsigKey makeKey(std::string_view name, syncer::TsigAlgorithm algorithm, char fill) {
    return syncer::TsigKey(name, algorithm, Bytes(32, static_cast<std::byte>(fill)));
}

// The listener's key: the only one whose MACs may ever verify.
const syncer::TsigKey& testKey() {
    static const auto key = makeKey(kKeyName, syncer::TsigAlgorithm::HmacSha256, 'k');
    return key;
}

// Who signs in modes 1-3 (control bits 2-4), and what the listener must make of it.
enum class KeyChoice : uint8_t {
    Test,            // the test key
    TestUpperCase,   // the same key, its name spelled in upper case: still the same key
    OtherSecret,     // same name and algorithm, another secret: BADSIG
    OtherName,       // another name: BADKEY
    OtherAlgorithm,  // same name and secret, HMAC-SHA512: BADKEY
    Sha1,            // same name and secret, HMAC-SHA1: BADKEY
};

const syncer::TsigKey& signingKey(uint8_t control, KeyChoice& choice) {
    static const std::array<syncer::TsigKey, 6> keys{
        makeKey(kKeyName, syncer::TsigAlgorithm::HmacSha256, 'k'),
        makeKey("PDNS-Distribute-FUZZ.", syncer::TsigAlgorithm::HmacSha256, 'k'),
        makeKey(kKeyName, syncer::TsigAlgorithm::HmacSha256, 'x'),
        makeKey("pdns-distribute-other.", syncer::TsigAlgorithm::HmacSha256, 'k'),
        makeKey(kKeyName, syncer::TsigAlgorithm::HmacSha512, 'k'),
        makeKey(kKeyName, syncer::TsigAlgorithm::HmacSha1, 'k'),
    };
    const auto index = static_cast<uint8_t>((control >> 2) & 0x07);
    choice = index < keys.size() ? static_cast<KeyChoice>(index) : KeyChoice::Test;
    return keys[static_cast<size_t>(choice)];
}

bool macVerified(TsigStatus s) {
    return s == TsigStatus::Valid || s == TsigStatus::BadTime || s == TsigStatus::BadTrunc;
}

// True when findTsig reads the message whole and finds no TSIG in it: appending one makes a
// message verifyRequest can check.
bool wellFormedUnsigned(ByteSpan message) {
    auto found = syncer::findTsig(message);
    return found && !found->has_value();
}

// Where the TSIG RR of a message we signed keeps its names.
struct TsigLayout {
    size_t offset = 0;  // start of the RR
    size_t name_length = 0;
    size_t algorithm_length = 0;
};

// Changes RFC 8945 tells the MAC to ignore: the message id (§4.3.2: the MAC covers the original
// id instead) and the case of a letter in the key or algorithm name (§4.3.3: canonical form).
bool harmlessFlip(ByteSpan original, const TsigLayout& tsig, size_t pos, uint8_t mask) {
    if (pos < 2) return true;
    const uint8_t c = u8(original, pos);
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (mask != 0x20 || !letter) return false;
    const size_t algorithm_at = tsig.offset + tsig.name_length + 10;
    return (pos >= tsig.offset && pos < tsig.offset + tsig.name_length) ||
           (pos >= algorithm_at && pos < algorithm_at + tsig.algorithm_length);
}

// ---- findTsig on anything ---------------------------------------------------------------------

void checkFindTsig(ByteSpan message) {
    auto found = syncer::findTsig(message);
    if (!found || !*found) return;
    const auto& r = **found;
    check(r.offset >= kDnsHeader && r.offset < message.size(), "TSIG offset outside the message");
    check(r.rclass == 255, "TSIG accepted with a class other than ANY");
    check(u16(message, 10) > 0, "TSIG found in a message without additional records");
    for (const Bytes* name : {&r.key_name, &r.algorithm}) {
        check(!name->empty() && name->size() <= 255, "TSIG name of impossible length");
        const auto back = common::nameToWire(common::wireToName(*name));
        check(back && std::ranges::equal(*back, *name), "TSIG name does not round-trip");
        check(std::ranges::none_of(*name,
                                   [](std::byte b) {
                                       const auto c = std::to_integer<uint8_t>(b);
                                       return c >= 'A' && c <= 'Z';
                                   }),
              "TSIG name is not lower case");
    }
    check(r.mac.size() + r.other.size() < message.size() - r.offset, "TSIG fields overlap");
    // Without its TSIG (ARCOUNT one less) the message is a well-formed unsigned one.
    Bytes stripped(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(r.offset));
    const auto ar = static_cast<uint16_t>(u16(message, 10) - 1);
    stripped[10] = static_cast<std::byte>(ar >> 8);
    stripped[11] = static_cast<std::byte>(ar & 0xff);
    check(wellFormedUnsigned(stripped), "message without its TSIG does not parse");
}

// ---- the listener -----------------------------------------------------------------------------

// What screenQuery decides must agree with parseQuery and verifyRequest, and its refusals must be
// what RFC 8945 §5.3.2 prescribes.
void checkScreen(ByteSpan message, const syncer::TsigKey* key) {
    auto screened = syncer::screenQuery(message, key, kNow);
    auto parsed = common::parseQuery(message);
    if (verbose) {
        std::fprintf(stderr, "  listener (%s): %s, TSIG %s\n", key != nullptr ? "key" : "no key",
                     outcomeName(screened.outcome),
                     std::string(syncer::toString(screened.tsig.status)).c_str());
    }
    check(screened.signer.has_value() == (screened.outcome == Outcome::Accepted),
          "listener signer without acceptance or acceptance without signer");
    if (screened.reply) {
        check(screened.reply->size() >= kDnsHeader && u16(*screened.reply, 0) == u16(message, 0),
              "listener reply with another id");
        check((u8(*screened.reply, 2) & kQrBit) != 0, "listener reply without QR");
    }
    if (!parsed) {
        check(screened.outcome == Outcome::Malformed, "unparsable query not malformed");
        if (screened.reply) {
            check(rcodeOf(*screened.reply) == kRcodeFormErr,
                  "malformed query answered not FORMERR");
            check(wellFormedUnsigned(*screened.reply), "FORMERR reply is not a plain message");
        }
        return;
    }
    check(screened.query.has_value() && screened.query->qname == parsed->qname,
          "listener parsed another query");
    if (!parsed->is_query) {
        check(screened.outcome == Outcome::NotAQuery && !screened.reply, "response answered");
        return;
    }
    const TsigStatus status =
        key != nullptr ? syncer::verifyRequest(message, *key, kNow).status : TsigStatus::Unsigned;
    check(screened.tsig.status == status, "listener and verifyRequest disagree");
    check((screened.outcome == Outcome::Accepted) == (status == TsigStatus::Valid),
          "listener accepted a query that did not verify, or refused one that did");
    if (screened.outcome == Outcome::Accepted) {
        // What the listener signs, the client verifies: two messages of one answer.
        syncer::TsigResponseVerifier client(*key, screened.tsig.record->mac);
        for (const uint8_t rcode : {syncer::kRcodeNotAuth, uint8_t{0}}) {
            auto answer = common::buildErrorResponse(message, rcode);
            check(answer.has_value(), "no answer to an accepted query");
            check(static_cast<bool>(screened.signer->sign(*answer, kNow)),
                  "listener cannot sign its answer");
            shrink(*answer);
            check(client.verify(*answer, kNow) == TsigStatus::Valid,
                  "client refuses what the listener signed");
        }
        return;
    }
    check(screened.outcome == Outcome::Refused, "query neither accepted nor refused");
    check(screened.reply.has_value(), "refused query without a reply");
    const Bytes reply(screened.reply->begin(), screened.reply->end());
    auto reply_tsig = syncer::findTsig(reply);
    check(static_cast<bool>(reply_tsig), "listener refusal does not parse");
    switch (status) {
        case TsigStatus::Unsigned:
        case TsigStatus::FormErr:
            check(!reply_tsig->has_value(), "refusal of an unsigned or malformed query signed");
            check(rcodeOf(reply) ==
                      (status == TsigStatus::Unsigned ? syncer::kRcodeNotAuth : kRcodeFormErr),
                  "refusal with the wrong rcode");
            return;
        case TsigStatus::BadKey:
        case TsigStatus::BadSig: {
            // Unsigned: MAC size 0, the error, and the request's names echoed (§5.3.2).
            check(reply_tsig->has_value() && rcodeOf(reply) == syncer::kRcodeNotAuth,
                  "BADKEY/BADSIG refusal without TSIG or NOTAUTH");
            const auto& r = **reply_tsig;
            const auto& req = *screened.tsig.record;
            check(r.mac.empty(), "BADKEY/BADSIG refusal carries a MAC");
            check(r.error == static_cast<uint16_t>(status == TsigStatus::BadKey
                                                       ? syncer::TsigError::BadKey
                                                       : syncer::TsigError::BadSig),
                  "BADKEY/BADSIG refusal with the wrong error");
            check(r.key_name == req.key_name && r.algorithm == req.algorithm,
                  "BADKEY/BADSIG refusal names another key");
            return;
        }
        case TsigStatus::BadTime:
        case TsigStatus::BadTrunc: {
            // Signed with the request MAC; BADTIME carries the client's time and ours (§5.2.3).
            const auto& req = *screened.tsig.record;
            const auto client_now =
                status == TsigStatus::BadTime
                    ? std::chrono::system_clock::time_point{std::chrono::seconds{
                          static_cast<int64_t>(req.time_signed)}}
                    : kNow;
            syncer::TsigResponseVerifier client(*key, req.mac);
            check(client.verify(reply, client_now) == TsigStatus::Valid,
                  "BADTIME/BADTRUNC refusal does not verify");
            const auto& r = *client.lastRecord();
            if (status == TsigStatus::BadTime) {
                const auto now_s = static_cast<uint64_t>(
                    std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch())
                        .count());
                check(r.error == static_cast<uint16_t>(syncer::TsigError::BadTime) &&
                          r.time_signed == req.time_signed && r.other.size() == 6 &&
                          u16(r.other, 0) == ((now_s >> 32) & 0xffff) &&
                          u16(r.other, 2) == ((now_s >> 16) & 0xffff) &&
                          u16(r.other, 4) == (now_s & 0xffff),
                      "BADTIME refusal without both times");
            } else {
                check(r.error == static_cast<uint16_t>(syncer::TsigError::BadTrunc),
                      "BADTRUNC refusal with the wrong error");
            }
            return;
        }
        case TsigStatus::Valid:
            break;
    }
    check(false, "refusal of a valid query");
}

// ---- mode 0: the payload as it came -----------------------------------------------------------

void fuzzRaw(ByteSpan message) {
    const auto& key = testKey();
    checkFindTsig(message);
    // Nothing from outside carries a MAC made with the test key.
    const auto request = syncer::verifyRequest(message, key, kNow);
    if (verbose) {
        std::fprintf(stderr, "raw message of %zu bytes: TSIG %s\n", message.size(),
                     std::string(syncer::toString(request.status)).c_str());
    }
    check(!macVerified(request.status), "unsigned input passed the MAC check");
    if (request.status != TsigStatus::Unsigned && request.status != TsigStatus::FormErr) {
        check(request.record.has_value(), "TSIG verdict without the record");
    }
    checkScreen(message, &key);
    checkScreen(message, nullptr);
    // Nor does any answer: neither as the first message nor after a genuine one.
    const Bytes request_mac(key.macSize(), std::byte{0x5a});
    syncer::TsigResponseVerifier first(key, request_mac);
    check(first.verify(message, kNow) != TsigStatus::Valid, "unsigned input verified as answer");
    check(first.verify(message, kNow) != TsigStatus::Valid, "verifier recovered from a failure");
}

// ---- mode 1: a query signed by the real signer ------------------------------------------------

// Rebuilds the TSIG RR of `signed_query` with its MAC cut to `length` bytes: the MAC over the
// message does not change, fewer bytes of it are sent (RFC 8945 §5.2.2.1).
Bytes cutMac(ByteSpan signed_query, const syncer::TsigRecord& r, size_t length) {
    Bytes out(signed_query.begin(), signed_query.begin() + static_cast<std::ptrdiff_t>(r.offset));
    Bytes rdata(r.algorithm);
    for (int shift = 40; shift >= 0; shift -= 8) {
        rdata.push_back(static_cast<std::byte>((r.time_signed >> shift) & 0xff));
    }
    put16(rdata, r.fudge);
    put16(rdata, length);
    rdata.insert(rdata.end(), r.mac.begin(), r.mac.begin() + static_cast<std::ptrdiff_t>(length));
    put16(rdata, r.original_id);
    put16(rdata, r.error);
    put16(rdata, r.other.size());
    append(rdata, r.other);
    append(out, r.key_name);
    put16(out, syncer::kRrTypeTsig);
    put16(out, 255);
    put16(out, 0);
    put16(out, 0);
    put16(out, rdata.size());
    append(out, rdata);
    return out;
}

// What verifyRequest must say about an untouched well-formed query signed this way (RFC 8945
// §5.2: key, then MAC length, then MAC, then time, then truncation).
TsigStatus expectedStatus(KeyChoice choice, size_t mac_length, const Header& h) {
    const size_t full = testKey().macSize();
    if (choice == KeyChoice::OtherName || choice == KeyChoice::OtherAlgorithm ||
        choice == KeyChoice::Sha1) {
        return TsigStatus::BadKey;
    }
    if (mac_length > full || mac_length < std::max<size_t>(10, full / 2)) {
        return TsigStatus::FormErr;
    }
    if (choice == KeyChoice::OtherSecret) return TsigStatus::BadSig;
    if (std::abs(int{h.skew}) > int{h.fudge}) return TsigStatus::BadTime;
    if (mac_length < full) return TsigStatus::BadTrunc;
    return TsigStatus::Valid;
}

void fuzzSignedQuery(ByteSpan payload, const Header& h) {
    KeyChoice choice = KeyChoice::Test;
    const auto& signer_key = signingKey(h.control, choice);
    Bytes query(payload.begin(), payload.end());
    auto mac = syncer::signQuery(query, signer_key, kNow + std::chrono::seconds{h.skew}, h.fudge);
    if (!mac) {
        check(payload.size() < kDnsHeader || u16(payload, 10) == 0xffff,
              "signQuery refused a query it can sign");
        return;
    }
    const bool well_formed = wellFormedUnsigned(payload);
    const TsigLayout layout{.offset = payload.size(),
                            .name_length = signer_key.nameWire().size(),
                            .algorithm_length = signer_key.algorithmWire().size()};
    size_t mac_length = mac->size();
    if (well_formed && h.mac_length != 0 && h.mac_length < mac->size()) {
        auto found = syncer::findTsig(query);
        check(found && found->has_value() && (*found)->offset == payload.size() &&
                  (*found)->mac == *mac,
              "signed query does not hold the TSIG signQuery appended");
        check(cutMac(query, **found, mac->size()) == query, "harness rebuilds TSIG differently");
        mac_length = h.mac_length;
        query = cutMac(query, **found, mac_length);
    }
    const Bytes original = query;
    bool harmful = false;
    if (h.mask != 0) {
        const size_t pos = h.offset % query.size();
        query[pos] ^= static_cast<std::byte>(h.mask);
        harmful = !harmlessFlip(original, layout, pos, h.mask);
    }
    shrink(query);
    const auto result = syncer::verifyRequest(query, testKey(), kNow);
    if (verbose) {
        std::fprintf(stderr, "signed query (key %d, %s, %s flip, MAC %zu bytes): TSIG %s\n",
                     static_cast<int>(choice), well_formed ? "well-formed" : "malformed",
                     h.mask == 0 ? "no" : (harmful ? "harmful" : "harmless"), mac_length,
                     std::string(syncer::toString(result.status)).c_str());
    }
    if (macVerified(result.status)) {
        check(result.record && result.record->offset == payload.size(),
              "MAC verified over a TSIG the signer did not write");
    }
    if (harmful) {
        check(!macVerified(result.status), "a tampered signed query verified");
    } else if (well_formed) {
        check(result.status == expectedStatus(choice, mac_length, h),
              "signed query: TSIG status differs from RFC 8945 order");
    } else {
        check(!macVerified(result.status), "a malformed query verified once signed");
    }
    checkFindTsig(query);
    checkScreen(query, (h.control & kOtherKeyOrMac) != 0 ? nullptr : &testKey());
}

// ---- modes 2 and 3: the listener's answer chain, checked by the client -------------------------

Bytes axfrQuery(ByteSpan qname_wire) {
    Bytes q;
    put16(q, 0x4242);
    put16(q, 0);  // QUERY
    put16(q, 1);
    put16(q, 0);
    put16(q, 0);
    put16(q, 0);
    append(q, qname_wire);
    put16(q, common::rrtype::kAxfr);
    put16(q, 1);
    return q;
}

struct ChainMessage {
    Bytes bytes;
    size_t index = 0;  // position in the chain as signed
    bool well_formed = false;
    TsigLayout layout;
};

// Signs `messages` as the listener answers the signed `query`, tampers with the chain as the
// header says, and verifies it as the client does.
void fuzzChain(const Bytes& query, std::vector<Bytes> messages, const Header& h) {
    const auto& key = testKey();
    Bytes signed_query = query;
    auto qmac = syncer::signQuery(signed_query, key, kNow);
    check(static_cast<bool>(qmac), "cannot sign the chain's query");
    auto screened = syncer::screenQuery(signed_query, &key, kNow);
    check(screened.outcome == Outcome::Accepted, "listener refused a genuinely signed query");
    auto& signer = *screened.signer;

    std::vector<ChainMessage> chain;
    const auto signed_at = kNow + std::chrono::seconds{h.skew};
    const auto time_signed = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(signed_at.time_since_epoch()).count());
    for (auto& m : messages) {
        ChainMessage c{
            .bytes = std::move(m), .index = chain.size(), .well_formed = false, .layout = {}};
        c.well_formed = wellFormedUnsigned(c.bytes);
        c.layout = TsigLayout{.offset = c.bytes.size(),
                              .name_length = key.nameWire().size(),
                              .algorithm_length = key.algorithmWire().size()};
        const size_t before = c.bytes.size();
        if (!signer.sign(c.bytes, time_signed, h.fudge)) {
            check(before < kDnsHeader || before > 65000 || u16(c.bytes, 10) == 0xffff,
                  "listener cannot sign an answer message");
            break;  // the listener breaks the transfer off here
        }
        chain.push_back(std::move(c));
    }
    if (chain.empty()) return;

    // Tampering: drop, swap, or flip one byte.
    size_t tampered = chain.size();  // index of the message flipped harmfully, if any
    const size_t k = h.offset % chain.size();
    if ((h.control & (kDrop | kSwap)) == (kDrop | kSwap)) {
        // An answer whose MAC was cut short (to nothing, say: the look of an unsigned error).
        auto found = syncer::findTsig(chain[k].bytes);
        if (found && found->has_value()) {
            const auto& r = **found;
            chain[k].bytes =
                cutMac(chain[k].bytes, r, std::min<size_t>(h.mac_length, r.mac.size() - 1));
            tampered = k;
        }
    } else if ((h.control & kDrop) != 0) {
        chain.erase(chain.begin() + static_cast<std::ptrdiff_t>(k));
    } else if ((h.control & kSwap) != 0) {
        if (k + 1 < chain.size()) std::swap(chain[k], chain[k + 1]);
    } else if (h.mask != 0) {
        size_t total = 0;
        for (const auto& c : chain) total += c.bytes.size();
        size_t pos = h.offset % total;
        size_t i = 0;
        while (pos >= chain[i].bytes.size()) pos -= chain[i++].bytes.size();
        const Bytes original = chain[i].bytes;
        chain[i].bytes[pos] ^= static_cast<std::byte>(h.mask);
        if (!harmlessFlip(original, chain[i].layout, pos, h.mask)) tampered = i;
    }

    Bytes expected_mac = *qmac;
    const bool other_mac = (h.control & kOtherKeyOrMac) != 0;
    if (other_mac) expected_mac[0] ^= std::byte{1};
    syncer::TsigResponseVerifier client(key, expected_mac);
    const bool in_time = std::abs(int{h.skew}) <= int{h.fudge};
    bool ok_so_far = !other_mac;
    for (size_t i = 0; i < chain.size(); ++i) {
        shrink(chain[i].bytes);
        const auto status = client.verify(chain[i].bytes, kNow);
        if (verbose) {
            std::fprintf(stderr, "answer message %zu (signed as %zu, %zu bytes, %s): %s\n", i,
                         chain[i].index, chain[i].bytes.size(),
                         chain[i].well_formed ? "well-formed" : "malformed",
                         std::string(syncer::toString(status)).c_str());
        }
        ok_so_far =
            ok_so_far && chain[i].index == i && chain[i].well_formed && i != tampered && in_time;
        check((status == TsigStatus::Valid) == ok_so_far,
              ok_so_far ? "client refused an untouched answer chain"
                        : "client accepted a tampered, reordered or foreign answer message");
        if (ok_so_far) {
            check(client.lastRecord().has_value() && client.lastRecord()->error == 0,
                  "answer message verified with an error");
        }
    }
}

void fuzzChainRecords(ByteSpan payload, const Header& h) {
    std::vector<Bytes> messages;
    size_t pos = 0;
    while (pos + 2 <= payload.size() && messages.size() < kMaxChain) {
        const size_t length = std::min<size_t>(u16(payload, pos), payload.size() - pos - 2);
        const auto m = payload.subspan(pos + 2, length);
        messages.emplace_back(m.begin(), m.end());
        pos += 2 + length;
    }
    const auto zone = common::nameToWire("example.org.");
    fuzzChain(axfrQuery(*zone), std::move(messages), h);
}

void fuzzAxfrAnswer(ByteSpan body, const Header& h) {
    auto rrs = common::decodeBody(body);
    if (!rrs || rrs->empty()) return;
    const auto owner = rrs->front().owner;
    auto zone = common::canonicalZoneName(common::wireToName(owner));
    if (!zone) return;
    const Bytes query = axfrQuery(owner);
    Bytes signed_query = query;
    if (!syncer::signQuery(signed_query, testKey(), kNow)) return;
    auto messages = common::buildAxfrResponse(signed_query, *zone, body);
    if (!messages) return;
    for (const auto& m : *messages) {
        check(wellFormedUnsigned(m), "AXFR answer message is not a well-formed dns message");
    }
    fuzzChain(query, std::move(*messages), h);
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    verbose = std::getenv("PDD_FUZZ_VERBOSE") != nullptr;
    KeyChoice choice = KeyChoice::Test;
    (void)signingKey(0, choice);
    (void)testKey();
    return 0;
}

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ByteSpan input = pdns_distribute::fuzz::bytesOf(data, size);
    if (size < pdns_distribute::fuzz::tsig_input::kSize) {
        fuzzRaw(input);
        return 0;
    }
    const Header h = pdns_distribute::fuzz::tsig_input::decode(input);
    const ByteSpan payload = input.subspan(pdns_distribute::fuzz::tsig_input::kSize);
    fuzzRaw(payload);
    switch (h.control & kModeMask) {
        case kModeSignQuery:
            fuzzSignedQuery(payload, h);
            break;
        case kModeChain:
            fuzzChainRecords(payload, h);
            break;
        case kModeAxfr:
            fuzzAxfrAnswer(payload, h);
            break;
        default:
            break;
    }
    return 0;
}
