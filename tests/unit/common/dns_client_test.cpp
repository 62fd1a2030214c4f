// SPDX-License-Identifier: Apache-2.0
// LdnsDnsClient against a tiny DNS server living in the test (TCP and UDP on an ephemeral
// loopback port, one std::jthread), serving bodies built with the dns.hpp codec.
#include <pdns_distribute/common/dns_client.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

// GCC 12 at -O2 reports a false -Wfree-nonheap-object when a moved-from Result<ZoneBody>
// temporary is destroyed inside a thread lambda (the vector's buffer was moved out).
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;
using Handler = std::function<std::vector<Bytes>(ByteSpan query)>;

constexpr auto kTimeout = 300ms;

constexpr std::string_view kSignedZone =
    R"(example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300
example.org. 3600 IN NS ns1.example.org.
example.org. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
example.org. 3600 IN DNSKEY 256 3 13 oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA==
example.org. 3600 IN RRSIG SOA 13 2 3600 20240201000000 20240101000000 31589 example.org. ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
example.org. 3600 IN RRSIG SOA 13 2 3600 20240215000000 20240110000000 4711 example.org. AAHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
example.org. 3600 IN RRSIG DNSKEY 13 2 3600 20240201000000 20240101000000 31589 example.org. ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
WwW.example.org. 300 IN A 192.0.2.1
www.example.org. 300 IN RRSIG A 13 3 300 20240201000000 20240101000000 31589 example.org. ogHTMqJ1BYHQDgbp/fEp/fYcqSCQDb0aQsY9gR9qiHu0NSJwMqTLyyK35ET3D4hNVJS9X0phiSRUs9LHljuXyQ==
example.org. 3600 IN NSEC www.example.org. NS SOA RRSIG NSEC DNSKEY
unk.example.org. 300 IN TYPE65534 \# 3 abcdef
)";

constexpr std::string_view kSoaLine =
    "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 "
    "1209600 300\n";

Bytes encode(std::string_view text) {
    auto body = encodeRrsFromText(text);
    EXPECT_TRUE(body) << (body ? "" : body.error().message);
    return body ? *body : Bytes{};
}

Bytes bytesOf(std::initializer_list<int> values) {
    Bytes out;
    for (const int v : values) {
        out.push_back(static_cast<std::byte>(v));
    }
    return out;
}

void putU16(Bytes& out, size_t value) {
    out.push_back(static_cast<std::byte>((value >> 8) & 0xff));
    out.push_back(static_cast<std::byte>(value & 0xff));
}

void append(Bytes& out, ByteSpan data) { out.insert(out.end(), data.begin(), data.end()); }

// ---- answers ------------------------------------------------------------------------------------

bool wantsDnssec(ByteSpan query) {
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(query.data()), query.size()) !=
        LDNS_STATUS_OK) {
        return false;
    }
    const bool dnssec_ok = ldns_pkt_edns_do(raw);
    ldns_pkt_free(raw);
    return dnssec_ok;
}

// Whether the query's OPT RR carries exactly one option, an empty NSID (RFC 5001).
bool asksNsid(ByteSpan query) {
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(query.data()), query.size()) !=
        LDNS_STATUS_OK) {
        return false;
    }
    const ldns_rdf* data = ldns_pkt_edns_data(raw);
    const bool nsid = data != nullptr && ldns_rdf_size(data) == 4 &&
                      std::memcmp(ldns_rdf_data(data), "\x00\x03\x00\x00", 4) == 0;
    ldns_pkt_free(raw);
    return nsid;
}

