// SPDX-License-Identifier: Apache-2.0
#pragma once
// TSIG (RFC 8945) over raw DNS wire messages, for the last hop between the local pdns_server and
// the AXFR listener (DESIGN §5.8). HMAC comes from OpenSSL (EVP_MAC). ldns has TSIG functions,
// but they sign and verify ldns_pkt objects: every ~32 KiB AXFR message would be parsed into an
// ldns_pkt and rendered again, and verification answers only true/false where RFC 8945 needs
// BADKEY, BADSIG, BADTIME and FORMERR told apart. The unit tests use ldns as the independent
// oracle for what is built here.
//
// All functions are pure and thread-safe; a TsigSigner or TsigResponseVerifier belongs to one
// connection (one thread).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::secondary_syncer {

using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

inline constexpr uint16_t kRrTypeTsig = 250;
inline constexpr uint8_t kRcodeNotAuth = 9;

/// TSIG error field values (RFC 8945 §3).
enum class TsigError : uint16_t {
    NoError = 0,
    BadSig = 16,
    BadKey = 17,
    BadTime = 18,
    BadTrunc = 22
};

enum class TsigAlgorithm { HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512 };

/// Accepts the names pdns and RFC 8945 use ("hmac-sha256", with or without the final dot, any
/// case). HMAC-MD5 is not offered (RFC 8945 §6: deprecated).
[[nodiscard]] std::optional<TsigAlgorithm> parseTsigAlgorithm(std::string_view name);
/// "hmac-sha256" and so on, without the final dot (the pdns API spelling).
[[nodiscard]] std::string_view tsigAlgorithmName(TsigAlgorithm algorithm);

/// A TSIG key. The secret is wiped when the key is destroyed and is never formatted anywhere;
/// move-only so that it exists once.
class TsigKey {
public:
    /// `name` is a DNS name (case and final dot optional); throws std::invalid_argument when it is
    /// not one or the secret is empty.
    TsigKey(std::string_view name, TsigAlgorithm algorithm, Bytes secret);
    /// From the pdns API's fields; the error message never contains the secret.
    [[nodiscard]] static common::Result<TsigKey> fromBase64(std::string_view name,
                                                            std::string_view algorithm,
                                                            std::string_view secret_base64);
    ~TsigKey();
    TsigKey(TsigKey&& other) noexcept;
    TsigKey& operator=(TsigKey&& other) noexcept;
    TsigKey(const TsigKey&) = delete;
    TsigKey& operator=(const TsigKey&) = delete;

    /// Canonical presentation name: lower case, absolute ("pdns-distribute-sec1.").
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] TsigAlgorithm algorithm() const { return algorithm_; }
    /// Canonical (lower-case, uncompressed) wire forms, as the MAC covers them.
    [[nodiscard]] ByteSpan nameWire() const { return name_wire_; }
    [[nodiscard]] ByteSpan algorithmWire() const { return algorithm_wire_; }
    [[nodiscard]] ByteSpan secret() const { return secret_; }
    /// Length of a full MAC for this key's algorithm.
    [[nodiscard]] size_t macSize() const;

private:
    std::string name_;
    TsigAlgorithm algorithm_ = TsigAlgorithm::HmacSha256;
    Bytes name_wire_;
    Bytes algorithm_wire_;
    Bytes secret_;
};

/// The TSIG RR of a message, decoded.
struct TsigRecord {
    size_t offset = 0;  ///< where the RR starts; the MAC covers the bytes before it
    Bytes key_name;     ///< canonical wire (lower case, uncompressed)
    Bytes algorithm;    ///< canonical wire
    uint16_t rclass = 255;
    uint32_t ttl = 0;
    uint64_t time_signed = 0;  ///< 48 bits, seconds since the epoch
    uint16_t fudge = 0;
    Bytes mac;
    uint16_t original_id = 0;
    uint16_t error = 0;
    Bytes other;
};

/// Walks the whole message (every length checked, compression pointers only backwards) and
/// returns its TSIG RR, nullopt when unsigned. Error (FORMERR) when the message is malformed,
/// holds more than one TSIG, a TSIG that is not the last additional RR, bytes after the last RR,
/// or a TSIG whose class is not ANY.
[[nodiscard]] common::Result<std::optional<TsigRecord>> findTsig(ByteSpan message);

