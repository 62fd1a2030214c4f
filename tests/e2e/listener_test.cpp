// SPDX-License-Identifier: Apache-2.0
// The last hop (DESIGN §5.1, §5.8): the secondary's pdns_server transfers from its syncer's AXFR
// listener with TSIG, the listener answers only signed queries from its allow-list, survives
// garbage, and takes its sockets from systemd socket activation. pdns_server 4.7 is the
// independent judge of our TSIG: it signs its requests and verifies every answer message.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fleet.hpp"
#include "tsig.hpp"

namespace pdns_distribute::e2e {
namespace {

using json = nlohmann::json;
using secondary_syncer::Bytes;
using secondary_syncer::ByteSpan;
using secondary_syncer::TsigKey;
using secondary_syncer::TsigResponseVerifier;
using secondary_syncer::TsigStatus;

constexpr uint8_t kNotImp = 4;
constexpr uint8_t kRefused = 5;
constexpr uint8_t kNotAuth = 9;
constexpr const char* kKeyName = "pdns-distribute-sec1.";

// ---- small DNS client over raw sockets ----------------------------------------------------------

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

sockaddr_in loopback(const char* ip, int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

Fd socketFrom(int type, const char* source) {
    Fd s(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    const auto src = loopback(source, 0);
    if (s.get() < 0 || ::bind(s.get(), reinterpret_cast<const sockaddr*>(&src), sizeof(src)) != 0) {
        throw std::runtime_error(std::string("cannot bind a client socket to ") + source);
    }
    return s;
}

Fd tcpConnect(int port, const char* source = "127.0.0.1") {
    auto s = socketFrom(SOCK_STREAM, source);
    const auto dst = loopback("127.0.0.1", port);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)) != 0) {
        throw std::runtime_error("cannot connect to the listener");
    }
    return s;
}

bool sendAll(int fd, ByteSpan data) {
    size_t sent = 0;
    while (sent < data.size()) {
        const auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<size_t>(n);
    }
    return true;
}

bool sendTcpMessage(int fd, ByteSpan msg) {
    Bytes framed{static_cast<std::byte>(msg.size() >> 8),
                 static_cast<std::byte>(msg.size() & 0xff)};
    framed.insert(framed.end(), msg.begin(), msg.end());
    return sendAll(fd, framed);
}

enum class ReadResult { Data, Closed, Timeout };

// Reads exactly n bytes before the deadline.
ReadResult readExactly(int fd, size_t n, Bytes& out, std::chrono::steady_clock::time_point end) {
    out.resize(n);
    size_t got = 0;
    while (got < n) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return ReadResult::Timeout;
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        const auto r = ::recv(fd, out.data() + got, n - got, 0);
        if (r <= 0) return ReadResult::Closed;
        got += static_cast<size_t>(r);
    }
    return ReadResult::Data;
}

std::optional<Bytes> readTcpMessage(int fd, std::chrono::milliseconds timeout = 5s,
                                    ReadResult* why = nullptr) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    Bytes len;
    auto r = readExactly(fd, 2, len, end);
    if (r == ReadResult::Data) {
        Bytes msg;
        r = readExactly(
            fd, (std::to_integer<size_t>(len[0]) << 8) | std::to_integer<size_t>(len[1]), msg, end);
        if (r == ReadResult::Data) return msg;
    }
    if (why != nullptr) *why = r;
    return std::nullopt;
}

// Waits for the peer to close: true when it did before the timeout (whatever it sent first).
bool closedByPeer(int fd, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::array<std::byte, 4096> buf{};
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        const auto r = ::recv(fd, buf.data(), buf.size(), 0);
        if (r <= 0) return true;
    }
}

