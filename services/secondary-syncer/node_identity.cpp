// SPDX-License-Identifier: Apache-2.0
#include "node_identity.hpp"

#include <fstream>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

#include <pdns_distribute/common/signing.hpp>

namespace pdns_distribute::secondary_syncer {

std::string loadOrCreateInstanceId(const std::filesystem::path& state_dir) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
        throw std::runtime_error("cannot create state directory '" + state_dir.string() + "' (" +
                                 ec.message() + "); check syncer.state_dir");
    }
    const auto file = state_dir / "instance";
    {
        std::ifstream in(file);
        std::string id;
        if (in && std::getline(in, id) && !id.empty()) return id;
    }
    auto id = common::randomNonce();
    std::ofstream out(file, std::ios::trunc);
    out << id << '\n';
    if (!out) {
        throw std::runtime_error("cannot write '" + file.string() + "'; check syncer.state_dir");
    }
    return id;
}

NodeClaim::NodeClaim(common::KeyValue& kv, std::string node, std::string instance, std::string host)
    : kv_(kv),
      node_(std::move(node)),
      instance_(std::move(instance)),
      host_(std::move(host)),
      key_("node." + node_) {}

std::string NodeClaim::value() const {
    return nlohmann::json{{"node", node_}, {"instance", instance_}, {"host", host_}}.dump();
}

common::Status NodeClaim::claim() {
    auto created = kv_.create(key_, value());
    if (created) {
        revision_ = *created;
        return {};
    }
    if (created.error().code != "exists") return std::move(created).error();
    auto current = kv_.get(key_);
    if (!current) return std::move(current).error();
    if (!current->has_value()) return claim();  // expired between the two calls
    const auto j = nlohmann::json::parse((*current)->value, nullptr, false);
    const auto holder = j.is_object() ? j.value("instance", std::string{}) : std::string{};
    if (holder == instance_) {
        // Our own claim from before a restart: take it over.
        auto updated = kv_.update(key_, value(), (*current)->revision);
        if (!updated) return std::move(updated).error();
        revision_ = *updated;
        return {};
    }
    const auto other_host = j.is_object() ? j.value("host", std::string{"?"}) : std::string{"?"};
    return common::Error{
        .message = fmt::format("node id '{}' is already in use by instance '{}' on host '{}'; give "
                               "this syncer a unique syncer.node_id, or stop the other one (its "
                               "claim expires three heartbeats after it stops)",
                               node_, holder, other_host),
        .code = "in-use"};
}

common::Status NodeClaim::renew() {
    auto updated = kv_.update(key_, value(), revision_);
    if (updated) {
        revision_ = *updated;
        return {};
    }
    if (updated.error().code == "conflict") {
        // Either someone else claimed the id, or our claim expired while we were cut off.
        auto again = claim();
        if (!again && again.error().code == "in-use") {
            return common::Error{.message = again.error().message, .code = "lost"};
        }
        return again;
    }
    return std::move(updated).error();
}

void NodeClaim::release() {
    // Only our own claim: a syncer that lost it must never delete the new holder's.
    auto current = kv_.get(key_);
    if (!current || !current->has_value()) return;
    const auto j = nlohmann::json::parse((*current)->value, nullptr, false);
    if (j.is_object() && j.value("instance", std::string{}) == instance_) (void)kv_.erase(key_);
}

}  // namespace pdns_distribute::secondary_syncer
