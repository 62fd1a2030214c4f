// SPDX-License-Identifier: Apache-2.0
#pragma once
// The startup sweep (DESIGN §5.7): compare the zones this syncer manages in the local pdns with
// the desired state read from the stream, and plan the events that repair the difference — zones
// missing locally or at another serial get an upsert, managed zones no longer wanted get a delete
// (which still needs a signed absence). Zones the syncer does not manage are never touched; a
// wanted zone that exists locally unmanaged is reported as a clash. Pure function.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::secondary_syncer {

struct DesiredZone {
    common::ZoneOp op = common::ZoneOp::Upsert;
    std::optional<uint32_t> serial;
};

struct SweepPlan {
    std::vector<common::ZoneEvent> events;
    std::vector<std::string> clashes;  ///< wanted, but held locally by someone else
};

[[nodiscard]] SweepPlan planSweep(const std::map<std::string, DesiredZone>& desired,
                                  const std::vector<common::PdnsZoneInfo>& local,
                                  const std::string& master);

}  // namespace pdns_distribute::secondary_syncer
