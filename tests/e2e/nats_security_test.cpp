// SPDX-License-Identifier: Apache-2.0
// NATS as shipped (packaging/nats/nats-server.conf, rendered by the Fleet): TLS is required, every
// client needs a certificate from the deployment's CA and its own user's password, and each
// user may do only what its role needs. Shown against the real nats-server: a secondary's
// credentials cannot publish zone events, touch another node's subjects, claim or consumer;
// plaintext, certificate-less, foreign-certificate and wrong-password clients are refused; a
// secondary still syncs with its credentials; and a daemon whose NATS files are missing exits
// with a message naming the file and the cause.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using Role = Fleet::Role;

std::string readAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The message of the exception `connect` throws, or "" when it connects.
std::string connectError(const common::NatsSettings& settings) {
    try {
        auto bus = common::NatsBus::connect(settings);
        bus->close();
        return {};
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

/// Everything a plain TCP client reads from 127.0.0.1:port after sending `hello`, until the
/// server closes the connection (true) or `deadline` passes (false).
bool plainExchange(int port, const std::string& hello, std::string& received,
                   std::chrono::milliseconds deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool closed = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(hello.size())) {
        const auto end = std::chrono::steady_clock::now() + deadline;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            std::array<char, 4096> buffer{};
            const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
            if (n <= 0) {
                closed = true;  // EOF or reset: the server hung up
                break;
            }
            received.append(buffer.data(), static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return closed;
}

class NatsSecurityTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        FleetOptions o;
        o.secondaries = 2;
        o.fail_on_permission_violation = false;  // these tests provoke violations on purpose
        fleet_ = new Fleet(o);
        fleet_->start();
    }
    static void TearDownTestSuite() {
        const bool clean = fleet_->stopDaemons();
        delete fleet_;
        fleet_ = nullptr;
        EXPECT_TRUE(clean) << "a daemon did not exit 0 on SIGTERM";
    }
    void TearDown() override {
        if (HasFailure()) dumpLogsIfFailed(80);
    }
    static Fleet& f() { return *fleet_; }

    /// Waits until nats-server has logged a permissions violation naming `subject` (quoted) for
    /// `user`; the server logs it when it drops the operation.
    static bool violationLogged(const std::string& user, const std::string& subject) {
        return waitUntil(
            [&] {
                for (const auto& line : f().natsPermissionViolations()) {
                    if (line.find(fmt::format("\"{}\"", subject)) != std::string::npos &&
                        line.find(user) != std::string::npos) {
                        return true;
                    }
                }
                return false;
            },
            10s, 20ms);
    }

    /// The log text of a daemon started with `config` once it has exited (and its status).
    static std::pair<std::optional<int>, std::string> runToExit(const std::string& binary,
                                                                const std::string& config_name,
                                                                const std::string& config) {
        const auto path = f().dir.writeFile(config_name, config);
        ChildProcess p;
        const auto log = f().dir.file(config_name + ".log");
        p.start({daemonBinary(binary), "--config", path}, {}, log, config_name);
        const auto status = p.waitExit(20s);
        return {status, readAll(log)};
    }

    /// A copy of the fleet's daemon config `name` with its own HTTP port and `nats` as its
    /// [nats] section (the Fleet writes that section last).
    static std::string withNats(const std::string& name, const std::string& nats) {
        std::string text = readAll(f().dir.file(name));
        const auto section = text.find("[nats]");
        EXPECT_NE(section, std::string::npos) << text;
        text.erase(section);
        const auto http = text.find("listen = \"127.0.0.1:");
        EXPECT_NE(http, std::string::npos) << text;
        const auto end = text.find('\n', http);
        text.replace(http, end - http, fmt::format("listen = \"127.0.0.1:{}\"", freeTcpPort()));
        return text + nats;
    }

    /// How often nats-server's log says `text`.
    static size_t logCount(const std::string& text) {
        const auto log = readAll(f().nats.dir().file("nats-server.log"));
        size_t n = 0;
        for (auto pos = log.find(text); pos != std::string::npos; pos = log.find(text, pos + 1)) {
            ++n;
        }
        return n;
    }

    static inline Fleet* fleet_ = nullptr;
};

TEST_F(NatsSecurityTest, RenderedConfig_IsTheShippedFileWithOnlyPathsAndSecretsReplaced) {
    ASSERT_TRUE(f().secureNats());
    const std::string shipped =
        readAll(std::string(PDD_SOURCE_DIR) + "/packaging/nats/nats-server.conf");
    const std::string& rendered = f().natsConfigText();
    ASSERT_FALSE(shipped.empty());
    // Every line outside the secondary template, other than the paths and password
    // placeholders the Fleet substitutes, is in the rendered file as shipped.
    std::istringstream in(shipped);
    bool in_template = false;
    size_t checked = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.find("# >>> secondary ns1") != std::string::npos) in_template = true;
        const bool substituted = line.find("/etc/nats/tls/") != std::string::npos ||
                                 line.find("store_dir:") != std::string::npos ||
                                 line.find("CHANGE-ME-") != std::string::npos;
        if (!in_template && !substituted) {
            EXPECT_NE(rendered.find(line + "\n"), std::string::npos) << "missing: " << line;
            ++checked;
        }
        if (line.find("# <<< secondary ns1") != std::string::npos) in_template = false;
    }
    EXPECT_GT(checked, 80U);
    // One entry per secondary, made by the shipped script from the template.
    for (size_t i = 0; i < f().secondaries.size(); ++i) {
        EXPECT_NE(rendered.find("# >>> secondary " + Fleet::nodeId(i)), std::string::npos);
        EXPECT_NE(rendered.find("\"$KV.PDNS_NODES.node." + Fleet::nodeId(i) + "\""),
                  std::string::npos);
    }
    const auto accounts = rendered.find("\naccounts {");
    ASSERT_NE(accounts, std::string::npos);
    EXPECT_EQ(rendered.find("ns1", accounts), std::string::npos)
        << "the template's own node is left in";
    // The script refuses a node id that is not a subject token.
    const auto bad =
        runCommand({std::string(PDD_SOURCE_DIR) + "/packaging/nats/pdd-nats-secondary.sh", "ns.1"});
    EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
}

