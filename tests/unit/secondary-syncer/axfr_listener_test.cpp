// SPDX-License-Identifier: Apache-2.0
// screenQuery: what the AXFR listener does with a message before it looks at the zone; and one
// listener on a loopback socket for what it keeps of a zone once applied. The sockets with a real
// pdns are covered by tests/e2e/listener_test.cpp.
#include "axfr_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/metrics.hpp>

namespace pdns_distribute::secondary_syncer {
namespace {

using Outcome = ScreenedQuery::Outcome;

const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'760'000'000}};

TsigKey key(char fill = 'k') {
    return TsigKey("pdns-distribute-sec1.", TsigAlgorithm::HmacSha256, Bytes(32, std::byte(fill)));
}

Bytes query(uint16_t qtype, uint8_t flags = 0) {
    Bytes q{std::byte{0x12}, std::byte{0x34}, std::byte{flags}, std::byte{0},
            std::byte{0},    std::byte{1},    std::byte{0},     std::byte{0},
            std::byte{0},    std::byte{0},    std::byte{0},     std::byte{0}};
    auto name = common::nameToWire("example.org.");
    q.insert(q.end(), name->begin(), name->end());
    for (const uint16_t v : {qtype, uint16_t{1}}) {
        q.push_back(static_cast<std::byte>(v >> 8));
        q.push_back(static_cast<std::byte>(v & 0xff));
    }
    return q;
}

uint8_t rcode(ByteSpan m) { return std::to_integer<uint8_t>(m[3]) & 0x0f; }

TEST(ScreenQuery, SignedQuery_AcceptedWithASignerTheClientVerifies) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    auto mac = signQuery(q, k, kNow);
    ASSERT_TRUE(mac);
    auto s = screenQuery(q, &k, kNow);
    ASSERT_EQ(s.outcome, Outcome::Accepted);
    ASSERT_TRUE(s.query && s.signer);
    EXPECT_EQ(s.query->qname, "example.org.");
    EXPECT_FALSE(s.reply);
    auto answer = common::buildErrorResponse(q, kRcodeNotAuth);
    ASSERT_TRUE(answer);
    ASSERT_TRUE(s.signer->sign(*answer, kNow));
    TsigResponseVerifier client(k, *mac);
    EXPECT_EQ(client.verify(*answer, kNow), TsigStatus::Valid);
}

TEST(ScreenQuery, UnsignedQuery_RefusedNotAuthWithoutTsig) {
    const auto k = key();
    const auto q = query(common::rrtype::kAxfr);
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::Unsigned);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), kRcodeNotAuth);
    auto tsig = findTsig(*s.reply);
    ASSERT_TRUE(tsig);
    EXPECT_FALSE(tsig->has_value());
}

TEST(ScreenQuery, NoKeyYet_SignedQueryRefusedAsUnsigned) {
    auto q = query(common::rrtype::kSoa);
    ASSERT_TRUE(signQuery(q, key(), kNow));
    auto s = screenQuery(q, nullptr, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::Unsigned);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), kRcodeNotAuth);
}

TEST(ScreenQuery, OtherSecret_RefusedWithUnsignedBadSig) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    ASSERT_TRUE(signQuery(q, key('x'), kNow));
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Refused);
    EXPECT_EQ(s.tsig.status, TsigStatus::BadSig);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    auto tsig = findTsig(*s.reply);
    ASSERT_TRUE(tsig && *tsig);
    EXPECT_EQ((*tsig)->error, static_cast<uint16_t>(TsigError::BadSig));
    EXPECT_TRUE((*tsig)->mac.empty());
}

TEST(ScreenQuery, Response_NotAQueryAndNoReply) {
    const auto k = key();
    auto q = query(common::rrtype::kSoa, 0x84);  // QR, AA
    ASSERT_TRUE(signQuery(q, k, kNow));
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::NotAQuery);
    EXPECT_FALSE(s.signer);
    EXPECT_FALSE(s.reply);
}

TEST(ScreenQuery, NoQuestion_MalformedWithFormErr) {
    const auto k = key();
    auto q = query(common::rrtype::kAxfr);
    q[5] = std::byte{0};  // QDCOUNT 0
    auto s = screenQuery(q, &k, kNow);
    EXPECT_EQ(s.outcome, Outcome::Malformed);
    EXPECT_FALSE(s.query);
    EXPECT_FALSE(s.signer);
    ASSERT_TRUE(s.reply);
    EXPECT_EQ(rcode(*s.reply), 1);
}