std::optional<Bytes> udpExchange(int port, ByteSpan msg, const char* source = "127.0.0.1",
                                 std::chrono::milliseconds timeout = 2s) {
    auto s = socketFrom(SOCK_DGRAM, source);
    const auto dst = loopback("127.0.0.1", port);
    if (::sendto(s.get(), msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&dst),
                 sizeof(dst)) < 0) {
        return std::nullopt;
    }
    pollfd p{.fd = s.get(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    Bytes buf(65535);
    const auto n = ::recv(s.get(), buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
}

Bytes query(uint16_t id, std::string_view zone, uint16_t qtype) {
    Bytes q;
    auto put16 = [&](uint16_t v) {
        q.push_back(static_cast<std::byte>(v >> 8));
        q.push_back(static_cast<std::byte>(v & 0xff));
    };
    for (const uint16_t v : {id, uint16_t{0}, uint16_t{1}, uint16_t{0}, uint16_t{0}, uint16_t{0}}) {
        put16(v);
    }
    auto name = common::nameToWire(zone);
    q.insert(q.end(), name->begin(), name->end());
    put16(qtype);
    put16(1);
    return q;
}

uint8_t rcode(ByteSpan m) { return std::to_integer<uint8_t>(m[3]) & 0x0f; }
uint16_t count(ByteSpan m, size_t at) {
    return static_cast<uint16_t>((std::to_integer<uint16_t>(m[at]) << 8) |
                                 std::to_integer<uint16_t>(m[at + 1]));
}

// ---- the fleet and its secondary's pdns
// ----------------------------------------------------------

HttpResult secondaryApi(Fleet& f, const std::string& method, const std::string& path,
                        const std::string& body = {}) {
    httplib::Client c(f.secondaries[0]->apiUrl());
    const httplib::Headers h{{"X-API-Key", f.secondaries[0]->apiKey()}};
    auto r = method == "PUT"    ? c.Put(path, h, body, "application/json")
             : method == "POST" ? c.Post(path, h, body, "application/json")
                                : c.Get(path, h);
    if (!r) return HttpResult{.status = 0, .body = {}, .error = httplib::to_string(r.error())};
    return HttpResult{.status = r->status, .body = r->body, .error = {}};
}

std::string zonePath(const std::string& zone) {
    return "/api/v1/servers/localhost/zones/" + common::encodePdnsZoneId(zone);
}

json aRecord(const std::string& name, const std::string& ip) {
    return {{"name", name},
            {"type", "A"},
            {"ttl", 300},
            {"changetype", "REPLACE"},
            {"records", {{{"content", ip}, {"disabled", false}}}}};
}

// A Prometheus sample of the syncer's /metrics, 0 when absent.
double metric(Fleet& f, const std::string& sample) {
    const auto r = f.syncerHttp(0, "/metrics");
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    }
    return 0;
}

size_t openFds(pid_t pid) {
    size_t n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}

class ListenerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Trace logging: the last test checks that the TSIG secret is in no log line.
        fleet_ = new Fleet(FleetOptions{.secondaries = 1,
                                        .canary_zone = "canary.pdd.test.",
                                        .reconcile_interval = std::chrono::hours{1},
                                        .log_level = "trace"});
        fleet_->start();
        ASSERT_EQ(
            fleet_->createZone(kZone, json::array({aRecord("www." + kZone, "192.0.2.1")})).status,
            201);
        const bool served = fleet_->waitLikePrimary(kZone);
        EXPECT_TRUE(served) << "the secondary does not serve the zone like the primary";
        dumpLogsIfFailed(80);  // TearDown does not run for a failed suite set-up
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
    Fleet& f() { return *fleet_; }
    int port() { return f().syncer_listen_ports[0]; }

    // The syncer's key, read from its pdns as a test with access to that pdns can.
    TsigKey key() {
        const auto r =
            secondaryApi(f(), "GET", "/api/v1/servers/localhost/tsigkeys/" + std::string(kKeyName));
        if (r.status != 200) throw std::runtime_error("no TSIG key in the secondary: " + r.body);
        const auto j = json::parse(r.body);
        auto k = TsigKey::fromBase64(kKeyName, j.at("algorithm").get<std::string>(),
                                     j.at("key").get<std::string>());
        if (!k) throw std::runtime_error(k.error().message);
        return std::move(*k);
    }

    // Sends a signed query over TCP and returns the answer messages (AXFR: up to the closing
    // SOA), each checked with the TSIG verifier; `status` is the first failure or Valid.
    std::vector<Bytes> signedTcp(const TsigKey& k, uint16_t qtype, const std::string& zone,
                                 TsigStatus* status) {
        auto q = query(0x4242, zone, qtype);
        auto mac = secondary_syncer::signQuery(q, k, std::chrono::system_clock::now());
        if (!mac) throw std::runtime_error(mac.error().message);
        auto s = tcpConnect(port());
        EXPECT_TRUE(sendTcpMessage(s.get(), q));
        TsigResponseVerifier v(k, *mac);
        std::vector<Bytes> out;
        *status = TsigStatus::Valid;
        while (auto m = readTcpMessage(s.get())) {
            const auto st = v.verify(*m, std::chrono::system_clock::now());
            if (st != TsigStatus::Valid && *status == TsigStatus::Valid) *status = st;
            out.push_back(std::move(*m));
            const auto& last = out.back();
            if (qtype != common::rrtype::kAxfr || rcode(last) != 0) break;
            // The closing SOA: the last RR of a message other than the first, or the first
            // message when it holds more than the opening SOA.
            if (lastIsSoa(last) && (out.size() > 1 || count(last, 6) > 1)) break;
        }
        return out;
    }

    // True when the last answer RR of `m` is a SOA (the AXFR's closing record).
    static bool lastIsSoa(ByteSpan m) {
        if (m.size() < 12 || count(m, 6) == 0) return false;
        size_t pos = 12;
        auto skip = [&](size_t p) {
            while (p < m.size()) {
                const auto len = std::to_integer<uint8_t>(m[p]);
                if ((len & 0xC0) == 0xC0) return p + 2;
                p += 1 + len;
                if (len == 0) return p;
            }
            return p;
        };
        pos = skip(pos) + 4;
        uint16_t type = 0;
        for (uint16_t i = 0; i < count(m, 6); ++i) {
            pos = skip(pos);
            type = count(m, pos);
            pos += 10 + count(m, pos + 8);
        }
        return type == common::rrtype::kSoa;
    }

    static inline Fleet* fleet_ = nullptr;
    static inline const std::string kZone = "listen.pdd.test.";
};

