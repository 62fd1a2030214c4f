// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/daemon.hpp>

#include "checker_service.hpp"
#include "config.hpp"

namespace {

using namespace pdns_distribute;

class CheckerDaemon final : public common::DaemonDefinition {
public:
    std::string name() const override { return "pdns-health-checker"; }
    std::string description() const override {
        return "reconciles the primary with the stream and verifies every secondary";
    }
    std::string defaultConfigPath() const override {
        return "/etc/pdns-distribute/health-checker.toml";
    }
    std::string defaultHttpListen() const override { return "127.0.0.1:9382"; }
    void loadConfig(common::ConfigSection root) override {
        settings_ = health_checker::readSettings(root);
    }
    std::unique_ptr<common::Service> build(common::DaemonContext& context) override {
        return health_checker::makeCheckerService(settings_, context);
    }

private:
    health_checker::Settings settings_;
};

}  // namespace

int main(int argc, char** argv) {
    CheckerDaemon daemon;
    return common::runDaemon(argc, argv, daemon);
}