Bytes queryFor(uint16_t id, std::string_view qname, uint16_t qtype) {
    Bytes q;
    putU16(q, id);
    append(q, bytesOf({0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
    append(q, *nameToWire(qname));
    putU16(q, qtype);
    putU16(q, 1);
    return q;
}

// An authoritative answer to `query` holding `rrs` (RRs in body wire format), written by hand.
Bytes answer(ByteSpan query, const std::vector<ByteSpan>& rrs, int rcode = 0, bool tc = false) {
    const auto q = parseQuery(query);
    EXPECT_TRUE(q);
    Bytes out;
    putU16(out, q->id);
    out.push_back(static_cast<std::byte>(0x84 | (tc ? 0x02 : 0)));  // QR, AA, TC
    out.push_back(static_cast<std::byte>(rcode));
    putU16(out, 1);
    putU16(out, rrs.size());
    putU16(out, 0);
    putU16(out, 0);
    append(out, *nameToWire(q->qname));
    putU16(out, q->qtype);
    putU16(out, q->qclass);
    for (const ByteSpan rr : rrs) {
        append(out, rr);
    }
    return out;
}

// Answers AXFR with buildAxfrResponse and SOA/DNSKEY queries from the body at the apex, adding
// the RRSIGs covering them when the query sets DO, as an authoritative server does.
class ZoneHandler {
public:
    ZoneHandler(std::string zone, Bytes body, bool honour_do = true)
        : zone_(std::move(zone)), body_(std::move(body)), honour_do_(honour_do) {}

    std::vector<Bytes> operator()(ByteSpan query) const {
        const auto q = parseQuery(query);
        if (!q) {
            return {};
        }
        if (q->qtype == rrtype::kAxfr) {
            auto messages = buildAxfrResponse(query, zone_, body_);
            return messages ? *messages : std::vector<Bytes>{};
        }
        return {answer(query, apexRrs(q->qtype, honour_do_ && wantsDnssec(query)))};
    }

private:
    std::vector<ByteSpan> apexRrs(uint16_t qtype, bool dnssec_ok) const {
        const auto rrs = decodeBody(body_);
        const Bytes apex = *nameToWire(zone_);
        std::vector<ByteSpan> out;
        for (const RrView& rr : *rrs) {
            const bool covers = rr.type == rrtype::kRrsig && rr.rdata.size() >= 2 &&
                                std::to_integer<int>(rr.rdata[1]) == qtype &&
                                rr.rdata[0] == std::byte{0};
            if (wireNamesEqual(rr.owner, apex) && (rr.type == qtype || (dnssec_ok && covers))) {
                out.push_back(rr.wire);
            }
        }
        return out;
    }

    std::string zone_;
    Bytes body_;
    bool honour_do_;
};

// ---- the server -------------------------------------------------------------------------------

class Socket {
public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

struct Address {
    sockaddr_storage storage{};
    socklen_t length = 0;
};

Address loopback(int family, uint16_t port) {
    Address address;
    if (family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        sin6->sin6_port = htons(port);
        address.length = sizeof(sockaddr_in6);
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(&address.storage);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin->sin_port = htons(port);
        address.length = sizeof(sockaddr_in);
    }
    return address;
}

Socket bound(int family, int type, uint16_t port) {
    Socket s(::socket(family, type | SOCK_CLOEXEC, 0));
    const Address address = loopback(family, port);
    const int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s.get() < 0 ||
        ::bind(s.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
        return Socket();
    }
    return s;
}

uint16_t portOf(const Socket& s) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&storage), &length);
    return ntohs(storage.ss_family == AF_INET6
                     ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

bool readExact(int fd, std::span<std::byte> out) {
    size_t offset = 0;
    while (offset < out.size()) {
        const ssize_t n = ::recv(fd, out.data() + offset, out.size() - offset, 0);
        if (n <= 0) {
            return false;
        }
        offset += static_cast<size_t>(n);
    }
    return true;
}

// Waits (bounded, so stop is prompt) until `fd` is readable; false once stop is requested.
bool waitReadable(int fd, const std::stop_token& stop) {
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    while (!stop.stop_requested()) {
        if (::poll(&pfd, 1, 20) > 0) {
            return true;
        }
    }
    return false;
}

// Serves TCP (length-prefixed, several queries per connection, one connection at a time) and
// UDP on one ephemeral loopback port. A handler returning no message leaves the client waiting;
// an empty message makes the server close the TCP connection there.
class TestDnsServer {
public:
    explicit TestDnsServer(Handler tcp, Handler udp = {}, int family = AF_INET)
        : tcp_handler_(std::move(tcp)), udp_handler_(std::move(udp)) {
        for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
            listener_ = bound(family, SOCK_STREAM, 0);
            if (listener_.get() < 0 || ::listen(listener_.get(), 16) != 0) {
                return;
            }
            udp_ = bound(family, SOCK_DGRAM, portOf(listener_));
            port_ = udp_.get() >= 0 ? portOf(listener_) : 0;  // retry on a UDP port clash
        }
        thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
    }

    [[nodiscard]] uint16_t port() const { return port_; }
    [[nodiscard]] int tcpQueries() const { return tcp_queries_.load(); }
    [[nodiscard]] int udpQueries() const { return udp_queries_.load(); }

private:
    void run(const std::stop_token& stop) {
        std::array<pollfd, 2> fds{pollfd{.fd = listener_.get(), .events = POLLIN, .revents = 0},
                                  pollfd{.fd = udp_.get(), .events = POLLIN, .revents = 0}};
        while (!stop.stop_requested()) {
            if (::poll(fds.data(), fds.size(), 20) <= 0) {
                continue;
            }
            if ((fds[0].revents & POLLIN) != 0) {
                const Socket client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
                serveTcp(client.get(), stop);
            }
            if ((fds[1].revents & POLLIN) != 0) {
                serveUdp();
            }
        }
    }

    void serveTcp(int fd, const std::stop_token& stop) {
        while (waitReadable(fd, stop)) {
            std::array<std::byte, 2> prefix{};
            if (!readExact(fd, prefix)) {
                return;
            }
            Bytes query((std::to_integer<size_t>(prefix[0]) << 8) |
                        std::to_integer<size_t>(prefix[1]));
            if (!readExact(fd, query)) {
                return;
            }
            ++tcp_queries_;
            for (const Bytes& message : tcp_handler_(query)) {
                if (message.empty()) {
                    return;  // an empty message asks the server to hang up
                }
                Bytes framed;
                putU16(framed, message.size());
                append(framed, message);
                if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) !=
                    static_cast<ssize_t>(framed.size())) {
                    return;
                }
            }
        }
    }

    void serveUdp() {
        Bytes datagram(65535);
        sockaddr_storage peer{};
        socklen_t length = sizeof(peer);
        const ssize_t n = ::recvfrom(udp_.get(), datagram.data(), datagram.size(), 0,
                                     reinterpret_cast<sockaddr*>(&peer), &length);
        if (n <= 0 || !udp_handler_) {
            return;
        }
        datagram.resize(static_cast<size_t>(n));
        ++udp_queries_;
        for (const Bytes& message : udp_handler_(datagram)) {
            ::sendto(udp_.get(), message.data(), message.size(), 0,
                     reinterpret_cast<const sockaddr*>(&peer), length);
        }
    }

    Handler tcp_handler_;
    Handler udp_handler_;
    Socket listener_;
    Socket udp_;
    uint16_t port_ = 0;
    std::atomic<int> tcp_queries_{0};
    std::atomic<int> udp_queries_{0};
    std::jthread thread_;  // last: joined before the sockets and handlers go away
};

