// SPDX-License-Identifier: Apache-2.0
// LdnsDnsClient. The socket work is ours (non-blocking sockets and poll with a deadline), so every
// wait is bounded and each failure maps to one of the ports' error codes; ldns_resolver's AXFR
// calls return a bare NULL for timeouts, rcodes and parse errors alike. ldns parses each answer
// (ldns_wire2pkt decompresses every name, including those inside RDATA) and writes each RR back
// uncompressed (ldns_rr2buffer_wire with no compression table), which is the body format.

#include <pdns_distribute/common/dns_client.hpp>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <utility>

#include <sodium.h>

#include "ldns_handles.hpp"

namespace pdns_distribute::common {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::byte>;
using ByteSpan = std::span<const std::byte>;

constexpr uint16_t kClassIn = 1;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kEdnsUdpSize = 1232;   // DNS flag day 2020: no fragmentation on common paths
constexpr uint32_t kEdnsDoFlag = 0x8000;  // RFC 3225: DO is the top bit of the OPT TTL's flags
constexpr uint16_t kEdnsOptionNsid = 3;   // RFC 5001
constexpr size_t kMaxUdpAnswer = 65535;

// ---- errors -----------------------------------------------------------------------------------

Error fail(std::string_view code, std::string cause) {
    return Error{.message = std::move(cause), .code = std::string(code)};
}

Error systemFail(std::string_view what) {
    return fail("network", fmt::format("{}: {}", what, std::strerror(errno)));
}

// Wraps a low-level cause in the full sentence, keeping its code.
Error wrap(std::string_view action, std::string_view zone, std::string_view server, Error cause) {
    return Error{.message = fmt::format("cannot {} zone '{}' from '{}' ({})", action, zone, server,
                                        cause.message),
                 .code = std::move(cause.code)};
}

std::string rcodeName(unsigned rcode) {
    switch (rcode) {
        case 1:
            return "FORMERR";
        case 2:
            return "SERVFAIL";
        case 3:
            return "NXDOMAIN";
        case 4:
            return "NOTIMP";
        case 5:
            return "REFUSED";
        case 9:
            return "NOTAUTH";
        default:
            return fmt::format("RCODE{}", rcode);
    }
}

// ---- sockets ----------------------------------------------------------------------------------

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&&) = delete;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

struct Target {
    sockaddr_storage address{};
    socklen_t length = 0;
    int family = 0;
};

struct AddrinfoDeleter {
    void operator()(addrinfo* ai) const noexcept { freeaddrinfo(ai); }
};

std::string describe(const DnsEndpoint& server) {
    const bool v6 = server.address.find(':') != std::string::npos;
    return v6 ? fmt::format("[{}]:{}", server.address, server.port)
              : fmt::format("{}:{}", server.address, server.port);
}

Result<Target> resolve(const DnsEndpoint& server) {
    std::string host = server.address;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    addrinfo* raw = nullptr;
    const int rc = getaddrinfo(host.c_str(), std::to_string(server.port).c_str(), &hints, &raw);
    const std::unique_ptr<addrinfo, AddrinfoDeleter> result(raw);
    if (rc != 0 || result == nullptr || result->ai_addrlen > sizeof(sockaddr_storage)) {
        return fail("network", fmt::format("address '{}' is not an ip literal: {}", host,
                                           rc != 0 ? gai_strerror(rc) : "no address"));
    }
    Target target;
    std::memcpy(&target.address, result->ai_addr, result->ai_addrlen);
    target.length = result->ai_addrlen;
    target.family = result->ai_family;
    return target;
}

int millisLeft(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
}

// Waits until `fd` is ready for `events` (or has an error to report) or the deadline passes.
Status waitFor(int fd, short events, Clock::time_point deadline, std::string_view what) {
    pollfd pfd{.fd = fd, .events = events, .revents = 0};
    while (true) {
        const int rc = ::poll(&pfd, 1, millisLeft(deadline));
        if (rc > 0) {
            return {};
        }
        if (rc == 0) {
            return fail("timeout", fmt::format("timed out {}", what));
        }
        if (errno != EINTR) {
            return systemFail("poll");
        }
    }
}

