// SPDX-License-Identifier: Apache-2.0
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/signing.hpp>

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
    // A fresh install has no signing key yet: a warning here and a refusal to start. A key file
    // that exists must load (readable by this user, well-formed).
    void checkConfig() override {
        const auto& file = settings_.provider.signing_key_file;
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) {
            spdlog::warn(
                "signing key '{}' does not exist yet; create it with `pdns-distribute "
                "keygen` before starting",
                file);
            return;
        }
        if (auto key = common::loadSecretKey(file); !key) {
            throw std::runtime_error(key.error().message + "; check provider.signing_key_file");
        }
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