LdnsDnsClient clientFor(const TestDnsServer& server, std::string address = "127.0.0.1") {
    return LdnsDnsClient(DnsEndpoint{.address = std::move(address), .port = server.port()},
                         kTimeout);
}

// A zone of 1 + n RRs built directly in wire form (encodeRrsFromText would dominate the time).
Bytes largeBody(size_t n) {
    Bytes body = encode(kSoaLine);
    const std::string text(40, 't');
    for (size_t i = 0; i < n; ++i) {
        append(body, *nameToWire(fmt::format("host{}.example.org.", i)));
        const Bytes fixed = bytesOf({0, 16, 0, 1, 0, 0, 1, 44, 0, 41, 40});  // TXT, 1 string
        append(body, fixed);
        append(body, asBytes(text));
    }
    return body;
}

// ---- transfer
// --------------------------------------------------------------------------------------

TEST(LdnsDnsClientTransfer, SignedZone_ReturnsTheServedBody) {
    const Bytes body = encode(kSignedZone);
    TestDnsServer server(ZoneHandler("example.org.", body));
    ASSERT_NE(server.port(), 0);
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->bytes, body);
    EXPECT_EQ(got->serial, 2024010101u);
    EXPECT_EQ(got->rr_count, 11u);
    EXPECT_TRUE(got->dnssec);
    EXPECT_TRUE(got->presigned);
}

