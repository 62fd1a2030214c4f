// SPDX-License-Identifier: Apache-2.0
#pragma once
// The api-proxy's TLS certificate (DESIGN §6): the configured one, or a self-signed ECDSA P-256
// certificate generated into the state directory and renewed before it expires, also while the
// proxy runs (CertificateRenewer). Start-up code throws std::runtime_error with an
// operator-readable message; the periodic check never throws.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <openssl/types.h>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/metrics.hpp>

namespace pdns_distribute::api_proxy {

struct CertificatePaths {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    bool generated = false;  ///< a new certificate was written by this call
};

struct GeneratedCertificateOptions {
    std::chrono::seconds validity{std::chrono::hours{24 * 90}};
    /// Regenerate when the existing certificate expires within this.
    std::chrono::seconds renew_before{std::chrono::hours{24 * 30}};
};

/// With cert_file and key_file both set: checks that they load and match, and returns them.
/// Otherwise uses `<state_dir>/api-proxy.crt` and `api-proxy.key` (key mode 0600), generating a
/// new self-signed certificate with `sans` (DNS names and IPv4/IPv6 addresses) when they are
/// missing, unreadable, do not match, carry other SANs, or expire within renew_before of `now`
/// (a new certificate is valid from `now` minus an hour to `now` plus validity).
[[nodiscard]] CertificatePaths ensureCertificate(
    const std::filesystem::path& state_dir, const std::string& cert_file,
    const std::string& key_file, const std::vector<std::string>& sans,
    const GeneratedCertificateOptions& options = {},
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// True when a certificate that expires at `not_after` is due for renewal at `now`: it expires
/// within `renew_before` (or has expired).
[[nodiscard]] bool renewalDue(std::chrono::system_clock::time_point not_after,
                              std::chrono::system_clock::time_point now,
                              std::chrono::seconds renew_before);

/// The certificate that new TLS handshakes get, replaceable while the server runs.
///
/// Why not SSL_CTX_use_certificate/SSL_CTX_use_PrivateKey on the live context: OpenSSL 3.0 does
/// not lock an SSL_CTX's certificate against those calls. SSL_new (under httplib's own
/// ctx_mutex_, which we cannot take) copies the context's certificate and up-refs it, while
/// SSL_CTX_use_certificate frees the old one: a handshake starting at that moment could use a
/// freed certificate, or get the new certificate with the old key (SSL_CTX_use_certificate
/// drops a key that does not match). So the context is never changed after start-up; install()
/// sets a certificate callback (SSL_CTX_set_cert_cb) that hands each new handshake, on its own
/// SSL object, the certificate current at that moment, taken under our lock with its own
/// references. Connections already established keep the certificate they were set up with.
class LiveCertificate final {
public:
    LiveCertificate();
    ~LiveCertificate();
    LiveCertificate(const LiveCertificate&) = delete;
    LiveCertificate& operator=(const LiveCertificate&) = delete;

    /// Loads `cert_file` (PEM: the certificate, then any chain certificates) and `key_file` and
    /// makes them current. On failure throws std::runtime_error naming the file and the cause,
    /// and the current certificate stays. Thread-safe.
    void load(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

    /// Sets the certificate callback on `ctx`; from then on every new handshake on ctx gets the
    /// current certificate. Requires a loaded certificate; this object must outlive ctx's use.
    void install(SSL_CTX* ctx);

    /// The current certificate's notAfter, and its serial number as upper-case hex.
    [[nodiscard]] std::chrono::system_clock::time_point notAfter();
    [[nodiscard]] std::string serial();

private:
    struct Loaded;
    static int onCertificate(SSL* ssl, void* self) noexcept;
    [[nodiscard]] std::shared_ptr<const Loaded> current();

    common::Guarded<std::shared_ptr<const Loaded>> current_;
};

/// Settings the renewer needs: those of ensureCertificate, and what to call them in messages.
struct CertificateSource {
    std::filesystem::path state_dir;
    std::string cert_file;  ///< both empty: generated in state_dir
    std::string key_file;
    std::vector<std::string> sans;
    GeneratedCertificateOptions options;
};

struct CertificateMetrics {
    common::Counter& reloads;          ///< certificates loaded while running
    common::Counter& reload_failures;  ///< checks that failed to renew or load (old one kept)
    common::Gauge& expiry;             ///< notAfter of the served certificate, unix seconds
    [[nodiscard]] static CertificateMetrics create(common::MetricsRegistry& registry);
};

/// Keeps the served certificate current (DESIGN §6). The constructor (start-up) ensures and
/// loads the certificate and throws std::runtime_error when it cannot. check(), called
/// periodically (tls.check_interval), regenerates a generated certificate that is within
/// renew_before of expiry (time from `clock`), and loads the files again when they changed on
/// disk (device, inode, size or mtime of either file), which also picks up an operator
/// replacing a configured cert_file/key_file. Not thread-safe itself: one thread calls check();
/// live() may be used from any thread.
class CertificateRenewer final {
public:
    enum class Outcome { Unchanged, Reloaded, Failed };

    CertificateRenewer(CertificateSource source, const common::Clock& clock,
                       CertificateMetrics metrics);

    /// Never throws: a failure keeps the current certificate, logs an error naming the file and
    /// counts reload_failures. A configured certificate within renew_before of expiry is
    /// warned about at each check (it cannot be renewed here).
    Outcome check() noexcept;

    [[nodiscard]] LiveCertificate& live() { return live_; }
    [[nodiscard]] const CertificatePaths& paths() const { return paths_; }

private:
    /// What identifies a file's version on disk; a file that cannot be stat'ed reads as zeros.
    struct FileStamp {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        int64_t mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    [[nodiscard]] static FileStamp stampOf(const std::filesystem::path& path);
    Outcome checkOrThrow();
    void loaded();

    CertificateSource source_;
    const common::Clock& clock_;
    CertificateMetrics metrics_;
    CertificatePaths paths_;
    LiveCertificate live_;
    FileStamp cert_stamp_;
    FileStamp key_stamp_;
};

/// Reads `client_ca_file` (PEM) and returns how many certificates it holds; throws
/// std::runtime_error naming the file and the cause when it is unreadable, holds no certificate
/// or garbled PEM.
size_t checkClientCaFile(const std::string& client_ca_file);

/// Sets up the server's TLS context: TLS 1.2 at least, no renegotiation (a client could restart
/// the handshake forever), a session id context (resumption with client certificates needs one),
/// and with `client_ca_file` set, a required client certificate that chains to one of its CA
/// certificates, whose names are sent to clients as acceptable issuers. Throws
/// std::runtime_error naming the file.
void configureServerContext(SSL_CTX* ctx, const std::string& client_ca_file);

}  // namespace pdns_distribute::api_proxy
