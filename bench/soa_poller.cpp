// SPDX-License-Identifier: Apache-2.0
#include "soa_poller.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace pdns_distribute::bench {

namespace {

constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kClassIn = 1;
constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxReply = 4096;

/// Query message for `zone` SOA IN, no RD. Returns nullopt for a name that does not encode.
std::optional<std::vector<uint8_t>> encodeQuery(uint16_t id, const std::string& zone) {
    std::vector<uint8_t> out{static_cast<uint8_t>(id >> 8),
                             static_cast<uint8_t>(id & 0xff),
                             0,
                             0,
                             0,
                             1,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0};
    size_t start = 0;
    while (start < zone.size()) {
        const size_t dot = zone.find('.', start);
        const size_t end = dot == std::string::npos ? zone.size() : dot;
        const size_t len = end - start;
        if (len == 0 || len > 63) return std::nullopt;
        out.push_back(static_cast<uint8_t>(len));
        for (size_t i = start; i < end; ++i) out.push_back(static_cast<uint8_t>(zone[i]));
        start = end + 1;
    }
    out.push_back(0);
    out.insert(out.end(), {0, static_cast<uint8_t>(kTypeSoa), 0, static_cast<uint8_t>(kClassIn)});
    return out;
}

uint16_t read16(std::span<const uint8_t> m, size_t pos) {
    return static_cast<uint16_t>((m[pos] << 8) | m[pos + 1]);
}

/// Skips a (possibly compressed) name starting at `pos`; returns the position after it, or
/// nullopt when it runs off the message.
std::optional<size_t> skipName(std::span<const uint8_t> m, size_t pos) {
    while (pos < m.size()) {
        const uint8_t len = m[pos];
        if ((len & 0xC0) == 0xC0) {
            if (pos + 2 > m.size()) return std::nullopt;
            return pos + 2;  // a pointer ends the name
        }
        if (len == 0) return pos + 1;
        pos += 1 + len;
    }
    return std::nullopt;
}

struct Parsed {
    uint16_t id = 0;
    SoaStatus status = SoaStatus::NoReply;
    uint32_t serial = 0;
    unsigned rcode = 0;
    std::span<const uint8_t> question;  ///< the question section's name, type and class
};

/// Parses a reply far enough to classify it. Lengths are checked before every read.
std::optional<Parsed> parseReply(std::span<const uint8_t> m) {
    if (m.size() < kHeaderSize) return std::nullopt;
    Parsed p;
    p.id = read16(m, 0);
    const uint16_t flags = read16(m, 2);
    if ((flags & 0x8000U) == 0) return std::nullopt;  // not a response
    const bool aa = (flags & 0x0400U) != 0;
    const unsigned rcode = flags & 0x000FU;
    p.rcode = rcode;
    const uint16_t qdcount = read16(m, 4);
    const uint16_t ancount = read16(m, 6);
    if (qdcount != 1) return std::nullopt;
    const auto qend = skipName(m, kHeaderSize);
    if (!qend || *qend + 4 > m.size()) return std::nullopt;
    p.question = m.subspan(kHeaderSize, *qend + 4 - kHeaderSize);
    if (rcode != 0 || !aa) {
        p.status = SoaStatus::NotServed;
        return p;
    }
    size_t pos = *qend + 4;
    for (uint16_t i = 0; i < ancount; ++i) {
        const auto after_owner = skipName(m, pos);
        if (!after_owner || *after_owner + 10 > m.size()) return std::nullopt;
        const uint16_t type = read16(m, *after_owner);
        const uint16_t rdlength = read16(m, *after_owner + 8);
        const size_t rdata = *after_owner + 10;
        if (rdata + rdlength > m.size()) return std::nullopt;
        if (type == kTypeSoa) {
            const auto rdata_view = m.first(rdata + rdlength);
            const auto after_mname = skipName(rdata_view, rdata);
            if (!after_mname) return std::nullopt;
            const auto after_rname = skipName(rdata_view, *after_mname);
            if (!after_rname || *after_rname + 4 > rdata_view.size()) return std::nullopt;
            p.serial = (static_cast<uint32_t>(read16(m, *after_rname)) << 16) |
                       read16(m, *after_rname + 2);
            p.status = SoaStatus::Served;
            return p;
        }
        pos = rdata + rdlength;
    }
    p.status = SoaStatus::NotServed;  // NOERROR/NODATA: not the apex of a zone it serves
    return p;
}

bool sameQuestion(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](uint8_t x, uint8_t y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

SoaPoller::SoaPoller(std::vector<DnsTarget> targets, std::chrono::milliseconds reply_timeout,
                     size_t max_in_flight)
    : targets_(std::move(targets)),
      reply_timeout_(reply_timeout),
      max_in_flight_(std::clamp<size_t>(max_in_flight, 1, 60000)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        throw std::runtime_error(
            fmt::format("cannot open a UDP socket ({})", std::strerror(errno)));
    }
    // Bursts of thousands of replies must not overflow the default receive buffer.
    const int buffer = 8 * 1024 * 1024;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    next_id_ = static_cast<uint16_t>(Clock::now().time_since_epoch().count());
}

SoaPoller::~SoaPoller() {
    if (fd_ >= 0) ::close(fd_);
}

SoaAnswer SoaPoller::queryOne(size_t target, const std::string& zone) {
    const std::array<SoaQuery, 1> q{SoaQuery{.target = target, .zone = zone}};
    return query(q).front();
}

std::vector<SoaAnswer> SoaPoller::query(std::span<const SoaQuery> queries) {
    std::vector<SoaAnswer> answers(queries.size());
    std::vector<sockaddr_in> addrs(targets_.size());
    for (size_t t = 0; t < targets_.size(); ++t) {
        addrs[t] = sockaddr_in{};
        addrs[t].sin_family = AF_INET;
        addrs[t].sin_port = htons(targets_[t].port);
        if (::inet_pton(AF_INET, targets_[t].address.c_str(), &addrs[t].sin_addr) != 1) {
            throw std::runtime_error(fmt::format("not an IPv4 address '{}'", targets_[t].address));
        }
    }
    struct InFlight {
        size_t index = 0;
        std::vector<uint8_t> message;
        Clock::time_point sent;
        bool active = false;
    };
    // Slots indexed by query id; ids advance across calls so a late reply to an earlier call
    // finds no slot, or a slot whose question differs.
    std::vector<InFlight> slots(65536);
    std::deque<uint16_t> order;  // ids in send order: timeouts expire from the front
    size_t next = 0;
    size_t in_flight = 0;
    size_t finished = 0;
    std::array<uint8_t, kMaxReply> buffer{};
    while (finished < queries.size()) {
        while (next < queries.size() && in_flight < max_in_flight_) {
            const uint16_t id = next_id_++;
            auto& slot = slots[id];
            if (slot.active) break;  // wrapped onto a live id: wait for it first
            auto message = encodeQuery(id, queries[next].zone);
            if (!message || queries[next].target >= addrs.size()) {
                answers[next].status = SoaStatus::NoReply;
                answers[next].at = Clock::now();
                ++finished;
                ++next;
                continue;
            }
            const auto& addr = addrs[queries[next].target];
            const auto sent = ::sendto(fd_, message->data(), message->size(), 0,
                                       reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
            if (sent < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                    --next_id_;
                    break;  // drain replies first
                }
                answers[next].status = SoaStatus::NoReply;
                answers[next].at = Clock::now();
                ++finished;
                ++next;
                continue;
            }
            slot = InFlight{.index = next,
                            .message = std::move(*message),
                            .sent = Clock::now(),
                            .active = true};
            order.push_back(id);
            ++in_flight;
            ++next;
        }
        if (in_flight == 0) continue;
        pollfd pfd{.fd = fd_, .events = POLLIN, .revents = 0};
        (void)::poll(&pfd, 1, 2);
        for (;;) {
            sockaddr_in from{};
            socklen_t from_len = sizeof(from);
            const auto got = ::recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                        reinterpret_cast<sockaddr*>(&from), &from_len);
            if (got < 0) break;
            const auto now = Clock::now();
            const auto parsed =
                parseReply(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(got)));
            if (!parsed) continue;
            auto& slot = slots[parsed->id];
            if (!slot.active) continue;
            const auto& to = addrs[queries[slot.index].target];
            if (from.sin_port != to.sin_port || from.sin_addr.s_addr != to.sin_addr.s_addr) {
                continue;
            }
            const auto asked = std::span<const uint8_t>(slot.message).subspan(kHeaderSize);
            if (!sameQuestion(asked, parsed->question)) continue;
            answers[slot.index] = SoaAnswer{.status = parsed->status,
                                            .serial = parsed->serial,
                                            .rcode = parsed->rcode,
                                            .at = now};
            slot.active = false;
            --in_flight;
            ++finished;
        }
        // Expire queries without a reply; they count as "not yet" for the caller.
        const auto now = Clock::now();
        while (!order.empty()) {
            auto& slot = slots[order.front()];
            if (slot.active) {
                if (now - slot.sent <= reply_timeout_) break;
                answers[slot.index] = SoaAnswer{.status = SoaStatus::NoReply, .at = now};
                slot.active = false;
                --in_flight;
                ++finished;
            }
            order.pop_front();
        }
    }
    return answers;
}

