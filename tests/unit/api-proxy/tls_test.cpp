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
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <pdns_distribute/common/metrics.hpp>

#include "manual_clock.hpp"
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

/// checkClientCaFile's message for `path`, or "" when it accepted the file.
std::string clientCaError(const std::string& path) {
    try {
        (void)checkClientCaFile(path);
        return {};
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

TEST_F(TlsTest, ClientCaFile_CountsItsCertificates) {
    const auto a = ensureCertificate(dir_ / "a", "", "", sans_);
    const auto b = ensureCertificate(dir_ / "b", "", "", sans_);
    EXPECT_EQ(checkClientCaFile(a.cert_file.string()), 1U);
    const auto both = dir_ / "both.pem";
    std::ofstream(both) << readAll(a.cert_file) << readAll(b.cert_file);
    EXPECT_EQ(checkClientCaFile(both.string()), 2U);
}

TEST_F(TlsTest, ClientCaFileUnusable_ThrowsNamingIt) {
    fs::create_directories(dir_);
    const auto missing = (dir_ / "missing.pem").string();
    const auto empty = (dir_ / "empty.pem").string();
    std::ofstream(empty) << "";
    const auto text = (dir_ / "text.pem").string();
    std::ofstream(text) << "not a certificate\n";
    const auto broken = (dir_ / "broken.pem").string();
    std::ofstream(broken) << "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
                             "-----END CERTIFICATE-----\n";
    for (const auto& path : {missing, empty, text, broken}) {
        const auto error = clientCaError(path);
        EXPECT_NE(error.find("'" + path + "'"), std::string::npos) << path << ": " << error;
        EXPECT_NE(error.find("tls.client_ca_file"), std::string::npos) << error;
    }
    EXPECT_NE(clientCaError(missing).find("No such file"), std::string::npos);
}

struct SslCtxFree {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};

TEST_F(TlsTest, ServerContextWithoutClientCa_NoClientCertificateAsked) {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx{SSL_CTX_new(TLS_server_method())};
    ASSERT_TRUE(ctx);
    configureServerContext(ctx.get(), "");
    EXPECT_EQ(SSL_CTX_get_verify_mode(ctx.get()), SSL_VERIFY_NONE);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
    EXPECT_NE(SSL_CTX_get_options(ctx.get()) & SSL_OP_NO_RENEGOTIATION, 0U);
}

TEST_F(TlsTest, ServerContextWithClientCa_CertificateRequiredAndIssuerAnnounced) {
    const auto ca = ensureCertificate(dir_ / "ca", "", "", {"client-ca.example"});
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx{SSL_CTX_new(TLS_server_method())};
    ASSERT_TRUE(ctx);
    configureServerContext(ctx.get(), ca.cert_file.string());
    EXPECT_EQ(SSL_CTX_get_verify_mode(ctx.get()),
              SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    const auto* names = SSL_CTX_get_client_CA_list(ctx.get());
    ASSERT_NE(names, nullptr);
    EXPECT_EQ(sk_X509_NAME_num(names), 1);
}

TEST_F(TlsTest, ServerContextWithBadClientCa_Throws) {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx{SSL_CTX_new(TLS_server_method())};
    ASSERT_TRUE(ctx);
    EXPECT_THROW(configureServerContext(ctx.get(), (dir_ / "missing.pem").string()),
                 std::runtime_error);
}

// --- renewal while running ---

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

TEST(RenewalDueTest, OutsideTheWindow_NotDue) {
    const auto now = system_clock::now();
    EXPECT_FALSE(renewalDue(now + hours{24 * 31}, now, hours{24 * 30}));
    EXPECT_FALSE(renewalDue(now + hours{1} + seconds{1}, now, hours{1}));
}

TEST(RenewalDueTest, InsideTheWindowOrExpired_Due) {
    const auto now = system_clock::now();
    EXPECT_TRUE(renewalDue(now + hours{1}, now, hours{1}));  // the boundary renews
    EXPECT_TRUE(renewalDue(now + hours{24 * 29}, now, hours{24 * 30}));
    EXPECT_TRUE(renewalDue(now - hours{1}, now, hours{24 * 30}));
    EXPECT_TRUE(renewalDue(now, now, seconds{0}));
}

struct SslFree {
    void operator()(SSL* p) const { SSL_free(p); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// A client and a server connection over an in-memory BIO pair, handshake done.
struct TlsPair {
    SslPtr client;
    SslPtr server;
};

/// Connects a new client (no verification: the test reads the certificate it was served) to a
/// new server connection on `server_ctx`; empty pointers when the handshake fails.
TlsPair connectTo(SSL_CTX* server_ctx) {
    SslCtxPtr client_ctx{SSL_CTX_new(TLS_client_method())};
    if (!client_ctx) return {};
    TlsPair pair{SslPtr{SSL_new(client_ctx.get())}, SslPtr{SSL_new(server_ctx)}};
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    if (!pair.client || !pair.server || BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) {
        return {};
    }
    SSL_set_bio(pair.client.get(), client_bio, client_bio);  // each SSL owns its end
    SSL_set_bio(pair.server.get(), server_bio, server_bio);
    SSL_set_connect_state(pair.client.get());
    SSL_set_accept_state(pair.server.get());
    for (int round = 0; round < 20; ++round) {
        const int c = SSL_do_handshake(pair.client.get());
        const int s = SSL_do_handshake(pair.server.get());
        if (c == 1 && s == 1) return pair;
    }
    return {};
}

std::string serialText(const X509* cert) {
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn{
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr), &BN_free};
    char* hex = BN_bn2hex(bn.get());
    std::string out{hex};
    OPENSSL_free(hex);
    return out;
}

/// Serial of the certificate a new client is served by `ctx`, "" when the handshake fails.
std::string servedSerial(SSL_CTX* ctx) {
    const auto pair = connectTo(ctx);
    if (!pair.client) return {};
    std::unique_ptr<X509, X509Free> peer{SSL_get1_peer_certificate(pair.client.get())};
    return peer ? serialText(peer.get()) : std::string{};
}

std::string serialOfFile(const fs::path& cert_file) {
    auto cert = loadCert(cert_file);
    return cert ? serialText(cert.get()) : std::string{};
}

/// A server context set up like the proxy's: httplib loads the start-up files, then ours.
SslCtxPtr serverContext(const CertificatePaths& paths, LiveCertificate& live) {
    SslCtxPtr ctx{SSL_CTX_new(TLS_server_method())};
    EXPECT_TRUE(ctx);
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), paths.cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), paths.key_file.c_str(), SSL_FILETYPE_PEM), 1);
    configureServerContext(ctx.get(), "");
    live.install(ctx.get());
    return ctx;
}

