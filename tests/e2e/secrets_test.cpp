// SPDX-License-Identifier: Apache-2.0
// No secret ever reaches a log line, at any level: the daemons run at trace level with NATS
// password authentication (a password file for the primary's daemons, credentials inside the
// NATS URL for the syncers) while zones are created, changed, signed and deleted; then every
// daemon log is searched for the PowerDNS API keys, the NATS password, the signing key and the
// syncers' TSIG secrets.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;

std::string readAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(Secrets, NeverInAnyLogLineAtTraceLevel) {
    FleetOptions o;
    o.secondaries = 2;
    o.reconcile_interval = std::chrono::milliseconds{1000};
    o.log_level = "trace";
    o.nats_password = "pw-" + randomHex(16);
    Fleet fleet(o);
    fleet.start();

    const std::string zone = "secret.pdd.test.";
    ASSERT_EQ(fleet.createZone(zone).status, 201);
    ASSERT_TRUE(fleet.waitLikePrimary(zone));
    ASSERT_EQ(fleet.setA(zone, "www." + zone, {"192.0.2.1"}).status, 204);
    ASSERT_TRUE(fleet.waitLikePrimary(zone));
    const std::string signed_zone = "signed-secret.pdd.test.";
    ASSERT_EQ(fleet.createZone(signed_zone, json::array(), true).status, 201);
    ASSERT_TRUE(fleet.waitLikePrimary(signed_zone));
    ASSERT_EQ(fleet.api("GET", "/api/v1/servers/localhost/zones/" + zone).status, 200);
    ASSERT_EQ(fleet.deleteZone(zone).status, 204);
    ASSERT_TRUE(fleet.waitGone(zone));
    ASSERT_TRUE(fleet.stopDaemons());

    // The secrets: API keys, the NATS password, the signing key's seed (hex after the prefix).
    std::vector<std::pair<std::string, std::string>> secrets{
        {"primary API key", fleet.primary.apiKey()},
        {"NATS password", o.nats_password},
    };
    for (size_t i = 0; i < fleet.secondaries.size(); ++i) {
        secrets.emplace_back("secondary API key", fleet.secondaries[i]->apiKey());
    }
    // The TSIG secret each syncer created in its local pdns, read back through that pdns's API
    // (the listing leaves the secrets out; each key is read by its id).
    for (size_t i = 0; i < fleet.secondaries.size(); ++i) {
        httplib::Client c(fleet.secondaries[i]->apiUrl());
        const httplib::Headers auth{{"X-API-Key", fleet.secondaries[i]->apiKey()}};
        auto list = c.Get("/api/v1/servers/localhost/tsigkeys", auth);
        ASSERT_TRUE(list);
        ASSERT_EQ(list->status, 200) << list->body;
        size_t found = 0;
        for (const auto& k : json::parse(list->body)) {
            auto one = c.Get("/api/v1/servers/localhost/tsigkeys/" + k.value("id", ""), auth);
            ASSERT_TRUE(one);
            ASSERT_EQ(one->status, 200) << one->body;
            const auto secret = json::parse(one->body).value("key", "");
            ASSERT_GE(secret.size(), 32u) << one->body;
            secrets.emplace_back("TSIG secret", secret);
            ++found;
        }
        EXPECT_EQ(found, 1u) << "secondary " << i << " should hold exactly its syncer's TSIG key";
    }
    std::string key_text = readAll(fleet.secret_key_file);
    const auto space = key_text.find(' ');
    ASSERT_NE(space, std::string::npos);
    key_text = key_text.substr(space + 1, 64);  // the seed half is enough to recognise it
    ASSERT_EQ(key_text.size(), 64u);
    secrets.emplace_back("signing key", key_text);

    size_t lines = 0;
    size_t trace_or_debug = 0;
    for (const auto& entry : std::filesystem::directory_iterator(fleet.dir.path())) {
        if (entry.path().extension() != ".log") continue;
        const auto text = readAll(entry.path().string());
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            ++lines;
            if (line.find("[debug]") != std::string::npos ||
                line.find("[trace]") != std::string::npos) {
                ++trace_or_debug;
            }
            for (const auto& [what, secret] : secrets) {
                EXPECT_EQ(line.find(secret), std::string::npos)
                    << "the " << what << " appears in " << entry.path() << ": " << line;
            }
        }
    }
    // The search covered real, verbose logs.
    EXPECT_GT(lines, 50u);
    EXPECT_GT(trace_or_debug, 5u) << "the daemons did not log at debug level";
    std::printf("[ measure ] %zu log lines searched (%zu at debug/trace) for %zu secrets\n", lines,
                trace_or_debug, secrets.size());
}

}  // namespace
}  // namespace pdns_distribute::e2e
