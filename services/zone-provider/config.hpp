// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/config.hpp>
#include <pdns_distribute/common/pdns_api.hpp>

namespace pdns_distribute::zone_provider {

struct ProviderSettings {
    std::string group = "default";
    std::string primary_dns = "127.0.0.1:53";  ///< where the primary answers AXFR
    std::string signing_key_file = "/etc/pdns-distribute/zonedata.key";
    std::string canary_zone;  ///< a zone that always exists on the primary; required for `absent`
    uint32_t inline_max = 256 * 1024;
    uint32_t chunk_size = 512 * 1024;
    std::chrono::milliseconds cache_ttl{2000};
    std::chrono::milliseconds axfr_timeout{30000};
    std::chrono::milliseconds transfer_keep{60000};  ///< how long pulled chunks stay available
    int workers = 4;
};

struct Settings {
    ProviderSettings provider;
    common::PdnsApiSettings pdns;
    common::NatsSettings nats;
};

/// Reads [provider], [pdns] and [nats]; throws common::ConfigError.
[[nodiscard]] Settings readSettings(common::ConfigSection root);

}  // namespace pdns_distribute::zone_provider