// ---- the tests ---------------------------------------------------------------------------------

TEST_F(ListenerTest, ManagedZoneCarriesTheKey_TransferredSigned_ThenOnlyTheSoaKept) {
    const auto z = secondaryApi(f(), "GET", zonePath(kZone));
    ASSERT_EQ(z.status, 200) << z.body;
    EXPECT_EQ(json::parse(z.body).at("slave_tsig_key_ids"), json::array({kKeyName}));

    const auto k = key();
    EXPECT_EQ(k.algorithm(), secondary_syncer::TsigAlgorithm::HmacSha256);
    // pdns took the zone by a signed AXFR from the listener (pdns 4.7 rejects a transfer whose
    // TSIG does not verify) ...
    EXPECT_GE(metric(f(), R"(pdns_distribute_syncer_listener_transfers_total{result="completed"})"),
              1);
    // ... after which the listener keeps the SOA alone (listener unit tests: the AXFR itself):
    // a signed AXFR is refused, signed; the SOA is answered. (The syncer retires the body once
    // its own look at the local pdns passed, which can come just after the fixture saw it.)
    TsigStatus status{};
    std::vector<Bytes> messages;
    EXPECT_TRUE(waitUntil(
        [&] {
            messages = signedTcp(k, common::rrtype::kAxfr, kZone, &status);
            return messages.size() == 1 && rcode(messages.front()) == kRefused;
        },
        10s, 100ms))
        << "the listener still serves the whole body";
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(status, TsigStatus::Valid);
    EXPECT_EQ(rcode(messages.front()), kRefused);
    messages = signedTcp(k, common::rrtype::kSoa, kZone, &status);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(status, TsigStatus::Valid);
    EXPECT_EQ(rcode(messages.front()), 0);
    EXPECT_TRUE(lastIsSoa(messages.front()));
}

