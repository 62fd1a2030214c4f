// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/config.hpp>

namespace pdns_distribute::health_checker {

struct Settings {
    std::string group = "default";
    int stream_replicas = 1;
    common::NatsSettings nats;
};

[[nodiscard]] Settings readSettings(common::ConfigSection root);

}  // namespace pdns_distribute::health_checker
