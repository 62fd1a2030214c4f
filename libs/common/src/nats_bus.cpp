// SPDX-License-Identifier: Apache-2.0
// NatsBus: the nats.c (libnats 3.4) adapter behind the bus ports. Every natsStatus is translated
// right after the call (natsError below); nats.c threads only ever run the connection event
// handlers, which log and nothing else.

#include <pdns_distribute/common/bus.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "nats_handles.hpp"

namespace pdns_distribute::common {

namespace {

using namespace std::chrono_literals;
namespace nh = nats;

constexpr const char* kMsgIdHeader = "Nats-Msg-Id";
// Set directly rather than through jsPubOptions.ExpectLastSubjectSeq, which nats.c treats as
// "unset" when 0; we need 0 to mean "no message on this subject yet".
constexpr const char* kExpectedLastSubjectSeqHeader = "Nats-Expected-Last-Subject-Sequence";
constexpr jsErrCode kWrongLastSequence = JSStreamWrongLastSequenceErr;  // 10071
constexpr std::chrono::milliseconds kFirstConnectBackoff{100};
constexpr std::chrono::milliseconds kMaxConnectBackoff{2000};
constexpr std::chrono::milliseconds kJetStreamApiWait{5000};
constexpr std::chrono::milliseconds kCloseFlushTimeout{2000};
constexpr int kReconnectBufferBytes = 8 * 1024 * 1024;
// A core subscription read by our own thread must absorb a burst (a bootstrap of many zones)
// without nats.c dropping messages as a slow consumer.
constexpr int kSubPendingMsgs = 1'000'000;
constexpr int kSubPendingBytes = 1024 * 1024 * 1024;

int64_t toMillis(std::chrono::milliseconds d) { return std::max<int64_t>(1, d.count()); }

int64_t toNanos(std::chrono::nanoseconds d) { return d.count(); }

/// nats.c keeps a per-thread "last error" with more detail than the status text; read it right
/// after the failing call, on the same thread.
std::string lastErrorText() {
    const char* text = nats_GetLastError(nullptr);
    std::string out = text == nullptr ? std::string{} : std::string{text};
    // Drop nats.c's source location prefix, e.g. "(js.c:535): ".
    if (out.starts_with('(')) {
        const auto end = out.find("): ");
        if (end != std::string::npos && out.find(".c:") < end) {
            out.erase(0, end + 3);
        }
    }
    return out;
}

/// "<status text>: <detail>" for a failed call, read on the calling thread.
std::string natsCause(natsStatus status) {
    std::string cause = natsStatus_GetText(status);
    const std::string detail = lastErrorText();
    if (status == NATS_ERR && !detail.empty()) {
        cause = detail;  // the generic "Error" adds nothing to the server's own text
    } else if (!detail.empty() && detail != cause) {
        cause += ": " + detail;
    }
    return cause;
}

/// Builds "cannot <action> (<status text>: <detail>, jetstream error <code>)".
Error natsError(std::string_view action, natsStatus status,
                jsErrCode js_err = static_cast<jsErrCode>(0), std::string code = {}) {
    std::string cause = natsCause(status);
    if (js_err != 0) {
        cause += fmt::format(", jetstream error {}", static_cast<int>(js_err));
    }
    if (code.empty()) {
        switch (status) {
            case NATS_TIMEOUT:
                code = "timeout";
                break;
            case NATS_NO_RESPONDERS:
                code = "no-responders";
                break;
            case NATS_CONNECTION_CLOSED:
            case NATS_CONNECTION_DISCONNECTED:
            case NATS_NO_SERVER:
            case NATS_STALE_CONNECTION:
            case NATS_NOT_YET_CONNECTED:
            case NATS_DRAINING:
                code = "disconnected";
                break;
            default:
                break;
        }
    }
    return Error{.message = fmt::format("cannot {} ({})", action, cause), .code = std::move(code)};
}

/// Hides user:password@ in URLs before they reach a log line or an error message.
std::string redactUrl(std::string_view url) {
    const auto scheme = url.find("://");
    const auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
    const auto at = url.find('@', start);
    const auto slash = url.find('/', start);
    if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
        return std::string{url};
    }
    return fmt::format("{}***{}", url.substr(0, start), url.substr(at));
}

/// Rate limit for log lines from nats.c threads (reconnect storms, slow consumer repeats).
class EventLimiter {
public:
    explicit EventLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
    bool allow() noexcept {
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
        int64_t last = last_.load(std::memory_order_relaxed);
        if (last != 0 && now - last < interval_.count()) {
            return false;
        }
        return last_.compare_exchange_strong(last, now, std::memory_order_relaxed);
    }

private:
    std::chrono::milliseconds interval_;
    std::atomic<int64_t> last_{0};
};

std::string connectionUrl(natsConnection* nc) {
    std::array<char, 256> buffer{};
    if (natsConnection_GetConnectedUrl(nc, buffer.data(), buffer.size()) == NATS_OK) {
        return redactUrl(buffer.data());
    }
    return {};
}

std::string connectionLastError(natsConnection* nc) {
    const char* text = nullptr;
    if (natsConnection_GetLastError(nc, &text) != NATS_OK && text != nullptr) {
        return fmt::format(" ({})", text);
    }
    return {};
}

// Connection event handlers run on nats.c threads: they only log and never throw. They use no
// closure, so they stay valid even when nats.c runs one after the NatsBus is gone.
void onDisconnected(natsConnection* nc, void* /*closure*/) noexcept {
    try {
        static EventLimiter limiter(5s);
        if (limiter.allow()) {
            spdlog::warn("nats: disconnected{}; reconnecting", connectionLastError(nc));
        }
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may cross into nats.c
    }
}

void onReconnected(natsConnection* nc, void* /*closure*/) noexcept {
    try {
        spdlog::info("nats: reconnected to '{}'", connectionUrl(nc));
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may cross into nats.c
    }
}

void onClosed(natsConnection* /*nc*/, void* /*closure*/) noexcept {
    try {
        spdlog::info("nats: connection closed");
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may cross into nats.c
    }
}

void onAsyncError(natsConnection* nc, natsSubscription* sub, natsStatus err,
                  void* /*closure*/) noexcept {
    try {
        static EventLimiter limiter(5s);
        if (!limiter.allow()) {
            return;
        }
        const char* subject = sub != nullptr ? natsSubscription_GetSubject(sub) : nullptr;
        spdlog::warn("nats: asynchronous error ({}){} subject={}", natsStatus_GetText(err),
                     connectionLastError(nc), subject != nullptr ? subject : "-");
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may cross into nats.c
    }
}

std::string trimmed(std::string text) {
    const auto end = text.find_last_not_of(" \t\r\n");
    text.erase(end == std::string::npos ? 0 : end + 1);
    const auto begin = text.find_first_not_of(" \t\r\n");
    text.erase(0, begin == std::string::npos ? text.size() : begin);
    return text;
}

/// Reads a secret (password, token, seed) from a file; throws naming the file and the config
/// key, never the content.
std::string readSecretFile(const std::string& path, std::string_view key) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(fmt::format("cannot read NATS secret file '{}' ({}); check {}",
                                             path, std::strerror(errno), key));
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string raw = content.str();
    std::string secret = trimmed(raw);
    sodium_memzero(raw.data(), raw.size());
    if (secret.empty()) {
        throw std::runtime_error(
            fmt::format("cannot use NATS secret file '{}' (it is empty); check {}", path, key));
    }
    return secret;
}

/// Overwrites a string holding a secret before it is freed.
void wipe(std::string& secret) noexcept {
    sodium_memzero(secret.data(), secret.size());
    secret.clear();
}

// --- NKey helpers -----------------------------------------------------------------------------
// nats.c needs the NKey public key next to the seed file (natsOptions_SetNKeyFromSeed), but the
// config names only the seed file. The public key follows from the seed (github.com/nats-io/nkeys
// format): base32(prefix bytes ‖ 32-byte Ed25519 seed ‖ CRC-16/XMODEM little-endian).

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr uint8_t kSeedPrefixByte = 18 << 3;

