// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/signing.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <sodium.h>

#include "sodium_util.hpp"

namespace pdns_distribute::common {

namespace detail {

void ensureSodium() {
    // A function-local static is initialised exactly once, even with concurrent callers.
    static const int rc = sodium_init();
    if (rc < 0) {
        std::fputs("fatal: cannot initialise libsodium\n", stderr);
        std::abort();
    }
}

std::array<std::byte, 32> blake2b256Of(std::span<const std::byte> data) {
    ensureSodium();
    std::array<std::byte, 32> out{};
    crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr,
                       0);
    return out;
}

std::string hexOf(std::span<const std::byte> data) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (std::byte b : data) {
        const auto v = std::to_integer<unsigned>(b);
        out.push_back(kDigits[v >> 4U]);
        out.push_back(kDigits[v & 0xFU]);
    }
    return out;
}

namespace {
int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

bool hexInto(std::string_view hex, std::span<std::byte> out) {
    if (hex.size() != out.size() * 2) return false;
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = hexValue(hex[2 * i]);
        const int lo = hexValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::byte>((hi << 4) | lo);
    }
    return true;
}

std::string base64Of(std::span<const std::byte> data) {
    ensureSodium();
    const size_t len = sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_ORIGINAL);
    std::string out(len, '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                      data.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(len - 1);  // drop the terminating NUL libsodium writes
    return out;
}

std::optional<std::vector<std::byte>> base64Decode(std::string_view text) {
    ensureSodium();
    std::vector<std::byte> out(text.size() / 4 * 3 + 3);
    size_t out_len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), nullptr, &out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        return std::nullopt;
    }
    if (end != text.data() + text.size()) return std::nullopt;
    out.resize(out_len);
    return out;
}

}  // namespace detail

namespace {

using detail::ensureSodium;
using detail::hexInto;
using detail::hexOf;

constexpr std::string_view kSecretPrefix = "pdns-distribute-ed25519-secret-v1";
constexpr std::string_view kPublicPrefix = "pdns-distribute-ed25519-public-v1";
// Key files are a single short line; anything much larger is not a key file.
constexpr size_t kMaxKeyFileSize = 4096;

[[noreturn]] void brokenInvariant(const char* what) {
    std::fprintf(stderr, "fatal: %s\n", what);
    std::abort();
}

const unsigned char* uc(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* uc(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

/// Owns a POSIX file descriptor.
class UniqueFd {
public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const { return fd_; }
    /// Closes now and reports close()'s errno (0 on success).
    int close() {
        const int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0 ? 0 : errno;
    }

private:
    int fd_;
};

/// Bytes that are wiped when they go out of scope (secret key file contents).
class WipedBuffer {
public:
    WipedBuffer() = default;
    WipedBuffer(const WipedBuffer&) = delete;
    WipedBuffer& operator=(const WipedBuffer&) = delete;
    ~WipedBuffer() { sodium_memzero(data_.data(), data_.size()); }
    std::array<char, kMaxKeyFileSize + 1>& data() { return data_; }
    size_t size = 0;
    [[nodiscard]] std::string_view view() const { return {data_.data(), size}; }

private:
    std::array<char, kMaxKeyFileSize + 1> data_{};
};

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

/// Reads a small key file into `buffer`; with `require_private`, refuses group/other access.
Status readKeyFile(const std::filesystem::path& path, bool require_private, WipedBuffer& buffer) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        return makeError("cannot read key file '{}' ({})", path.string(), std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return makeError("cannot read key file '{}' ({})", path.string(), std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return makeError("cannot read key file '{}' (not a regular file)", path.string());
    }
    if (require_private && (st.st_mode & 077) != 0) {
        return makeError("key file '{}' is readable by others (mode {:04o}); run chmod 600 {}",
                         path.string(), st.st_mode & 07777, path.string());
    }
    auto& data = buffer.data();
    size_t total = 0;
    while (total < data.size()) {
        const ssize_t n = ::read(fd.get(), data.data() + total, data.size() - total);
        if (n < 0) {
            if (errno == EINTR) continue;
            return makeError("cannot read key file '{}' ({})", path.string(), std::strerror(errno));
        }
        if (n == 0) break;
        total += static_cast<size_t>(n);
    }
    if (total > kMaxKeyFileSize) {
        return makeError("cannot read key file '{}' (larger than {} bytes; not a key file)",
                         path.string(), kMaxKeyFileSize);
    }
    buffer.size = total;
    return {};
}

/// Writes `content` to a new file (never overwrites) with `mode`.
Status writeNewFile(const std::filesystem::path& path, std::string_view content, mode_t mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) {
        const int err = errno;
        if (err == EEXIST) {
            return makeError(
                "cannot create key file '{}' ({}); remove it first or choose another "
                "path",
                path.string(), std::strerror(err));
        }
        return makeError("cannot create key file '{}' ({})", path.string(), std::strerror(err));
    }
    size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return makeError("cannot write key file '{}' ({})", path.string(),
                             std::strerror(errno));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
        return makeError("cannot write key file '{}' ({})", path.string(), std::strerror(errno));
    }
    if (const int err = fd.close(); err != 0) {
        return makeError("cannot write key file '{}' ({})", path.string(), std::strerror(err));
    }
    return {};
}

}  // namespace