TEST_F(TlsTest, LiveCertificateLoaded_NewHandshakesGetIt_OpenConnectionsKeepWorking) {
    const auto a = ensureCertificate(dir_ / "a", "", "", sans_);
    const auto b = ensureCertificate(dir_ / "b", "", "", sans_);
    ASSERT_NE(serialOfFile(a.cert_file), serialOfFile(b.cert_file));
    LiveCertificate live;
    live.load(a.cert_file, a.key_file);
    const auto ctx = serverContext(a, live);
    EXPECT_EQ(servedSerial(ctx.get()), serialOfFile(a.cert_file));
    const auto open = connectTo(ctx.get());
    ASSERT_TRUE(open.client);

    live.load(b.cert_file, b.key_file);
    EXPECT_EQ(live.serial(), serialOfFile(b.cert_file));
    EXPECT_EQ(servedSerial(ctx.get()), serialOfFile(b.cert_file));

    // The connection made before still carries data, in both directions.
    ASSERT_EQ(SSL_write(open.client.get(), "ping", 4), 4);
    char buf[8] = {};
    ASSERT_EQ(SSL_read(open.server.get(), buf, sizeof(buf)), 4);
    EXPECT_EQ(std::string(buf, 4), "ping");
    ASSERT_EQ(SSL_write(open.server.get(), "pong", 4), 4);
    ASSERT_EQ(SSL_read(open.client.get(), buf, sizeof(buf)), 4);
    EXPECT_EQ(std::string(buf, 4), "pong");
}

TEST_F(TlsTest, LiveCertificateBadFile_ThrowsNamingIt_KeepsServingTheOld) {
    const auto a = ensureCertificate(dir_ / "a", "", "", sans_);
    const auto b = ensureCertificate(dir_ / "b", "", "", sans_);
    LiveCertificate live;
    live.load(a.cert_file, a.key_file);
    const auto ctx = serverContext(a, live);
    const auto garbage = dir_ / "garbage.crt";
    std::ofstream(garbage) << "not a certificate\n";
    const auto missing = dir_ / "missing.key";
    const std::vector<std::pair<fs::path, fs::path>> bad{
        {garbage, a.key_file},       // unparsable certificate
        {a.cert_file, missing},      // missing key
        {a.cert_file, b.key_file}};  // key of another certificate
    for (const auto& [cert, key] : bad) {
        try {
            live.load(cert, key);
            ADD_FAILURE() << "accepted " << cert << " with " << key;
        } catch (const std::runtime_error& e) {
            const std::string what = e.what();
            const auto named = (cert == a.cert_file ? key : cert).string();
            EXPECT_NE(what.find("'" + named + "'"), std::string::npos) << what;
        }
        EXPECT_EQ(live.serial(), serialOfFile(a.cert_file));
        EXPECT_EQ(servedSerial(ctx.get()), serialOfFile(a.cert_file));
    }
}