TEST_F(ListenerTest, UnsignedOrBadlySignedQueries_NotAuth) {
    const auto k = key();
    {  // unsigned AXFR for a managed zone: NOTAUTH, no data
        auto s = tcpConnect(port());
        ASSERT_TRUE(sendTcpMessage(s.get(), query(1, kZone, common::rrtype::kAxfr)));
        auto m = readTcpMessage(s.get());
        ASSERT_TRUE(m);
        EXPECT_EQ(rcode(*m), kNotAuth);
        EXPECT_EQ(count(*m, 6), 0);  // no answer records
        EXPECT_TRUE(closedByPeer(s.get(), 5s));
    }
    {  // unsigned SOA over UDP
        auto m = udpExchange(port(), query(2, kZone, common::rrtype::kSoa));
        ASSERT_TRUE(m);
        EXPECT_EQ(rcode(*m), kNotAuth);
        EXPECT_EQ(count(*m, 6), 0);
    }
    {  // the right key name with another secret: NOTAUTH, TSIG error BADSIG, unsigned
        auto forged =
            TsigKey::fromBase64(kKeyName, "hmac-sha256", "Zm9yZ2VkLWtleS1mb3JnZWQta2V5IQ==");
        ASSERT_TRUE(forged);
        auto q = query(3, kZone, common::rrtype::kAxfr);
        ASSERT_TRUE(secondary_syncer::signQuery(q, *forged, std::chrono::system_clock::now()));
        auto s = tcpConnect(port());
        ASSERT_TRUE(sendTcpMessage(s.get(), q));
        auto m = readTcpMessage(s.get());
        ASSERT_TRUE(m);
        EXPECT_EQ(rcode(*m), kNotAuth);
        EXPECT_EQ(count(*m, 6), 0);
        auto rec = secondary_syncer::findTsig(*m);
        ASSERT_TRUE(rec && *rec);
        EXPECT_EQ((*rec)->error, 16);
        EXPECT_TRUE((*rec)->mac.empty());
    }
    {  // another key name: BADKEY
        auto other = TsigKey::fromBase64("someone-else.", "hmac-sha256", "c2VjcmV0LXNlY3JldA==");
        ASSERT_TRUE(other);
        auto q = query(4, kZone, common::rrtype::kSoa);
        ASSERT_TRUE(secondary_syncer::signQuery(q, *other, std::chrono::system_clock::now()));
        auto m = udpExchange(port(), q);
        ASSERT_TRUE(m);
        EXPECT_EQ(rcode(*m), kNotAuth);
        auto rec = secondary_syncer::findTsig(*m);
        ASSERT_TRUE(rec && *rec);
        EXPECT_EQ((*rec)->error, 17);
    }
    {  // our key, but signed an hour ago: BADTIME, signed so the client can check it
        auto q = query(5, kZone, common::rrtype::kAxfr);
        const auto then = std::chrono::system_clock::now() - std::chrono::hours{1};
        auto mac = secondary_syncer::signQuery(q, k, then);
        ASSERT_TRUE(mac);
        auto s = tcpConnect(port());
        ASSERT_TRUE(sendTcpMessage(s.get(), q));
        auto m = readTcpMessage(s.get());
        ASSERT_TRUE(m);
        EXPECT_EQ(rcode(*m), kNotAuth);
        EXPECT_EQ(count(*m, 6), 0);
        TsigResponseVerifier v(k, *mac);
        ASSERT_EQ(v.verify(*m, then), TsigStatus::Valid);
        EXPECT_EQ(v.lastRecord()->error, 18);
    }
    EXPECT_GE(
        metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="unsigned"})"), 2);
    EXPECT_GE(metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="badsig"})"),
              1);
    EXPECT_GE(metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="badkey"})"),
              1);
    EXPECT_GE(
        metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="badtime"})"), 1);
}

TEST_F(ListenerTest, SignedQueries_UnknownZoneNotAuth_IxfrNotImp_OtherTypesRefused) {
    const auto k = key();
    // A zone the secondary's pdns has but the syncer does not manage.
    const auto local = secondaryApi(
        f(), "POST", "/api/v1/servers/localhost/zones",
        json{{"name", "local.pdd.test."}, {"kind", "Native"}, {"nameservers", {"ns1.pdd.test."}}}
            .dump());
    ASSERT_EQ(local.status, 201) << local.body;
    struct Case {
        std::string zone;
        uint16_t qtype;
        uint8_t want;
    };
    for (const auto& c :
         {Case{"unknown.pdd.test.", common::rrtype::kAxfr, kNotAuth},
          Case{"local.pdd.test.", common::rrtype::kAxfr, kNotAuth},  // not ours
          Case{kZone, common::rrtype::kIxfr, kNotImp}, Case{kZone, common::rrtype::kA, kRefused},
          Case{kZone, common::rrtype::kSoa, 0}}) {
        TsigStatus status{};
        const auto messages = signedTcp(k, c.qtype, c.zone, &status);
        ASSERT_EQ(messages.size(), 1u) << c.zone << " " << c.qtype;
        EXPECT_EQ(rcode(messages[0]), c.want) << c.zone << " " << c.qtype;
        EXPECT_EQ(status, TsigStatus::Valid) << c.zone << " " << c.qtype;  // answers are signed
    }
    // The same over UDP for the SOA (what pdns's refresh check asks).
    auto q = query(9, kZone, common::rrtype::kSoa);
    auto mac = secondary_syncer::signQuery(q, k, std::chrono::system_clock::now());
    ASSERT_TRUE(mac);
    auto m = udpExchange(port(), q);
    ASSERT_TRUE(m);
    EXPECT_EQ(rcode(*m), 0);
    EXPECT_EQ(count(*m, 6), 1);
    TsigResponseVerifier v(k, *mac);
    EXPECT_EQ(v.verify(*m, std::chrono::system_clock::now()), TsigStatus::Valid);
}