uint16_t crc16Xmodem(std::span<const uint8_t> data) {
    uint16_t crc = 0;
    for (uint8_t byte : data) {
        crc = static_cast<uint16_t>(crc ^ (static_cast<uint16_t>(byte) << 8));
        for (int bit = 0; bit < 8; ++bit) {
            crc = static_cast<uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
    }
    return crc;
}

std::optional<std::vector<uint8_t>> base32Decode(std::string_view text) {
    std::vector<uint8_t> out;
    uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto pos = kBase32Alphabet.find(c);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 5) | static_cast<uint32_t>(pos);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
        }
    }
    return out;
}

std::string base32Encode(std::span<const uint8_t> data) {
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (uint8_t byte : data) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(kBase32Alphabet[(buffer >> bits) & 31]);
        }
    }
    if (bits > 0) {
        out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
    }
    return out;
}

/// Public key for an NKey seed, or nullopt when `seed` is not a well-formed seed.
std::optional<std::string> nkeyPublicFromSeed(std::string_view seed) {
    auto raw = base32Decode(seed);
    if (!raw || raw->size() != 2 + crypto_sign_SEEDBYTES + 2) {
        return std::nullopt;
    }
    std::vector<uint8_t>& bytes = *raw;
    const std::span<const uint8_t> body(bytes.data(), bytes.size() - 2);
    const auto stored_crc =
        static_cast<uint16_t>(bytes[bytes.size() - 2] | (bytes[bytes.size() - 1] << 8));
    std::optional<std::string> result;
    if (crc16Xmodem(body) == stored_crc && (bytes[0] & 248) == kSeedPrefixByte) {
        const auto type = static_cast<uint8_t>(((bytes[0] & 7) << 5) | ((bytes[1] & 248) >> 3));
        std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
        std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
        if (sodium_init() >= 0 && crypto_sign_seed_keypair(pk.data(), sk.data(), &bytes[2]) == 0) {
            std::vector<uint8_t> pub;
            pub.push_back(type);
            pub.insert(pub.end(), pk.begin(), pk.end());
            const uint16_t crc = crc16Xmodem(pub);
            pub.push_back(static_cast<uint8_t>(crc & 0xff));
            pub.push_back(static_cast<uint8_t>(crc >> 8));
            result = base32Encode(pub);
        }
        sodium_memzero(sk.data(), sk.size());
    }
    sodium_memzero(bytes.data(), bytes.size());
    return result;
}

// --- options ------------------------------------------------------------------------------------

/// Throws naming the file, what it is for, the cause (errno) and the config key when `path`
/// cannot be opened for reading: nats.c's own TLS load errors carry no cause.
void requireReadable(const std::string& path, std::string_view what, std::string_view key) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in || in.peek() == std::ifstream::traits_type::eof()) {
        const int err = errno;
        throw std::runtime_error(
            fmt::format("cannot read {} '{}' ({}); check {}", what, path,
                        err != 0 ? std::strerror(err) : "it is empty or not a regular file", key));
    }
}

/// Turns a failed nats.c certificate load into a message naming the file(s) and the key.
void checkTlsLoad(natsStatus status, std::string_view what, std::string_view files,
                  std::string_view key) {
    if (status == NATS_OK) {
        return;
    }
    std::string detail = natsCause(status);
    // nats.c appends OpenSSL's reason, which is "(null)" when the file holds no PEM block.
    if (const auto pos = detail.find(": (null)"); pos != std::string::npos) {
        detail.replace(pos, 8, ": no PEM data it can use");
    }
    throw std::runtime_error(
        fmt::format("cannot use {} '{}' ({}); check {}", what, files, detail, key));
}

void checkOption(natsStatus status, std::string_view what) {
    if (status != NATS_OK) {
        throw std::runtime_error(
            natsError(fmt::format("set NATS option {}", what), status).message);
    }
}

nh::OptionsPtr makeOptions(const NatsSettings& settings) {
    natsOptions* raw = nullptr;
    checkOption(natsOptions_Create(&raw), "'create'");
    nh::OptionsPtr opts(raw);

    std::vector<const char*> servers;
    std::vector<std::string> redacted;
    for (const auto& url : settings.urls) {
        servers.push_back(url.c_str());
        redacted.push_back(redactUrl(url));
    }
    checkOption(
        natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size())),
        fmt::format("'nats.urls' ({})", fmt::join(redacted, ",")));
    if (!settings.name.empty()) {
        checkOption(natsOptions_SetName(opts.get(), settings.name.c_str()), "'name'");
    }
    checkOption(natsOptions_SetTimeout(opts.get(), toMillis(settings.connect_timeout)),
                "'connect_timeout'");
    // Reconnect forever: a daemon never gives up on its broker; jitter spreads a fleet's
    // reconnects after a broker restart.
    checkOption(natsOptions_SetAllowReconnect(opts.get(), true), "'allow_reconnect'");
    checkOption(natsOptions_SetMaxReconnect(opts.get(), -1), "'max_reconnect'");
    checkOption(natsOptions_SetReconnectWait(opts.get(), toMillis(settings.reconnect_wait)),
                "'reconnect_wait'");
    checkOption(natsOptions_SetReconnectJitter(opts.get(), 100, 1000), "'reconnect_jitter'");
    checkOption(natsOptions_SetReconnectBufSize(opts.get(), kReconnectBufferBytes),
                "'reconnect_buffer'");
    checkOption(natsOptions_SetDisconnectedCB(opts.get(), onDisconnected, nullptr),
                "'disconnected handler'");
    checkOption(natsOptions_SetReconnectedCB(opts.get(), onReconnected, nullptr),
                "'reconnected handler'");
    checkOption(natsOptions_SetClosedCB(opts.get(), onClosed, nullptr), "'closed handler'");
    checkOption(natsOptions_SetErrorHandler(opts.get(), onAsyncError, nullptr), "'error handler'");
    // Latency over batching: our traffic is request/reply, pull requests and acks, each waited
    // for by someone; nats.c would otherwise hold a publish for its flusher thread (about a
    // millisecond per pull request).
    checkOption(natsOptions_SetSendAsap(opts.get(), true), "'send_asap'");
    checkOption(natsOptions_SetFailRequestsOnDisconnect(opts.get(), true),
                "'fail_requests_on_disconnect'");

    // Authentication: secrets come from files and are wiped once nats.c has copied them.
    if (!settings.user.empty() || !settings.password_file.empty()) {
        if (settings.user.empty()) {
            throw std::runtime_error(
                "cannot use nats.password_file (nats.user is empty); set nats.user as well");
        }
        std::string password;
        if (!settings.password_file.empty()) {
            password = readSecretFile(settings.password_file, "nats.password_file");
        }
        const natsStatus status = natsOptions_SetUserInfo(
            opts.get(), settings.user.c_str(), password.empty() ? nullptr : password.c_str());
        wipe(password);
        checkOption(status, "'user'");
    }
    if (!settings.token_file.empty()) {
        std::string token = readSecretFile(settings.token_file, "nats.token_file");
        const natsStatus status = natsOptions_SetToken(opts.get(), token.c_str());
        wipe(token);
        checkOption(status, "'token'");
    }
    if (!settings.creds_file.empty()) {
        // Read once here so a missing file fails with errno now, not at each reconnect.
        std::string check = readSecretFile(settings.creds_file, "nats.creds_file");
        wipe(check);
        checkOption(natsOptions_SetUserCredentialsFromFiles(opts.get(), settings.creds_file.c_str(),
                                                            nullptr),
                    fmt::format("'creds_file' from '{}'", settings.creds_file));
    }
    if (!settings.nkey_seed_file.empty()) {
        std::string seed = readSecretFile(settings.nkey_seed_file, "nats.nkey_seed_file");
        auto public_key = nkeyPublicFromSeed(seed);
        wipe(seed);
        if (!public_key) {
            throw std::runtime_error(
                fmt::format("cannot use NATS nkey seed file '{}' (not a valid NKey seed); check "
                            "nats.nkey_seed_file",
                            settings.nkey_seed_file));
        }
        checkOption(natsOptions_SetNKeyFromSeed(opts.get(), public_key->c_str(),
                                                settings.nkey_seed_file.c_str()),
                    fmt::format("'nkey_seed_file' from '{}'", settings.nkey_seed_file));
    }

    // TLS: explicit when a CA or client certificate is configured or a URL asks for it.
    const bool tls_url =
        std::any_of(settings.urls.begin(), settings.urls.end(),
                    [](const std::string& url) { return url.starts_with("tls://"); });
    if (tls_url || !settings.tls_ca_file.empty() || !settings.tls_cert_file.empty()) {
        checkOption(natsOptions_SetSecure(opts.get(), true), "'tls'");
    }
    if (!settings.tls_ca_file.empty()) {
        requireReadable(settings.tls_ca_file, "NATS TLS CA file", "nats.tls_ca_file");
        checkTlsLoad(
            natsOptions_LoadCATrustedCertificates(opts.get(), settings.tls_ca_file.c_str()),
            "NATS TLS CA file", settings.tls_ca_file, "nats.tls_ca_file");
    }
    if (settings.tls_cert_file.empty() != settings.tls_key_file.empty()) {
        throw std::runtime_error(
            "cannot use a NATS client certificate (only one of nats.tls_cert_file and "
            "nats.tls_key_file is set); set both or neither");
    }
    if (!settings.tls_cert_file.empty()) {
        requireReadable(settings.tls_cert_file, "NATS TLS client certificate file",
                        "nats.tls_cert_file");
        requireReadable(settings.tls_key_file, "NATS TLS client key file", "nats.tls_key_file");
        checkTlsLoad(natsOptions_LoadCertificatesChain(opts.get(), settings.tls_cert_file.c_str(),
                                                       settings.tls_key_file.c_str()),
                     "NATS TLS client certificate and key",
                     fmt::format("{}' and '{}", settings.tls_cert_file, settings.tls_key_file),
                     "nats.tls_cert_file and nats.tls_key_file (a PEM certificate and its key)");
    }
    if (!settings.tls_server_name.empty()) {
        checkOption(natsOptions_SetExpectedHostname(opts.get(), settings.tls_server_name.c_str()),
                    fmt::format("'tls_server_name' ('{}')", settings.tls_server_name));
    }
    if (!settings.inbox_prefix.empty()) {
        checkOption(natsOptions_SetCustomInboxPrefix(opts.get(), settings.inbox_prefix.c_str()),
                    fmt::format("'inbox_prefix' ('{}')", settings.inbox_prefix));
    }
    return opts;
}

