// SPDX-License-Identifier: Apache-2.0
#include "tls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

namespace pdns_distribute::api_proxy {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCertName = "api-proxy.crt";
constexpr const char* kKeyName = "api-proxy.key";

// One RAII alias per OpenSSL type (STYLE §3).
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free_all(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const { BN_free(p); }
};
struct GeneralNamesFree {
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct GeneralNameFree {
    void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
};
struct Asn1StringFree {
    void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }
};
struct X509ExtensionFree {
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, GeneralNameFree>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Asn1StringFree>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509ExtensionFree>;
struct X509StackFree {
    void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

/// The OpenSSL error queue as text (and cleared), for messages.
std::string opensslErrors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? std::string{"no OpenSSL error reported"} : out;
}

[[noreturn]] void fail(std::string_view what) {
    throw std::runtime_error(fmt::format("cannot {} ({})", what, opensslErrors()));
}

X509Ptr loadCertificate(const fs::path& path) {
    BioPtr bio{BIO_new_file(path.c_str(), "r")};
    if (!bio) return nullptr;
    return X509Ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

PkeyPtr loadKey(const fs::path& path) {
    BioPtr bio{BIO_new_file(path.c_str(), "r")};
    if (!bio) return nullptr;
    return PkeyPtr{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
}

/// "DNS:<lower-case name>" or "IP:<canonical address>"; empty for an unusable entry.
std::string normaliseSan(std::string_view san) {
    unsigned char buf[16];
    const std::string s{san};
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
        return std::string{"IP:"} + inet_ntop(AF_INET, buf, text, sizeof(text));
    }
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        return std::string{"IP:"} + inet_ntop(AF_INET6, buf, text, sizeof(text));
    }
    std::string name;
    for (const char c : s)
        name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    if (name.empty()) return {};
    return "DNS:" + name;
}

std::set<std::string> wantedSans(const std::vector<std::string>& sans) {
    std::set<std::string> out;
    for (const auto& s : sans) {
        const auto n = normaliseSan(s);
        if (n.empty())
            throw std::runtime_error(
                "cannot use an empty TLS subject alternative name; check tls.san");
        out.insert(n);
    }
    return out;
}

std::set<std::string> certificateSans(X509* cert) {
    std::set<std::string> out;
    GeneralNamesPtr names{static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))};
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type == GEN_DNS) {
            const auto* str = gn->d.dNSName;
            out.insert(normaliseSan(
                std::string_view{reinterpret_cast<const char*>(ASN1_STRING_get0_data(str)),
                                 static_cast<size_t>(ASN1_STRING_length(str))}));
        } else if (gn->type == GEN_IPADD) {
            const auto* str = gn->d.iPAddress;
            const int len = ASN1_STRING_length(str);
            char text[INET6_ADDRSTRLEN];
            const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (family != 0 &&
                inet_ntop(family, ASN1_STRING_get0_data(str), text, sizeof(text)) != nullptr) {
                out.insert(std::string{"IP:"} + text);
            }
        }
    }
    return out;
}

/// A certificate's notAfter; the distant past when it cannot be read (so: due for renewal).
std::chrono::system_clock::time_point notAfterOf(const X509* cert) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
        ERR_clear_error();
        return std::chrono::system_clock::time_point{};
    }
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string serialOf(const X509* cert) {
    BnPtr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)};
    char* hex = bn ? BN_bn2hex(bn.get()) : nullptr;
    if (hex == nullptr) {
        ERR_clear_error();
        return "?";
    }
    std::string out{hex};
    OPENSSL_free(hex);
    return out;
}

std::string utcText(std::chrono::system_clock::time_point t) {
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

/// Why an existing generated certificate must be replaced, or empty when it is fine.
std::string reasonToRegenerate(const fs::path& cert_path, const fs::path& key_path,
                               const std::set<std::string>& sans, std::chrono::seconds renew_before,
                               std::chrono::system_clock::time_point now) {
    if (!fs::exists(cert_path) || !fs::exists(key_path)) return "missing";
    auto cert = loadCertificate(cert_path);
    auto key = loadKey(key_path);
    if (!cert || !key) {
        ERR_clear_error();
        return "unreadable";
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        return "key does not match";
    }
    if (renewalDue(notAfterOf(cert.get()), now, renew_before)) return "expiring";
    if (certificateSans(cert.get()) != sans) return "subject alternative names changed";
    return {};
}

void addExtension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509ExtensionPtr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value)};
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("add a certificate extension");
}

