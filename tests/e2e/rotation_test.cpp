// SPDX-License-Identifier: Apache-2.0
// Signing-key rotation and replay, end to end (issue 4): the documented rotation procedure
// (docs/operations.md, "Rotating the zone-data signing key") keeps every secondary in sync at
// each step, a body signed by the retired key is refused afterwards, and a genuine but older
// signed reply replayed by a rogue responder never rolls a zone back.

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/manifest.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;

/// Answers every zone-data request in place of the (stopped) zone-provider with whatever
/// `answer` returns for the request; counts the requests it answered.
class RogueProvider {
public:
    using Answer = std::function<std::pair<std::string, common::Headers>(const json& request)>;
    RogueProvider(common::NatsBus& bus, Answer answer) : bus_(bus), answer_(std::move(answer)) {
        auto sub = bus_.subscribe("pdns.zonedata.default.>", "zone-provider");
        if (!sub) throw std::runtime_error("rogue cannot subscribe: " + sub.error().message);
        sub_ = std::move(*sub);
        thread_ = std::jthread([this](std::stop_token st) { run(st); });
    }
    ~RogueProvider() {
        thread_.request_stop();
        thread_.join();
    }
    RogueProvider(const RogueProvider&) = delete;
    RogueProvider& operator=(const RogueProvider&) = delete;
    [[nodiscard]] int answered() const { return answered_; }

private:
    void run(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto msg = sub_->next(std::chrono::milliseconds{200});
            if (!msg) continue;
            const auto req = json::parse(msg->data, nullptr, false);
            if (req.is_discarded()) continue;
            auto [payload, headers] = answer_(req);
            if (bus_.respond(*msg, payload, headers)) ++answered_;
        }
    }
    common::NatsBus& bus_;
    Answer answer_;
    std::unique_ptr<common::SyncSubscription> sub_;
    std::atomic<int> answered_{0};
    std::jthread thread_;
};

/// A signed `absent` for the requested zone, bound to the request's nonce, under `key`.
std::pair<std::string, common::Headers> signedAbsent(const json& req,
                                                     const common::SecretKey& key) {
    common::Manifest m;
    m.zone = req.value("zone", "");
    m.status = common::ManifestStatus::Absent;
    m.reason = "rotation test";
    m.signed_at = "2026-11-26T00:00:00Z";
    auto payload = common::serializeManifest(m);
    const auto sig = common::signManifest(key, payload, req.value("nonce", ""));
    return {payload,
            {{std::string(common::kSigHeader), common::toHex(sig)},
             {std::string(common::kKeyIdHeader), key.publicKey().keyId()}}};
}

class RotationTest : public ::testing::Test {
protected:
    void SetUp() override {
        fleet_ = std::make_unique<Fleet>(FleetOptions{.secondaries = 2});
        fleet_->start();
    }
    void TearDown() override {
        if (HasFailure()) dumpLogsIfFailed(80);
        EXPECT_TRUE(fleet_->stopDaemons()) << "a daemon did not exit 0 on SIGTERM";
    }
    Fleet& f() { return *fleet_; }

    /// Rewrites every syncer's config with the given [[trusted_key]] entries (replacing the
    /// fleet's single one) and restarts the syncers, as an operator would.
    void setTrustedKeys(const std::string& entries) {
        const std::string fleet_entry =
            fmt::format("[[trusted_key]]\nfile = \"{}\"\n", f().public_key_file);
        for (size_t i = 0; i < f().secondaries.size(); ++i) {
            auto text = f().syncerConfig(i, fmt::format("sec{}", i + 1), f().syncer_http_ports[i],
                                         f().syncer_listen_ports[i]);
            const auto at = text.find(fleet_entry);
            ASSERT_NE(at, std::string::npos) << "fleet's syncer config changed shape";
            text.replace(at, fleet_entry.size(), entries);
            f().dir.writeFile(fmt::format("syncer{}.toml", i + 1), text);
            ASSERT_EQ(f().stopSyncer(i), 0);
            f().startSyncer(i);
        }
    }

    std::unique_ptr<Fleet> fleet_;
};

