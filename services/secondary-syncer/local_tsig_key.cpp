// SPDX-License-Identifier: Apache-2.0
#include "local_tsig_key.hpp"

#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::secondary_syncer {

common::Result<LocalTsigKey> ensureLocalTsigKey(common::PdnsApi& api, const std::string& name) {
    bool created = false;
    auto got = api.getTsigKey(name);
    if (!got && got.error().code == "not-found") {
        auto made = api.createTsigKey(name, kTsigAlgorithm);
        if (!made && made.error().code != "http-409") return std::move(made).error();
        created = made.hasValue();
        // Read back what pdns stored: that is the secret it signs with.
        got = api.getTsigKey(name);
    }
    if (!got) return std::move(got).error();
    auto key = TsigKey::fromBase64(name, got->algorithm, got->secret);
    if (!key) {
        return common::Error{
            .message = fmt::format("{}; delete it from the local pdns (pdnsutil delete-tsig-key "
                                   "{}) and restart the syncer, which creates a new one",
                                   key.error().message, got->name),
            .code = "unusable"};
    }
    return LocalTsigKey{.id = got->id.empty() ? common::encodePdnsZoneId(name) : got->id,
                        .key = std::make_shared<const TsigKey>(std::move(*key)),
                        .created = created};
}

}  // namespace pdns_distribute::secondary_syncer