TEST(LdnsDnsClientTransfer, LargeZone_ArrivesWhole) {
    const Bytes body = largeBody(50000);
    ASSERT_GT(body.size(), 3u * 1000 * 1000);
    TestDnsServer server(ZoneHandler("example.org.", body));
    const auto started = std::chrono::steady_clock::now();
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->rr_count, 50001u);
    EXPECT_EQ(got->bytes, body);
    // Generous even under ASan; a quadratic collector takes minutes here.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 60s);
}

TEST(LdnsDnsClientTransfer, Ipv6Literal_Works) {
    const Bytes body = encode(kSignedZone);
    TestDnsServer server(ZoneHandler("example.org.", body), {}, AF_INET6);
    if (server.port() == 0) {
        GTEST_SKIP() << "no IPv6 loopback on this host";
    }
    const auto got = clientFor(server, "::1").transfer("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->bytes, body);
}

// A hand-compressed answer, as real servers send: ldns must expand every name, including the
// ones inside SOA and MX rdata, and the body must hold them uncompressed.
std::vector<Bytes> compressedAxfr(ByteSpan query) {
    const auto q = parseQuery(query);
    Bytes m = bytesOf({0, 0, 0x84, 0, 0, 1, 0, 3, 0, 0, 0, 0});
    m[0] = static_cast<std::byte>(q->id >> 8);
    m[1] = static_cast<std::byte>(q->id & 0xff);
    append(m, *nameToWire("Example.org."));  // at offset 12
    append(m, bytesOf({0, 252, 0, 1}));
    // clang-format off
    const Bytes soa = bytesOf({0xc0, 12, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 30,  // RDLENGTH 30
                               3, 'n', 's', '1', 0xc0, 12,                      // ns1 + pointer
                               1, 'h', 0xc0, 12,                                // h + pointer
                               0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1});
    // clang-format on
    append(m, soa);
    append(m, bytesOf({0xc0, 12, 0,  15, 0,   1,   0,   0,   0,    60, 0,
                       9,    0,  10, 4,  'm', 'a', 'i', 'l', 0xc0, 12}));
    append(m, soa);
    return {m};
}

TEST(LdnsDnsClientTransfer, CompressedAnswer_BodyIsUncompressed) {
    TestDnsServer server(compressedAxfr);
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->bytes,
              encode("Example.org. 3600 IN SOA ns1.Example.org. h.Example.org. 7 1 1 1 1\n"
                     "Example.org. 60 IN MX 10 mail.Example.org.\n"));
}

TEST(LdnsDnsClientTransfer, Refused_GivesRefused) {
    TestDnsServer server([](ByteSpan q) { return std::vector<Bytes>{*buildErrorResponse(q, 5)}; });
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "refused");
    EXPECT_NE(got.error().message.find("REFUSED"), std::string::npos) << got.error().message;
}

TEST(LdnsDnsClientTransfer, NotAuth_GivesNotauth) {
    TestDnsServer server([](ByteSpan q) { return std::vector<Bytes>{*buildErrorResponse(q, 9)}; });
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "notauth");
}

