// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::zone_provider {

Settings readSettings(common::ConfigSection root) {
    Settings s;
    auto p = root.section("provider", "zone-data provider");
    s.provider.group = p.getString("group", s.provider.group,
                                   "nameserver group token: zone data requests on "
                                   "pdns.zonedata.<group>.> are answered");
    if (!common::isValidGroupToken(s.provider.group)) {
        p.fail("group", "must match [A-Za-z0-9_-]{1,64} and not be 'x'");
    }
    s.provider.primary_dns = p.getString("primary_dns", s.provider.primary_dns,
                                         "address:port where the primary pdns_server answers AXFR "
                                         "(loopback)");
    if (!common::parseHostPort(s.provider.primary_dns)) {
        p.fail("primary_dns", "must be host:port, e.g. 127.0.0.1:53 or [::1]:53");
    }
    s.provider.signing_key_file =
        p.getString("signing_key_file", s.provider.signing_key_file,
                    "Ed25519 secret key file (mode 0600), made by `pdns-distribute keygen`");
    s.provider.canary_zone = p.getString(
        "canary_zone", "",
        "a zone that always exists on the primary; checked in the API and over DNS before any "
        "zone is declared absent. Without it no deletion is ever signed");
    if (!s.provider.canary_zone.empty()) {
        auto c = common::canonicalZoneName(s.provider.canary_zone);
        if (!c) p.fail("canary_zone", c.error().message);
        s.provider.canary_zone = *c;
    }
    s.provider.inline_max = static_cast<uint32_t>(p.getInt(
        "inline_max", s.provider.inline_max,
        "zone bodies up to this many bytes ride inline in the reply", 0, int64_t{512} * 1024));
    s.provider.chunk_size = static_cast<uint32_t>(
        p.getInt("chunk_size", s.provider.chunk_size,
                 "larger bodies are pulled in chunks of this size (below NATS max_payload)", 4096,
                 int64_t{900} * 1024));
    s.provider.cache_ttl =
        p.getDuration("cache_ttl", s.provider.cache_ttl, "reuse a zone body for at most this long",
                      std::chrono::milliseconds{0}, std::chrono::milliseconds{2000});
    s.provider.axfr_timeout = p.getDuration("axfr_timeout", s.provider.axfr_timeout,
                                            "deadline for one AXFR from the primary");
    s.provider.transfer_keep = p.getDuration("transfer_keep", s.provider.transfer_keep,
                                             "how long a large body stays available for pulling");
    s.provider.workers = static_cast<int>(
        p.getInt("workers", s.provider.workers, "parallel request handlers", 1, 64));
    s.pdns = common::readPdnsApiSettings(root.section("pdns", "the primary's PowerDNS API"),
                                         "http://127.0.0.1:8081");
    s.nats = common::readNatsSettings(root.section("nats", "NATS connection"));
    return s;
}

}  // namespace pdns_distribute::zone_provider
