// SPDX-License-Identifier: Apache-2.0
// Fuzz target: zone-data reassembly and verification, the path every byte of a zone-data reply
// takes on a syncer: verifyManifestReply, parseManifest and verifyBody (manifest.hpp) called
// directly, and the syncer's ZoneDataClient driven end to end by a fake Requester whose replies
// (manifest bytes, headers, chunk bytes) come from the input. A fixed test key signs the manifest
// over the nonce of the client's request when the input says so, so the fuzzer gets past the
// signature and into parsing, chunk pulling and body checks; the target then checks that nothing
// is ever accepted unless that genuine signature was there.
//
// Input layout: [flags u8] then records [tag u8][length u16 BE][payload]:
//   'M' manifest payload bytes (or, with kFixUp, a JSON object whose fields seed the manifest)
//   'B' body bytes (served as chunks, and used by kFixUp)
//   'S' Pdd-Sig header value (used when kSign is clear)
//   'K' Pdd-Key-Id header value (default: the test key's id)
//   'Z' zone name to fetch (canonicalised; default "example.org.")
//   'C' chunk reply: [index u16 BE][attempt u8][data]
//   'T' chunk timeout: [index u16 BE][attempt u8]
// Chunk requests without a 'C' or 'T' record get the matching slice of 'B' (empty past its end,
// which the client takes as "expired at the provider").

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/metrics.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fuzz_check.hpp"
#include "zone_data_client.hpp"

namespace {

namespace common = pdns_distribute::common;
namespace syncer = pdns_distribute::secondary_syncer;
using pdns_distribute::fuzz::check;
using namespace std::chrono_literals;

constexpr uint8_t kSign = 0x01;        // sign the manifest with the test key
constexpr uint8_t kFixUp = 0x02;       // derive size, digest and chunk fields from 'B'
constexpr uint8_t kInline = 0x04;      // with kFixUp: carry 'B' inline instead of in chunks
constexpr uint8_t kExpired = 0x08;     // the test key is past its not_after date
constexpr uint8_t kNoReply = 0x10;     // the manifest request times out
constexpr uint8_t kNoSig = 0x20;       // the reply lacks Pdd-Sig
constexpr uint8_t kNoKeyId = 0x40;     // the reply lacks Pdd-Key-Id
constexpr uint8_t kStaleNonce = 0x80;  // sign over another nonce than the request's (a replay)

constexpr std::string_view kDefaultZone = "example.org.";
constexpr std::string_view kGroup = "default";
constexpr std::string_view kFixedNonce = "00112233445566778899aabbccddeeff";
constexpr uint64_t kMaxZoneBytes = 1 << 20;
constexpr uint32_t kDefaultChunkSize = 64;
constexpr uint32_t kMaxFixUpChunkSize = 1 << 16;

// PDD_FUZZ_VERBOSE=1 prints what fetch made of each input (for triage and for checking seeds).
bool verbose = false;

using ChunkKey = std::pair<uint32_t, uint8_t>;  // chunk index, attempt

struct FuzzInput {
    uint8_t flags = 0;
    std::string manifest;
    std::optional<std::string> body;
    std::optional<std::string> sig_hex;
    std::optional<std::string> key_id;
    std::string zone{kDefaultZone};
    std::map<ChunkKey, std::optional<std::string>> chunks;  // nullopt: time out
};

FuzzInput parseInput(const uint8_t* data, size_t size) {
    FuzzInput in;
    if (size == 0) return in;
    in.flags = data[0];
    size_t pos = 1;
    while (size - pos >= 3) {
        const uint8_t tag = data[pos];
        const size_t length =
            std::min<size_t>((size_t{data[pos + 1]} << 8) | data[pos + 2], size - pos - 3);
        const std::string payload(reinterpret_cast<const char*>(data + pos + 3), length);
        pos += 3 + length;
        switch (tag) {
            case 'M':
                in.manifest = payload;
                break;
            case 'B':
                in.body = payload;
                break;
            case 'S':
                in.sig_hex = payload;
                break;
            case 'K':
                in.key_id = payload;
                break;
            case 'Z':
                if (auto zone = common::canonicalZoneName(payload)) in.zone = *zone;
                break;
            case 'C':
            case 'T':
                if (payload.size() >= 3) {
                    const auto index = static_cast<uint32_t>(
                        (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]));
                    const auto attempt = static_cast<uint8_t>(payload[2]);
                    in.chunks[{index, attempt}] =
                        tag == 'C' ? std::optional<std::string>(payload.substr(3)) : std::nullopt;
                }
                break;
            default:
                break;
        }
    }
    return in;
}

