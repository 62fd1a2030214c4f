// SPDX-License-Identifier: Apache-2.0
#pragma once
// Node identity (DESIGN §3): a random instance id kept in the state directory, and a claim on
// `node.<node>` in KV bucket PDNS_NODES (per-bucket TTL 3 × heartbeat), created if absent and
// renewed with the expected revision. Two hosts on one durable consumer would silently split its
// messages, so a second instance with the same node id must refuse to start.

#include <filesystem>
#include <string>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::secondary_syncer {

/// Reads the instance id from `<state_dir>/instance`, creating it (random) at first start.
/// Throws std::runtime_error naming the file when it cannot be read or written.
[[nodiscard]] std::string loadOrCreateInstanceId(const std::filesystem::path& state_dir);

class NodeClaim {
public:
    NodeClaim(common::KeyValue& kv, std::string node, std::string instance, std::string host);
    /// Takes the claim. Error code "in-use" with an operator message when another instance holds
    /// it.
    [[nodiscard]] common::Status claim();
    /// Renews; error code "lost" when someone else now holds the claim.
    [[nodiscard]] common::Status renew();
    /// Deletes the claim (clean stop), so that a replacement can start at once.
    void release();

private:
    [[nodiscard]] std::string value() const;
    common::KeyValue& kv_;
    std::string node_;
    std::string instance_;
    std::string host_;
    std::string key_;
    uint64_t revision_ = 0;
};

}  // namespace pdns_distribute::secondary_syncer
