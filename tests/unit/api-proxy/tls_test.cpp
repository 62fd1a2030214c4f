// SPDX-License-Identifier: Apache-2.0
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.hpp"

namespace pdns_distribute::api_proxy {
namespace {

namespace fs = std::filesystem;

struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free_all(p); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

std::unique_ptr<X509, X509Free> loadCert(const fs::path& p) {
    std::unique_ptr<BIO, BioFree> bio{BIO_new_file(p.c_str(), "r")};
    if (!bio) return nullptr;
    return std::unique_ptr<X509, X509Free>{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

std::unique_ptr<EVP_PKEY, PkeyFree> loadKey(const fs::path& p) {
    std::unique_ptr<BIO, BioFree> bio{BIO_new_file(p.c_str(), "r")};
    if (!bio) return nullptr;
    return std::unique_ptr<EVP_PKEY, PkeyFree>{
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
}

std::set<std::string> sansOf(X509* cert) {
    std::set<std::string> out;
    std::unique_ptr<GENERAL_NAMES, NamesFree> names{static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))};
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type == GEN_DNS) {
            out.insert(
                "DNS:" +
                std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                            static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName))));
        } else if (gn->type == GEN_IPADD) {
            char text[INET6_ADDRSTRLEN];
            const int len = ASN1_STRING_length(gn->d.iPAddress);
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress), text,
                      sizeof(text));
            out.insert(std::string{"IP:"} + text);
        }
    }
    return out;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Seconds from now until the certificate's notAfter.
long long secondsLeft(X509* cert) {
    int days = 0;
    int secs = 0;
    EXPECT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)), 1);
    return static_cast<long long>(days) * 86400 + secs;
}

class TlsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("pdd-tls-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
    const std::vector<std::string> sans_{"localhost", "127.0.0.1", "::1"};
};

TEST_F(TlsTest, Generate_P256WithSansAndPrivateKeyMode) {
    const auto paths = ensureCertificate(dir_, "", "", sans_);
    EXPECT_TRUE(paths.generated);
    EXPECT_EQ(paths.cert_file, dir_ / "api-proxy.crt");
    EXPECT_EQ(paths.key_file, dir_ / "api-proxy.key");

    auto cert = loadCert(paths.cert_file);
    ASSERT_TRUE(cert);
    auto key = loadKey(paths.key_file);
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
    EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
    char group[64] = {};
    size_t group_len = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_len), 1);
    EXPECT_STREQ(group, "prime256v1");

    EXPECT_EQ(sansOf(cert.get()),
              (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));

    // Self-signed and valid for about 90 days.
    std::unique_ptr<EVP_PKEY, PkeyFree> pub{X509_get_pubkey(cert.get())};
    EXPECT_EQ(X509_verify(cert.get(), pub.get()), 1);
    const auto left = secondsLeft(cert.get());
    EXPECT_GT(left, 89LL * 86400);
    EXPECT_LE(left, 90LL * 86400 + 60);

    struct stat st {};
    ASSERT_EQ(::stat(paths.key_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(TlsTest, SecondCall_ReusesCertificate) {
    const auto first = ensureCertificate(dir_, "", "", sans_);
    ASSERT_TRUE(first.generated);
    const auto cert_before = readAll(first.cert_file);
    const auto key_before = readAll(first.key_file);
    const auto second = ensureCertificate(dir_, "", "", sans_);
    EXPECT_FALSE(second.generated);
    EXPECT_EQ(readAll(second.cert_file), cert_before);
    EXPECT_EQ(readAll(second.key_file), key_before);
}

TEST_F(TlsTest, NearExpiry_Renewed) {
    const auto first = ensureCertificate(
        dir_, "", "", sans_, GeneratedCertificateOptions{.validity = std::chrono::hours{24 * 10}});
    ASSERT_TRUE(first.generated);
    const auto before = readAll(first.cert_file);
    const auto second = ensureCertificate(dir_, "", "", sans_);  // renews within 30 days
    EXPECT_TRUE(second.generated);
    EXPECT_NE(readAll(second.cert_file), before);
    auto cert = loadCert(second.cert_file);
    ASSERT_TRUE(cert);
    EXPECT_GT(secondsLeft(cert.get()), 89LL * 86400);
}

TEST_F(TlsTest, SansChanged_Regenerated) {
    ASSERT_TRUE(ensureCertificate(dir_, "", "", sans_).generated);
    const auto again = ensureCertificate(dir_, "", "", {"proxy.example", "192.0.2.1"});
    EXPECT_TRUE(again.generated);
    auto cert = loadCert(again.cert_file);
    ASSERT_TRUE(cert);
    EXPECT_EQ(sansOf(cert.get()), (std::set<std::string>{"DNS:proxy.example", "IP:192.0.2.1"}));
}

TEST_F(TlsTest, SansInOtherSpelling_Reused) {
    ASSERT_TRUE(ensureCertificate(dir_, "", "", sans_).generated);
    EXPECT_FALSE(
        ensureCertificate(dir_, "", "", {"::1", "LocalHost", "127.0.0.1", "0:0::1"}).generated);
}

TEST_F(TlsTest, KeyMismatch_Regenerated) {
    ASSERT_TRUE(ensureCertificate(dir_, "", "", sans_).generated);
    const auto other = dir_ / "other";
    ASSERT_TRUE(ensureCertificate(other, "", "", sans_).generated);
    fs::copy_file(other / "api-proxy.key", dir_ / "api-proxy.key",
                  fs::copy_options::overwrite_existing);
    const auto again = ensureCertificate(dir_, "", "", sans_);
    EXPECT_TRUE(again.generated);
    auto cert = loadCert(again.cert_file);
    auto key = loadKey(again.key_file);
    ASSERT_TRUE(cert && key);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(TlsTest, GarbageFiles_Regenerated) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "api-proxy.crt") << "not a certificate";
    std::ofstream(dir_ / "api-proxy.key") << "not a key";
    EXPECT_TRUE(ensureCertificate(dir_, "", "", sans_).generated);
    EXPECT_TRUE(loadCert(dir_ / "api-proxy.crt"));
}

TEST_F(TlsTest, ConfiguredFiles_UsedAsIs) {
    const auto gen = ensureCertificate(dir_ / "gen", "", "", sans_);
    const auto paths =
        ensureCertificate(dir_ / "unused", gen.cert_file.string(), gen.key_file.string(), sans_);
    EXPECT_FALSE(paths.generated);
    EXPECT_EQ(paths.cert_file, gen.cert_file);
    EXPECT_EQ(paths.key_file, gen.key_file);
    EXPECT_FALSE(fs::exists(dir_ / "unused" / "api-proxy.crt"));
}

TEST_F(TlsTest, ConfiguredFileMissing_ThrowsNamingIt) {
    const auto gen = ensureCertificate(dir_ / "gen", "", "", sans_);
    const auto missing = (dir_ / "missing.crt").string();
    try {
        (void)ensureCertificate(dir_, missing, gen.key_file.string(), sans_);
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
}

TEST_F(TlsTest, ConfiguredMismatch_Throws) {
    const auto a = ensureCertificate(dir_ / "a", "", "", sans_);
    const auto b = ensureCertificate(dir_ / "b", "", "", sans_);
    EXPECT_THROW((void)ensureCertificate(dir_, a.cert_file.string(), b.key_file.string(), sans_),
                 std::runtime_error);
}

TEST_F(TlsTest, OnlyCertConfigured_Throws) {
    EXPECT_THROW((void)ensureCertificate(dir_, "/some/cert.pem", "", sans_), std::runtime_error);
}

}  // namespace
}  // namespace pdns_distribute::api_proxy