Result<Fd> openSocket(const Target& target, int type) {
    Fd fd(::socket(target.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return systemFail("socket");
    }
    return fd;
}

Result<Fd> connectTo(const Target& target, int type, Clock::time_point deadline) {
    auto fd = openSocket(target, type);
    if (!fd) {
        return std::move(fd).error();
    }
    if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&target.address), target.length) ==
        0) {
        return fd;
    }
    if (errno != EINPROGRESS) {
        return systemFail("connect");
    }
    if (auto ready = waitFor(fd->get(), POLLOUT, deadline, "connecting"); !ready) {
        return std::move(ready).error();
    }
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        return systemFail("getsockopt");
    }
    if (error != 0) {
        return fail("network", fmt::format("connect: {}", std::strerror(error)));
    }
    return fd;
}

Status sendAll(int fd, ByteSpan data, Clock::time_point deadline) {
    size_t offset = 0;
    while (offset < data.size()) {
        const ssize_t n = ::send(fd, data.data() + offset, data.size() - offset, MSG_NOSIGNAL);
        if (n > 0) {
            offset += static_cast<size_t>(n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (auto ready = waitFor(fd, POLLOUT, deadline, "sending"); !ready) {
                return ready;
            }
        } else if (errno != EINTR) {
            return systemFail("send");
        }
    }
    return {};
}

Status recvExact(int fd, std::span<std::byte> out, Clock::time_point deadline) {
    size_t offset = 0;
    while (offset < out.size()) {
        const ssize_t n = ::recv(fd, out.data() + offset, out.size() - offset, 0);
        if (n > 0) {
            offset += static_cast<size_t>(n);
        } else if (n == 0) {
            return fail("network", "connection closed by the server mid-answer");
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (auto ready = waitFor(fd, POLLIN, deadline, "waiting for an answer"); !ready) {
                return ready;
            }
        } else if (errno != EINTR) {
            return systemFail("recv");
        }
    }
    return {};
}

// RFC 1035 §4.2.2: over TCP every message is preceded by its length as a 16-bit number.
Result<Bytes> readTcpMessage(int fd, Clock::time_point deadline) {
    std::array<std::byte, 2> prefix{};
    if (auto status = recvExact(fd, prefix, deadline); !status) {
        return std::move(status).error();
    }
    const size_t length =
        (std::to_integer<size_t>(prefix[0]) << 8) | std::to_integer<size_t>(prefix[1]);
    if (length == 0) {
        return fail("malformed", "empty tcp message");
    }
    Bytes message(length);
    if (auto status = recvExact(fd, message, deadline); !status) {
        return std::move(status).error();
    }
    return message;
}

Status sendTcpMessage(int fd, ByteSpan message, Clock::time_point deadline) {
    Bytes framed;
    framed.reserve(message.size() + 2);
    framed.push_back(static_cast<std::byte>(message.size() >> 8));
    framed.push_back(static_cast<std::byte>(message.size() & 0xff));
    framed.insert(framed.end(), message.begin(), message.end());
    return sendAll(fd, framed, deadline);
}

// ---- queries and answers ----------------------------------------------------------------------

void putU16(Bytes& out, uint16_t value) {
    out.push_back(static_cast<std::byte>(value >> 8));
    out.push_back(static_cast<std::byte>(value & 0xff));
}

uint16_t newQueryId() {
    [[maybe_unused]] static const int kSodiumInit = sodium_init();
    return static_cast<uint16_t>(randombytes_uniform(65536));
}

// A query to an authoritative server: RD clear; with DO set, an OPT RR (RFC 6891) asks for the
// RRSIGs along with the answer, and with `nsid` it carries an empty NSID option (RFC 5001).
Bytes buildQuery(uint16_t id, ByteSpan qname, uint16_t qtype, bool dnssec_ok, bool nsid = false) {
    Bytes out;
    putU16(out, id);
    putU16(out, 0);  // flags: opcode QUERY, RD clear
    putU16(out, 1);
    putU16(out, 0);
    putU16(out, 0);
    putU16(out, dnssec_ok ? 1 : 0);
    out.insert(out.end(), qname.begin(), qname.end());
    putU16(out, qtype);
    putU16(out, kClassIn);
    if (dnssec_ok) {
        out.push_back(std::byte{0});  // root owner
        putU16(out, kTypeOpt);
        putU16(out, kEdnsUdpSize);
        putU16(out, 0);  // extended rcode, version
        putU16(out, static_cast<uint16_t>(kEdnsDoFlag));
        if (nsid) {
            putU16(out, 4);  // rdlength: one option
            putU16(out, kEdnsOptionNsid);
            putU16(out, 0);  // asked with no data
        } else {
            putU16(out, 0);  // no options
        }
    }
    return out;
}

Result<ldns::Pkt> parseAnswer(ByteSpan message, uint16_t id) {
    ldns_pkt* raw = nullptr;
    const ldns_status status =
        ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(message.data()), message.size());
    ldns::Pkt pkt(raw);
    if (status != LDNS_STATUS_OK || !pkt) {
        return fail("malformed",
                    fmt::format("unparsable answer: {}", ldns_get_errorstr_by_id(status)));
    }
    if (!ldns_pkt_qr(pkt.get()) || ldns_pkt_id(pkt.get()) != id) {
        return fail("malformed", "answer does not match the query (qr or id)");
    }
    return pkt;
}