/// Statuses a retry cannot fix (bad credentials, TLS mismatch, malformed URL).
bool isPermanentConnectError(natsStatus status) {
    switch (status) {
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_NOT_PERMITTED:
        case NATS_SECURE_CONNECTION_WANTED:
        case NATS_SECURE_CONNECTION_REQUIRED:
        case NATS_SSL_ERROR:
        case NATS_ADDRESS_MISSING:
        case NATS_INVALID_ARG:
            return true;
        default:
            return false;
    }
}

/// What an operator should check after a failed connect.
std::string_view connectHint(natsStatus status) {
    switch (status) {
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_NOT_PERMITTED:
            return "check nats.user, nats.password_file, nats.token_file, nats.creds_file or "
                   "nats.nkey_seed_file in the config";
        case NATS_SECURE_CONNECTION_WANTED:
        case NATS_SECURE_CONNECTION_REQUIRED:
        case NATS_SSL_ERROR:
            return "check the nats.tls_* settings (CA, client certificate and key, server name) "
                   "in the config and the server's TLS setup";
        default:
            return "check nats.urls in the config and that nats-server is running";
    }
}

/// Waits `duration` unless stop is requested first; returns false on stop.
bool waitFor(std::chrono::milliseconds duration, const std::stop_token& stop) {
    std::mutex mutex;
    std::condition_variable_any cv;
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, stop, duration, [] { return false; }) && !stop.stop_requested();
}

// --- messages and headers -------------------------------------------------------------------

Result<nh::MsgPtr> makeMsg(const std::string& subject, const char* reply, std::string_view data,
                           const Headers& headers) {
    if (data.size() > static_cast<size_t>(INT_MAX)) {
        return makeError("cannot publish to '{}' (payload of {} bytes is too large)", subject,
                         data.size());
    }
    natsMsg* raw = nullptr;
    const natsStatus status =
        natsMsg_Create(&raw, subject.c_str(), reply, data.empty() ? "" : data.data(),
                       static_cast<int>(data.size()));
    if (status != NATS_OK) {
        return natsError(fmt::format("create a message for '{}'", subject), status);
    }
    nh::MsgPtr msg(raw);
    for (const auto& [name, value] : headers) {
        const natsStatus added = natsMsgHeader_Add(msg.get(), name.c_str(), value.c_str());
        if (added != NATS_OK) {
            return natsError(fmt::format("set header '{}' on a message for '{}'", name, subject),
                             added);
        }
    }
    return msg;
}

Headers readHeaders(natsMsg* msg) {
    Headers headers;
    const char** keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &key_count) != NATS_OK) {
        return headers;  // NATS_NOT_FOUND: no headers at all
    }
    for (int i = 0; i < key_count; ++i) {
        const char** values = nullptr;
        int value_count = 0;
        if (natsMsgHeader_Values(msg, keys[i], &values, &value_count) == NATS_OK) {
            for (int j = 0; j < value_count; ++j) {
                headers.emplace_back(keys[i], values[j]);
            }
            free(static_cast<void*>(values));  // NOLINT: nats.c hands us a malloc'd array
        }
    }
    free(static_cast<void*>(keys));  // NOLINT: nats.c hands us a malloc'd array
    return headers;
}

BusMessage toBusMessage(natsMsg* msg) {
    BusMessage out;
    const char* subject = natsMsg_GetSubject(msg);
    const char* reply = natsMsg_GetReply(msg);
    const char* data = natsMsg_GetData(msg);
    const int length = natsMsg_GetDataLength(msg);
    out.subject = subject != nullptr ? subject : "";
    out.reply = reply != nullptr ? reply : "";
    if (data != nullptr && length > 0) {
        out.data.assign(data, static_cast<size_t>(length));
    }
    out.headers = readHeaders(msg);
    return out;
}

// --- pull consumer ----------------------------------------------------------------------------

/// A subscription shared by a PullConsumer and the deliveries it handed out: a natsMsg acks
/// through its subscription, so the subscription must outlive every unsettled message.
using SharedSubscription = std::shared_ptr<natsSubscription>;

class NatsDelivery final : public Delivery {
public:
    NatsDelivery(nh::MsgPtr msg, SharedSubscription sub)
        : msg_(std::move(msg)), sub_(std::move(sub)), message_(toBusMessage(msg_.get())) {
        jsMsgMetaData* raw = nullptr;
        if (natsMsg_GetMetaData(&raw, msg_.get()) == NATS_OK) {
            nh::MetaDataPtr meta(raw);
            stream_sequence_ = meta->Sequence.Stream;
            delivery_count_ = meta->NumDelivered;
            pending_behind_ = meta->NumPending;
        }
    }

    [[nodiscard]] const BusMessage& message() const override { return message_; }
    [[nodiscard]] uint64_t streamSequence() const override { return stream_sequence_; }
    [[nodiscard]] uint64_t deliveryCount() const override { return delivery_count_; }
    [[nodiscard]] uint64_t pendingBehind() const override { return pending_behind_; }

    // ack waits for the server's confirmation: the ack is the commit point of every effect we
    // applied, so its failure must be visible to the caller.
    Status ack() override {
        const std::lock_guard lock(mutex_);
        if (settled_) {
            return alreadySettled("ack");
        }
        jsErrCode js_err = static_cast<jsErrCode>(0);
        return settle(natsMsg_AckSync(msg_.get(), nullptr, &js_err), "ack", true, js_err);
    }
    Status nak(std::chrono::milliseconds delay) override {
        const std::lock_guard lock(mutex_);
        if (settled_) {
            return alreadySettled("nak");
        }
        const natsStatus status = delay.count() > 0
                                      ? natsMsg_NakWithDelay(msg_.get(), delay.count(), nullptr)
                                      : natsMsg_Nak(msg_.get(), nullptr);
        return settle(status, "nak", true);
    }
    Status term() override {
        const std::lock_guard lock(mutex_);
        if (settled_) {
            return alreadySettled("term");
        }
        return settle(natsMsg_Term(msg_.get(), nullptr), "term", true);
    }
    Status inProgress() override {
        const std::lock_guard lock(mutex_);
        if (settled_) {
            return alreadySettled("mark in progress");
        }
        return settle(natsMsg_InProgress(msg_.get(), nullptr), "mark in progress", false);
    }

private:
    // nats.c accepts a second ack silently; the port promises "settle exactly once", so a second
    // settlement is reported as the caller's bug.
    Error alreadySettled(std::string_view what) const {
        return makeError("cannot {} message '{}' stream_seq={} (it was already settled)", what,
                         message_.subject, stream_sequence_);
    }

