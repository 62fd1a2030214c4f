// SPDX-License-Identifier: Apache-2.0
#pragma once
// Operator-readable text for cpp-httplib transport errors (its own texts are single words such
// as "Connection"). Shared by the PowerDNS API client and the api-proxy. Thread-safe.

#include <string>

#include <httplib.h>

namespace pdns_distribute::common {

[[nodiscard]] std::string describeHttpError(httplib::Error error);

}  // namespace pdns_distribute::common