std::span<const std::byte> ownerOf(const ldns_rr* rr) {
    const ldns_rdf* owner = ldns_rr_owner(rr);
    if (owner == nullptr) {
        return {};
    }
    return {reinterpret_cast<const std::byte*>(ldns_rdf_data(owner)), ldns_rdf_size(owner)};
}

bool ownedBy(const ldns_rr* rr, ByteSpan zone_wire) {
    return wireNamesEqual(ownerOf(rr), zone_wire);
}

// Appends `rr` in body format; `buffer` is scratch space reused across calls.
Status appendRr(Bytes& out, ldns_buffer* buffer, const ldns_rr* rr) {
    ldns_buffer_clear(buffer);
    const ldns_status status = ldns_rr2buffer_wire(buffer, rr, LDNS_SECTION_ANSWER);
    if (status != LDNS_STATUS_OK) {
        return fail("malformed",
                    fmt::format("cannot re-encode an rr: {}", ldns_get_errorstr_by_id(status)));
    }
    const auto* begin = reinterpret_cast<const std::byte*>(ldns_buffer_begin(buffer));
    out.insert(out.end(), begin, begin + ldns_buffer_position(buffer));
    return {};
}

Result<ldns::Buffer> newBuffer() {
    ldns::Buffer buffer(ldns_buffer_new(4096));
    if (!buffer) {
        return fail("network", "out of memory");
    }
    return buffer;
}

std::optional<uint32_t> soaSerialOf(const ldns_rr* rr) {
    const ldns_rdf* serial = ldns_rr_rdf(rr, 2);  // mname, rname, serial, ...
    if (serial == nullptr || ldns_rdf_size(serial) != sizeof(uint32_t)) {
        return std::nullopt;
    }
    return ldns_rdf2native_int32(serial);
}

// ---- AXFR ---------------------------------------------------------------------------------------

// Turns AXFR answer messages into a body: the opening SOA, every RR up to the closing SOA
// (RFC 5936 §2.2), which is not kept and must match the opening one.
class AxfrCollector {
public:
    AxfrCollector(ByteSpan zone_wire, ldns::Buffer buffer)
        : zone_wire_(zone_wire), buffer_(std::move(buffer)) {}

    // Consumes one answer; true once the closing SOA has been seen.
    Result<bool> consume(const ldns_pkt* pkt) {
        const auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(pkt));
        if (rcode != 0) {
            const bool notauth = rcode == LDNS_RCODE_NOTAUTH;
            return fail(notauth ? "notauth" : "refused",
                        fmt::format("answered {}", rcodeName(rcode)));
        }
        const ldns_rr_list* answers = ldns_pkt_answer(pkt);
        const size_t count = ldns_rr_list_rr_count(answers);
        if (!serial_ && count == 0) {
            return fail("malformed", "first answer holds no soa");
        }
        for (size_t i = 0; i < count; ++i) {
            if (auto status = consumeRr(ldns_rr_list_rr(answers, i)); !status) {
                return std::move(status).error();
            }
        }
        return done_;
    }

    Bytes take() { return std::move(body_); }