TEST(LdnsDnsClientTransfer, ClosedPort_GivesNetwork) {
    uint16_t port = 0;
    {
        const Socket probe = bound(AF_INET, SOCK_STREAM, 0);
        port = portOf(probe);
    }  // closed without listening: connecting is refused
    LdnsDnsClient client(DnsEndpoint{.address = "127.0.0.1", .port = port}, kTimeout);
    const auto got = client.transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "network");
    EXPECT_NE(got.error().message.find("127.0.0.1"), std::string::npos) << got.error().message;
}

TEST(LdnsDnsClientTransfer, SilentServer_TimesOutWithinTheTimeout) {
    TestDnsServer server([](ByteSpan) { return std::vector<Bytes>{}; });
    const auto started = std::chrono::steady_clock::now();
    const auto got = clientFor(server).transfer("example.org.");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "timeout");
    EXPECT_GE(elapsed, kTimeout - 10ms);
    EXPECT_LT(elapsed, kTimeout + 700ms);
}

TEST(LdnsDnsClientTransfer, GarbageAnswer_GivesMalformed) {
    TestDnsServer server([](ByteSpan) { return std::vector<Bytes>{Bytes(40, std::byte{0xff})}; });
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "malformed");
}

TEST(LdnsDnsClientTransfer, OtherZonesSoa_GivesMalformed) {
    // Whatever is asked, this server sends example.org.; the client asked for sub.example.org.
    const Bytes body = encode(kSignedZone);
    TestDnsServer server([&body](ByteSpan q) {
        const Bytes fake = queryFor(parseQuery(q)->id, "example.org.", rrtype::kAxfr);
        return *buildAxfrResponse(fake, "example.org.", body);
    });
    const auto got = clientFor(server).transfer("sub.example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "malformed");
}

TEST(LdnsDnsClientTransfer, ClosedBeforeClosingSoa_GivesNetwork) {
    const Bytes body = largeBody(2000);
    TestDnsServer server([&body](ByteSpan q) {
        auto messages = *buildAxfrResponse(q, "example.org.", body);
        messages.back() = Bytes{};  // the closing SOA never comes: the server hangs up
        return messages;
    });
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "network");
}

TEST(LdnsDnsClientTransfer, StallBeforeClosingSoa_GivesTimeout) {
    const Bytes body = largeBody(2000);
    TestDnsServer server([&body](ByteSpan q) {
        auto messages = *buildAxfrResponse(q, "example.org.", body);
        messages.pop_back();  // the closing SOA never comes and the connection stays open
        return messages;
    });
    const auto got = clientFor(server).transfer("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "timeout");
}

TEST(LdnsDnsClientTransfer, ConcurrentCalls_AllSucceed) {
    const Bytes body = encode(kSignedZone);
    TestDnsServer server(ZoneHandler("example.org.", body));
    LdnsDnsClient client = clientFor(server);
    std::vector<std::optional<Result<ZoneBody>>> results(4);
    {
        std::vector<std::jthread> threads;
        for (auto& slot : results) {
            threads.emplace_back(
                [&client, &slot] { slot.emplace(client.transfer("example.org.")); });
        }
    }
    for (auto& got : results) {
        ASSERT_TRUE(got && *got) << (got ? got->error().message : "no result");
        EXPECT_EQ((*got)->bytes, body);
    }
}

// ---- apex
// -------------------------------------------------------------------------------------------

TEST(LdnsDnsClientApex, SignedZone_EqualsFingerprintFromBody) {
    const Bytes body = encode(kSignedZone);
    const ZoneHandler zone("example.org.", body);
    TestDnsServer server(zone, zone);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(server.udpQueries(), 2);  // SOA and DNSKEY, nothing over TCP
    EXPECT_EQ(server.tcpQueries(), 0);
    const auto expected = fingerprintFromBody("example.org.", body);
    ASSERT_TRUE(expected);
    EXPECT_EQ(*got, *expected);
    EXPECT_EQ(got->hex(), expected->hex());
    EXPECT_EQ(got->soa_sigs.size(), 2u);
    EXPECT_NE(got->dnskey_hash, (std::array<std::byte, 16>{}));
}

TEST(LdnsDnsClientApex, UnsignedZone_EqualsFingerprintFromBody) {
    const Bytes body = encode(std::string(kSoaLine) + "www.example.org. 300 IN A 192.0.2.1\n");
    const ZoneHandler zone("example.org.", body);
    TestDnsServer server(zone, zone);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, *fingerprintFromBody("example.org.", body));
}

