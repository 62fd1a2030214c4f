// SPDX-License-Identifier: Apache-2.0
#pragma once
// pdns-health-checker (DESIGN §7): an in-memory mirror of PDNS_ZONES; reconcile of the primary
// with it (held deletions show on /health and are approved with POST /deletions/approve, what
// `pdns-distribute deletions approve` calls); verify of every secondary from heartbeats and
// bucket digests with targeted resyncs; leadership between several checkers; /status (JSON),
// / (HTML) and POST /resync on the loopback status port.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::health_checker {

[[nodiscard]] std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                                  common::DaemonContext& context);

}  // namespace pdns_distribute::health_checker