TEST_F(RotationTest, DocumentedProcedure_EveryStepSyncsAndRetiredKeyIsRefused) {
    const std::string zone = "rotate.pdd.test.";
    const std::string control = "control.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_EQ(f().createZone(control).status, 201);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    ASSERT_TRUE(f().waitLikePrimary(control));

    // Step 1: a new key pair, made on the primary.
    const auto new_secret = f().dir.file("zonedata-2.key");
    const auto new_public = f().dir.file("zonedata-2.pub");
    auto keygen = runCommand({daemonBinary("pdns-distribute"), "keygen", "--secret", new_secret,
                              "--public", new_public});
    ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
    const auto old_key = common::loadSecretKey(f().secret_key_file);
    ASSERT_TRUE(old_key);

    // Step 2: every syncer trusts both keys; the provider still signs with the old one.
    setTrustedKeys(fmt::format("[[trusted_key]]\nfile = \"{}\"\n[[trusted_key]]\nfile = \"{}\"\n",
                               f().public_key_file, new_public));
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.1"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(zone)) << "old key no longer accepted after adding the new";

    // Step 3: the provider signs with the new key.
    ASSERT_EQ(f().stopProvider(), 0);
    std::filesystem::copy_file(new_secret, f().secret_key_file,
                               std::filesystem::copy_options::overwrite_existing);
    f().startProvider();
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.2"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(zone)) << "new key not accepted";

    // Control: while the old key is still trusted, a reply it signs is accepted (so the refusal
    // below is the retirement's doing, not the rogue's).
    ASSERT_EQ(f().stopProvider(), 0);
    {
        auto bus = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::ZoneProvider));
        RogueProvider rogue(*bus, [&](const json& req) { return signedAbsent(req, *old_key); });
        ASSERT_EQ(f().deleteZone(control).status, 204);
        EXPECT_TRUE(f().waitGone(control, 30s)) << "a reply under a trusted key was refused";
    }

    // Step 4: the old key is retired (not_after in the past) on every syncer.
    setTrustedKeys(
        fmt::format("[[trusted_key]]\nfile = \"{}\"\nnot_after = \"2020-01-01T00:00:00Z\"\n"
                    "[[trusted_key]]\nfile = \"{}\"\n",
                    f().public_key_file, new_public));
    {
        auto bus = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::ZoneProvider));
        RogueProvider rogue(*bus, [&](const json& req) { return signedAbsent(req, *old_key); });
        ASSERT_EQ(f().deleteZone(zone).status, 204);
        // Both syncers asked (and retried) and got the retired key's answer.
        EXPECT_TRUE(waitUntil([&] { return rogue.answered() >= 2; }, 30s));
        std::this_thread::sleep_for(2s);  // time to (wrongly) act on it
        for (auto& s : f().secondaries)
            EXPECT_TRUE(f().serial(*s, zone).has_value()) << "deleted on a retired key's word";
    }
    const auto metrics = f().syncerHttp(0, "/metrics").body;
    EXPECT_NE(metrics.find("pdns_distribute_syncer_refused_total"), std::string::npos);

    // The genuine provider, signing with the new key, completes the deletion.
    f().startProvider();
    EXPECT_TRUE(f().waitGone(zone, 60s));
}

TEST_F(RotationTest, ReplayedOlderGenuineReply_RefusedZoneKeepsNewerData) {
    const std::string zone = "replay.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.1"}).status, 204);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto old_serial = f().serial(f().primary, zone);

    // Capture a genuine, signed reply for the zone as it is now (as an eavesdropper would).
    auto bus = common::NatsBus::connect(f().natsSettingsFor(Fleet::Role::Primary));
    const json req = {{"v", 1}, {"zone", zone}, {"node", "sec1"}, {"nonce", common::randomNonce()}};
    auto captured = bus->request(common::zoneDataSubject("default", zone), req.dump(), {}, 5s);
    ASSERT_TRUE(captured) << captured.error().message;
    ASSERT_TRUE(captured->header(common::kSigHeader).has_value());

    // The zone moves on.
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.2"}).status, 204);
    ASSERT_TRUE(f().waitLikePrimary(zone));
    const auto new_serial = f().serial(f().primary, zone);
    ASSERT_NE(old_serial, new_serial);
    const auto new_axfr = f().axfr(*f().secondaries[0], zone);
    ASSERT_TRUE(new_axfr);

    // The provider is gone; a rogue replays the old genuine reply to every request, and a resync
    // event asks every syncer to fetch the zone again.
    ASSERT_EQ(f().stopProvider(), 0);
    {
        RogueProvider rogue(
            *bus, [&](const json&) { return std::make_pair(captured->data, captured->headers); });
        common::ZoneEvent e{.zone = zone,
                            .op = common::ZoneOp::Upsert,
                            .serial = old_serial,
                            .apex = std::nullopt,
                            .cause = common::EventCause::Resync,
                            .at = "2026-11-26T00:00:00Z"};
        auto ack =
            bus->publish(common::zoneEventSubject("default", zone), common::serializeZoneEvent(e),
                         common::PublishOptions{.msg_id = "replay-test"});
        ASSERT_TRUE(ack) << ack.error().message;
        EXPECT_TRUE(waitUntil([&] { return rogue.answered() >= 2; }, 30s));
        std::this_thread::sleep_for(2s);  // time to (wrongly) apply it
        for (auto& s : f().secondaries) {
            EXPECT_EQ(f().serial(*s, zone), new_serial) << "rolled back by a replayed reply";
            EXPECT_EQ(f().axfr(*s, zone), new_axfr);
        }
    }
    f().startProvider();
}

}  // namespace
}  // namespace pdns_distribute::e2e
