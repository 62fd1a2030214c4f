// SPDX-License-Identifier: Apache-2.0
#pragma once
// Wiring of pdns-secondary-syncer: node claim, durable consumer, per-zone scheduler with a
// worker pool, keep-alive (InProgress) for long applies, parking drain, AXFR listener.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::secondary_syncer {

[[nodiscard]] std::unique_ptr<common::Service> makeSyncerService(const Settings& settings,
                                                                 common::DaemonContext& context);

}  // namespace pdns_distribute::secondary_syncer
