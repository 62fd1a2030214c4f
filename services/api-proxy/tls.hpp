// SPDX-License-Identifier: Apache-2.0
#pragma once
// The api-proxy's TLS certificate (DESIGN §6): the configured one, or a self-signed ECDSA P-256
// certificate generated into the state directory and renewed before it expires. Start-up code:
// failures throw std::runtime_error with an operator-readable message.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace pdns_distribute::api_proxy {

struct CertificatePaths {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    bool generated = false;  ///< a new certificate was written by this call
};

struct GeneratedCertificateOptions {
    std::chrono::hours validity{24 * 90};
    /// Regenerate when the existing certificate expires within this.
    std::chrono::hours renew_before{24 * 30};
};

/// With cert_file and key_file both set: checks that they load and match, and returns them.
/// Otherwise uses `<state_dir>/api-proxy.crt` and `api-proxy.key` (key mode 0600), generating a
/// new self-signed certificate with `sans` (DNS names and IPv4/IPv6 addresses) when they are
/// missing, unreadable, do not match, carry other SANs, or expire within renew_before.
[[nodiscard]] CertificatePaths ensureCertificate(const std::filesystem::path& state_dir,
                                                 const std::string& cert_file,
                                                 const std::string& key_file,
                                                 const std::vector<std::string>& sans,
                                                 const GeneratedCertificateOptions& options = {});

}  // namespace pdns_distribute::api_proxy
