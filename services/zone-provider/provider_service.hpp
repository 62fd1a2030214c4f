// SPDX-License-Identifier: Apache-2.0
#pragma once
// Wiring of pdns-zone-provider: NATS subscriptions read by our own threads feed the
// ZoneDataProvider core.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::zone_provider {

/// Builds the running service (connects NATS, loads the signing key). Throws on start-up faults.
[[nodiscard]] std::unique_ptr<common::Service> makeProviderService(const Settings& settings,
                                                                   common::DaemonContext& context);

}  // namespace pdns_distribute::zone_provider
