// SPDX-License-Identifier: Apache-2.0
#include <spdlog/spdlog.h>

#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"
#include "syncer_service.hpp"

namespace {

using namespace pdns_distribute;

class SyncerDaemon final : public common::DaemonDefinition {
public:
    std::string name() const override { return "pdns-secondary-syncer"; }
    std::string description() const override {
        return "keeps the local PowerDNS in sync with the desired state on NATS JetStream";
    }
    std::string defaultConfigPath() const override {
        return "/etc/pdns-distribute/secondary-syncer.toml";
    }
    std::string defaultHttpListen() const override { return "127.0.0.1:9383"; }
    void loadConfig(common::ConfigSection root) override {
        settings_ = secondary_syncer::readSettings(root);
    }
    void checkConfig() override {
        for (const auto& w : secondary_syncer::checkSettings(settings_)) spdlog::warn("{}", w);
        // A fresh install has no key yet: that is a warning here (checkSettings says so) and a
        // refusal to start; keys that are configured must load.
        if (!settings_.syncer.trusted_keys.empty()) {
            (void)secondary_syncer::loadTrustedKeys(settings_.syncer);
        }
    }
    std::unique_ptr<common::Service> build(common::DaemonContext& context) override {
        return secondary_syncer::makeSyncerService(settings_, context);
    }

private:
    secondary_syncer::Settings settings_;
};

}  // namespace

int main(int argc, char** argv) {
    SyncerDaemon daemon;
    return common::runDaemon(argc, argv, daemon);
}