    // Caller holds mutex_.
    Status settle(natsStatus status, std::string_view what, bool final,
                  jsErrCode js_err = static_cast<jsErrCode>(0)) {
        if (status != NATS_OK) {
            return natsError(fmt::format("{} message '{}' stream_seq={}", what, message_.subject,
                                         stream_sequence_),
                             status, js_err);
        }
        settled_ = final;
        return {};
    }

    nh::MsgPtr msg_;
    SharedSubscription sub_;
    BusMessage message_;
    uint64_t stream_sequence_ = 0;
    uint64_t delivery_count_ = 0;
    uint64_t pending_behind_ = 0;
    // A keepalive thread may call inProgress() while a worker settles. The lock is held across
    // the nats call and the flag update, so no inProgress follows a settlement and a message is
    // settled once.
    std::mutex mutex_;
    bool settled_ = false;  // guarded by mutex_
};

class NatsPullConsumer final : public PullConsumer {
    static constexpr std::chrono::milliseconds kFollowUpWait{2};

public:
    NatsPullConsumer(SharedSubscription sub, std::string stream, std::string durable)
        : sub_(std::move(sub)), stream_(std::move(stream)), durable_(std::move(durable)) {}

    // One message per pull request. nats.c 3.4.1 (Debian 12) writes past its message array when
    // a multi-message fetch starts with messages already queued in the subscription (messages of
    // earlier requests that arrived after their fetch gave up, e.g. all at once after a
    // reconnect) and more keep coming: upstream nats.c PR #749, fixed in 3.8. With a batch of one
    // the library can never collect more than one message, so we pull one at a time: the first
    // request waits up to `timeout`, each further one only briefly (nats-server 2.9 holds a
    // "no wait" request with an expiry until it expires), and the first that gets nothing ends
    // the batch. On loopback this costs one round trip per message, far below the cost of
    // applying it.
    Result<std::vector<std::unique_ptr<Delivery>>> fetch(
        int batch, std::chrono::milliseconds timeout) override {
        std::vector<std::unique_ptr<Delivery>> deliveries;
        const int wanted = std::max(1, batch);
        deliveries.reserve(static_cast<size_t>(wanted));
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (static_cast<int>(deliveries.size()) < wanted) {
            const bool first = deliveries.empty();
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (!first && left <= std::chrono::milliseconds::zero()) break;
            jsFetchRequest request;
            jsFetchRequest_Init(&request);
            request.Batch = 1;
            const auto wait = first ? left : std::min(left, kFollowUpWait);
            request.Expires = toMillis(wait) * 1'000'000;  // nanoseconds
            nh::MsgList list;
            const natsStatus status =
                natsSubscription_FetchRequest(list.get(), sub_.get(), &request);
            // A timeout is the normal "nothing (more) pending".
            if (status == NATS_TIMEOUT || status == NATS_NOT_FOUND) break;
            if (status != NATS_OK) {
                if (!first) break;  // keep what did arrive; the next fetch reports it
                return natsError(
                    fmt::format("fetch from consumer '{}' on stream '{}'", durable_, stream_),
                    status, static_cast<jsErrCode>(0));
            }
            for (int i = 0; i < list.size(); ++i) {
                nh::MsgPtr msg = list.release(i);
                if (msg) {
                    deliveries.push_back(std::make_unique<NatsDelivery>(std::move(msg), sub_));
                }
            }
        }
        return deliveries;
    }

private:
    SharedSubscription sub_;
    std::string stream_;
    std::string durable_;
};

// --- core subscription ------------------------------------------------------------------------

class NatsSyncSubscription final : public SyncSubscription {
public:
    NatsSyncSubscription(nh::SubscriptionPtr sub, std::string subject)
        : sub_(std::move(sub)), subject_(std::move(subject)) {}

    std::optional<BusMessage> next(std::chrono::milliseconds timeout) override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            natsMsg* raw = nullptr;
            const natsStatus status = natsSubscription_NextMsg(&raw, sub_.get(), toMillis(left));
            if (status == NATS_OK) {
                nh::MsgPtr msg(raw);
                return toBusMessage(msg.get());
            }
            if (status == NATS_TIMEOUT) {
                return std::nullopt;
            }
            const Error error = natsError(fmt::format("read subscription '{}'", subject_), status);
            if (limiter_.allow()) {
                spdlog::warn("{}", error.message);
            }
            // nats.c reports a slow consumer once and then delivers again; anything else (closed
            // connection, invalid subscription) would return at once, so wait out the timeout
            // rather than let the caller spin.
            if (status != NATS_SLOW_CONSUMER) {
                std::this_thread::sleep_until(deadline);
                return std::nullopt;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
        }
    }

private:
    nh::SubscriptionPtr sub_;
    std::string subject_;
    EventLimiter limiter_{5s};
};

// --- ordered stream reader --------------------------------------------------------------------

class NatsStreamReader final : public StreamReader {
public:
    NatsStreamReader(nh::SubscriptionPtr sub, std::string stream)
        : sub_(std::move(sub)), stream_(std::move(stream)) {}

    std::optional<StreamMessage> next(std::chrono::milliseconds timeout) override {
        natsMsg* raw = nullptr;
        const natsStatus status = natsSubscription_NextMsg(&raw, sub_.get(), toMillis(timeout));
        if (status == NATS_TIMEOUT) return std::nullopt;
        if (status != NATS_OK) {
            const Error error = natsError(fmt::format("read stream '{}'", stream_), status);
            if (limiter_.allow()) spdlog::warn("{}", error.message);
            if (status != NATS_SLOW_CONSUMER) std::this_thread::sleep_for(timeout);
            return std::nullopt;
        }
        nh::MsgPtr msg(raw);
        StreamMessage out{.message = toBusMessage(msg.get()), .sequence = 0, .pending = 0};
        jsMsgMetaData* raw_meta = nullptr;
        if (natsMsg_GetMetaData(&raw_meta, msg.get()) == NATS_OK) {
            nh::MetaDataPtr meta(raw_meta);
            out.sequence = meta->Sequence.Stream;
            out.pending = meta->NumPending;
        }
        return out;
    }

private:
    nh::SubscriptionPtr sub_;
    std::string stream_;
    EventLimiter limiter_{5s};
};

// --- key-value --------------------------------------------------------------------------------

/// nats.c 3.4 KV writes report a failed revision check as NATS_ERR with the server's text
/// "wrong last sequence: N" (JetStream error 10071), without the jsErrCode.
bool isWrongLastSequence(natsStatus status, const Error& error) {
    return status == NATS_ERR && error.message.find("wrong last sequence") != std::string::npos;
}

/// Requests made while the connection is away would only wait for their timeout (and hold up a
/// daemon's shutdown meanwhile): they fail at once instead. Requests pending when the connection
/// drops fail then too (natsOptions_SetFailRequestsOnDisconnect).
Status requireConnected(natsConnection* conn, std::string_view what) {
    if (conn != nullptr && natsConnection_Status(conn) == NATS_CONN_STATUS_CONNECTED) return {};
    return Error{.message = fmt::format("cannot {}: not connected to NATS", what),
                 .code = "disconnected"};
}

class NatsKeyValue final : public KeyValue {
public:
    NatsKeyValue(nh::KvStorePtr kv, std::string bucket, natsConnection* conn)
        : kv_(std::move(kv)), bucket_(std::move(bucket)), conn_(conn) {}