private:
    Status consumeRr(const ldns_rr* rr) {
        if (done_) {
            return fail("malformed", "rrs after the closing soa");
        }
        const bool is_soa = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA;
        if (!serial_) {
            serial_ = is_soa && ownedBy(rr, zone_wire_) ? soaSerialOf(rr) : std::nullopt;
            if (!serial_) {
                return fail("malformed", "answer does not start with the zone's soa");
            }
            return appendRr(body_, buffer_.get(), rr);
        }
        if (is_soa) {
            if (!ownedBy(rr, zone_wire_) || soaSerialOf(rr) != serial_) {
                return fail("malformed", "closing soa differs from the opening soa");
            }
            done_ = true;
            return {};
        }
        return appendRr(body_, buffer_.get(), rr);
    }

    ByteSpan zone_wire_;
    ldns::Buffer buffer_;
    std::optional<uint32_t> serial_;  // of the opening SOA, once seen
    Bytes body_;
    bool done_ = false;
};

// ---- apex -------------------------------------------------------------------------------------

// Appends the answer RRs at the apex whose type is one of `types` to `out`.
Status appendApexRrs(Bytes& out, ldns_buffer* buffer, const ldns_pkt* pkt, ByteSpan zone_wire,
                     std::initializer_list<ldns_rr_type> types) {
    const ldns_rr_list* answers = ldns_pkt_answer(pkt);
    for (size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(answers, i);
        const auto type = ldns_rr_get_type(rr);
        if (ownedBy(rr, zone_wire) && std::find(types.begin(), types.end(), type) != types.end()) {
            if (auto status = appendRr(out, buffer, rr); !status) {
                return status;
            }
        }
    }
    return {};
}

Status requireServed(const ldns_pkt* pkt, std::string_view what) {
    const auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(pkt));
    if (rcode != 0) {  // REFUSED, NOTAUTH, NXDOMAIN, SERVFAIL and the rest
        return fail("not-served", fmt::format("{} query answered {}", what, rcodeName(rcode)));
    }
    return {};
}

// The start of a pseudo body from a SOA answer: the SOA at the apex, then the RRSIGs there.
Result<Bytes> soaPart(ldns_buffer* buffer, const ldns_pkt* pkt, ByteSpan zone_wire) {
    if (auto served = requireServed(pkt, "soa"); !served) {
        return std::move(served).error();
    }
    Bytes out;
    if (auto status = appendApexRrs(out, buffer, pkt, zone_wire, {LDNS_RR_TYPE_SOA}); !status) {
        return std::move(status).error();
    }
    if (out.empty()) {
        return fail("not-served", "no soa at the apex in the answer");
    }
    if (auto status = appendApexRrs(out, buffer, pkt, zone_wire, {LDNS_RR_TYPE_RRSIG}); !status) {
        return std::move(status).error();
    }
    return out;
}

// One TCP query and its answer on an open connection.
Result<ldns::Pkt> exchangeTcp(int fd, ByteSpan qname, uint16_t qtype, bool dnssec_ok,
                              Clock::time_point deadline, bool nsid = false) {
    const uint16_t id = newQueryId();
    if (auto sent = sendTcpMessage(fd, buildQuery(id, qname, qtype, dnssec_ok, nsid), deadline);
        !sent) {
        return std::move(sent).error();
    }
    auto message = readTcpMessage(fd, deadline);
    if (!message) {
        return std::move(message).error();
    }
    return parseAnswer(*message, id);
}

Result<ldns::Pkt> tcpQuery(const Target& target, ByteSpan qname, uint16_t qtype, bool dnssec_ok,
                           Clock::time_point deadline, bool nsid = false) {
    auto fd = connectTo(target, SOCK_STREAM, deadline);
    if (!fd) {
        return std::move(fd).error();
    }
    return exchangeTcp(fd->get(), qname, qtype, dnssec_ok, deadline, nsid);
}

