// SPDX-License-Identifier: Apache-2.0
#pragma once
// DNS client over ldns: SOA and apex queries, AXFR over TCP into a zone body. Blocking calls with
// a deadline; each call opens its own socket, so an instance may be used from several threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

struct DnsEndpoint {
    std::string address;  ///< IPv4 or IPv6 literal
    uint16_t port = 53;
};

/// Port: fetches a whole zone from a server (the primary for the zone-provider).
class AxfrSource {
public:
    virtual ~AxfrSource() = default;
    /// AXFR of `zone` (canonical). Error codes: "refused", "notauth", "timeout", "network",
    /// "malformed".
    [[nodiscard]] virtual Result<ZoneBody> transfer(std::string_view zone) = 0;
};

/// Port: reads what a server serves at a zone apex.
class ApexProbe {
public:
    virtual ~ApexProbe() = default;
    /// Queries SOA (with DO, so RRSIG(SOA) comes along) and DNSKEY, over UDP (each again over
    /// TCP when its answer is truncated). Error code
    /// "not-served" when the server answers REFUSED/NOTAUTH/NXDOMAIN/SERVFAIL or has no SOA.
    [[nodiscard]] virtual Result<ApexFingerprint> apex(std::string_view zone) = 0;
};

/// How apex() asks.
enum class ApexQueries {
    /// As a resolver would: the answer is what the server's clients get, cache included.
    Plain,
    /// With an empty EDNS NSID option (RFC 5001). pdns neither answers such a query from its
    /// packet cache nor stores the answer there (4.x `DNSPacket::couldBeCached`; checked on 4.7:
    /// packetcache-miss and -size stay 0), so the look sees what pdns holds right now and can
    /// never leave a stale answer behind for the clients (its backend query cache still applies).
    PastPacketCache,
};

/// ldns-based implementation of both ports against one server.
class LdnsDnsClient final : public AxfrSource, public ApexProbe {
public:
    LdnsDnsClient(DnsEndpoint server, std::chrono::milliseconds timeout,
                  ApexQueries apex_queries = ApexQueries::Plain);
    [[nodiscard]] Result<ZoneBody> transfer(std::string_view zone) override;
    [[nodiscard]] Result<ApexFingerprint> apex(std::string_view zone) override;
    /// SOA serial only, over UDP (falls back to TCP on truncation).
    [[nodiscard]] Result<uint32_t> soaSerial(std::string_view zone);

private:
    DnsEndpoint server_;
    std::chrono::milliseconds timeout_;
    ApexQueries apex_queries_;
};

}  // namespace pdns_distribute::common
