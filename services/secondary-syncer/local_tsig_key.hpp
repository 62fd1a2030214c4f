// SPDX-License-Identifier: Apache-2.0
#pragma once
// The syncer's TSIG key in its local pdns (DESIGN §5.1): created there when absent (pdns makes the
// secret), then read back, so the secret lives only in pdns's database and in this process's
// memory — never in our files or logs.

#include <memory>
#include <string>

#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/result.hpp>

#include "tsig.hpp"

namespace pdns_distribute::secondary_syncer {

inline constexpr std::string_view kTsigAlgorithm = "hmac-sha256";

struct LocalTsigKey {
    std::string id;  ///< pdns's id, as zones' slave_tsig_key_ids name it
    std::shared_ptr<const TsigKey> key;
    bool created = false;
};

/// Reads key `name` from the local pdns, creating it (hmac-sha256) when absent; a creation race
/// (HTTP 409) reads it again. Error codes as PdnsApi's ("network" and "http-5xx" are worth a
/// retry); "unusable" when the key there cannot be used (its algorithm, a bad secret).
[[nodiscard]] common::Result<LocalTsigKey> ensureLocalTsigKey(common::PdnsApi& api,
                                                              const std::string& name);

}  // namespace pdns_distribute::secondary_syncer
