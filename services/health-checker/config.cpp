// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::health_checker {

Settings readSettings(common::ConfigSection root) {
    Settings s;
    auto c = root.section("checker", "health-checker");
    s.group = c.getString("group", s.group, "nameserver group token");
    if (!common::isValidGroupToken(s.group)) {
        c.fail("group", "must match [A-Za-z0-9_-]{1,64} and not be 'x'");
    }
    auto st = root.section("stream", "the PDNS_ZONES stream");
    s.stream_replicas = static_cast<int>(st.getInt(
        "replicas", s.stream_replicas, "JetStream replicas (1, or 3 on a cluster)", 1, 5));
    s.nats = common::readNatsSettings(root.section("nats", "NATS connection"));
    return s;
}

}  // namespace pdns_distribute::health_checker