    Result<uint64_t> create(const std::string& key, std::string_view value) override {
        if (auto c = requireConnected(conn_,
                                      fmt::format("create key '{}' in bucket '{}'", key, bucket_));
            !c)
            return std::move(c).error();
        if (value.size() > static_cast<size_t>(INT_MAX)) {
            return makeError("cannot create key '{}' in bucket '{}' (value too large)", key,
                             bucket_);
        }
        uint64_t revision = 0;
        const natsStatus status = kvStore_Create(&revision, kv_.get(), key.c_str(), value.data(),
                                                 static_cast<int>(value.size()));
        if (status != NATS_OK) {
            Error error =
                natsError(fmt::format("create key '{}' in bucket '{}'", key, bucket_), status);
            if (isWrongLastSequence(status, error)) {
                error.code = "exists";
            }
            return error;
        }
        return revision;
    }

    Result<uint64_t> update(const std::string& key, std::string_view value,
                            uint64_t expected_revision) override {
        if (auto c = requireConnected(conn_,
                                      fmt::format("update key '{}' in bucket '{}'", key, bucket_));
            !c)
            return std::move(c).error();
        if (value.size() > static_cast<size_t>(INT_MAX)) {
            return makeError("cannot update key '{}' in bucket '{}' (value too large)", key,
                             bucket_);
        }
        uint64_t revision = 0;
        const natsStatus status = kvStore_Update(&revision, kv_.get(), key.c_str(), value.data(),
                                                 static_cast<int>(value.size()), expected_revision);
        if (status != NATS_OK) {
            Error error = natsError(fmt::format("update key '{}' in bucket '{}' at revision {}",
                                                key, bucket_, expected_revision),
                                    status);
            if (isWrongLastSequence(status, error)) {
                error.code = "conflict";
            }
            return error;
        }
        return revision;
    }

    Result<std::optional<KvEntry>> get(const std::string& key) override {
        if (auto c =
                requireConnected(conn_, fmt::format("read key '{}' in bucket '{}'", key, bucket_));
            !c)
            return std::move(c).error();
        kvEntry* raw = nullptr;
        const natsStatus status = kvStore_Get(&raw, kv_.get(), key.c_str());
        if (status == NATS_NOT_FOUND) {
            return std::optional<KvEntry>{};
        }
        if (status != NATS_OK) {
            return natsError(fmt::format("get key '{}' from bucket '{}'", key, bucket_), status);
        }
        nh::KvEntryPtr entry(raw);
        const kvOperation op = kvEntry_Operation(entry.get());
        if (op == kvOp_Delete || op == kvOp_Purge) {
            return std::optional<KvEntry>{};
        }
        KvEntry out;
        const auto* data = static_cast<const char*>(kvEntry_Value(entry.get()));
        const int length = kvEntry_ValueLen(entry.get());
        if (data != nullptr && length > 0) {
            out.value.assign(data, static_cast<size_t>(length));
        }
        out.revision = kvEntry_Revision(entry.get());
        return std::optional<KvEntry>{std::move(out)};
    }

    Status erase(const std::string& key) override {
        if (auto c =
                requireConnected(conn_, fmt::format("erase key '{}' in bucket '{}'", key, bucket_));
            !c)
            return std::move(c).error();
        const natsStatus status = kvStore_Delete(kv_.get(), key.c_str());
        if (status != NATS_OK) {
            return natsError(fmt::format("delete key '{}' from bucket '{}'", key, bucket_), status);
        }
        return {};
    }

private:
    nh::KvStorePtr kv_;
    std::string bucket_;
    natsConnection* conn_;  // owned by the NatsBus, which outlives this
};

// --- stream and consumer configuration ------------------------------------------------------

std::string subjectsText(const char** subjects, int count) {
    std::vector<std::string> list;
    list.reserve(static_cast<size_t>(std::max(count, 0)));
    for (int i = 0; i < count; ++i) {
        list.emplace_back(subjects[i] != nullptr ? subjects[i] : "");
    }
    return fmt::format("[{}]", fmt::join(list, ","));
}

/// Differences between the stream's current config and the wanted one, as "field a -> b".
std::vector<std::string> streamDifferences(const jsStreamConfig& have, const jsStreamConfig& want) {
    std::vector<std::string> changes;
    auto compare = [&](std::string_view field, auto a, auto b) {
        if (a != b) {
            changes.push_back(fmt::format("{} {} -> {}", field, a, b));
        }
    };
    const std::string have_subjects = subjectsText(have.Subjects, have.SubjectsLen);
    const std::string want_subjects = subjectsText(want.Subjects, want.SubjectsLen);
    compare("subjects", have_subjects, want_subjects);
    compare("max_msgs", have.MaxMsgs, want.MaxMsgs);
    compare("max_bytes", have.MaxBytes, want.MaxBytes);
    compare("max_age_ns", have.MaxAge, want.MaxAge);
    compare("max_msgs_per_subject", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject);
    compare("max_msg_size", have.MaxMsgSize, want.MaxMsgSize);
    compare("duplicate_window_ns", have.Duplicates, want.Duplicates);
    compare("deny_delete", have.DenyDelete, want.DenyDelete);
    compare("deny_purge", have.DenyPurge, want.DenyPurge);
    compare("replicas", have.Replicas, want.Replicas);
    compare("discard", static_cast<int>(have.Discard), static_cast<int>(want.Discard));
    return changes;
}

std::vector<std::string> consumerDifferences(const jsConsumerConfig& have,
                                             const jsConsumerConfig& want) {
    std::vector<std::string> changes;
    auto compare = [&](std::string_view field, auto a, auto b) {
        if (a != b) {
            changes.push_back(fmt::format("{} {} -> {}", field, a, b));
        }
    };
    compare("deliver_policy", static_cast<int>(have.DeliverPolicy),
            static_cast<int>(want.DeliverPolicy));
    compare("ack_policy", static_cast<int>(have.AckPolicy), static_cast<int>(want.AckPolicy));
    compare("ack_wait_ns", have.AckWait, want.AckWait);
    compare("max_deliver", have.MaxDeliver, want.MaxDeliver);
    compare("max_ack_pending", have.MaxAckPending, want.MaxAckPending);
    compare("filter_subject", std::string(have.FilterSubject != nullptr ? have.FilterSubject : ""),
            std::string(want.FilterSubject != nullptr ? want.FilterSubject : ""));
    compare("inactive_threshold_ns", have.InactiveThreshold, want.InactiveThreshold);
    return changes;
}

}  // namespace

// --- BusMessage -------------------------------------------------------------------------------

std::optional<std::string> BusMessage::header(std::string_view name) const {
    // NATS header names are case-sensitive since nats.c 3.0; an exact match wins, otherwise fall
    // back to a case-insensitive one (HTTP-style names written differently by other clients).
    for (const auto& [key, value] : headers) {
        if (key == name) {
            return value;
        }
    }
    for (const auto& [key, value] : headers) {
        if (key.size() == name.size() &&
            std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return value;
        }
    }
    return std::nullopt;
}

// --- NatsBus ----------------------------------------------------------------------------------

struct NatsBus::Impl {
    nh::ConnectionPtr conn;
    nh::JsCtxPtr js;
    std::string servers;  ///< redacted URL list, for messages
};

NatsBus::NatsBus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NatsBus::~NatsBus() = default;