TEST_F(NatsSecurityTest, SecondaryWithItsCredentials_SyncsAZoneOverTls) {
    const std::string zone = "tls-sync.pdd.test.";
    ASSERT_EQ(f().createZone(zone).status, 201);
    EXPECT_TRUE(f().waitLikePrimary(zone));
    ASSERT_EQ(f().setA(zone, "www." + zone, {"192.0.2.80"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(zone));
    // Every daemon's connection is TLS and authenticated as its own role's user.
    httplib::Client monitor("127.0.0.1", f().nats.monitorPort());
    auto r = monitor.Get("/connz?auth=true&limit=1024");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const auto connz = json::parse(r->body);
    std::map<std::string, std::string> user_of;  // connection name → authorized user
    for (const auto& c : connz["connections"]) {
        const auto name = c.value("name", "");
        if (name.empty()) continue;
        EXPECT_FALSE(c.value("tls_version", "").empty()) << name << " is not on TLS";
        user_of[name] = c.value("authorized_user", "");
    }
    EXPECT_EQ(user_of["pdns-api-proxy"], "api-proxy");
    EXPECT_EQ(user_of["pdns-zone-provider"], "zone-provider");
    EXPECT_EQ(user_of["pdns-health-checker"], "health-checker");
    EXPECT_EQ(user_of["pdns-secondary-syncer sec1"], "syncer-sec1");
    EXPECT_EQ(user_of["pdns-secondary-syncer sec2"], "syncer-sec2");
}

TEST_F(NatsSecurityTest, SecondaryCredentials_CannotPublishZoneEvents) {
    const std::string zone = "forged-event.pdd.test.";
    const auto subject = common::zoneEventSubject("default", zone);
    auto secondary = common::NatsBus::connect(f().natsSettingsFor(Role::Secondary, 0));
    const common::ZoneEvent event{.zone = zone,
                                  .op = common::ZoneOp::Delete,
                                  .serial = std::nullopt,
                                  .apex = std::nullopt,
                                  .cause = common::EventCause::Api,
                                  .at = "2026-11-26T00:00:00Z"};
    // A JetStream publish: the server drops it, so no ack ever comes.
    auto ack = secondary->publish(subject, common::serializeZoneEvent(event),
                                  common::PublishOptions{.msg_id = "sec1-forged", .timeout = 2s});
    EXPECT_FALSE(ack) << "stored at sequence " << ack->sequence;
    EXPECT_TRUE(violationLogged("syncer-sec1", subject)) << "no violation logged for " << subject;
    // A plain publish to the same subject is refused as well.
    const auto other = common::zoneEventSubject("default", "forged-core.pdd.test.");
    EXPECT_TRUE(secondary->publishCore(other, common::serializeZoneEvent(event)));
    EXPECT_TRUE(violationLogged("syncer-sec1", other));
    // Neither reached the stream (the violation is logged when the server drops the message).
    auto checker = common::NatsBus::connect(f().natsSettingsFor(Role::HealthChecker));
    for (const auto& s : {subject, other}) {
        auto last = checker->lastMessage("PDNS_ZONES", s);
        ASSERT_TRUE(last) << last.error().message;
        EXPECT_FALSE(last->has_value()) << s << " is in the stream";
    }
    // The stream itself is out of reach: no purge.
    EXPECT_FALSE(secondary->purgeSubjectBefore("PDNS_ZONES", "pdns.zones.>", 1'000'000));
    EXPECT_TRUE(violationLogged("syncer-sec1", "$JS.API.STREAM.PURGE.PDNS_ZONES"));
    checker->close();
    secondary->close();
}

// The readers of an ordered consumer (a syncer's start-up sweep, the checker's mirror) answer
// flow control as their own users. nats-server 2.9 stops delivering to such a consumer once a few
// MB are unanswered and then names the flow-control subject in its idle heartbeats; nats.c answers
// that subject, which is no reply to a request it received: each user may publish
// $JS.FC.PDNS_ZONES.> explicitly.
// Each reader here takes its time before reading, so the server stalls it; both must then read
// everything, with no violation logged.
TEST_F(NatsSecurityTest, StalledOrderedReaders_ResumeWithTheirOwnCredentials) {
    constexpr int kMessages = 12'000;  // 12 MB: well past what nats-server sends unanswered
    const std::string group = "flowcontrol";
    const std::string payload(1024, 'x');
    auto proxy = common::NatsBus::connect(f().natsSettingsFor(Role::ApiProxy));
    for (int i = 0; i < kMessages; ++i) {
        ASSERT_TRUE(proxy->publishCore(fmt::format("pdns.zones.{}.z{}", group, i), payload));
    }
    auto checker = common::NatsBus::connect(f().natsSettingsFor(Role::HealthChecker));
    const auto last = fmt::format("pdns.zones.{}.z{}", group, kMessages - 1);
    uint64_t last_sequence = 0;
    ASSERT_TRUE(waitUntil(
        [&] {
            auto m = checker->lastMessage("PDNS_ZONES", last);
            if (!m || !m->has_value()) return false;
            last_sequence = (*m)->sequence;
            return true;
        },
        30s, 100ms))
        << "the stream did not take the messages";

    auto secondary = common::NatsBus::connect(f().natsSettingsFor(Role::Secondary, 0));
    const std::vector<std::pair<std::string, common::NatsBus*>> readers{
        {"syncer-sec1", secondary.get()}, {"health-checker", checker.get()}};
    std::vector<std::unique_ptr<common::StreamReader>> streams;
    for (const auto& [user, bus] : readers) {
        auto r = bus->readStream("PDNS_ZONES", fmt::format("pdns.zones.{}.>", group));
        ASSERT_TRUE(r) << user << ": " << r.error().message;
        streams.push_back(std::move(*r));
    }
    // Past nats.c's 5 s idle-heartbeat interval of an ordered consumer: the server has stalled
    // both and said so in a heartbeat.
    std::this_thread::sleep_for(12s);
    for (size_t k = 0; k < readers.size(); ++k) {
        int read = 0;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (read < kMessages && std::chrono::steady_clock::now() < deadline) {
            if (streams[k]->next(1s)) ++read;
        }
        EXPECT_EQ(read, kMessages) << readers[k].first << " did not read the stream to its end";
    }
    for (const auto& line : f().natsPermissionViolations()) {
        EXPECT_EQ(line.find("$JS.FC."), std::string::npos) << line;
    }
    streams.clear();
    EXPECT_TRUE(checker->purgeSubjectBefore("PDNS_ZONES", fmt::format("pdns.zones.{}.>", group),
                                            last_sequence + 1));
    checker->close();
    secondary->close();
    proxy->close();
}

TEST_F(NatsSecurityTest, SecondaryCredentials_CannotActForAnotherNode) {
    auto secondary = common::NatsBus::connect(f().natsSettingsFor(Role::Secondary, 0));
    auto checker = common::NatsBus::connect(f().natsSettingsFor(Role::HealthChecker));
    auto reports = checker->subscribe("pdns.node.*.applied");
    ASSERT_TRUE(reports) << reports.error().message;
    // A round trip on the same connection: the server has the subscription once it answers.
    ASSERT_TRUE(checker->lastMessage("PDNS_ZONES", "pdns.zones.default.none"));
    const auto foreign = common::nodeSubject("sec2", "applied");
    const auto own = common::nodeSubject("sec1", "applied");
    // From one connection, the server handles messages in order: the refused report comes
    // before the allowed marker, so once the marker is read the refused one would be too.
    EXPECT_TRUE(secondary->publishCore(foreign, R"({"forged":"by sec1"})"));
    EXPECT_TRUE(secondary->publishCore(common::nodeSubject("sec2", "heartbeat"), "{}"));
    EXPECT_TRUE(secondary->publishCore(own, R"({"marker":"sec1"})"));
    bool marker = false;
    bool forged = false;
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!marker && std::chrono::steady_clock::now() < end) {
        auto m = (*reports)->next(200ms);
        if (!m) continue;
        forged = forged || m->data.find("forged") != std::string::npos;
        marker = m->data.find("marker") != std::string::npos;
    }
    EXPECT_TRUE(marker) << "the allowed report did not arrive";
    EXPECT_FALSE(forged) << "a report published by sec1 as sec2 was delivered";
    EXPECT_TRUE(violationLogged("syncer-sec1", foreign));
    EXPECT_TRUE(violationLogged("syncer-sec1", common::nodeSubject("sec2", "heartbeat")));
    // Nor answer the health-checker for sec2, nor write into the checker's inbox (no
    // allow_responses: a syncer answers on its own pdns.node.<node>.reply.> only).
    auto answers = checker->subscribe("pdns.node.*.reply.>");
    ASSERT_TRUE(answers) << answers.error().message;
    ASSERT_TRUE(checker->lastMessage("PDNS_ZONES", "pdns.zones.default.none"));
    const auto foreign_answer = common::nodeReplySubject("sec2", "t1");
    EXPECT_TRUE(secondary->publishCore(foreign_answer, R"({"forged":"by sec1"})"));
    EXPECT_TRUE(secondary->publishCore("_INBOX.health-checker.forged", "{}"));
    EXPECT_TRUE(secondary->publishCore(common::nodeReplySubject("sec1", "t1"), "marker"));
    auto answer = (*answers)->next(5s);
    ASSERT_TRUE(answer) << "sec1's answer on its own reply subject did not arrive";
    EXPECT_EQ(answer->subject, common::nodeReplySubject("sec1", "t1"));
    EXPECT_EQ(answer->data, "marker");
    EXPECT_TRUE(violationLogged("syncer-sec1", foreign_answer));
    EXPECT_TRUE(violationLogged("syncer-sec1", "_INBOX.health-checker.forged"));

    // sec2's node claim cannot be erased by sec1.
    auto kv = secondary->keyValue("PDNS_NODES", 3 * f().options.heartbeat);
    ASSERT_TRUE(kv) << kv.error().message;
    EXPECT_FALSE((*kv)->erase("node.sec2"));
    EXPECT_TRUE(violationLogged("syncer-sec1", "$KV.PDNS_NODES.node.sec2"));
    auto admin = common::NatsBus::connect(f().natsSettingsFor(Role::Admin));
    auto admin_kv = admin->keyValue("PDNS_NODES", 3 * f().options.heartbeat);
    ASSERT_TRUE(admin_kv) << admin_kv.error().message;
    auto claim = (*admin_kv)->get("node.sec2");
    ASSERT_TRUE(claim) << claim.error().message;
    EXPECT_TRUE(claim->has_value()) << "sec2's claim is gone";
    // Nor can sec1 reconfigure sec2's durable consumer.
    EXPECT_FALSE(
        secondary->ensureConsumer(common::ConsumerSettings{.stream = "PDNS_ZONES",
                                                           .durable = "syncer-sec2",
                                                           .filter_subject = "pdns.zones.default.>",
                                                           .ack_wait = 60s,
                                                           .max_ack_pending = 1}));
    EXPECT_TRUE(violationLogged("syncer-sec1", "$JS.API.CONSUMER.INFO.PDNS_ZONES.syncer-sec2"));
    // The zone-provider's credentials cannot publish zone events either.
    auto provider = common::NatsBus::connect(f().natsSettingsFor(Role::ZoneProvider));
    const auto subject = common::zoneEventSubject("default", "provider-forged.pdd.test.");
    EXPECT_TRUE(provider->publishCore(subject, "{}"));
    EXPECT_TRUE(violationLogged("zone-provider", subject));
    admin->close();
    provider->close();
    checker->close();
    secondary->close();
}

TEST_F(NatsSecurityTest, PlaintextClient_Refused) {
    // nats.c will not go on in plaintext once the server says TLS is required (it tries TLS,
    // which fails here without the CA)...
    auto settings = f().natsSettingsFor(Role::Secondary, 0);
    settings.urls = {f().nats.url()};
    settings.tls_ca_file.clear();
    settings.tls_cert_file.clear();
    settings.tls_key_file.clear();
    settings.tls_server_name.clear();
    settings.initial_connect_deadline = 0ms;
    EXPECT_NE(connectError(settings), "") << "connected without TLS settings";
    // ...and the server itself refuses a client that speaks the protocol without TLS.
    const std::string password =
        readAll(f().natsSettingsFor(Role::Secondary, 0).password_file).substr(0, 32);
    std::string received;
    const bool closed =
        plainExchange(f().nats.port(),
                      fmt::format("CONNECT {{\"user\":\"syncer-sec1\",\"pass\":\"{}\","
                                  "\"verbose\":false,\"tls_required\":false}}\r\nPING\r\n",
                                  password),
                      received, 10s);
    EXPECT_TRUE(closed) << "the server kept a plaintext client: " << received;
    EXPECT_NE(received.find("\"tls_required\":true"), std::string::npos) << received;
    EXPECT_EQ(received.find("PONG"), std::string::npos) << received;
}

TEST_F(NatsSecurityTest, MissingOrForeignClientCertificateOrWrongPassword_Refused) {
    // nats-server's own reasons for refusing (Go's crypto/tls texts, and its auth log line).
    const std::string kNoCert = "client didn't provide a certificate";
    const std::string kForeign = "certificate signed by unknown authority";
    const std::string kAuth = "authentication error - User \"syncer-sec1\"";
    const size_t no_cert_before = logCount(kNoCert);
    const size_t foreign_before = logCount(kForeign);
    const size_t auth_before = logCount(kAuth);
    const auto good = f().natsSettingsFor(Role::Secondary, 0);
    ASSERT_EQ(connectError(good), "");
    {
        auto s = good;  // no client certificate
        s.tls_cert_file.clear();
        s.tls_key_file.clear();
        s.initial_connect_deadline = 0ms;
        EXPECT_NE(connectError(s), "") << "connected without a client certificate";
        EXPECT_TRUE(waitUntil([&] { return logCount(kNoCert) > no_cert_before; }, 10s, 20ms))
            << "nats-server did not log its refusal";
    }
    {
        // A certificate from another CA, for the same name.
        const auto other_dir = f().dir.file("other-ca");
        std::filesystem::create_directories(other_dir);
        TestCa other(other_dir, "other-ca");
        const auto cert = other.issueClient("syncer-sec1");
        auto s = good;
        s.tls_cert_file = cert.cert_file;
        s.tls_key_file = cert.key_file;
        s.initial_connect_deadline = 0ms;
        EXPECT_NE(connectError(s), "") << "connected with a certificate from a foreign CA";
        EXPECT_TRUE(waitUntil([&] { return logCount(kForeign) > foreign_before; }, 10s, 20ms))
            << "nats-server did not log its refusal";
    }
    {
        auto s = good;  // right certificate, wrong password
        s.password_file = f().dir.writeFile("wrong-password", "not-the-password\n", 0600);
        s.initial_connect_deadline = 0ms;
        const auto error = connectError(s);
        EXPECT_NE(error, "") << "connected with a wrong password";
        EXPECT_EQ(error.find("not-the-password"), std::string::npos) << error;
        EXPECT_TRUE(waitUntil([&] { return logCount(kAuth) > auth_before; }, 10s, 20ms))
            << "nats-server did not log its refusal";
    }
    {
        auto s = good;  // no password at all
        s.user.clear();
        s.password_file.clear();
        s.initial_connect_deadline = 0ms;
        EXPECT_NE(connectError(s), "") << "connected without a user";
    }
    {
        auto s = good;  // the server certificate does not carry this name
        s.tls_server_name = "nats.elsewhere.example";
        s.initial_connect_deadline = 0ms;
        EXPECT_NE(connectError(s), "") << "accepted a server certificate for another name";
    }
}

TEST_F(NatsSecurityTest, MissingCaOrCredentialsFile_DaemonExitsNamingTheFileAndCause) {
    auto settings = f().natsSettingsFor(Role::HealthChecker);
    const std::string missing_ca = f().dir.file("no-such-ca.crt");
    {
        const auto config = withNats(
            "health-checker.toml",
            fmt::format("[nats]\nurls = [\"{}\"]\nuser = \"{}\"\npassword_file = \"{}\"\n"
                        "tls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
                        settings.urls[0], settings.user, settings.password_file, missing_ca,
                        settings.tls_cert_file, settings.tls_key_file));
        const auto [status, log] = runToExit("pdns-health-checker", "missing-ca.toml", config);
        ASSERT_TRUE(status) << "still running with a missing CA file";
        EXPECT_NE(*status, 0);
        EXPECT_NE(log.find("cannot read NATS TLS CA file '" + missing_ca +
                           "' (No such file or directory); check nats.tls_ca_file"),
                  std::string::npos)
            << log;
    }
    {
        const std::string missing_creds = f().dir.file("no-such.creds");
        const auto config = withNats(
            "health-checker.toml",
            fmt::format("[nats]\nurls = [\"{}\"]\ncreds_file = \"{}\"\ntls_ca_file = \"{}\"\n",
                        settings.urls[0], missing_creds, settings.tls_ca_file));
        const auto [status, log] = runToExit("pdns-health-checker", "missing-creds.toml", config);
        ASSERT_TRUE(status) << "still running with a missing credentials file";
        EXPECT_NE(*status, 0);
        EXPECT_NE(log.find("'" + missing_creds + "' (No such file or directory)"),
                  std::string::npos)
            << log;
        EXPECT_NE(log.find("nats.creds_file"), std::string::npos) << log;
    }
    {
        // A client key that is not PEM: named, with the cause.
        const auto bad_key = f().dir.writeFile("bad.key", "not a key\n", 0600);
        const auto config = withNats(
            "health-checker.toml",
            fmt::format("[nats]\nurls = [\"{}\"]\nuser = \"{}\"\npassword_file = \"{}\"\n"
                        "tls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
                        settings.urls[0], settings.user, settings.password_file,
                        settings.tls_ca_file, settings.tls_cert_file, bad_key));
        const auto [status, log] = runToExit("pdns-health-checker", "bad-key.toml", config);
        ASSERT_TRUE(status) << "still running with a bad client key";
        EXPECT_NE(*status, 0);
        EXPECT_NE(log.find(bad_key), std::string::npos) << log;
        EXPECT_NE(log.find("check nats.tls_cert_file and nats.tls_key_file"), std::string::npos)
            << log;
    }
}

/// Writes `text` as nats-server's configuration and makes it reload (SIGHUP).
void reloadNats(Fleet& fleet, const std::string& text) {
    fleet.nats.setConfig(text);
    fleet.nats.process().kill(SIGHUP);
}

/// The authorized user of the connection named `name` (nats-server's /connz), or "".
std::string connectionUser(Fleet& fleet, const std::string& name) {
    httplib::Client monitor("127.0.0.1", fleet.nats.monitorPort());
    auto r = monitor.Get("/connz?auth=true&limit=1024");
    if (!r || r->status != 200) return {};
    const auto connz = json::parse(r->body);
    for (const auto& c : connz["connections"]) {
        if (c.value("name", "") == name) return c.value("authorized_user", "");
    }
    return {};
}

// The documented rotation without a gap: a second user for the node, the syncer switched to it,
// the old user removed. Removing a user cuts its open connections at once.
TEST(NatsCredentialRotation, SecondaryPasswordRotatedThroughASecondUser_NoGap) {
    FleetOptions o;
    o.secondaries = 1;
    Fleet fleet(o);
    fleet.start();
    const std::string zone = "rotate.pdd.test.";
    ASSERT_EQ(fleet.createZone(zone).status, 201);
    ASSERT_TRUE(fleet.waitLikePrimary(zone));
    const std::string shipped = std::string(PDD_SOURCE_DIR) + "/packaging/nats/nats-server.conf";
    const std::string script =
        std::string(PDD_SOURCE_DIR) + "/packaging/nats/pdd-nats-secondary.sh";

    // 1. A second entry for node sec1, under a new name and password.
    const std::string next_user = "syncer-sec1-next";
    const std::string next_password = randomHex(16);
    const auto next_password_file =
        fleet.dir.writeFile("nats-next.password", next_password + "\n", 0600);
    const auto entry = runCommand(
        {script, "-c", shipped, "-u", next_user, "-p", bcryptHash(next_password), "sec1"});
    ASSERT_EQ(entry.exit_code, 0) << entry.err;
    std::string config = fleet.natsConfigText();
    const auto admin = config.find("      # Operators' tooling");
    ASSERT_NE(admin, std::string::npos);
    config.insert(admin, entry.out + "\n");
    reloadNats(fleet, config);
    auto next = fleet.natsSettingsFor(Role::Secondary, 0);
    next.user = next_user;
    next.password_file = next_password_file;
    next.initial_connect_deadline = 0ms;
    ASSERT_TRUE(waitUntil([&] { return connectError(next).empty(); }, 10s, 100ms))
        << connectError(next);

    // 2. The syncer switches to it (a restart: credentials are read at start).
    std::string syncer = readAll(fleet.dir.file("syncer1.toml"));
    const auto old_settings = fleet.natsSettingsFor(Role::Secondary, 0);
    for (const auto& [from, to] :
         {std::pair{"user = \"" + old_settings.user + "\"", "user = \"" + next_user + "\""},
          std::pair{"password_file = \"" + old_settings.password_file + "\"",
                    "password_file = \"" + next_password_file + "\""}}) {
        const auto pos = syncer.find(from);
        ASSERT_NE(pos, std::string::npos) << from << " in\n" << syncer;
        syncer.replace(pos, from.size(), to);
    }
    fleet.dir.writeFile("syncer1.toml", syncer);
    ASSERT_EQ(fleet.stopSyncer(0), 0);
    fleet.startSyncer(0);
    EXPECT_EQ(connectionUser(fleet, "pdns-secondary-syncer sec1"), next_user);
    ASSERT_EQ(fleet.setA(zone, "www." + zone, {"192.0.2.71"}).status, 204);
    EXPECT_TRUE(fleet.waitLikePrimary(zone));

    // 3. The old entry goes: its open connection is cut, and it cannot log in again.
    auto old_bus = common::NatsBus::connect(old_settings);
    ASSERT_TRUE(old_bus->connected());
    const auto user_line = config.find("user: \"" + old_settings.user + "\"");
    ASSERT_NE(user_line, std::string::npos);
    const auto begin = config.rfind("      # >>> secondary sec1", user_line);
    const auto end_marker = config.find("# <<< secondary sec1\n", user_line);
    ASSERT_NE(begin, std::string::npos);
    ASSERT_NE(end_marker, std::string::npos);
    config.erase(begin, end_marker + std::string("# <<< secondary sec1\n").size() - begin);
    reloadNats(fleet, config);
    EXPECT_TRUE(waitUntil([&] { return !old_bus->connected(); }, 10s, 50ms))
        << "the removed user's connection is still up";
    auto old_again = old_settings;
    old_again.initial_connect_deadline = 0ms;
    EXPECT_NE(connectError(old_again), "") << "the removed user can still log in";
    old_bus->close();
    // The syncer, on its new user, never noticed.
    ASSERT_EQ(fleet.setA(zone, "www." + zone, {"192.0.2.72"}).status, 204);
    EXPECT_TRUE(fleet.waitLikePrimary(zone));
    EXPECT_EQ(connectionUser(fleet, "pdns-secondary-syncer sec1"), next_user);
    EXPECT_TRUE(fleet.stopDaemons());
}

}  // namespace
}  // namespace pdns_distribute::e2e