std::string PublicKey::keyId() const {
    const auto digest = detail::blake2b256Of(bytes);
    return hexOf(std::span<const std::byte>(digest).first(8));
}

SecretKey::SecretKey(SecretKey&& other) noexcept : sk_(other.sk_), valid_(other.valid_) {
    sodium_memzero(other.sk_.data(), other.sk_.size());
    other.valid_ = false;
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
    if (this != &other) {
        sk_ = other.sk_;
        valid_ = other.valid_;
        sodium_memzero(other.sk_.data(), other.sk_.size());
        other.valid_ = false;
    }
    return *this;
}

SecretKey::~SecretKey() { sodium_memzero(sk_.data(), sk_.size()); }

PublicKey SecretKey::publicKey() const {
    if (!valid_) brokenInvariant("use of an empty or moved-from SecretKey");
    PublicKey pk;
    // libsodium's secret key layout is seed ‖ public key.
    std::memcpy(pk.bytes.data(), sk_.data() + crypto_sign_SEEDBYTES, pk.bytes.size());
    return pk;
}

std::array<std::byte, 64> SecretKey::sign(std::span<const std::byte> data) const {
    if (!valid_) brokenInvariant("use of an empty or moved-from SecretKey");
    std::array<std::byte, 64> sig{};
    crypto_sign_detached(uc(sig.data()), nullptr, uc(data.data()), data.size(), uc(sk_.data()));
    return sig;
}

SecretKey SecretKey::generate() {
    ensureSodium();
    SecretKey key;
    std::array<std::byte, 32> pk{};
    crypto_sign_keypair(uc(pk.data()), uc(key.sk_.data()));
    key.valid_ = true;
    return key;
}

SecretKey SecretKey::fromSeedBytes(std::span<const std::byte, 32> seed) {
    ensureSodium();
    SecretKey key;
    std::array<std::byte, 32> pk{};
    crypto_sign_seed_keypair(uc(pk.data()), uc(key.sk_.data()), uc(seed.data()));
    key.valid_ = true;
    return key;
}

Result<SecretKey> loadSecretKey(const std::filesystem::path& path) {
    ensureSodium();
    WipedBuffer buffer;
    if (auto st = readKeyFile(path, true, buffer); !st) return std::move(st).error();
    const std::string_view text = trim(buffer.view());
    const auto bad = [&] {
        return makeError("cannot parse key file '{}' (expected \"{} <128 hex digits>\")",
                         path.string(), kSecretPrefix);
    };
    if (text.size() != kSecretPrefix.size() + 1 + 128 || !text.starts_with(kSecretPrefix) ||
        text[kSecretPrefix.size()] != ' ') {
        return bad();
    }
    std::array<std::byte, 64> raw{};
    if (!hexInto(text.substr(kSecretPrefix.size() + 1), raw)) {
        sodium_memzero(raw.data(), raw.size());
        return bad();
    }
    // Rebuild from the seed and require the stored public half to match: catches corruption.
    auto key = SecretKey::fromSeedBytes(std::span<const std::byte, 32>(raw.data(), 32));
    const PublicKey pk = key.publicKey();
    const bool consistent = sodium_memcmp(pk.bytes.data(), raw.data() + 32, 32) == 0;
    sodium_memzero(raw.data(), raw.size());
    if (!consistent) {
        return makeError("cannot parse key file '{}' (public half does not match the seed)",
                         path.string());
    }
    return key;
}