std::unique_ptr<NatsBus> NatsBus::connect(const NatsSettings& settings,
                                          const std::stop_token& stop) {
    std::vector<std::string> redacted;
    for (const auto& url : settings.urls) {
        redacted.push_back(redactUrl(url));
    }
    const std::string servers = fmt::format("{}", fmt::join(redacted, ","));
    if (settings.urls.empty()) {
        throw std::runtime_error(
            "cannot connect to NATS (no server URL configured); set nats.urls in the config");
    }
    nh::OptionsPtr opts = makeOptions(settings);

    const auto deadline = std::chrono::steady_clock::now() + settings.initial_connect_deadline;
    auto backoff = kFirstConnectBackoff;
    EventLimiter limiter(5s);
    for (int attempt = 1;; ++attempt) {
        natsConnection* raw = nullptr;
        const natsStatus status = natsConnection_Connect(&raw, opts.get());
        if (status == NATS_OK) {
            nh::ConnectionPtr conn(raw);
            jsOptions js_opts;
            jsOptions_Init(&js_opts);
            js_opts.Wait = kJetStreamApiWait.count();
            jsCtx* js_raw = nullptr;
            const natsStatus js_status = natsConnection_JetStream(&js_raw, conn.get(), &js_opts);
            if (js_status != NATS_OK) {
                throw std::runtime_error(
                    natsError(fmt::format("open JetStream on NATS '{}'", servers), js_status)
                        .message);
            }
            spdlog::info("nats: connected to '{}'", connectionUrl(conn.get()));
            auto impl = std::make_unique<Impl>();
            impl->conn = std::move(conn);
            impl->js.reset(js_raw);
            impl->servers = servers;
            return std::unique_ptr<NatsBus>(new NatsBus(std::move(impl)));
        }
        const Error error = natsError(fmt::format("connect to NATS '{}'", servers), status);
        const auto now = std::chrono::steady_clock::now();
        if (isPermanentConnectError(status) || now >= deadline || stop.stop_requested()) {
            throw std::runtime_error(fmt::format("{}; {}", error.message, connectHint(status)));
        }
        if (limiter.allow()) {
            spdlog::warn("{} (attempt {}); retrying", error.message, attempt);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        if (!waitFor(std::min(backoff, left), stop)) {
            throw std::runtime_error(error.message + " (stopped while retrying)");
        }
        backoff = std::min(backoff * 2, kMaxConnectBackoff);
    }
}

Result<PubAck> NatsBus::publish(const std::string& subject, std::string_view data,
                                const PublishOptions& options) {
    if (auto c = requireConnected(impl_->conn.get(), fmt::format("publish to '{}'", subject)); !c)
        return std::move(c).error();
    Headers headers;
    if (!options.msg_id.empty()) {
        headers.emplace_back(kMsgIdHeader, options.msg_id);
    }
    if (options.expected_last_subject_seq) {
        headers.emplace_back(kExpectedLastSubjectSeqHeader,
                             std::to_string(*options.expected_last_subject_seq));
    }
    auto msg = makeMsg(subject, nullptr, data, headers);
    if (!msg) {
        return std::move(msg).error();
    }
    jsPubOptions pub_opts;
    jsPubOptions_Init(&pub_opts);
    pub_opts.MaxWait = toMillis(options.timeout);
    jsPubAck* raw_ack = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_PublishMsg(&raw_ack, impl_->js.get(), msg->get(), &pub_opts, &js_err);
    nh::PubAckPtr ack(raw_ack);
    if (status != NATS_OK) {
        return natsError(fmt::format("publish to '{}' msg_id={}", subject,
                                     options.msg_id.empty() ? "-" : options.msg_id),
                         status, js_err, js_err == kWrongLastSequence ? "conflict" : "");
    }
    return PubAck{.sequence = ack->Sequence, .duplicate = ack->Duplicate};
}

Result<BusMessage> NatsBus::request(const std::string& subject, std::string_view data,
                                    const Headers& headers, std::chrono::milliseconds timeout) {
    if (auto c = requireConnected(impl_->conn.get(), fmt::format("request '{}'", subject)); !c)
        return std::move(c).error();
    auto msg = makeMsg(subject, nullptr, data, headers);
    if (!msg) {
        return std::move(msg).error();
    }
    natsMsg* raw_reply = nullptr;
    const natsStatus status =
        natsConnection_RequestMsg(&raw_reply, impl_->conn.get(), msg->get(), toMillis(timeout));
    nh::MsgPtr reply(raw_reply);
    if (status != NATS_OK) {
        return natsError(fmt::format("request '{}'", subject), status);
    }
    return toBusMessage(reply.get());
}

Result<BusMessage> NatsBus::requestVia(const std::string& subject, const std::string& reply_to,
                                       std::string_view data, std::chrono::milliseconds timeout) {
    const auto action = fmt::format("request '{}'", subject);
    if (auto c = requireConnected(impl_->conn.get(), action); !c) return std::move(c).error();
    natsSubscription* raw_sub = nullptr;
    natsStatus status = natsConnection_SubscribeSync(&raw_sub, impl_->conn.get(), reply_to.c_str());
    nh::SubscriptionPtr sub(raw_sub);
    if (status != NATS_OK) {
        return natsError(fmt::format("{} (subscribe to its reply subject '{}')", action, reply_to),
                         status);
    }
    // The SUB goes out before the PUB on this connection, so the server knows where the answer
    // goes before any responder can send it.
    auto msg = makeMsg(subject, reply_to.c_str(), data, {});
    if (!msg) return std::move(msg).error();
    status = natsConnection_PublishMsg(impl_->conn.get(), msg->get());
    if (status != NATS_OK) return natsError(action, status);
    natsMsg* raw_reply = nullptr;
    status = natsSubscription_NextMsg(&raw_reply, sub.get(), toMillis(timeout));
    nh::MsgPtr reply(raw_reply);
    if (status != NATS_OK) {
        // A late answer may be on its way: the server learns of the UNSUB, and the connection
        // has handed over everything it read before the flush's PONG, before the subscription
        // is freed (nats.c 3.4 does not hold one it is delivering to).
        (void)natsSubscription_Unsubscribe(sub.get());
        (void)natsConnection_FlushTimeout(impl_->conn.get(), 1000);
        return natsError(action, status);
    }
    // nats-server answers a request nobody listens to with a "503" status message.
    if (natsMsg_IsNoResponders(reply.get())) return natsError(action, NATS_NO_RESPONDERS);
    return toBusMessage(reply.get());
}

Status NatsBus::publishCore(const std::string& subject, std::string_view data,
                            const Headers& headers) {
    auto msg = makeMsg(subject, nullptr, data, headers);
    if (!msg) {
        return std::move(msg).error();
    }
    const natsStatus status = natsConnection_PublishMsg(impl_->conn.get(), msg->get());
    if (status != NATS_OK) {
        return natsError(fmt::format("publish to '{}'", subject), status);
    }
    return {};
}

Status NatsBus::respond(const BusMessage& request, std::string_view data, const Headers& headers) {
    if (request.reply.empty()) {
        return makeError("cannot respond to a request on '{}' (it has no reply subject)",
                         request.subject);
    }
    return publishCore(request.reply, data, headers);
}

Status NatsBus::ensureStream(const StreamSettings& settings) {
    std::vector<const char*> subjects;
    for (const auto& subject : settings.subjects) {
        subjects.push_back(subject.c_str());
    }
    jsStreamConfig want;
    jsStreamConfig_Init(&want);
    want.Name = settings.name.c_str();
    want.Subjects = subjects.data();
    want.SubjectsLen = static_cast<int>(subjects.size());
    want.Retention = js_LimitsPolicy;
    want.Storage = js_FileStorage;
    want.Discard = js_DiscardOld;
    want.MaxMsgs = -1;
    want.MaxBytes = -1;
    want.MaxAge = 0;
    want.MaxMsgsPerSubject = 1;
    want.MaxMsgSize = settings.max_msg_size;
    want.Duplicates = toNanos(settings.duplicate_window);
    want.DenyDelete = true;
    want.DenyPurge = false;
    want.Replicas = settings.replicas;

    jsStreamInfo* raw_info = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    natsStatus status =
        js_GetStreamInfo(&raw_info, impl_->js.get(), settings.name.c_str(), nullptr, &js_err);
    nh::StreamInfoPtr info(raw_info);
    if (status == NATS_NOT_FOUND) {
        jsStreamInfo* created = nullptr;
        status = js_AddStream(&created, impl_->js.get(), &want, nullptr, &js_err);
        nh::StreamInfoPtr created_info(created);
        if (status != NATS_OK) {
            return natsError(fmt::format("create stream '{}'", settings.name), status, js_err);
        }
        spdlog::info("nats: created stream '{}' subjects={} replicas={}", settings.name,
                     subjectsText(want.Subjects, want.SubjectsLen), settings.replicas);
        return {};
    }
    if (status != NATS_OK) {
        return natsError(fmt::format("look up stream '{}'", settings.name), status, js_err);
    }
    const jsStreamConfig& have = *info->Config;
    if (have.Retention != want.Retention || have.Storage != want.Storage) {
        return makeError(
            "cannot use stream '{}' (it exists with another retention or storage type, which "
            "cannot be changed); delete it or choose another stream name",
            settings.name);
    }
    // Replicas are never changed here: daemons with different configs would flip the stream
    // back and forth, and a default config (1) would silently take a cluster's redundancy away.
    if (have.Replicas != want.Replicas) {
        spdlog::warn(
            "nats: stream '{}' has {} replica(s) but this daemon's config says {}; leaving it "
            "(change it on purpose with `nats stream edit {} --replicas {}` and align the "
            "configs)",
            settings.name, have.Replicas, want.Replicas, settings.name, want.Replicas);
        want.Replicas = have.Replicas;
    }
    const auto changes = streamDifferences(have, want);
    if (changes.empty()) {
        return {};
    }
    jsStreamInfo* updated = nullptr;
    status = js_UpdateStream(&updated, impl_->js.get(), &want, nullptr, &js_err);
    nh::StreamInfoPtr updated_info(updated);
    if (status != NATS_OK) {
        return natsError(
            fmt::format("update stream '{}' ({})", settings.name, fmt::join(changes, ", ")), status,
            js_err);
    }
    spdlog::info("nats: updated stream '{}': {}", settings.name, fmt::join(changes, ", "));
    return {};
}

Status NatsBus::ensureConsumer(const ConsumerSettings& settings) {
    if (settings.durable.empty()) {
        return makeError("cannot create a consumer on stream '{}' (no durable name)",
                         settings.stream);
    }
    jsConsumerConfig want;
    jsConsumerConfig_Init(&want);
    want.Durable = settings.durable.c_str();
    want.DeliverPolicy = js_DeliverAll;
    want.AckPolicy = js_AckExplicit;
    want.AckWait = toNanos(settings.ack_wait);
    want.MaxDeliver = -1;
    want.MaxAckPending = settings.max_ack_pending;
    want.FilterSubject =
        settings.filter_subject.empty() ? nullptr : settings.filter_subject.c_str();
    want.InactiveThreshold = 0;  // a durable must never be reaped while its syncer is down

    jsConsumerInfo* raw_info = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    natsStatus status = js_GetConsumerInfo(&raw_info, impl_->js.get(), settings.stream.c_str(),
                                           settings.durable.c_str(), nullptr, &js_err);
    nh::ConsumerInfoPtr info(raw_info);
    if (status == NATS_NOT_FOUND) {
        jsConsumerInfo* created = nullptr;
        status = js_AddConsumer(&created, impl_->js.get(), settings.stream.c_str(), &want, nullptr,
                                &js_err);
        nh::ConsumerInfoPtr created_info(created);
        if (status != NATS_OK) {
            return natsError(fmt::format("create consumer '{}' on stream '{}'", settings.durable,
                                         settings.stream),
                             status, js_err);
        }
        spdlog::info("nats: created consumer '{}' on stream '{}' filter='{}'", settings.durable,
                     settings.stream, settings.filter_subject);
        return {};
    }
    if (status != NATS_OK) {
        return natsError(
            fmt::format("look up consumer '{}' on stream '{}'", settings.durable, settings.stream),
            status, js_err);
    }
    const auto changes = consumerDifferences(*info->Config, want);
    if (changes.empty()) {
        return {};
    }
    jsConsumerInfo* updated = nullptr;
    status = js_UpdateConsumer(&updated, impl_->js.get(), settings.stream.c_str(), &want, nullptr,
                               &js_err);
    nh::ConsumerInfoPtr updated_info(updated);
    if (status != NATS_OK) {
        return natsError(fmt::format("update consumer '{}' on stream '{}' ({})", settings.durable,
                                     settings.stream, fmt::join(changes, ", ")),
                         status, js_err);
    }
    spdlog::info("nats: updated consumer '{}' on stream '{}': {}", settings.durable,
                 settings.stream, fmt::join(changes, ", "));
    return {};
}

Result<std::unique_ptr<PullConsumer>> NatsBus::bindPullConsumer(const std::string& stream,
                                                                const std::string& durable) {
    // Read the consumer first: binding needs its filter subject, and a missing durable must be
    // an error here rather than be created implicitly by the subscribe call.
    jsConsumerInfo* raw_info = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    natsStatus status = js_GetConsumerInfo(&raw_info, impl_->js.get(), stream.c_str(),
                                           durable.c_str(), nullptr, &js_err);
    nh::ConsumerInfoPtr info(raw_info);
    if (status != NATS_OK) {
        return natsError(fmt::format("bind to consumer '{}' on stream '{}'", durable, stream),
                         status, js_err);
    }
    std::string subject;
    if (info->Config != nullptr && info->Config->FilterSubject != nullptr) {
        subject = info->Config->FilterSubject;
    }
    jsSubOptions sub_opts;
    jsSubOptions_Init(&sub_opts);
    sub_opts.Stream = stream.c_str();
    sub_opts.Consumer = durable.c_str();
    natsSubscription* raw_sub = nullptr;
    status =
        js_PullSubscribe(&raw_sub, impl_->js.get(), subject.empty() ? nullptr : subject.c_str(),
                         durable.c_str(), nullptr, &sub_opts, &js_err);
    nh::SubscriptionPtr sub(raw_sub);
    if (status != NATS_OK) {
        return natsError(fmt::format("bind to consumer '{}' on stream '{}'", durable, stream),
                         status, js_err);
    }
    SharedSubscription shared(std::move(sub));
    return std::unique_ptr<PullConsumer>(
        std::make_unique<NatsPullConsumer>(std::move(shared), stream, durable));
}

Result<std::unique_ptr<SyncSubscription>> NatsBus::subscribe(const std::string& subject,
                                                             const std::string& queue) {
    natsSubscription* raw = nullptr;
    const natsStatus status =
        queue.empty() ? natsConnection_SubscribeSync(&raw, impl_->conn.get(), subject.c_str())
                      : natsConnection_QueueSubscribeSync(&raw, impl_->conn.get(), subject.c_str(),
                                                          queue.c_str());
    nh::SubscriptionPtr sub(raw);
    if (status != NATS_OK) {
        return natsError(fmt::format("subscribe to '{}'", subject), status);
    }
    const natsStatus limits =
        natsSubscription_SetPendingLimits(sub.get(), kSubPendingMsgs, kSubPendingBytes);
    if (limits != NATS_OK) {
        return natsError(fmt::format("set pending limits on subscription '{}'", subject), limits);
    }
    return std::unique_ptr<SyncSubscription>(
        std::make_unique<NatsSyncSubscription>(std::move(sub), subject));
}

Result<std::unique_ptr<StreamReader>> NatsBus::readStream(const std::string& stream,
                                                          const std::string& filter) {
    if (auto c = requireConnected(impl_->conn.get(), fmt::format("read stream '{}'", stream)); !c)
        return std::move(c).error();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverLastPerSubject;
    // nats.c resets an ordered consumer when no message or idle heartbeat came for two heartbeat
    // intervals, on a timer that keeps its phase; when re-creating the consumer takes longer than
    // one interval (a loaded server), the new consumer's first heartbeat misses the next check,
    // and the reader resets again and again. With nats.c's 5 s default, the health-checker's
    // mirror reset every 10 s for minutes under load (100,000-zone runs), and events published
    // meanwhile reached it late. 30 s (checked every 60 s) rides out such load; a lost consumer
    // is still found within a minute, and a reconnect re-creates it at once.
    so.Config.Heartbeat = int64_t{30} * 1'000'000'000;  // nanoseconds
    natsSubscription* raw = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_SubscribeSync(&raw, impl_->js.get(), filter.c_str(), nullptr, &so, &js_err);
    nh::SubscriptionPtr sub(raw);
    if (status != NATS_OK) {
        return natsError(fmt::format("read stream '{}' ({})", stream, filter), status, js_err);
    }
    const natsStatus limits =
        natsSubscription_SetPendingLimits(sub.get(), kSubPendingMsgs, kSubPendingBytes);
    if (limits != NATS_OK) {
        return natsError(fmt::format("set pending limits on stream reader '{}'", stream), limits);
    }
    return std::unique_ptr<StreamReader>(
        std::make_unique<NatsStreamReader>(std::move(sub), stream));
}

Result<std::optional<StreamMessage>> NatsBus::lastMessage(const std::string& stream,
                                                          const std::string& subject) {
    if (auto c = requireConnected(impl_->conn.get(),
                                  fmt::format("read the last message of stream '{}'", stream));
        !c)
        return std::move(c).error();
    natsMsg* raw = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_GetLastMsg(&raw, impl_->js.get(), stream.c_str(), subject.c_str(), nullptr, &js_err);
    nh::MsgPtr msg(raw);
    if (status == NATS_NOT_FOUND) return std::optional<StreamMessage>{};
    if (status != NATS_OK) {
        return natsError(
            fmt::format("read the last message of '{}' in stream '{}'", subject, stream), status,
            js_err);
    }
    return std::optional<StreamMessage>{StreamMessage{.message = toBusMessage(msg.get()),
                                                      .sequence = natsMsg_GetSequence(msg.get()),
                                                      .pending = 0}};
}

namespace {

ConsumerFloor floorOf(const jsConsumerInfo& info) {
    return ConsumerFloor{
        .name =
            info.Config != nullptr && info.Config->Durable != nullptr ? info.Config->Durable : "",
        .filter_subject = info.Config != nullptr && info.Config->FilterSubject != nullptr
                              ? info.Config->FilterSubject
                              : "",
        .ack_floor_stream_seq = info.AckFloor.Stream,
        .delivered_stream_seq = info.Delivered.Stream,
        .num_pending = info.NumPending,
        .num_ack_pending = static_cast<uint64_t>(std::max<int64_t>(0, info.NumAckPending)),
    };
}

}  // namespace

Result<ConsumerFloor> NatsBus::consumerFloor(const std::string& stream,
                                             const std::string& durable) {
    if (auto c = requireConnected(
            impl_->conn.get(), fmt::format("read consumer '{}' on stream '{}'", durable, stream));
        !c)
        return std::move(c).error();
    jsConsumerInfo* raw_info = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status = js_GetConsumerInfo(&raw_info, impl_->js.get(), stream.c_str(),
                                                 durable.c_str(), nullptr, &js_err);
    nh::ConsumerInfoPtr info(raw_info);
    if (status != NATS_OK) {
        return natsError(fmt::format("read consumer '{}' on stream '{}'", durable, stream), status,
                         js_err);
    }
    return floorOf(*info);
}

Result<std::vector<ConsumerFloor>> NatsBus::consumerFloors(const std::string& stream) {
    if (auto c = requireConnected(impl_->conn.get(),
                                  fmt::format("list the consumers of stream '{}'", stream));
        !c)
        return std::move(c).error();
    // js_Consumers returns every consumer's info; the list and every jsConsumerInfo in it are
    // freed by jsConsumerInfoList_Destroy (no alias in nats_handles.hpp yet, hence the local one).
    using ConsumerInfoListPtr =
        std::unique_ptr<jsConsumerInfoList,
                        nh::Deleter<jsConsumerInfoList, jsConsumerInfoList_Destroy>>;
    jsConsumerInfoList* raw_list = nullptr;
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_Consumers(&raw_list, impl_->js.get(), stream.c_str(), nullptr, &js_err);
    ConsumerInfoListPtr list(raw_list);
    std::vector<ConsumerFloor> floors;
    // nats.c reports an empty list as NATS_NOT_FOUND; a missing stream comes with its own
    // JetStream error code and stays an error.
    if (status == NATS_NOT_FOUND && js_err != JSStreamNotFoundErr) {
        return floors;
    }
    if (status != NATS_OK) {
        return natsError(fmt::format("list the consumers of stream '{}'", stream), status, js_err);
    }
    for (int i = 0; i < list->Count; ++i) {
        const jsConsumerInfo* info = list->List[i];
        if (info == nullptr || info->Config == nullptr || info->Config->Durable == nullptr ||
            info->Config->Durable[0] == '\0') {
            continue;  // ephemeral (e.g. an ordered reader): nobody waits on its acks
        }
        floors.push_back(floorOf(*info));
    }
    return floors;
}

Status NatsBus::purgeSubjectBefore(const std::string& stream, const std::string& subject,
                                   uint64_t before_sequence) {
    if (subject.empty()) {
        // nats.c would send no filter, and the server would purge the whole stream.
        return makeError("cannot purge stream '{}' below sequence {} (no subject given)", stream,
                         before_sequence);
    }
    if (before_sequence <= 1) {
        return {};  // no sequence is below 1; a 0 would reach the server as "no bound"
    }
    jsOptions opts;
    jsOptions_Init(&opts);
    opts.Stream.Purge.Subject = subject.c_str();
    opts.Stream.Purge.Sequence = before_sequence;  // server: up to but not including
    jsErrCode js_err = static_cast<jsErrCode>(0);
    const natsStatus status = js_PurgeStream(impl_->js.get(), stream.c_str(), &opts, &js_err);
    if (status != NATS_OK) {
        return natsError(fmt::format("purge '{}' below sequence {} in stream '{}'", subject,
                                     before_sequence, stream),
                         status, js_err);
    }
    return {};
}

Result<std::unique_ptr<KeyValue>> NatsBus::keyValue(const std::string& bucket,
                                                    std::chrono::milliseconds ttl, int replicas) {
    kvStore* raw = nullptr;
    natsStatus status = js_KeyValue(&raw, impl_->js.get(), bucket.c_str());
    if (status == NATS_NOT_FOUND) {
        kvConfig cfg;
        kvConfig_Init(&cfg);
        cfg.Bucket = bucket.c_str();
        cfg.History = 1;
        cfg.TTL = toNanos(ttl);  // nats.c passes it through as the stream's max_age (ns)
        cfg.StorageType = js_FileStorage;
        cfg.Replicas = replicas;
        status = js_CreateKeyValue(&raw, impl_->js.get(), &cfg);
        if (status == NATS_OK) {
            spdlog::info("nats: created key-value bucket '{}' ttl={}ms replicas={}", bucket,
                         ttl.count(), replicas);
        }
    } else if (status == NATS_OK) {
        // An existing bucket keeps its TTL (nats 2.9 has only per-bucket TTL); say so when it
        // differs from what this daemon wants.
        jsStreamInfo* raw_info = nullptr;
        const std::string stream = "KV_" + bucket;
        if (js_GetStreamInfo(&raw_info, impl_->js.get(), stream.c_str(), nullptr, nullptr) ==
            NATS_OK) {
            nh::StreamInfoPtr info(raw_info);
            if (info->Config->MaxAge != toNanos(ttl)) {
                spdlog::warn(
                    "nats: key-value bucket '{}' has ttl={}ms, wanted {}ms; delete the bucket to "
                    "change it",
                    bucket, info->Config->MaxAge / 1'000'000, ttl.count());
            }
        }
    }
    nh::KvStorePtr kv(raw);
    if (status != NATS_OK) {
        return natsError(fmt::format("open key-value bucket '{}'", bucket), status);
    }
    return std::unique_ptr<KeyValue>(
        std::make_unique<NatsKeyValue>(std::move(kv), bucket, impl_->conn.get()));
}

void NatsBus::close() {
    if (!impl_->conn) {
        return;
    }
    if (natsConnection_Status(impl_->conn.get()) == NATS_CONN_STATUS_CONNECTED) {
        const natsStatus status =
            natsConnection_FlushTimeout(impl_->conn.get(), kCloseFlushTimeout.count());
        if (status != NATS_OK) {
            spdlog::warn("{}", natsError("flush NATS before closing", status).message);
        }
    }
    // Close (not destroy): objects still holding the connection (subscriptions, key-value
    // handles) get NATS_CONNECTION_CLOSED instead of a dangling pointer.
    natsConnection_Close(impl_->conn.get());
}

bool NatsBus::connected() const {
    return impl_->conn && natsConnection_Status(impl_->conn.get()) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace pdns_distribute::common
