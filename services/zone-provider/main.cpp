// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"
#include "provider_service.hpp"

namespace {

using namespace pdns_distribute;

class ZoneProviderDaemon final : public common::DaemonDefinition {
public:
    std::string name() const override { return "pdns-zone-provider"; }
    std::string description() const override {
        return "answers zone-data requests with the primary's AXFR, Ed25519-signed";
    }
    std::string defaultConfigPath() const override {
        return "/etc/pdns-distribute/zone-provider.toml";
    }
    std::string defaultHttpListen() const override { return "127.0.0.1:9381"; }
    void loadConfig(common::ConfigSection root) override {
        settings_ = zone_provider::readSettings(root);
    }
    std::unique_ptr<common::Service> build(common::DaemonContext& context) override {
        return zone_provider::makeProviderService(settings_, context);
    }

private:
    zone_provider::Settings settings_;
};

}  // namespace

int main(int argc, char** argv) {
    ZoneProviderDaemon daemon;
    return common::runDaemon(argc, argv, daemon);
}
