// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/daemon.hpp>

#include "config.hpp"
#include "proxy_service.hpp"
#include "tls.hpp"

namespace {

using namespace pdns_distribute;

class ApiProxyDaemon final : public common::DaemonDefinition {
public:
    std::string name() const override { return "pdns-api-proxy"; }
    std::string description() const override {
        return "HTTPS proxy for the PowerDNS API that publishes zone changes to NATS";
    }
    std::string defaultConfigPath() const override { return "/etc/pdns-distribute/api-proxy.toml"; }
    std::string defaultHttpListen() const override { return "127.0.0.1:9380"; }
    void loadConfig(common::ConfigSection root) override {
        settings_ = api_proxy::readApiProxySettings(root);
    }
    void checkConfig() override {
        if (!settings_.tls.client_ca_file.empty())
            static_cast<void>(api_proxy::checkClientCaFile(settings_.tls.client_ca_file));
    }
    std::unique_ptr<common::Service> build(common::DaemonContext& context) override {
        return api_proxy::makeProxyService(settings_, context);
    }

private:
    api_proxy::ApiProxySettings settings_;
};

}  // namespace

int main(int argc, char** argv) {
    ApiProxyDaemon daemon;
    return pdns_distribute::common::runDaemon(argc, argv, daemon);
}