/// Outcome of checking a request (RFC 8945 §5.2, checks in the RFC's order).
enum class TsigStatus {
    Unsigned,  ///< no TSIG RR
    Valid,
    FormErr,   ///< malformed message or TSIG RR, or a MAC length outside RFC 8945 §5.2.2.1
    BadKey,    ///< unknown key name or algorithm
    BadSig,    ///< MAC does not verify
    BadTime,   ///< MAC verifies, time signed outside now ± fudge
    BadTrunc,  ///< MAC verifies but is truncated; our policy wants full-length MACs
};
[[nodiscard]] std::string_view toString(TsigStatus status);

struct TsigCheck {
    TsigStatus status = TsigStatus::Unsigned;
    std::optional<TsigRecord> record;  ///< present unless Unsigned or malformed
};

/// Verifies a signed request (a query) against `key`.
[[nodiscard]] TsigCheck verifyRequest(ByteSpan message, const TsigKey& key,
                                      std::chrono::system_clock::time_point now);

/// Signs the messages of one answer (RFC 8945 §5.3 and, for several messages on one TCP
/// connection, §5.3.1): the first MAC covers the request MAC, the message and all TSIG variables;
/// each later MAC covers the prior MAC, the message and the timers. Every message is signed.
class TsigSigner {
public:
    /// `request_mac` is the verified request's MAC; `key` must outlive the signer.
    TsigSigner(const TsigKey& key, Bytes request_mac);
    /// Appends the TSIG RR to `message` and increments ARCOUNT. `time_signed` and `fudge` as
    /// RFC 8945 wants them in the message; `other` only for BADTIME (the server's time).
    [[nodiscard]] common::Status sign(Bytes& message, uint64_t time_signed, uint16_t fudge = 300,
                                      TsigError error = TsigError::NoError, ByteSpan other = {});
    [[nodiscard]] common::Status sign(Bytes& message, std::chrono::system_clock::time_point now);

private:
    const TsigKey& key_;
    Bytes prior_mac_;
    bool first_ = true;
};

/// The answer for a request that did not verify (anything but Valid and Unsigned): NOTAUTH with
/// the TSIG error; unsigned (MAC size 0) for BADKEY and BADSIG, signed with the request MAC for
/// BADTIME (time signed = the request's, other data = our time) and BADTRUNC (RFC 8945 §5.2.3,
/// §5.3.2). FormErr gives FORMERR without TSIG. nullopt when the query cannot be answered at all.
[[nodiscard]] std::optional<Bytes> tsigErrorResponse(ByteSpan query, const TsigCheck& check,
                                                     const TsigKey& key,
                                                     std::chrono::system_clock::time_point now);

/// Client side (tests and tools): appends a TSIG RR to `query` (ARCOUNT + 1) and returns its MAC,
/// which the answer's first MAC covers.
[[nodiscard]] common::Result<Bytes> signQuery(Bytes& query, const TsigKey& key,
                                              std::chrono::system_clock::time_point now,
                                              uint16_t fudge = 300);

/// Client side: verifies the messages of an answer in order. Every message must be signed (our
/// listener signs each one; RFC 8945 §5.3.1 would allow up to 99 unsigned ones in between, which
/// this verifier refuses).
class TsigResponseVerifier {
public:
    /// `key` must outlive the verifier.
    TsigResponseVerifier(const TsigKey& key, Bytes request_mac);
    /// Valid when the message verifies, else the failure (and every later call fails too).
    [[nodiscard]] TsigStatus verify(ByteSpan message, std::chrono::system_clock::time_point now);
    /// The TSIG RR of the last message that verified (its error field, for instance).
    [[nodiscard]] const std::optional<TsigRecord>& lastRecord() const { return last_; }

private:
    const TsigKey& key_;
    Bytes prior_mac_;
    bool first_ = true;
    bool failed_ = false;
    std::optional<TsigRecord> last_;
};

/// The TSIG key name the syncer of `node_id` uses in its local pdns: "pdns-distribute-<node>."
/// in lower case, the label cut to 63 bytes.
[[nodiscard]] std::string tsigKeyNameForNode(std::string_view node_id);

}  // namespace pdns_distribute::secondary_syncer
