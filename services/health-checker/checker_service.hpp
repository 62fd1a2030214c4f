// SPDX-License-Identifier: Apache-2.0
#pragma once
// pdns-health-checker: keeps an in-memory mirror of PDNS_ZONES and reconciles the primary with it
// (DESIGN §7 "Mirror", "Reconcile", "Delete safety", "Pacing"). Held deletions show on /health
// (critical) and are approved with POST /deletions/approve on the loopback status port (what
// `pdns-distribute deletions approve` calls). Verify, freshness, NSEC3 policy, status page and
// leadership come in later steps of the self-healing issue.

#include <memory>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"

namespace pdns_distribute::health_checker {

[[nodiscard]] std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                                  common::DaemonContext& context);

}  // namespace pdns_distribute::health_checker