// Waits for the UDP answer to query `id`. Datagrams with another id are ignored (late answers to
// an earlier query, or spoofing attempts); the socket is connected, so the kernel drops datagrams
// from other sources.
Result<ldns::Pkt> receiveUdp(int fd, uint16_t id, Clock::time_point deadline) {
    Bytes buffer(kMaxUdpAnswer);
    while (true) {
        if (auto ready = waitFor(fd, POLLIN, deadline, "waiting for an answer"); !ready) {
            return std::move(ready).error();
        }
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                continue;
            }
            return systemFail("recv");  // ECONNREFUSED: ICMP port unreachable
        }
        const ByteSpan datagram(buffer.data(), static_cast<size_t>(n));
        if (datagram.size() < 2 || ((std::to_integer<unsigned>(datagram[0]) << 8) |
                                    std::to_integer<unsigned>(datagram[1])) != id) {
            continue;
        }
        return parseAnswer(datagram, id);
    }
}

// One query over a connected UDP socket (several queries may share it, one after the other).
Result<ldns::Pkt> exchangeUdp(int fd, ByteSpan qname, uint16_t qtype, bool dnssec_ok,
                              Clock::time_point deadline, bool nsid = false) {
    const uint16_t id = newQueryId();
    const Bytes query = buildQuery(id, qname, qtype, dnssec_ok, nsid);
    if (::send(fd, query.data(), query.size(), MSG_NOSIGNAL) < 0) {
        return systemFail("send");
    }
    return receiveUdp(fd, id, deadline);
}

Result<ldns::Pkt> udpQuery(const Target& target, ByteSpan qname, uint16_t qtype,
                           Clock::time_point deadline) {
    auto fd = connectTo(target, SOCK_DGRAM, deadline);
    if (!fd) {
        return std::move(fd).error();
    }
    return exchangeUdp(fd->get(), qname, qtype, false, deadline);
}

// What every call needs first: the zone in wire form, the server address, a scratch buffer.
struct CallSetup {
    Bytes zone_wire;
    Target target;
    ldns::Buffer buffer;
};

Result<CallSetup> prepare(std::string_view zone, const DnsEndpoint& server) {
    auto zone_wire = nameToWire(zone);
    if (!zone_wire) {
        return std::move(zone_wire).error();
    }
    auto target = resolve(server);
    if (!target) {
        return std::move(target).error();
    }
    auto buffer = newBuffer();
    if (!buffer) {
        return std::move(buffer).error();
    }
    return CallSetup{.zone_wire = std::move(zone_wire).value(),
                     .target = *target,
                     .buffer = std::move(buffer).value()};
}

// Sends the AXFR query on a connected socket and collects the answer into a body. Each message
// must arrive within `timeout` of the previous one.
Result<Bytes> runAxfr(int fd, CallSetup setup, std::chrono::milliseconds timeout) {
    const uint16_t id = newQueryId();
    const Bytes query = buildQuery(id, setup.zone_wire, rrtype::kAxfr, false);
    if (auto sent = sendTcpMessage(fd, query, Clock::now() + timeout); !sent) {
        return std::move(sent).error();
    }
    AxfrCollector collector(setup.zone_wire, std::move(setup.buffer));
    while (true) {
        auto message = readTcpMessage(fd, Clock::now() + timeout);
        auto pkt = message ? parseAnswer(*message, id) : Result<ldns::Pkt>(message.error());
        auto done = pkt ? collector.consume(pkt->get()) : Result<bool>(pkt.error());
        if (!done) {
            return std::move(done).error();
        }
        if (*done) {
            return collector.take();
        }
    }
}

// Asks SOA and DNSKEY with DO and returns a pseudo body (the SOA, the RRSIGs at the apex, the
// DNSKEYs) that fingerprintFromBody reads exactly as a transferred body. Both go over one UDP
// socket; an answer with TC set is asked again over TCP. (UDP first: pdns answers UDP from its
// fixed receiver threads but starts a thread for every TCP connection, and on a node applying
// hundreds of zones a second these checks were a tenth of its CPU.) With `nsid` both ask for the
// server's NSID: see ApexQueries.
Result<Bytes> apexRrs(const CallSetup& setup, Clock::time_point deadline, bool nsid) {
    const Bytes& zone_wire = setup.zone_wire;
    auto udp = connectTo(setup.target, SOCK_DGRAM, deadline);
    if (!udp) {
        return std::move(udp).error();
    }
    const auto ask = [&](uint16_t qtype) -> Result<ldns::Pkt> {
        auto answer = exchangeUdp(udp->get(), zone_wire, qtype, true, deadline, nsid);
        if (answer && ldns_pkt_tc(answer->get())) {
            return tcpQuery(setup.target, zone_wire, qtype, true, deadline, nsid);
        }
        return answer;
    };
    auto soa = ask(rrtype::kSoa);
    auto pseudo = soa ? soaPart(setup.buffer.get(), soa->get(), zone_wire)
                      : Result<Bytes>(std::move(soa).error());
    if (!pseudo) {
        return pseudo;
    }
    auto keys = ask(rrtype::kDnskey);
    if (!keys) {
        return std::move(keys).error();
    }
    auto served = requireServed(keys->get(), "dnskey");
    if (served) {
        served = appendApexRrs(*pseudo, setup.buffer.get(), keys->get(), zone_wire,
                               {LDNS_RR_TYPE_DNSKEY});
    }
    if (!served) {
        return std::move(served).error();
    }
    return pseudo;
}

}  // namespace

