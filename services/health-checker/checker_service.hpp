// SPDX-License-Identifier: Apache-2.0
#pragma once
// pdns-health-checker, minimal for now: connects, makes sure the PDNS_ZONES stream exists, and
// exposes /health and /metrics. Reconcile, verify and repair come with the self-healing issue.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::health_checker {

[[nodiscard]] std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                                  common::DaemonContext& context);

}  // namespace pdns_distribute::health_checker