void addSans(X509* cert, const std::set<std::string>& sans) {
    GeneralNamesPtr names{sk_GENERAL_NAME_new_null()};
    if (!names) fail("allocate subject alternative names");
    for (const auto& san : sans) {
        GeneralNamePtr gn{GENERAL_NAME_new()};
        if (!gn) fail("allocate a subject alternative name");
        if (san.starts_with("IP:")) {
            Asn1StringPtr ip{a2i_IPADDRESS(san.c_str() + 3)};
            if (!ip) fail(fmt::format("encode address '{}'", san.substr(3)));
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
        } else {
            Asn1StringPtr dns{ASN1_IA5STRING_new()};
            const auto name = san.substr(4);
            if (!dns ||
                ASN1_STRING_set(dns.get(), name.data(), static_cast<int>(name.size())) != 1) {
                fail(fmt::format("encode name '{}'", name));
            }
            GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
        }
        if (sk_GENERAL_NAME_push(names.get(), gn.get()) == 0)
            fail("add a subject alternative name");
        static_cast<void>(gn.release());  // owned by names now
    }
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        fail("add subject alternative names");
    }
}

/// Writes `data` to `path` atomically (temp file, fsync, rename) with `mode`.
void writeFileAtomically(const fs::path& path, const std::string& data, mode_t mode) {
    const auto tmp = path.string() + ".tmp";
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        throw std::runtime_error(
            fmt::format("cannot create '{}' ({}); check tls.state_dir", tmp, std::strerror(errno)));
    }
    // The umask may have narrowed the mode; a key must be exactly 0600 and a cert readable.
    bool ok = ::fchmod(fd, mode) == 0;
    size_t done = 0;
    while (ok && done < data.size()) {
        const auto n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = ok ? errno : saved;
        ::unlink(tmp.c_str());
        throw std::runtime_error(fmt::format("cannot write '{}' ({}); check tls.state_dir",
                                             path.string(), std::strerror(err)));
    }
}

std::string pemOf(const std::function<int(BIO*)>& writer, std::string_view what) {
    BioPtr bio{BIO_new(BIO_s_mem())};
    if (!bio || writer(bio.get()) != 1) fail(fmt::format("encode the {}", what));
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(len));
}

void generate(const fs::path& cert_path, const fs::path& key_path,
              const std::set<std::string>& sans, std::chrono::seconds validity,
              std::chrono::system_clock::time_point now) {
    PkeyPtr key{EVP_EC_gen("P-256")};
    if (!key) fail("generate an ECDSA P-256 key");
    X509Ptr cert{X509_new()};
    if (!cert) fail("allocate a certificate");
    if (X509_set_version(cert.get(), 2) != 1) fail("set the certificate version");  // v3

    // A random 127-bit positive serial (RFC 5280 §4.1.2.2: at most 20 octets, positive).
    BnPtr serial{BN_new()};
    if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
        fail("set the certificate serial");
    }
    // Backdated by an hour for clients whose clocks lag a little.
    time_t from = std::chrono::system_clock::to_time_t(now);
    if (X509_time_adj(X509_getm_notBefore(cert.get()), -3600, &from) == nullptr ||
        X509_time_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()), &from) ==
            nullptr) {
        fail("set the certificate validity");
    }
    X509_NAME* name = X509_get_subject_name(cert.get());
    std::string cn = "pdns-api-proxy";
    for (const auto& san : sans) {
        if (san.starts_with("DNS:")) {
            cn = san.substr(4);
            break;
        }
    }
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1) {
        fail("set the certificate name");
    }
    if (X509_set_pubkey(cert.get(), key.get()) != 1) fail("set the certificate key");
    addExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), NID_key_usage, "critical,digitalSignature");
    addExtension(cert.get(), NID_ext_key_usage, "serverAuth");
    addExtension(cert.get(), NID_subject_key_identifier, "hash");
    addSans(cert.get(), sans);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("sign the certificate");

    const auto key_pem = pemOf(
        [&](BIO* b) {
            return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        },
        "private key");
    const auto cert_pem =
        pemOf([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }, "certificate");
    // Key first: a crash in between leaves a mismatch, which the next start regenerates.
    writeFileAtomically(key_path, key_pem, 0600);
    writeFileAtomically(cert_path, cert_pem, 0644);
}

}  // namespace