std::span<const std::byte, 32> seedOf(const std::array<std::byte, 32>& seed) { return seed; }

const common::SecretKey& testKey() {
    static const common::SecretKey key = [] {
        std::array<std::byte, 32> seed{};
        for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::byte>(i + 1);
        return common::SecretKey::fromSeedBytes(seedOf(seed));
    }();
    return key;
}

const common::PublicKey& decoyKey() {
    static const common::PublicKey key = [] {
        std::array<std::byte, 32> seed{};
        seed.fill(std::byte{0x5a});
        return common::SecretKey::fromSeedBytes(seedOf(seed)).publicKey();
    }();
    return key;
}

class FixedClock final : public common::Clock {
public:
    [[nodiscard]] std::chrono::steady_clock::time_point steady() const override {
        return std::chrono::steady_clock::time_point{1000s};
    }
    [[nodiscard]] std::chrono::system_clock::time_point system() const override {
        return std::chrono::system_clock::time_point{1'790'000'000s};
    }
};

std::vector<common::TrustedKey> trustedKeys(const FuzzInput& in, const common::Clock& clock) {
    const auto now = clock.system();
    return {common::TrustedKey{.key = testKey().publicKey(),
                               .not_after = (in.flags & kExpired) != 0 ? now - 1h : now + 24h},
            common::TrustedKey{.key = decoyKey(), .not_after = std::nullopt}};
}

// True when a reply carries the test key's valid signature over `nonce`-bound payload and names
// the key: the only case in which anything may be accepted.
bool genuinelySigned(const FuzzInput& in) {
    const uint8_t forged = kNoReply | kNoSig | kNoKeyId | kStaleNonce | kExpired;
    return (in.flags & kSign) != 0 && (in.flags & forged) == 0 &&
           (!in.key_id || *in.key_id == testKey().publicKey().keyId());
}

template <typename T>
void take(const nlohmann::json& j, const char* key, T& out) {
    const auto it = j.find(key);
    if (it == j.end()) return;
    if constexpr (std::is_same_v<T, std::string>) {
        if (it->is_string()) out = it->template get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (it->is_boolean()) out = it->template get<bool>();
    } else {
        if (it->is_number_unsigned() && it->template get<uint64_t>() <= UINT32_MAX) {
            out = static_cast<T>(it->template get<uint64_t>());
        }
    }
}

// Builds a manifest whose size, digest and chunk fields match 'B', taking the other fields from
// 'M' when it is a JSON object that has them, so the fuzzer reaches chunk pulling and body checks.
std::string fixedUpManifest(const FuzzInput& in) {
    const std::string body = in.body.value_or("");
    const auto bytes = common::asBytes(body);
    common::Manifest m{.zone = in.zone,
                       .status = common::ManifestStatus::Present,
                       .signed_at = "2026-09-20T00:00:00Z",
                       .chunk_size = kDefaultChunkSize};
    if (auto validated = common::validateBody(in.zone, {bytes.begin(), bytes.end()})) {
        m.serial = validated->serial;
        m.rr_count = validated->rr_count;
        m.dnssec = validated->dnssec;
        m.presigned = validated->presigned;
    }
    const auto j = nlohmann::json::parse(in.manifest, nullptr, false);
    if (j.is_object()) {
        take(j, "zone", m.zone);
        std::string status{common::toString(m.status)};
        take(j, "status", status);
        if (status == "absent") m.status = common::ManifestStatus::Absent;
        if (status == "error") m.status = common::ManifestStatus::Error;
        take(j, "reason", m.reason);
        take(j, "serial", m.serial);
        take(j, "apex", m.apex);
        take(j, "rr_count", m.rr_count);
        take(j, "dnssec", m.dnssec);
        take(j, "presigned", m.presigned);
        take(j, "signed_at", m.signed_at);
        take(j, "chunk_size", m.chunk_size);
        take(j, "xfer", m.xfer);
    }
    if (m.chunk_size == 0 || m.chunk_size > kMaxFixUpChunkSize) m.chunk_size = kDefaultChunkSize;
    m.size = body.size();
    m.digest = common::toHex(common::blake2b256(bytes));
    if ((in.flags & kInline) != 0) {
        m.inline_body = body;
    } else {
        if (m.xfer.empty()) m.xfer = "pdns.zonedata.x.fuzz";
        auto chunking = common::chunkBody(bytes, m.chunk_size);
        m.chunks = static_cast<uint32_t>(chunking.digests.size());
        m.chunk_digests = std::move(chunking.digests);
    }
    return common::serializeManifest(m);
}

// Plays the zone-provider from the input. Thread-safe, in case the client pulls chunks in
// parallel; replies depend only on (chunk index, attempt), never on the order of requests.
class FuzzProvider final : public common::Requester {
public:
    FuzzProvider(const FuzzInput& in, std::string payload) : in_(in), payload_(std::move(payload)) {
        if (auto parsed = common::parseManifest(payload_)) chunk_size_ = parsed->chunk_size;
    }