// pdns's own refresh check (a NOTIFY makes it ask the master's SOA over UDP): pdns signs the
// query with the zone's key, the listener verifies it and answers (signed), and only with an
// answer does pdns mark the zone fresh (last_check). pdns 4.7 does not check the TSIG of an SOA
// answer (resolver.cc), so the signature of UDP answers is checked by the test client above.
TEST_F(ListenerTest, PdnsRefreshCheck_SignedSoaOverUdp_AnsweredToPdns) {
    auto lastCheck = [&] {
        const auto z = secondaryApi(f(), "GET", zonePath(kZone));
        return z.status == 200 ? json::parse(z.body).value("last_check", int64_t{0}) : -1;
    };
    const auto before = lastCheck();
    ASSERT_GT(before, 0);
    const double refused_before =
        metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="unsigned"})");
    auto notify = query(0x5151, kZone, common::rrtype::kSoa);
    notify[2] = std::byte{0x24};  // opcode NOTIFY, AA
    const int pdns_port = f().secondaries[0]->dnsPort();
    EXPECT_TRUE(waitUntil(
        [&] {
            (void)udpExchange(pdns_port, notify, "127.0.0.1", 200ms);
            return lastCheck() > before;
        },
        15s, 300ms))
        << "pdns did not complete a refresh check against the listener";
    EXPECT_EQ(
        metric(f(), R"(pdns_distribute_syncer_listener_tsig_refused_total{reason="unsigned"})"),
        refused_before);
}

TEST_F(ListenerTest, SourceOutsideTheAllowList_GetsNothing) {
    const auto k = key();
    auto q = query(11, kZone, common::rrtype::kSoa);
    ASSERT_TRUE(secondary_syncer::signQuery(q, k, std::chrono::system_clock::now()));
    // The same signed query is answered from 127.0.0.1 ...
    ASSERT_TRUE(udpExchange(port(), q, "127.0.0.1"));
    // ... but from 127.0.0.2 the UDP query is dropped and the TCP connection closed unanswered.
    EXPECT_FALSE(udpExchange(port(), q, "127.0.0.2", 1500ms));
    auto s = tcpConnect(port(), "127.0.0.2");
    sendTcpMessage(s.get(), q);  // may fail: the listener may have closed already
    ReadResult why = ReadResult::Data;
    EXPECT_FALSE(readTcpMessage(s.get(), 5s, &why));
    EXPECT_EQ(why, ReadResult::Closed);
}