Result<PublicKey> parsePublicKey(std::string_view text) {
    text = trim(text);
    std::string_view hex = text;
    if (text.starts_with(kPublicPrefix)) {
        hex = trim(text.substr(kPublicPrefix.size()));
        if (hex.size() == text.size() - kPublicPrefix.size()) hex = {};  // no separator
    }
    PublicKey key;
    if (!hexInto(hex, key.bytes)) {
        return makeError("cannot parse public key (expected \"{} <64 hex digits>\")",
                         kPublicPrefix);
    }
    return key;
}

Result<PublicKey> loadPublicKey(const std::filesystem::path& path) {
    WipedBuffer buffer;
    if (auto st = readKeyFile(path, false, buffer); !st) return std::move(st).error();
    auto key = parsePublicKey(buffer.view());
    if (!key) {
        return makeError("cannot parse key file '{}' (expected \"{} <64 hex digits>\")",
                         path.string(), kPublicPrefix);
    }
    return key;
}

std::string formatPublicKey(const PublicKey& key) {
    return std::string(kPublicPrefix) + " " + hexOf(key.bytes);
}

Status writeKeyPair(const SecretKey& key, const std::filesystem::path& secret_path,
                    const std::filesystem::path& public_path) {
    ensureSodium();
    for (const auto* p : {&secret_path, &public_path}) {
        std::error_code ec;
        if (std::filesystem::exists(std::filesystem::symlink_status(*p, ec))) {
            return makeError(
                "cannot create key file '{}' (File exists); remove it first or "
                "choose another path",
                p->string());
        }
    }
    const PublicKey pk = key.publicKey();  // aborts on an empty key
    {
        // The secret line is assembled in a buffer that is wiped afterwards.
        WipedBuffer line;
        auto& data = line.data();
        std::memcpy(data.data(), kSecretPrefix.data(), kSecretPrefix.size());
        size_t pos = kSecretPrefix.size();
        data[pos++] = ' ';
        sodium_bin2hex(data.data() + pos, 128 + 1, uc(key.sk_.data()), key.sk_.size());
        pos += 128;
        data[pos++] = '\n';
        line.size = pos;
        if (auto st = writeNewFile(secret_path, line.view(), 0600); !st) return st;
    }
    if (auto st = writeNewFile(public_path, formatPublicKey(pk) + "\n", 0644); !st) {
        // Leave no half-written pair behind: the secret file is ours, we just created it.
        std::error_code ec;
        std::filesystem::remove(secret_path, ec);
        return st;
    }
    return {};
}

std::vector<std::byte> manifestSigningInput(std::string_view manifest, std::string_view nonce) {
    std::vector<std::byte> out;
    out.reserve(kManifestSigContext.size() + manifest.size() + 1 + nonce.size());
    const auto append = [&out](std::string_view s) {
        const auto* p = reinterpret_cast<const std::byte*>(s.data());
        out.insert(out.end(), p, p + s.size());
    };
    append(kManifestSigContext);
    append(manifest);
    append("\n");
    append(nonce);
    return out;
}

std::array<std::byte, 64> signManifest(const SecretKey& key, std::string_view manifest,
                                       std::string_view nonce) {
    return key.sign(manifestSigningInput(manifest, nonce));
}

bool verifyManifest(const PublicKey& key, std::string_view manifest, std::string_view nonce,
                    std::span<const std::byte> signature) {
    ensureSodium();
    if (signature.size() != crypto_sign_BYTES) return false;
    const auto input = manifestSigningInput(manifest, nonce);
    return crypto_sign_verify_detached(uc(signature.data()), uc(input.data()), input.size(),
                                       uc(key.bytes.data())) == 0;
}

std::string randomNonce() {
    ensureSodium();
    std::array<std::byte, 16> raw{};
    randombytes_buf(raw.data(), raw.size());
    return hexOf(raw);
}

}  // namespace pdns_distribute::common