size_t checkClientCaFile(const std::string& client_ca_file) {
    ERR_clear_error();
    errno = 0;
    BioPtr bio{BIO_new_file(client_ca_file.c_str(), "r")};
    if (!bio) {
        const int err = errno;
        throw std::runtime_error(
            fmt::format("cannot read client CA file '{}' ({}); check tls.client_ca_file",
                        client_ca_file, err != 0 ? std::strerror(err) : opensslErrors()));
    }
    size_t count = 0;
    for (;;) {
        X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
        if (cert) {
            ++count;
            continue;
        }
        // The end of the file reads as "no start line"; anything else is a broken PEM block.
        const unsigned long err = ERR_peek_last_error();
        if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
            ERR_clear_error();
            break;
        }
        throw std::runtime_error(
            fmt::format("cannot load client CA file '{}' (certificate {}: {}); check "
                        "tls.client_ca_file",
                        client_ca_file, count + 1, opensslErrors()));
    }
    if (count == 0) {
        throw std::runtime_error(
            fmt::format("cannot use client CA file '{}' (no PEM certificate in it); check "
                        "tls.client_ca_file",
                        client_ca_file));
    }
    return count;
}

void configureServerContext(SSL_CTX* ctx, const std::string& client_ca_file) {
    static constexpr std::string_view kSessionContext = "pdns-api-proxy";
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) fail("require TLS 1.2");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_session_id_context(
            ctx, reinterpret_cast<const unsigned char*>(kSessionContext.data()),
            static_cast<unsigned int>(kSessionContext.size())) != 1) {
        fail("set the TLS session id context");
    }
    if (client_ca_file.empty()) return;
    const auto count = checkClientCaFile(client_ca_file);
    if (SSL_CTX_load_verify_locations(ctx, client_ca_file.c_str(), nullptr) != 1) {
        throw std::runtime_error(
            fmt::format("cannot load client CA file '{}' ({}); check tls.client_ca_file",
                        client_ca_file, opensslErrors()));
    }
    // Owned by the context once set.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca_file.c_str());
    if (names == nullptr) {
        throw std::runtime_error(fmt::format(
            "cannot read the CA names of client CA file '{}' ({}); check tls.client_ca_file",
            client_ca_file, opensslErrors()));
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    spdlog::info(
        "clients must present a certificate issued by one of the {} CA certificate(s) "
        "in '{}'",
        count, client_ca_file);
}

bool renewalDue(std::chrono::system_clock::time_point not_after,
                std::chrono::system_clock::time_point now, std::chrono::seconds renew_before) {
    return not_after - now <= renew_before;
}

CertificatePaths ensureCertificate(const fs::path& state_dir, const std::string& cert_file,
                                   const std::string& key_file,
                                   const std::vector<std::string>& sans,
                                   const GeneratedCertificateOptions& options,
                                   std::chrono::system_clock::time_point now) {
    if (!cert_file.empty() || !key_file.empty()) {
        if (cert_file.empty() || key_file.empty()) {
            throw std::runtime_error(
                "cannot use a TLS certificate (only one of tls.cert_file and tls.key_file is "
                "set); set both, or neither to generate one");
        }
        auto cert = loadCertificate(cert_file);
        if (!cert) {
            throw std::runtime_error(
                fmt::format("cannot load TLS certificate '{}' ({}: {}); check tls.cert_file",
                            cert_file, std::strerror(errno), opensslErrors()));
        }
        auto key = loadKey(key_file);
        if (!key) {
            throw std::runtime_error(
                fmt::format("cannot load TLS key '{}' ({}: {}); check tls.key_file", key_file,
                            std::strerror(errno), opensslErrors()));
        }
        if (X509_check_private_key(cert.get(), key.get()) != 1) {
            throw std::runtime_error(fmt::format(
                "cannot use TLS certificate '{}' with key '{}' ({}); check tls.cert_file and "
                "tls.key_file",
                cert_file, key_file, opensslErrors()));
        }
        return CertificatePaths{.cert_file = cert_file, .key_file = key_file, .generated = false};
    }

    const auto wanted = wantedSans(sans.empty() ? std::vector<std::string>{"localhost"} : sans);
    std::error_code ec;
    fs::create_directories(state_dir, ec);
    if (ec) {
        throw std::runtime_error(
            fmt::format("cannot create state directory '{}' ({}); check tls.state_dir",
                        state_dir.string(), ec.message()));
    }
    CertificatePaths paths{
        .cert_file = state_dir / kCertName, .key_file = state_dir / kKeyName, .generated = false};
    const auto reason =
        reasonToRegenerate(paths.cert_file, paths.key_file, wanted, options.renew_before, now);
    if (reason.empty()) return paths;
    spdlog::info("generating self-signed TLS certificate '{}' ({})", paths.cert_file.string(),
                 reason);
    generate(paths.cert_file, paths.key_file, wanted, options.validity, now);
    paths.generated = true;
    return paths;
}

