// SPDX-License-Identifier: Apache-2.0
#pragma once
// Wiring of pdns-secondary-syncer: node claim, durable consumer and priority subscription, the
// two lanes of the per-zone scheduler (lanes.hpp) with their worker pools, keep-alive
// (InProgress) for long applies, parking drain, AXFR listener.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::secondary_syncer {

[[nodiscard]] std::unique_ptr<common::Service> makeSyncerService(const Settings& settings,
                                                                 common::DaemonContext& context);

}  // namespace pdns_distribute::secondary_syncer