    common::Result<common::BusMessage> request(const std::string& subject, std::string_view data,
                                               const common::Headers& /*headers*/,
                                               std::chrono::milliseconds /*timeout*/) override {
        const std::scoped_lock lock(mutex_);
        const auto req = nlohmann::json::parse(data, nullptr, false);
        check(req.is_object(), "the client sent a request that is not a JSON object");
        if (req.contains("chunk")) return chunk(subject, req.at("chunk").get<uint32_t>());
        check(req.value("zone", std::string{}) == in_.zone, "request names another zone");
        check(subject == common::zoneDataSubject(kGroup, in_.zone), "request on a wrong subject");
        if ((in_.flags & kNoReply) != 0) return timeout();
        const std::string nonce = req.at("nonce").get<std::string>();
        common::BusMessage reply{.subject = subject, .reply = {}, .data = payload_, .headers = {}};
        if ((in_.flags & kNoSig) == 0) {
            std::string sig = in_.sig_hex.value_or(std::string(128, '0'));
            if ((in_.flags & kSign) != 0) {
                const std::string signed_nonce =
                    (in_.flags & kStaleNonce) != 0 ? std::string(kFixedNonce) : nonce;
                sig = common::toHex(common::signManifest(testKey(), payload_, signed_nonce));
            }
            reply.headers.emplace_back(common::kSigHeader, sig);
        }
        if ((in_.flags & kNoKeyId) == 0) {
            reply.headers.emplace_back(common::kKeyIdHeader,
                                       in_.key_id.value_or(testKey().publicKey().keyId()));
        }
        return reply;
    }

private:
    static common::Error timeout() {
        return common::Error{.message = "request timed out", .code = "timeout"};
    }

    common::Result<common::BusMessage> chunk(const std::string& subject, uint32_t index) {
        const uint8_t attempt = attempts_[index]++;
        std::string data;
        if (const auto it = in_.chunks.find({index, attempt}); it != in_.chunks.end()) {
            if (!it->second) return timeout();
            data = *it->second;
        } else if (in_.body && chunk_size_ > 0) {
            const uint64_t offset = uint64_t{index} * chunk_size_;
            if (offset < in_.body->size()) data = in_.body->substr(offset, chunk_size_);
        } else {
            return timeout();
        }
        return common::BusMessage{.subject = subject, .reply = {}, .data = data, .headers = {}};
    }