// --- LiveCertificate ---

struct LiveCertificate::Loaded {
    X509Ptr leaf;
    X509StackPtr chain;  ///< null without chain certificates
    PkeyPtr key;
    std::chrono::system_clock::time_point not_after;
    std::string serial;
};

LiveCertificate::LiveCertificate() = default;
LiveCertificate::~LiveCertificate() = default;

void LiveCertificate::load(const fs::path& cert_file, const fs::path& key_file) {
    ERR_clear_error();
    auto loaded = std::make_shared<Loaded>();
    errno = 0;
    BioPtr bio{BIO_new_file(cert_file.c_str(), "r")};
    if (!bio) {
        const int err = errno;
        throw std::runtime_error(fmt::format("cannot read TLS certificate '{}' ({})",
                                             cert_file.string(),
                                             err != 0 ? std::strerror(err) : opensslErrors()));
    }
    // Like SSL_CTX_use_certificate_chain_file, which loaded it at start-up: the certificate
    // first, then the chain.
    loaded->leaf.reset(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!loaded->leaf) {
        throw std::runtime_error(fmt::format("cannot load TLS certificate '{}' ({})",
                                             cert_file.string(), opensslErrors()));
    }
    for (int n = 1;; ++n) {
        X509Ptr extra{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
        if (!extra) {
            const unsigned long err = ERR_peek_last_error();
            if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            throw std::runtime_error(
                fmt::format("cannot load TLS certificate '{}' (chain certificate {}: {})",
                            cert_file.string(), n, opensslErrors()));
        }
        if (!loaded->chain) loaded->chain.reset(sk_X509_new_null());
        if (!loaded->chain || sk_X509_push(loaded->chain.get(), extra.get()) == 0) {
            fail("keep a chain certificate");
        }
        static_cast<void>(extra.release());  // owned by the chain now
    }
    errno = 0;
    BioPtr key_bio{BIO_new_file(key_file.c_str(), "r")};
    if (!key_bio) {
        const int err = errno;
        throw std::runtime_error(fmt::format("cannot read TLS key '{}' ({})", key_file.string(),
                                             err != 0 ? std::strerror(err) : opensslErrors()));
    }
    loaded->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!loaded->key) {
        throw std::runtime_error(
            fmt::format("cannot load TLS key '{}' ({})", key_file.string(), opensslErrors()));
    }
    if (X509_check_private_key(loaded->leaf.get(), loaded->key.get()) != 1) {
        throw std::runtime_error(fmt::format("cannot use TLS certificate '{}' with key '{}' ({})",
                                             cert_file.string(), key_file.string(),
                                             opensslErrors()));
    }
    loaded->not_after = notAfterOf(loaded->leaf.get());
    loaded->serial = serialOf(loaded->leaf.get());
    *current_.lock() = std::move(loaded);
}

std::shared_ptr<const LiveCertificate::Loaded> LiveCertificate::current() {
    return *current_.lock();
}

// Called by OpenSSL on the thread doing the handshake, once per new handshake (resumed TLS 1.2
// sessions skip it; they keep the certificate of their first handshake).
int LiveCertificate::onCertificate(SSL* ssl, void* self) noexcept {
    try {
        const auto cert = static_cast<LiveCertificate*>(self)->current();
        if (!cert) return 1;  // the context's own certificate
        // Takes references of its own (and copies the chain): a later load() frees nothing
        // this connection uses.
        return SSL_use_cert_and_key(ssl, cert->leaf.get(), cert->key.get(), cert->chain.get(), 1) ==
                       1
                   ? 1
                   : 0;
    } catch (...) {
        return 0;  // fails this handshake only
    }
}