TEST(LdnsDnsClientApex, ServerIgnoringDo_GivesNoSignatures) {
    // The signed fingerprint above depends on the client setting DO; without RRSIGs it differs.
    const Bytes body = encode(kSignedZone);
    const ZoneHandler zone("example.org.", body, false);
    TestDnsServer server(zone, zone);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_TRUE(got->soa_sigs.empty());
    EXPECT_NE(*got, *fingerprintFromBody("example.org.", body));
}

TEST(LdnsDnsClientApex, Refused_GivesNotServed) {
    const Handler refuse = [](ByteSpan q) { return std::vector<Bytes>{*buildErrorResponse(q, 5)}; };
    TestDnsServer server(refuse, refuse);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "not-served");
}

TEST(LdnsDnsClientApex, NxdomainOrServfail_GivesNotServed) {
    for (const int rcode : {2, 3, 9}) {
        const Handler error = [rcode](ByteSpan q) {
            return std::vector<Bytes>{answer(q, {}, rcode)};
        };
        TestDnsServer server(error, error);
        const auto got = clientFor(server).apex("example.org.");
        ASSERT_FALSE(got);
        EXPECT_EQ(got.error().code, "not-served") << rcode;
    }
}

TEST(LdnsDnsClientApex, NoSoaInAnswer_GivesNotServed) {
    const Handler empty = [](ByteSpan q) { return std::vector<Bytes>{answer(q, {})}; };
    TestDnsServer server(empty, empty);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "not-served");
}

TEST(LdnsDnsClientApex, SilentServer_GivesTimeout) {
    const Handler silent = [](ByteSpan) { return std::vector<Bytes>{}; };
    TestDnsServer server(silent, silent);
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "timeout");
}

