// SPDX-License-Identifier: Apache-2.0
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pdns_distribute/common/signing.hpp>

namespace pdns_distribute::common {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::span<const std::byte> bytesOf(std::string_view s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

SecretKey seededKey(uint8_t fill) {
    std::array<std::byte, 32> seed{};
    seed.fill(std::byte{fill});
    return SecretKey::fromSeedBytes(seed);
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pdd-signing-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void writeFile(const fs::path& p, std::string_view content, mode_t mode) {
    {
        std::ofstream out(p);
        out << content;
    }
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

constexpr std::string_view kManifest = R"({"v":1,"zone":"example.org."})";
constexpr std::string_view kNonce = "00112233445566778899aabbccddeeff";

TEST(Signing, SignVerify_RoundTrip) {
    const auto key = SecretKey::generate();
    const auto sig = signManifest(key, kManifest, kNonce);
    EXPECT_TRUE(verifyManifest(key.publicKey(), kManifest, kNonce, sig));
}

TEST(Signing, TamperedManifest_Fails) {
    const auto key = seededKey(1);
    const auto sig = signManifest(key, kManifest, kNonce);
    std::string tampered(kManifest);
    tampered[tampered.size() - 3] = 'g';
    EXPECT_FALSE(verifyManifest(key.publicKey(), tampered, kNonce, sig));
}

TEST(Signing, TamperedNonce_Fails) {
    const auto key = seededKey(1);
    const auto sig = signManifest(key, kManifest, kNonce);
    EXPECT_FALSE(
        verifyManifest(key.publicKey(), kManifest, "00112233445566778899aabbccddeefe", sig));
}

TEST(Signing, NonceMovedIntoManifest_Fails) {
    // The "\n" separator binds the boundary: shifting bytes between the parts must not verify.
    const auto key = seededKey(1);
    const auto sig = signManifest(key, "ab", "c");
    EXPECT_FALSE(verifyManifest(key.publicKey(), "a", "b\nc", sig));
    EXPECT_TRUE(verifyManifest(key.publicKey(), "ab", "c", sig));
}

TEST(Signing, TruncatedSignature_Fails) {
    const auto key = seededKey(1);
    const auto sig = signManifest(key, kManifest, kNonce);
    EXPECT_FALSE(verifyManifest(key.publicKey(), kManifest, kNonce,
                                std::span<const std::byte>(sig).first(63)));
    EXPECT_FALSE(verifyManifest(key.publicKey(), kManifest, kNonce, {}));
}

TEST(Signing, FlippedSignatureBit_Fails) {
    const auto key = seededKey(1);
    auto sig = signManifest(key, kManifest, kNonce);
    sig[10] ^= std::byte{0x01};
    EXPECT_FALSE(verifyManifest(key.publicKey(), kManifest, kNonce, sig));
}

TEST(Signing, WrongKey_Fails) {
    const auto key = seededKey(1);
    const auto other = seededKey(2);
    const auto sig = signManifest(key, kManifest, kNonce);
    EXPECT_FALSE(verifyManifest(other.publicKey(), kManifest, kNonce, sig));
}

TEST(Signing, SigningInput_ContextManifestNewlineNonce) {
    const auto input = manifestSigningInput("M", "N");
    const std::string s(reinterpret_cast<const char*>(input.data()), input.size());
    EXPECT_EQ(s, "pdns-distribute/zonedata/v1\nM\nN");
}

TEST(Signing, SignatureIsOverSigningInput) {
    const auto key = seededKey(3);
    const auto sig = key.sign(manifestSigningInput(kManifest, kNonce));
    EXPECT_EQ(sig, signManifest(key, kManifest, kNonce));
}

TEST(PublicKey, KeyId_Blake2bPrefixHex) {
    // The seed-0x01 key is deterministic; its id is 16 hex digits and differs from another key's.
    const auto a = seededKey(1).publicKey();
    const auto b = seededKey(2).publicKey();
    EXPECT_EQ(a.keyId().size(), 16U);
    EXPECT_EQ(a.keyId().find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(a.keyId(), seededKey(1).publicKey().keyId());
    EXPECT_NE(a.keyId(), b.keyId());
}

TEST(PublicKey, KnownVector_Rfc8032Test1) {
    // RFC 8032 §7.1 TEST 1: secret seed 9d61b1...7f60 gives public key d75a98...511a.
    std::array<std::byte, 32> seed{};
    const std::string seed_hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    for (size_t i = 0; i < 32; ++i) {
        seed[i] = static_cast<std::byte>(std::stoi(seed_hex.substr(2 * i, 2), nullptr, 16));
    }
    const auto key = SecretKey::fromSeedBytes(seed);
    EXPECT_EQ(formatPublicKey(key.publicKey()),
              "pdns-distribute-ed25519-public-v1 "
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const auto sig = key.sign({});
    EXPECT_EQ(std::to_integer<int>(sig[0]), 0xe5);  // e5564300c360ac72...
    EXPECT_EQ(std::to_integer<int>(sig[63]), 0x0b);
}

TEST(PublicKey, FormatParse_RoundTrip) {
    const auto pk = seededKey(5).publicKey();
    const std::string text = formatPublicKey(pk);
    auto parsed = parsePublicKey(text + "\n");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, pk);
}

TEST(PublicKey, ParseGarbage_Fails) {
    EXPECT_FALSE(parsePublicKey("pdns-distribute-ed25519-public-v1 abcd"));
    EXPECT_FALSE(parsePublicKey("pdns-distribute-ed25519-public-v1"));
    EXPECT_FALSE(parsePublicKey(""));
    std::string bad = formatPublicKey(seededKey(5).publicKey());
    bad.back() = 'z';
    EXPECT_FALSE(parsePublicKey(bad));
}

TEST(SecretKey, Move_LeavesSourceInvalid) {
    auto a = seededKey(7);
    const auto pk = a.publicKey();
    SecretKey b = std::move(a);
    EXPECT_EQ(b.publicKey(), pk);
    EXPECT_DEATH((void)a.publicKey(), "moved-from");  // NOLINT(bugprone-use-after-move)
}

TEST(SecretKey, Default_IsInvalid) {
    const SecretKey k;
    EXPECT_DEATH((void)k.sign({}), "moved-from");
}

TEST(KeyFiles, WriteThenLoad_RoundTrip) {
    TempDir dir;
    const auto key = SecretKey::generate();
    const auto sec = dir.path() / "zone.key";
    const auto pub = dir.path() / "zone.pub";
    ASSERT_TRUE(writeKeyPair(key, sec, pub));

    struct stat st {};
    ASSERT_EQ(::stat(sec.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);

    auto loaded = loadSecretKey(sec);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(loaded->publicKey(), key.publicKey());
    const auto sig = loaded->sign(bytesOf("x"));
    EXPECT_EQ(sig, key.sign(bytesOf("x")));

    auto pk = loadPublicKey(pub);
    ASSERT_TRUE(pk) << pk.error().message;
    EXPECT_EQ(*pk, key.publicKey());

    std::ifstream in(sec);
    std::string line;
    std::getline(in, line);
    EXPECT_THAT(line, ::testing::StartsWith("pdns-distribute-ed25519-secret-v1 "));
    EXPECT_EQ(line.size(), 34U + 128U);
}

TEST(KeyFiles, ExistingFile_NotOverwritten) {
    TempDir dir;
    const auto sec = dir.path() / "zone.key";
    const auto pub = dir.path() / "zone.pub";
    writeFile(pub, "keep me", 0644);
    auto st = writeKeyPair(SecretKey::generate(), sec, pub);
    ASSERT_FALSE(st);
    EXPECT_THAT(st.error().message, HasSubstr("File exists"));
    EXPECT_FALSE(fs::exists(sec));  // nothing half-written
    std::ifstream in(pub);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "keep me");

    ASSERT_TRUE(writeKeyPair(SecretKey::generate(), sec, dir.path() / "other.pub"));
    EXPECT_FALSE(writeKeyPair(SecretKey::generate(), sec, dir.path() / "third.pub"));
}

TEST(KeyFiles, GroupReadable_Refused) {
    TempDir dir;
    const auto key = seededKey(9);
    const auto sec = dir.path() / "zone.key";
    ASSERT_TRUE(writeKeyPair(key, sec, dir.path() / "zone.pub"));
    ASSERT_EQ(::chmod(sec.c_str(), 0644), 0);
    auto loaded = loadSecretKey(sec);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().message, "key file '" + sec.string() +
                                          "' is readable by others (mode 0644); run chmod 600 " +
                                          sec.string());
    ASSERT_EQ(::chmod(sec.c_str(), 0640), 0);
    EXPECT_FALSE(loadSecretKey(sec));
    ASSERT_EQ(::chmod(sec.c_str(), 0400), 0);
    EXPECT_TRUE(loadSecretKey(sec));
}

TEST(KeyFiles, Missing_ErrorNamesCause) {
    TempDir dir;
    auto loaded = loadSecretKey(dir.path() / "nope");
    ASSERT_FALSE(loaded);
    EXPECT_THAT(loaded.error().message, HasSubstr("(No such file or directory)"));
}

TEST(KeyFiles, Garbage_Refused) {
    TempDir dir;
    const auto p = dir.path() / "k";
    writeFile(p, "pdns-distribute-ed25519-secret-v1 0011\n", 0600);
    EXPECT_FALSE(loadSecretKey(p));
    writeFile(p, "pdns-distribute-ed25519-public-v1 " + std::string(128, 'a') + "\n", 0600);
    EXPECT_FALSE(loadSecretKey(p));
}

TEST(KeyFiles, InconsistentPublicHalf_Refused) {
    TempDir dir;
    const auto key = seededKey(4);
    const auto sec = dir.path() / "zone.key";
    ASSERT_TRUE(writeKeyPair(key, sec, dir.path() / "zone.pub"));
    std::string line;
    {
        std::ifstream in(sec);
        std::getline(in, line);
    }
    line.back() = line.back() == '0' ? '1' : '0';  // corrupt the stored public half
    const auto p = dir.path() / "corrupt.key";
    writeFile(p, line + "\n", 0600);
    auto loaded = loadSecretKey(p);
    ASSERT_FALSE(loaded);
    EXPECT_THAT(loaded.error().message, HasSubstr("does not match"));
}

TEST(RandomNonce, HexOf16BytesAndDistinct) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const auto n = randomNonce();
        EXPECT_EQ(n.size(), 32U);
        EXPECT_EQ(n.find_first_not_of("0123456789abcdef"), std::string::npos);
        seen.insert(n);
    }
    EXPECT_EQ(seen.size(), 100U);
}

}  // namespace
}  // namespace pdns_distribute::common
