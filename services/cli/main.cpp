// SPDX-License-Identifier: Apache-2.0
// pdns-distribute: the operator's command-line tool. `keygen` creates the Ed25519 key pair that
// signs zone data (secret key for the zone-provider, public key for every syncer);
// `deletions approve` releases the deletions the health-checker holds back.

#include <cstdio>
#include <string>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/signing.hpp>

namespace {

using namespace pdns_distribute;

int keygen(const std::string& secret, const std::string& pub) {
    const auto key = common::SecretKey::generate();
    if (auto s = common::writeKeyPair(key, secret, pub); !s) {
        std::fprintf(stderr, "pdns-distribute: %s\n", s.error().message.c_str());
        return 1;
    }
    std::printf("wrote secret key '%s' (mode 0600) and public key '%s' (key id %s)\n",
                secret.c_str(), pub.c_str(), key.publicKey().keyId().c_str());
    std::printf("copy the public key to every secondary and list it as a [[trusted_key]]\n");
    return 0;
}

int approveDeletions(const std::string& checker) {
    httplib::Client client(checker);
    client.set_connection_timeout(5, 0);
    auto res = client.Post("/deletions/approve");
    if (!res) {
        std::fprintf(
            stderr, "pdns-distribute: cannot reach the health-checker '%s' (%s); check --checker\n",
            checker.c_str(), httplib::to_string(res.error()).c_str());
        return 1;
    }
    if (res->status != 200) {
        std::fprintf(stderr, "pdns-distribute: the health-checker answered %d (%s)\n", res->status,
                     res->body.c_str());
        return 1;
    }
    const auto j = nlohmann::json::parse(res->body, nullptr, false);
    const auto n = j.is_object() ? j.value("approved", 0) : 0;
    std::printf("approved %d held deletion(s); they are published on the next reconcile pass\n", n);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"pdns-distribute: operator tool for the pdns-distribute daemons"};
    app.set_version_flag("--version", std::string("pdns-distribute ") + PDNS_DISTRIBUTE_VERSION);
    app.require_subcommand(1);
    std::string secret = "/etc/pdns-distribute/zonedata.key";
    std::string pub = "/etc/pdns-distribute/zonedata.pub";
    auto* kg = app.add_subcommand("keygen", "create the Ed25519 key pair that signs zone data");
    kg->add_option("--secret", secret, "secret key file to create (mode 0600; primary only)")
        ->capture_default_str();
    kg->add_option("--public", pub, "public key file to create (copy to every secondary)")
        ->capture_default_str();
    auto* del = app.add_subcommand("deletions", "deletions the health-checker holds back");
    del->require_subcommand(1);
    std::string checker = "http://127.0.0.1:9382";
    auto* approve = del->add_subcommand("approve", "approve every deletion held right now");
    approve->add_option("--checker", checker, "the health-checker's loopback status URL")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (kg->parsed()) return keygen(secret, pub);
    if (approve->parsed()) return approveDeletions(checker);
    return 2;
}
