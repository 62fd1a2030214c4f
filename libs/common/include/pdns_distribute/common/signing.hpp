// SPDX-License-Identifier: Apache-2.0
#pragma once
// Ed25519 signing of zone-data manifests (libsodium). The secret key exists only on the primary,
// in a 0600 file; syncers trust a list of public keys (DESIGN §4).
//
// Key files are one line of text: "pdns-distribute-ed25519-secret-v1 <128 hex digits>" and
// "pdns-distribute-ed25519-public-v1 <64 hex digits>". Text so that an operator can tell them
// apart and copy the public one by hand.

#include <array>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

inline constexpr std::string_view kManifestSigContext = "pdns-distribute/zonedata/v1\n";

struct PublicKey {
    std::array<std::byte, 32> bytes{};
    /// First 8 bytes (hex) of BLAKE2b-256 of the public key.
    [[nodiscard]] std::string keyId() const;
    bool operator==(const PublicKey&) const = default;
};

/// Move-only Ed25519 secret key; wiped with sodium_memzero on destruction; never printed.
class SecretKey {
public:
    SecretKey() = default;
    SecretKey(const SecretKey&) = delete;
    SecretKey& operator=(const SecretKey&) = delete;
    SecretKey(SecretKey&& other) noexcept;
    SecretKey& operator=(SecretKey&& other) noexcept;
    ~SecretKey();

    [[nodiscard]] PublicKey publicKey() const;
    /// Detached Ed25519 signature over `data`.
    [[nodiscard]] std::array<std::byte, 64> sign(std::span<const std::byte> data) const;

    static SecretKey generate();
    static SecretKey fromSeedBytes(std::span<const std::byte, 32> seed);

private:
    // Writes the secret bytes to the key file; the only reader of sk_ outside this class.
    friend Status writeKeyPair(const SecretKey& key, const std::filesystem::path& secret_path,
                               const std::filesystem::path& public_path);
    std::array<std::byte, 64> sk_{};  // libsodium layout: seed || public key
    bool valid_ = false;
};

/// Reads a secret key file; refuses files readable by group or others.
[[nodiscard]] Result<SecretKey> loadSecretKey(const std::filesystem::path& path);
[[nodiscard]] Result<PublicKey> loadPublicKey(const std::filesystem::path& path);
[[nodiscard]] Result<PublicKey> parsePublicKey(std::string_view text);
[[nodiscard]] std::string formatPublicKey(const PublicKey& key);
/// Writes both files (secret 0600, public 0644); refuses to overwrite existing files.
[[nodiscard]] Status writeKeyPair(const SecretKey& key, const std::filesystem::path& secret_path,
                                  const std::filesystem::path& public_path);

/// The signed message: context ‖ manifest ‖ "\n" ‖ nonce.
[[nodiscard]] std::vector<std::byte> manifestSigningInput(std::string_view manifest,
                                                          std::string_view nonce);
[[nodiscard]] std::array<std::byte, 64> signManifest(const SecretKey& key,
                                                     std::string_view manifest,
                                                     std::string_view nonce);
[[nodiscard]] bool verifyManifest(const PublicKey& key, std::string_view manifest,
                                  std::string_view nonce, std::span<const std::byte> signature);

/// A trusted public key with an optional expiry (key rotation).
struct TrustedKey {
    PublicKey key;
    std::optional<std::chrono::system_clock::time_point> not_after;
};

/// Random nonce (hex of 16 random bytes).
[[nodiscard]] std::string randomNonce();

}  // namespace pdns_distribute::common