std::string describe(const SoaAnswer& answer) {
    static constexpr std::array<const char*, 11> kRcodes{
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
    switch (answer.status) {
        case SoaStatus::NoReply:
            return "no reply";
        case SoaStatus::Served:
            return fmt::format("serial {}", answer.serial);
        case SoaStatus::NotServed:
            if (answer.rcode == 0) return "NOERROR without AA or SOA";
            return answer.rcode < kRcodes.size() ? kRcodes[answer.rcode]
                                                 : fmt::format("rcode {}", answer.rcode);
    }
    return "?";
}

bool satisfies(const Probe& probe, const SoaAnswer& answer) {
    switch (probe.expect) {
        case Expect::AnySoa:
            return answer.status == SoaStatus::Served;
        case Expect::SerialAtLeast:
            return answer.status == SoaStatus::Served &&
                   static_cast<int32_t>(answer.serial - probe.serial) >= 0;
        case Expect::Absent:
            return answer.status == SoaStatus::NotServed;
    }
    return false;
}

size_t ProbeSet::add(Probe probe) {
    probes_.push_back(std::move(probe));
    open_.push_back(probes_.size() - 1);
    return probes_.size() - 1;
}

size_t ProbeSet::round(SoaPoller& poller, size_t budget) {
    if (open_.empty()) return 0;
    const size_t count = std::min(budget == 0 ? open_.size() : budget, open_.size());
    if (cursor_ >= open_.size()) cursor_ = 0;
    std::vector<size_t> picked;
    std::vector<SoaQuery> queries;
    picked.reserve(count);
    queries.reserve(count);
    for (size_t k = 0; k < count; ++k) {
        const size_t i = open_[(cursor_ + k) % open_.size()];
        picked.push_back(i);
        queries.push_back(SoaQuery{.target = probes_[i].target, .zone = probes_[i].zone});
    }
    cursor_ += count;
    const auto answers = poller.query(queries);
    bool any = false;
    for (size_t k = 0; k < picked.size(); ++k) {
        auto& probe = probes_[picked[k]];
        if (satisfies(probe, answers[k])) {
            probe.done = answers[k].at;
            any = true;
        } else {
            probe.last_other = describe(answers[k]);
            probe.last_other_at = answers[k].at;
        }
    }
    if (any) {
        std::erase_if(open_, [this](size_t i) { return probes_[i].done.has_value(); });
    }
    return open_.size();
}

bool pollUntilDone(ProbeSet& probes, SoaPoller& poller, Clock::time_point deadline,
                   std::chrono::milliseconds interval, size_t budget,
                   const std::function<bool()>& between, const std::function<bool()>& give_up) {
    while (Clock::now() < deadline) {
        if (give_up && give_up()) break;
        const auto start = Clock::now();
        const bool more = between ? between() : false;
        const size_t open = probes.round(poller, budget);
        if (open == 0 && !more) return true;
        const auto next = start + interval;
        if (Clock::now() < next) std::this_thread::sleep_until(next);
    }
    return probes.open() == 0;
}

}  // namespace pdns_distribute::bench