LdnsDnsClient::LdnsDnsClient(DnsEndpoint server, std::chrono::milliseconds timeout,
                             ApexQueries apex_queries)
    : server_(std::move(server)), timeout_(timeout), apex_queries_(apex_queries) {}

// The timeout bounds the connect and then each message of the transfer, not the whole transfer:
// a large zone may take longer than any sensible per-step timeout.
Result<ZoneBody> LdnsDnsClient::transfer(std::string_view zone) {
    const auto failed = [&](Error cause) {
        return wrap("transfer", zone, describe(server_), std::move(cause));
    };
    auto setup = prepare(zone, server_);
    if (!setup) {
        return failed(std::move(setup).error());
    }
    auto fd = connectTo(setup->target, SOCK_STREAM, Clock::now() + timeout_);
    auto bytes = fd ? runAxfr(fd->get(), std::move(setup).value(), timeout_)
                    : Result<Bytes>(std::move(fd).error());
    if (!bytes) {
        return failed(std::move(bytes).error());
    }
    auto body = validateBody(zone, std::move(bytes).value());
    if (!body) {
        return failed(fail("malformed", std::move(body).error().message));
    }
    return body;
}

// The timeout bounds the whole call (both queries, including any retry over TCP).
Result<ApexFingerprint> LdnsDnsClient::apex(std::string_view zone) {
    const auto failed = [&](Error cause) {
        return wrap("read apex of", zone, describe(server_), std::move(cause));
    };
    const auto deadline = Clock::now() + timeout_;
    auto setup = prepare(zone, server_);
    if (!setup) {
        return failed(std::move(setup).error());
    }
    auto pseudo = apexRrs(*setup, deadline, apex_queries_ == ApexQueries::PastPacketCache);
    if (!pseudo) {
        return failed(std::move(pseudo).error());
    }
    auto fingerprint = fingerprintFromBody(zone, *pseudo);
    if (!fingerprint) {
        return failed(fail("malformed", std::move(fingerprint).error().message));
    }
    return fingerprint;
}

// The timeout bounds the whole call, including a TCP retry after a truncated UDP answer.
Result<uint32_t> LdnsDnsClient::soaSerial(std::string_view zone) {
    const auto failed = [&](Error cause) {
        return wrap("read soa serial of", zone, describe(server_), std::move(cause));
    };
    const auto deadline = Clock::now() + timeout_;
    auto setup = prepare(zone, server_);
    if (!setup) {
        return failed(std::move(setup).error());
    }
    const Bytes& zone_wire = setup->zone_wire;
    ldns_buffer* buffer = setup->buffer.get();
    auto answer = udpQuery(setup->target, zone_wire, rrtype::kSoa, deadline);
    if (answer && ldns_pkt_tc(answer->get())) {
        answer = tcpQuery(setup->target, zone_wire, rrtype::kSoa, false, deadline);
    }
    auto pseudo =
        answer ? soaPart(buffer, answer->get(), zone_wire) : Result<Bytes>(answer.error());
    if (!pseudo) {
        return failed(std::move(pseudo).error());
    }
    auto body = validateBody(zone, std::move(pseudo).value());
    if (!body) {
        return failed(fail("malformed", std::move(body).error().message));
    }
    return body->serial;
}

}  // namespace pdns_distribute::common