    const FuzzInput& in_;
    const std::string payload_;
    uint32_t chunk_size_ = 0;
    std::mutex mutex_;
    std::map<uint32_t, uint8_t> attempts_;
};

// What an accepted present body must satisfy whichever path accepted it.
void checkAcceptedBody(const common::Manifest& m, const common::ZoneBody& body) {
    check(body.bytes.size() == m.size, "accepted body size differs from the manifest");
    check(common::toHex(common::blake2b256(body.bytes)) == m.digest,
          "accepted body digest differs from the manifest");
    auto again = common::validateBody(m.zone, body.bytes);
    check(static_cast<bool>(again), "accepted body does not validate");
    check(again->rr_count == m.rr_count && again->serial == m.serial,
          "accepted body rr count or serial differs from the manifest");
}

void fuzzManifestFunctions(const FuzzInput& in, const std::string& payload,
                           std::span<const common::TrustedKey> trusted,
                           const common::Clock& clock) {
    auto parsed = common::parseManifest(payload);
    if (parsed) {
        // What the provider serialises, the syncer parses back.
        if (parsed->status == common::ManifestStatus::Present || !parsed->reason.empty()) {
            auto again = common::parseManifest(common::serializeManifest(*parsed));
            check(static_cast<bool>(again), "serialised manifest does not parse back");
            check(again->zone == parsed->zone && again->status == parsed->status &&
                      again->size == parsed->size && again->digest == parsed->digest &&
                      again->chunk_digests == parsed->chunk_digests &&
                      again->inline_body == parsed->inline_body,
                  "manifest changed in a serialise/parse round trip");
        }
        if (in.body) {
            const auto b = common::asBytes(*in.body);
            if (auto body = common::verifyBody(*parsed, {b.begin(), b.end()})) {
                checkAcceptedBody(*parsed, *body);
            }
        }
        if (parsed->inline_body) {
            const auto b = common::asBytes(*parsed->inline_body);
            if (auto body = common::verifyBody(*parsed, {b.begin(), b.end()})) {
                checkAcceptedBody(*parsed, *body);
            }
        }
    }
    std::string sig = in.sig_hex.value_or("");
    if ((in.flags & kSign) != 0) {
        sig = common::toHex(common::signManifest(testKey(), payload, kFixedNonce));
    }
    const std::string key_id = in.key_id.value_or(testKey().publicKey().keyId());
    auto verified = common::verifyManifestReply(payload, sig, key_id, in.zone, kFixedNonce, trusted,
                                                clock.system());
    if (verified) {
        const auto sig_bytes = common::fromHex(sig);
        check((in.flags & kExpired) == 0 && key_id == testKey().publicKey().keyId() && sig_bytes &&
                  common::verifyManifest(testKey().publicKey(), payload, kFixedNonce, *sig_bytes),
              "verifyManifestReply accepted a manifest without the test key's signature");
        check(verified->manifest.zone == in.zone, "verifyManifestReply accepted another zone");
        check(parsed.operator bool(), "verifyManifestReply accepted what parseManifest refuses");
    }
}

void fuzzClient(const FuzzInput& in, const std::string& payload,
                const std::vector<common::TrustedKey>& trusted, const common::Clock& clock) {
    FuzzProvider provider(in, payload);
    common::MetricsRegistry metrics;
    syncer::ZoneDataClient client(provider,
                                  syncer::ZoneDataClientSettings{.group = std::string(kGroup),
                                                                 .node = "fuzz",
                                                                 .trusted = trusted,
                                                                 .max_zone_bytes = kMaxZoneBytes,
                                                                 .timeout = 1s,
                                                                 .chunk_attempts = 3},
                                  clock, metrics);
    auto fetched = client.fetch(in.zone, "");
    if (verbose) {
        std::fprintf(stderr, "fetch: %s\n",
                     fetched ? std::string(common::toString(fetched->manifest.status)).c_str()
                             : (fetched.error().code + ": " + fetched.error().message).c_str());
    }
    if (!fetched) {
        const auto& code = fetched.error().code;
        check(code == "unavailable" || code == "refused", "fetch failed with an unknown code");
        return;
    }
    check(genuinelySigned(in), "fetch accepted a reply without the test key's valid signature");
    check(fetched->manifest.zone == in.zone, "fetch accepted a manifest for another zone");
    if (fetched->manifest.status != common::ManifestStatus::Present) {
        check(!fetched->body, "fetch returned a body for a manifest that is not present");
        return;
    }
    check(fetched->body.has_value(), "fetch accepted a present manifest without a body");
    check(fetched->manifest.size <= kMaxZoneBytes, "fetch accepted a body over max_zone_bytes");
    checkAcceptedBody(fetched->manifest, *fetched->body);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    verbose = std::getenv("PDD_FUZZ_VERBOSE") != nullptr;
    spdlog::set_level(spdlog::level::off);
    (void)testKey();
    (void)decoyKey();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const FuzzInput in = parseInput(data, size);
    const FixedClock clock;
    const auto trusted = trustedKeys(in, clock);
    const std::string payload = (in.flags & kFixUp) != 0 ? fixedUpManifest(in) : in.manifest;
    fuzzManifestFunctions(in, payload, trusted, clock);
    fuzzClient(in, payload, trusted, clock);
    return 0;
}