// Malformed messages of many kinds, deterministic.
std::vector<Bytes> malformedMessages(const TsigKey& k, const std::string& zone, size_t n) {
    std::mt19937 rng(20261126);
    auto signed_query = query(77, zone, common::rrtype::kAxfr);
    (void)secondary_syncer::signQuery(signed_query, k, std::chrono::system_clock::now());
    std::vector<Bytes> out;
    for (size_t i = 0; out.size() < n; ++i) {
        Bytes m;
        switch (i % 9) {
            case 0: {  // truncated signed query
                std::uniform_int_distribution<size_t> cut(1, signed_query.size() - 1);
                m.assign(signed_query.begin(),
                         signed_query.begin() + static_cast<std::ptrdiff_t>(cut(rng)));
                break;
            }
            case 1: {  // question name that points at itself
                m = query(1, "a.", common::rrtype::kAxfr);
                m.resize(12);
                for (const int b : {0xC0, 12, 0, 252, 0, 1}) m.push_back(static_cast<std::byte>(b));
                break;
            }
            case 2: {  // two pointers pointing at each other
                m = query(1, "a.", common::rrtype::kAxfr);
                m.resize(12);
                for (const int b : {0xC0, 14, 0xC0, 12, 0, 252, 0, 1}) {
                    m.push_back(static_cast<std::byte>(b));
                }
                break;
            }
            case 3: {  // a label longer than the message
                m = query(1, zone, common::rrtype::kAxfr);
                m[12] = std::byte{63};
                m.resize(20);
                break;
            }
            case 4: {  // garbage
                std::uniform_int_distribution<size_t> len(0, 600);
                std::uniform_int_distribution<int> byte(0, 255);
                m.resize(len(rng));
                for (auto& b : m) b = static_cast<std::byte>(byte(rng));
                break;
            }
            case 5: {  // counts promising records that are not there
                m = query(1, zone, common::rrtype::kAxfr);
                m[6] = m[7] = m[8] = m[9] = m[10] = m[11] = std::byte{0xff};
                break;
            }
            case 6: {  // TSIG whose RDLENGTH runs past the end
                m = signed_query;
                const auto rec = secondary_syncer::findTsig(m);
                const size_t at = (rec && *rec) ? (*rec)->offset + k.nameWire().size() + 8 : 30;
                m[at] = std::byte{0x7f};
                break;
            }
            case 7: {  // a response (QR set): never answered
                m = signed_query;
                m[2] |= std::byte{0x80};
                break;
            }
            case 8: {  // no question, an opcode that is not QUERY
                m = query(1, zone, common::rrtype::kAxfr);
                m[2] = std::byte{0x28};
                m[5] = std::byte{0};
                break;
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

TEST_F(ListenerTest, ThousandMalformedMessagesOverTcpAndUdp_StillAnswersAndLeaksNothing) {
    const auto k = key();
    const pid_t pid = f().syncers[0]->pid();
    const auto fds_before = openFds(pid);
    const auto messages = malformedMessages(k, kZone, 1000);
    const double malformed_before = metric(f(), "pdns_distribute_syncer_listener_malformed_total");

    // TCP: each message on a connection of its own (the listener hangs up after a malformed
    // one); every fourth one with a length prefix that lies, or a huge one, before hanging up.
    size_t closed = 0;
    for (size_t i = 0; i < messages.size(); ++i) {
        auto s = tcpConnect(port());
        const auto& m = messages[i];
        Bytes framed;
        size_t prefix = m.size();
        if (i % 4 == 1) prefix = 0xffff;             // huge length prefix, then close
        if (i % 4 == 2) prefix = m.size() + 100;     // longer than what follows
        if (i % 4 == 3 && m.size() > 2) prefix = 5;  // shorter than a header
        framed.push_back(static_cast<std::byte>(prefix >> 8));
        framed.push_back(static_cast<std::byte>(prefix & 0xff));
        framed.insert(framed.end(), m.begin(), m.end());
        (void)sendAll(s.get(), framed);
        ::shutdown(s.get(), SHUT_WR);
        if (closedByPeer(s.get(), 5s)) ++closed;  // never left hanging
    }
    EXPECT_EQ(closed, messages.size());

    // UDP: the same messages as datagrams.
    {
        auto s = socketFrom(SOCK_DGRAM, "127.0.0.1");
        const auto dst = loopback("127.0.0.1", port());
        for (const auto& m : messages) {
            ::sendto(s.get(), m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&dst),
                     sizeof(dst));
            // Drain whatever comes back (FORMERR for some) so our buffer never fills.
            std::array<std::byte, 1500> buf{};
            while (::recv(s.get(), buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
            }
        }
    }

    // Still alive and answering a valid signed query, over TCP and UDP.
    ASSERT_TRUE(f().syncers[0]->running());
    TsigStatus status{};
    const auto answer = signedTcp(k, common::rrtype::kSoa, kZone, &status);
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_EQ(rcode(answer[0]), 0);
    EXPECT_EQ(status, TsigStatus::Valid);
    auto q = query(12, kZone, common::rrtype::kSoa);
    ASSERT_TRUE(secondary_syncer::signQuery(q, k, std::chrono::system_clock::now()));
    EXPECT_TRUE(
        waitUntil([&] { return udpExchange(port(), q, "127.0.0.1", 500ms).has_value(); }, 5s));
    EXPECT_GE(metric(f(), "pdns_distribute_syncer_listener_malformed_total") - malformed_before,
              500);
    // Connections do not pile up: the syncer's descriptors come back to where they were.
    EXPECT_TRUE(waitUntil([&] { return openFds(pid) <= fds_before + 2; }, 10s, 50ms))
        << openFds(pid) << " descriptors open, " << fds_before << " before";
    // And the hop still works end to end.
    ASSERT_EQ(f().setA(kZone, "www." + kZone, {"192.0.2.99"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(kZone));
}

// The syncer started the way systemd starts it: the sockets come from LISTEN_FDS (here from
// systemd-socket-activate, one UDP and one TCP socket on the listener's port, chained).
TEST_F(ListenerTest, SocketActivation_SyncerServesOnThePassedSockets) {
    ASSERT_EQ(f().stopSyncer(0), 0);
    const auto where = fmt::format("127.0.0.1:{}", port());
    ChildProcess activated;
    activated.start(
        {"systemd-socket-activate", "-d", "-l", where, "--fdname=udp", "systemd-socket-activate",
         "-l", where, "--fdname=tcp", daemonBinary("pdns-secondary-syncer"), "--config",
         f().dir.file("syncer1.toml")},
        {}, f().dir.file("syncer1-activated.log"), "syncer1-activated");
    // A datagram makes the activator start it (it is left for the syncer, which answers FORMERR).
    ASSERT_TRUE(waitUntil(
        [&] {
            (void)udpExchange(port(), Bytes{std::byte{0}}, "127.0.0.1", 100ms);
            return activated.running() && waitHttpHealth(f().syncer_http_ports[0], 200ms);
        },
        40s, 100ms))
        << activated.logTail();
    // Had the syncer bound the port itself, it would have failed: the activator holds it. A
    // change arriving proves the local pdns transfers through the passed sockets.
    ASSERT_EQ(f().setA(kZone, "www." + kZone, {"192.0.2.77"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(kZone));
    TsigStatus status{};
    const auto answer = signedTcp(key(), common::rrtype::kSoa, kZone, &status);
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_EQ(status, TsigStatus::Valid);
    EXPECT_EQ(activated.stop(), 0);
    f().startSyncer(0);
    ASSERT_EQ(f().setA(kZone, "www." + kZone, {"192.0.2.78"}).status, 204);
    EXPECT_TRUE(f().waitLikePrimary(kZone));
}

// ---- a rogue on the listener's port
// ---------------------------------------------------------------

// Binds the port the syncer left and answers every query with forged, unsigned data: a higher
// serial and other addresses. Records what pdns asked and when it hung up.
class Rogue {
public:
    Rogue(int port, std::string zone, Bytes body) : zone_(std::move(zone)), body_(std::move(body)) {
        const auto addr = loopback("127.0.0.1", port);
        tcp_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        udp_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        const int one = 1;
        ::setsockopt(tcp_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (::bind(tcp_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
            ::listen(tcp_.get(), 16) != 0 ||
            ::bind(udp_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
            throw std::runtime_error("the rogue cannot bind the listener's port");
        }
        thread_ = std::jthread([this](const std::stop_token& st) { run(st); });
    }
    int axfrQueries() const { return axfr_queries_; }
    int signedAxfrQueries() const { return signed_axfr_queries_; }
    int answeredAndHungUp() const { return answered_and_hung_up_; }

private:
    void run(const std::stop_token& st) {
        while (!st.stop_requested()) {
            std::array<pollfd, 2> p{pollfd{.fd = tcp_.get(), .events = POLLIN, .revents = 0},
                                    pollfd{.fd = udp_.get(), .events = POLLIN, .revents = 0}};
            if (::poll(p.data(), p.size(), 100) <= 0) continue;
            if ((p[1].revents & POLLIN) != 0) {
                sockaddr_storage from{};
                socklen_t len = sizeof(from);
                Bytes buf(4096);
                const auto n = ::recvfrom(udp_.get(), buf.data(), buf.size(), 0,
                                          reinterpret_cast<sockaddr*>(&from), &len);
                if (n > 0) {
                    buf.resize(static_cast<size_t>(n));
                    if (auto a = common::buildSoaResponse(buf, body_)) {
                        ::sendto(udp_.get(), a->data(), a->size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), len);
                    }
                }
            }
            if ((p[0].revents & POLLIN) != 0) {
                Fd c(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
                if (c.get() >= 0) serve(c.get());
            }
        }
    }
    void serve(int fd) {
        bool answered = false;
        while (auto q = readTcpMessage(fd, 5s)) {
            auto parsed = common::parseQuery(*q);
            if (!parsed) return;
            if (parsed->qtype == common::rrtype::kAxfr) {
                ++axfr_queries_;
                auto tsig = secondary_syncer::findTsig(*q);
                if (tsig && *tsig) ++signed_axfr_queries_;
                auto messages = common::buildAxfrResponse(*q, zone_, body_);
                if (!messages) return;
                for (const auto& m : *messages) sendTcpMessage(fd, m);
                answered = true;
            } else if (auto a = common::buildSoaResponse(*q, body_)) {
                sendTcpMessage(fd, *a);
            }
        }
        if (answered && closedByPeer(fd, 5s)) ++answered_and_hung_up_;
    }

    std::string zone_;
    Bytes body_;
    Fd tcp_;
    Fd udp_;
    std::atomic<int> axfr_queries_{0};
    std::atomic<int> signed_axfr_queries_{0};
    std::atomic<int> answered_and_hung_up_{0};
    std::jthread thread_;
};

TEST_F(ListenerTest, RogueOnTheListenersPort_CannotGetForgedDataIntoPdns) {
    auto& sec = *f().secondaries[0];
    ASSERT_TRUE(f().waitLikePrimary(kZone));
    const auto genuine_serial = f().serial(sec, kZone);
    const auto genuine = f().axfr(sec, kZone);
    ASSERT_TRUE(genuine_serial && genuine);
    const uint32_t forged_serial = *genuine_serial + 1000;
    auto forged = common::encodeRrsFromText(
        fmt::format("{0} 3600 IN SOA ns1.{0} hostmaster.{0} {1} 10800 3600 604800 3600\n"
                    "{0} 3600 IN NS ns1.{0}\n"
                    "www.{0} 300 IN A 203.0.113.66\n",
                    kZone, forged_serial));
    ASSERT_TRUE(forged) << forged.error().message;

    ASSERT_EQ(f().stopSyncer(0), 0);
    {
        Rogue rogue(port(), kZone, *forged);
        ASSERT_EQ(secondaryApi(f(), "PUT", zonePath(kZone) + "/axfr-retrieve").status, 200);
        // pdns connected, asked with its TSIG key, got the forged answer and hung up.
        ASSERT_TRUE(waitUntil([&] { return rogue.answeredAndHungUp() >= 1; }, 20s, 20ms))
            << "pdns did not transfer from the rogue";
        EXPECT_EQ(rogue.signedAxfrQueries(), rogue.axfrQueries());
        // It is not served: give pdns time to have committed it, had it accepted it.
        EXPECT_FALSE(waitUntil([&] { return f().serial(sec, kZone) != genuine_serial; }, 3s, 50ms))
            << "the secondary took the rogue's unsigned answer";
        EXPECT_EQ(f().axfr(sec, kZone), genuine);

        // Control: without the key on the zone the same rogue does get its data in. This is
        // what the TSIG key prevents, and shows the rogue above was able to.
        ASSERT_EQ(secondaryApi(f(), "PUT", zonePath(kZone), R"({"slave_tsig_key_ids": []})").status,
                  204);
        ASSERT_EQ(secondaryApi(f(), "PUT", zonePath(kZone) + "/axfr-retrieve").status, 200);
        EXPECT_TRUE(waitUntil([&] { return f().serial(sec, kZone) == forged_serial; }, 20s, 50ms))
            << "the control failed: the rogue could not inject data even without TSIG";
    }
    // The syncer comes back, gives the zone its key again (as after an upgrade from a version
    // without TSIG) and repairs it.
    f().startSyncer(0);
    EXPECT_TRUE(f().waitLikePrimary(kZone, 30s));
    EXPECT_EQ(f().axfr(sec, kZone), genuine);
    const auto z = secondaryApi(f(), "GET", zonePath(kZone));
    ASSERT_EQ(z.status, 200);
    EXPECT_EQ(json::parse(z.body).at("slave_tsig_key_ids"), json::array({kKeyName}));
}

// The secret lives in the secondary's pdns database and the syncer's memory only.
TEST_F(ListenerTest, TsigSecret_InNoLogAndNoFileOfOurs) {
    const auto r =
        secondaryApi(f(), "GET", "/api/v1/servers/localhost/tsigkeys/" + std::string(kKeyName));
    ASSERT_EQ(r.status, 200);
    const auto secret_b64 = json::parse(r.body).at("key").get<std::string>();
    ASSERT_GE(secret_b64.size(), 40u);
    const auto k = key();
    const auto secret_hex = common::toHex(k.secret());
    auto contains = [&](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        const std::string text{std::istreambuf_iterator<char>(in), {}};
        return text.find(secret_b64) != std::string::npos ||
               text.find(secret_hex) != std::string::npos ||
               text.find(secret_b64.substr(0, 24)) != std::string::npos;
    };
    std::vector<std::string> files{f().syncers[0]->logPath(),
                                   f().dir.file("syncer1-activated.log")};
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(f().dir.file("sec1-state"))) {
        if (e.is_regular_file()) files.push_back(e.path().string());
    }
    for (const auto& file : files) EXPECT_FALSE(contains(file)) << file;
    // The syncer logged at trace level meanwhile (the check above had something to read).
    std::ifstream log(f().syncers[0]->logPath());
    const std::string text{std::istreambuf_iterator<char>(log), {}};
    EXPECT_NE(text.find("TSIG key 'pdns-distribute-sec1.'"), std::string::npos);
}

}  // namespace
}  // namespace pdns_distribute::e2e