TEST(LdnsDnsClientApex, TruncatedUdp_AsksThatQueryAgainOverTcp) {
    // The DNSKEY answer does not fit: only it is asked again over TCP, and the fingerprint is
    // the one the whole answer gives.
    const Bytes body = encode(kSignedZone);
    const ZoneHandler zone("example.org.", body);
    TestDnsServer server(zone, [&zone](ByteSpan q) {
        if (parseQuery(q)->qtype == rrtype::kDnskey) {
            return std::vector<Bytes>{answer(q, {}, 0, true)};
        }
        return zone(q);
    });
    const auto got = clientFor(server).apex("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, *fingerprintFromBody("example.org.", body));
    EXPECT_EQ(server.udpQueries(), 2);
    EXPECT_EQ(server.tcpQueries(), 1);
}

// ApexQueries::PastPacketCache asks every apex query (UDP and the TCP retry) with an empty NSID
// option and DO; Plain asks with DO only. The answer reads the same either way.
TEST(LdnsDnsClientApex, PastPacketCache_EveryQueryAsksNsid) {
    const Bytes body = encode(kSignedZone);
    const ZoneHandler zone("example.org.", body);
    for (const auto mode : {ApexQueries::Plain, ApexQueries::PastPacketCache}) {
        std::mutex m;
        std::vector<bool> nsid;
        std::vector<bool> dnssec_ok;
        const auto note = [&](ByteSpan q) {
            const std::lock_guard lock(m);
            nsid.push_back(asksNsid(q));
            dnssec_ok.push_back(wantsDnssec(q));
        };
        TestDnsServer server(
            [&](ByteSpan q) {
                note(q);
                return zone(q);
            },
            [&](ByteSpan q) {
                note(q);
                if (parseQuery(q)->qtype == rrtype::kDnskey) {
                    return std::vector<Bytes>{answer(q, {}, 0, true)};  // truncated: over TCP
                }
                return zone(q);
            });
        LdnsDnsClient client(DnsEndpoint{.address = "127.0.0.1", .port = server.port()}, kTimeout,
                             mode);
        const auto got = client.apex("example.org.");
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(*got, *fingerprintFromBody("example.org.", body));
        const std::lock_guard lock(m);
        ASSERT_EQ(nsid.size(), 3u);  // SOA, DNSKEY over UDP, DNSKEY over TCP
        const bool want = mode == ApexQueries::PastPacketCache;
        EXPECT_EQ(nsid, std::vector<bool>(3, want));
        EXPECT_EQ(dnssec_ok, std::vector<bool>(3, true));
    }
}

TEST(LdnsDnsClientApex, ClosedPort_GivesNetwork) {
    uint16_t port = 0;
    {
        const Socket probe = bound(AF_INET, SOCK_DGRAM, 0);
        port = portOf(probe);
    }
    LdnsDnsClient client(DnsEndpoint{.address = "127.0.0.1", .port = port}, kTimeout);
    const auto got = client.apex("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "network");
}

// ---- soaSerial
// --------------------------------------------------------------------------------------

TEST(LdnsDnsClientSoaSerial, Udp_ReadsSerial) {
    const ZoneHandler zone("example.org.", encode(kSignedZone));
    TestDnsServer server(zone, zone);
    const auto got = clientFor(server).soaSerial("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, 2024010101u);
    EXPECT_EQ(server.udpQueries(), 1);
    EXPECT_EQ(server.tcpQueries(), 0);
}

TEST(LdnsDnsClientSoaSerial, TruncatedUdp_RetriesOverTcp) {
    const ZoneHandler zone("example.org.", encode(kSignedZone));
    TestDnsServer server(zone,
                         [](ByteSpan q) { return std::vector<Bytes>{answer(q, {}, 0, true)}; });
    const auto got = clientFor(server).soaSerial("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, 2024010101u);
    EXPECT_EQ(server.udpQueries(), 1);
    EXPECT_EQ(server.tcpQueries(), 1);
}

TEST(LdnsDnsClientSoaSerial, WrongIdThenRightAnswer_IgnoresTheStray) {
    const ZoneHandler zone("example.org.", encode(kSignedZone));
    TestDnsServer server(zone, [&zone](ByteSpan q) {
        auto messages = zone(q);
        Bytes stray = messages.front();
        stray[0] ^= std::byte{0xff};
        messages.insert(messages.begin(), stray);
        return messages;
    });
    const auto got = clientFor(server).soaSerial("example.org.");
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, 2024010101u);
}

TEST(LdnsDnsClientSoaSerial, Refused_GivesNotServed) {
    const Handler refuse = [](ByteSpan q) { return std::vector<Bytes>{*buildErrorResponse(q, 5)}; };
    TestDnsServer server(refuse, refuse);
    const auto got = clientFor(server).soaSerial("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "not-served");
}

TEST(LdnsDnsClientSoaSerial, ClosedPort_GivesNetwork) {
    uint16_t port = 0;
    {
        const Socket probe = bound(AF_INET, SOCK_DGRAM, 0);
        port = portOf(probe);
    }  // nothing listens there now: the kernel answers ICMP port unreachable
    LdnsDnsClient client(DnsEndpoint{.address = "127.0.0.1", .port = port}, kTimeout);
    const auto got = client.soaSerial("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "network");
}

TEST(LdnsDnsClientSoaSerial, SilentServer_GivesTimeout) {
    const Handler silent = [](ByteSpan) { return std::vector<Bytes>{}; };
    TestDnsServer server(silent, silent);
    const auto got = clientFor(server).soaSerial("example.org.");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, "timeout");
}

}  // namespace
}  // namespace pdns_distribute::common