// A signed query over TCP to 127.0.0.1:port; the first answer message (empty on failure).
Bytes askTcp(uint16_t port, const TsigKey& k, uint16_t qtype) {
    auto q = query(qtype);
    if (!signQuery(q, k, std::chrono::system_clock::now())) return {};
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Bytes out;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        Bytes framed{static_cast<std::byte>(q.size() >> 8), static_cast<std::byte>(q.size())};
        framed.insert(framed.end(), q.begin(), q.end());
        auto readAll = [&](std::byte* p, size_t n) {
            while (n > 0) {
                const auto r = ::read(fd, p, n);
                if (r <= 0) return false;
                p += r;
                n -= static_cast<size_t>(r);
            }
            return true;
        };
        std::array<std::byte, 2> len{};
        if (::write(fd, framed.data(), framed.size()) == static_cast<ssize_t>(framed.size()) &&
            readAll(len.data(), 2)) {
            out.resize((std::to_integer<size_t>(len[0]) << 8) | std::to_integer<size_t>(len[1]));
            if (!readAll(out.data(), out.size())) out.clear();
        }
    }
    ::close(fd);
    return out;
}

// A port the kernel just handed out on 127.0.0.1 (the listener binds TCP and UDP on one port).
uint16_t freeTcpPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

uint16_t answerCount(ByteSpan m) {
    return static_cast<uint16_t>((std::to_integer<uint16_t>(m[6]) << 8) |
                                 std::to_integer<uint16_t>(m[7]));
}

// Once the local pdns serves an applied body, the listener keeps only its SOA: refresh checks are
// answered, an AXFR is refused (never a zone of the SOA alone), until a new body is served.
TEST(AxfrListenerRetire, KeepsTheSoa_RefusesAxfr_UntilTheNextBody) {
    common::MetricsRegistry metrics;
    AxfrListener listener(common::HostPort{.host = "127.0.0.1", .port = freeTcpPort()},
                          {"127.0.0.1"}, metrics);
    listener.bind();
    const auto k = key();
    listener.setTsigKey(std::make_shared<const TsigKey>(key()));
    listener.start();
    const auto address = listener.masterAddress();
    const auto port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));

    auto body = common::encodeRrsFromText(
        "example.org. 3600 IN SOA ns1.example.org. h.example.org. 7 3600 600 86400 300\n"
        "example.org. 3600 IN NS ns1.example.org.\n"
        "www.example.org. 300 IN A 192.0.2.1\n");
    ASSERT_TRUE(body);
    auto serve = [&](std::string digest) {
        auto b = std::make_shared<ServedBody>();
        b->zone = "example.org.";
        b->bytes = *body;
        b->digest = std::move(digest);
        b->serial = 7;
        listener.serve(std::move(b));
    };
    serve("d1");
    auto axfr = askTcp(port, k, common::rrtype::kAxfr);
    ASSERT_GE(axfr.size(), 12u);
    EXPECT_EQ(rcode(axfr), 0);
    EXPECT_EQ(answerCount(axfr), 4u);  // SOA, NS, A, SOA

    listener.retire("example.org.", "d0");  // another body's digest: nothing changes
    axfr = askTcp(port, k, common::rrtype::kAxfr);
    ASSERT_GE(axfr.size(), 12u);
    EXPECT_EQ(answerCount(axfr), 4u);

    listener.retire("example.org.", "d1");
    EXPECT_TRUE(listener.serves("example.org."));
    axfr = askTcp(port, k, common::rrtype::kAxfr);
    ASSERT_GE(axfr.size(), 12u);
    EXPECT_EQ(rcode(axfr), 5);  // REFUSED
    EXPECT_EQ(answerCount(axfr), 0u);
    const auto soa = askTcp(port, k, common::rrtype::kSoa);
    ASSERT_GE(soa.size(), 12u);
    EXPECT_EQ(rcode(soa), 0);
    EXPECT_EQ(answerCount(soa), 1u);

    serve("d2");  // the next apply
    axfr = askTcp(port, k, common::rrtype::kAxfr);
    ASSERT_GE(axfr.size(), 12u);
    EXPECT_EQ(answerCount(axfr), 4u);
    listener.stop();
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