void LiveCertificate::install(SSL_CTX* ctx) {
    if (!current()) throw std::logic_error("LiveCertificate::install before load");
    SSL_CTX_set_cert_cb(ctx, &LiveCertificate::onCertificate, this);
}

std::chrono::system_clock::time_point LiveCertificate::notAfter() {
    const auto cert = current();
    return cert ? cert->not_after : std::chrono::system_clock::time_point{};
}

std::string LiveCertificate::serial() {
    const auto cert = current();
    return cert ? cert->serial : std::string{};
}

// --- CertificateRenewer ---

CertificateMetrics CertificateMetrics::create(common::MetricsRegistry& registry) {
    return CertificateMetrics{
        .reloads = registry.counter("pdns_distribute_api_proxy_tls_reloads_total",
                                    "TLS certificates renewed or reloaded while running"),
        .reload_failures = registry.counter(
            "pdns_distribute_api_proxy_tls_reload_failures_total",
            "Checks that could not renew or reload the TLS certificate (the old one is kept)"),
        .expiry = registry.gauge("pdns_distribute_api_proxy_tls_cert_expiry_seconds",
                                 "Expiry (notAfter) of the served TLS certificate, unix time"),
    };
}

CertificateRenewer::CertificateRenewer(CertificateSource source, const common::Clock& clock,
                                       CertificateMetrics metrics)
    : source_(std::move(source)), clock_(clock), metrics_(metrics) {
    paths_ = ensureCertificate(source_.state_dir, source_.cert_file, source_.key_file, source_.sans,
                               source_.options, clock_.system());
    // Stamped before loading: a change in between is seen by the next check.
    cert_stamp_ = stampOf(paths_.cert_file);
    key_stamp_ = stampOf(paths_.key_file);
    live_.load(paths_.cert_file, paths_.key_file);
    loaded();
}

CertificateRenewer::FileStamp CertificateRenewer::stampOf(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return FileStamp{.dev = st.st_dev,
                     .ino = st.st_ino,
                     .size = st.st_size,
                     .mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void CertificateRenewer::loaded() {
    const auto not_after = live_.notAfter();
    metrics_.expiry.set(static_cast<double>(std::chrono::system_clock::to_time_t(not_after)));
    spdlog::info("serving TLS certificate '{}' serial={} expires={}", paths_.cert_file.string(),
                 live_.serial(), utcText(not_after));
}

CertificateRenewer::Outcome CertificateRenewer::checkOrThrow() {
    const auto now = clock_.system();
    if (source_.cert_file.empty()) {
        // Regenerates the files when the certificate on disk is due (or missing, broken...).
        static_cast<void>(
            ensureCertificate(source_.state_dir, "", "", source_.sans, source_.options, now));
    } else if (!source_.cert_file.empty() &&
               renewalDue(live_.notAfter(), now, source_.options.renew_before)) {
        spdlog::warn(
            "TLS certificate '{}' expires at {}; replace it and its key, they are loaded again "
            "within tls.check_interval",
            paths_.cert_file.string(), utcText(live_.notAfter()));
    }
    const auto cert_stamp = stampOf(paths_.cert_file);
    const auto key_stamp = stampOf(paths_.key_file);
    if (cert_stamp == cert_stamp_ && key_stamp == key_stamp_) return Outcome::Unchanged;
    live_.load(paths_.cert_file, paths_.key_file);
    cert_stamp_ = cert_stamp;
    key_stamp_ = key_stamp;
    metrics_.reloads.inc();
    loaded();
    return Outcome::Reloaded;
}

CertificateRenewer::Outcome CertificateRenewer::check() noexcept {
    try {
        return checkOrThrow();
    } catch (const std::exception& e) {
        metrics_.reload_failures.inc();
        try {
            spdlog::error("{}; keeping the current TLS certificate (serial={} expires={})",
                          e.what(), live_.serial(), utcText(live_.notAfter()));
        } catch (...) {
        }
        return Outcome::Failed;
    }
}

}  // namespace pdns_distribute::api_proxy