class RenewerTest : public TlsTest {
protected:
    void SetUp() override {
        TlsTest::SetUp();
        clock_.setSystem(system_clock::now());
    }
    CertificateMetrics metrics() { return CertificateMetrics::create(registry_); }
    double expiry() {
        return registry_.gauge("pdns_distribute_api_proxy_tls_cert_expiry_seconds", "").value();
    }
    uint64_t failures() {
        return registry_.counter("pdns_distribute_api_proxy_tls_reload_failures_total", "").value();
    }
    uint64_t reloads() {
        return registry_.counter("pdns_distribute_api_proxy_tls_reloads_total", "").value();
    }

    common::MetricsRegistry registry_;
    testing::ManualClock clock_;
};

TEST_F(RenewerTest, GeneratedNotDue_Unchanged) {
    CertificateRenewer renewer(CertificateSource{.state_dir = dir_, .sans = sans_, .options = {}},
                               clock_, metrics());
    const auto serial = renewer.live().serial();
    clock_.advance(hours{24 * 59});  // 90-day certificate, renewed within 30 days: not yet
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Unchanged);
    EXPECT_EQ(renewer.live().serial(), serial);
    EXPECT_EQ(reloads(), 0U);
}

TEST_F(RenewerTest, GeneratedDueOnTheClock_RegeneratedAndServed) {
    CertificateRenewer renewer(CertificateSource{.state_dir = dir_, .sans = sans_, .options = {}},
                               clock_, metrics());
    LiveCertificate& live = renewer.live();
    const auto ctx = serverContext(renewer.paths(), live);
    const auto first = live.serial();
    const auto first_expiry = expiry();
    EXPECT_EQ(first_expiry,
              static_cast<double>(system_clock::to_time_t(clock_.system() + hours{24 * 90})));
    EXPECT_EQ(servedSerial(ctx.get()), first);

    clock_.advance(hours{24 * 61});
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Reloaded);
    EXPECT_NE(live.serial(), first);
    EXPECT_EQ(live.serial(), serialOfFile(renewer.paths().cert_file));
    EXPECT_EQ(servedSerial(ctx.get()), live.serial());
    EXPECT_EQ(expiry(), first_expiry + 61.0 * 86400);
    EXPECT_EQ(reloads(), 1U);
    EXPECT_EQ(failures(), 0U);
    // Renewed: the next check finds nothing to do.
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Unchanged);
}

TEST_F(RenewerTest, ConfiguredFilesReplaced_Reloaded_BadFileKeepsTheOld) {
    const auto a = ensureCertificate(dir_ / "a", "", "", sans_);
    const auto b = ensureCertificate(dir_ / "b", "", "", sans_);
    const auto cert = dir_ / "proxy.crt";
    const auto key = dir_ / "proxy.key";
    fs::copy_file(a.cert_file, cert);
    fs::copy_file(a.key_file, key);
    CertificateRenewer renewer(CertificateSource{.state_dir = dir_ / "unused",
                                                 .cert_file = cert.string(),
                                                 .key_file = key.string(),
                                                 .sans = sans_,
                                                 .options = {}},
                               clock_, metrics());
    const auto ctx = serverContext(renewer.paths(), renewer.live());
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Unchanged);

    std::ofstream(cert, std::ios::trunc) << "garbage\n";
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Failed);
    EXPECT_EQ(failures(), 1U);
    EXPECT_EQ(servedSerial(ctx.get()), serialOfFile(a.cert_file));

    // The operator puts a new pair in place (by rename, as an ACME client would).
    fs::copy_file(b.key_file, dir_ / "new.key");
    fs::copy_file(b.cert_file, dir_ / "new.crt");
    fs::rename(dir_ / "new.key", key);
    fs::rename(dir_ / "new.crt", cert);
    EXPECT_EQ(renewer.check(), CertificateRenewer::Outcome::Reloaded);
    EXPECT_EQ(servedSerial(ctx.get()), serialOfFile(b.cert_file));
    EXPECT_EQ(reloads(), 1U);
    EXPECT_EQ(failures(), 1U);
    EXPECT_FALSE(fs::exists(dir_ / "unused"));
}

}  // namespace
}  // namespace pdns_distribute::api_proxy
