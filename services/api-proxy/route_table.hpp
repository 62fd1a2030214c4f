// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which PowerDNS API calls change served data, and of which zone (DESIGN §6). A pure function of
// the request line and the upstream answer, so that it can be tested route by route.

#include <optional>
#include <string>
#include <string_view>

#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::api_proxy {

/// A zone whose served data a successful API call changed.
struct ZoneChange {
    std::string zone;  ///< canonical
    common::ZoneOp op = common::ZoneOp::Upsert;
};

struct Classification {
    /// Set when an event must be published.
    std::optional<ZoneChange> change;
    /// Non-empty when a zone-changing call succeeded but its zone could not be determined (an
    /// undecodable id, or a POST /zones answer without a usable "name"); the reconcile will
    /// catch the change. Says why, for the log.
    std::string unresolved;
};

/// Classifies one proxied call. `target` is the raw request target (path plus optional query);
/// only 2xx answers produce changes. Routes under /api/v1/servers/<any id>/:
///   POST /zones (zone from the answer's "name"), PUT/PATCH/DELETE /zones/<id>,
///   PUT /zones/<id>/rectify, PUT /zones/<id>/axfr-retrieve,
///   POST/PUT/DELETE /zones/<id>/metadata[/<kind>], POST/PUT/DELETE /zones/<id>/cryptokeys[/<id>].
/// DELETE /zones/<id> is a delete; everything else an upsert. Everything else (any GET, notify,
/// cache flush, TSIG keys, config, search, statistics) changes nothing we distribute.
[[nodiscard]] Classification classify(std::string_view method, std::string_view target, int status,
                                      std::string_view response_body);

}  // namespace pdns_distribute::api_proxy
