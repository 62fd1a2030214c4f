// SPDX-License-Identifier: Apache-2.0
#include "axfr_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_key.hpp>

namespace pdns_distribute::secondary_syncer {

namespace {

using namespace std::chrono_literals;

constexpr int kMaxConnections = 64;
constexpr auto kIdleTimeout = 10s;
constexpr size_t kReceiptsKept = 8;
constexpr uint8_t kRcodeFormErr = 1;
constexpr uint8_t kRcodeNotImp = 4;
constexpr uint8_t kRcodeRefused = 5;

struct SockAddr {
    sockaddr_storage storage{};
    socklen_t len = 0;
};

SockAddr makeAddr(const common::HostPort& hp) {
    SockAddr a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET, hp.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(hp.port);
        a.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, hp.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(hp.port);
        a.len = sizeof(sockaddr_in6);
    } else {
        throw std::runtime_error("cannot listen on '" + hp.host +
                                 "' (not an IP address); set syncer.listen to an address:port");
    }
    return a;
}

std::string peerString(const sockaddr_storage& ss) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (ss.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &v4->sin_addr, buf.data(), buf.size());
        return buf.data();
    }
    if (ss.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            in_addr v4{};
            std::memcpy(&v4, &v6->sin6_addr.s6_addr[12], 4);
            inet_ntop(AF_INET, &v4, buf.data(), buf.size());
            return buf.data();
        }
        inet_ntop(AF_INET6, &v6->sin6_addr, buf.data(), buf.size());
        return buf.data();
    }
    return "?";
}

// Reads exactly buf.size() bytes, waiting at most kIdleTimeout for each piece.
bool readFull(int fd, std::span<std::byte> buf, const std::stop_token& st) {
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + kIdleTimeout;
    while (got < buf.size()) {
        if (st.stop_requested() || std::chrono::steady_clock::now() > deadline) return false;
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        const int r = ::poll(&p, 1, 200);
        if (r < 0 && errno != EINTR) return false;
        if (r <= 0) continue;
        const auto n = ::recv(fd, buf.data() + got, buf.size() - got, 0);
        if (n <= 0) return false;
        got += static_cast<size_t>(n);
    }
    return true;
}

bool writeMessage(int fd, std::span<const std::byte> msg) {
    if (msg.size() > 65535) return false;
    std::array<std::byte, 2> len{static_cast<std::byte>(msg.size() >> 8),
                                 static_cast<std::byte>(msg.size() & 0xff)};
    std::array<iovec, 2> iov{iovec{len.data(), len.size()},
                             iovec{const_cast<std::byte*>(msg.data()), msg.size()}};
    size_t total = len.size() + msg.size();
    size_t sent = 0;
    while (sent < total) {
        msghdr mh{};
        // Skip what was already sent across the two iovecs.
        std::array<iovec, 2> cur = iov;
        size_t skip = sent;
        int first = 0;
        while (first < 2 && skip >= cur[first].iov_len) {
            skip -= cur[first].iov_len;
            ++first;
        }
        cur[first].iov_base = static_cast<char*>(cur[first].iov_base) + skip;
        cur[first].iov_len -= skip;
        mh.msg_iov = &cur[first];
        mh.msg_iovlen = static_cast<size_t>(2 - first);
        const auto n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        sent += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

AxfrListener::AxfrListener(common::HostPort listen, std::vector<std::string> allow,
                           common::MetricsRegistry& metrics)
    : listen_(std::move(listen)),
      allow_(std::move(allow)),
      transfers_completed_(metrics.counter("pdns_distribute_syncer_listener_transfers_total",
                                           "AXFRs served to the local pdns, by result",
                                           {{"result", "completed"}})),
      transfers_failed_(metrics.counter("pdns_distribute_syncer_listener_transfers_total",
                                        "AXFRs served to the local pdns, by result",
                                        {{"result", "failed"}})),
      refused_(metrics.counter("pdns_distribute_syncer_listener_refused_total",
                               "queries refused (source not allowed, unknown zone, type)")),
      malformed_(metrics.counter("pdns_distribute_syncer_listener_malformed_total",
                                 "malformed DNS messages received")),
      metrics_(metrics) {
    // Declared up front so that every reason shows as 0 before the first refusal.
    for (const auto* reason : {"unsigned", "badkey", "badsig", "badtime", "badtrunc", "formerr"}) {
        (void)metrics_.counter("pdns_distribute_syncer_listener_tsig_refused_total",
                               "queries refused for their TSIG, by reason", {{"reason", reason}});
    }
}

AxfrListener::~AxfrListener() { stop(); }

void AxfrListener::bind() {
    const auto addr = makeAddr(listen_);
    const auto family = addr.storage.ss_family;
    const auto where = fmt::format("{}:{}", listen_.host, listen_.port);
    const int tcp = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int udp = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    auto keep = [&](int fd, bool stream) {
        if (fd < 0) return;
        (stream ? tcp_ : udp_)
            .push_back(InheritedSocket{.fd = fd,
                                       .stream = stream,
                                       .family = family,
                                       .address = listen_.host,
                                       .port = listen_.port,
                                       .name = "bound"});
    };
    keep(tcp, true);  // closed by stop() whatever happens below
    keep(udp, false);
    if (tcp < 0 || udp < 0) {
        throw std::runtime_error(fmt::format("cannot create sockets ({})", std::strerror(errno)));
    }
    const int one = 1;
    ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(tcp, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0 ||
        ::listen(tcp, 64) != 0) {
        throw std::runtime_error(fmt::format("cannot listen on TCP '{}' ({}); check syncer.listen",
                                             where, std::strerror(errno)));
    }
    if (::bind(udp, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
        throw std::runtime_error(fmt::format("cannot listen on UDP '{}' ({}); check syncer.listen",
                                             where, std::strerror(errno)));
    }
}

void AxfrListener::adopt(std::vector<InheritedSocket> sockets) {
    for (auto& s : sockets) (s.stream ? tcp_ : udp_).push_back(std::move(s));
    if (tcp_.empty()) {
        throw std::runtime_error(
            "cannot use the sockets systemd passed (no TCP socket among them); check "
            "ListenStream= in pdns-secondary-syncer.socket");
    }
}

std::string AxfrListener::masterAddress() const {
    for (const int family : {AF_INET, AF_INET6}) {
        for (const auto& s : tcp_) {
            if (s.family != family) continue;
            if (family == AF_INET) {
                return fmt::format("{}:{}", s.address == "0.0.0.0" ? "127.0.0.1" : s.address,
                                   s.port);
            }
            return fmt::format("[{}]:{}", s.address == "::" ? "::1" : s.address, s.port);
        }
    }
    return fmt::format("127.0.0.1:{}", listen_.port);
}

void AxfrListener::setTsigKey(std::shared_ptr<const TsigKey> key) {
    std::lock_guard lock(mutex_);
    key_ = std::move(key);
}

std::shared_ptr<const TsigKey> AxfrListener::tsigKey() const {
    std::lock_guard lock(mutex_);
    return key_;
}

void AxfrListener::start() {
    accept_thread_ = std::jthread([this](const std::stop_token& st) { acceptLoop(st); });
    udp_thread_ = std::jthread([this](const std::stop_token& st) { udpLoop(st); });
}

void AxfrListener::stop() {
    accept_thread_.request_stop();
    udp_thread_.request_stop();
    if (accept_thread_.joinable()) accept_thread_.join();
    if (udp_thread_.joinable()) udp_thread_.join();
    {
        std::lock_guard lock(conn_mutex_);
        for (auto& c : connections_) c->thread.request_stop();
        connections_.clear();  // joins
    }
    for (auto* list : {&tcp_, &udp_}) {
        for (const auto& s : *list) ::close(s.fd);
        list->clear();
    }
    cv_.notify_all();
}

void AxfrListener::serve(std::shared_ptr<const ServedBody> body) {
    {
        std::lock_guard lock(mutex_);
        bodies_[body->zone] = std::move(body);
    }
}

void AxfrListener::withdraw(const std::string& zone) {
    std::lock_guard lock(mutex_);
    bodies_.erase(zone);
    receipts_.erase(zone);
}

void AxfrListener::retire(const std::string& zone, const std::string& digest) {
    std::lock_guard lock(mutex_);
    auto it = bodies_.find(zone);
    if (it == bodies_.end() || !it->second->complete || it->second->digest != digest) return;
    if (auto a = active_.find(zone); a != active_.end() && a->second > 0) return;
    auto soa = common::firstRrOf(it->second->bytes);
    if (!soa) return;  // a served body always starts with its SOA; keep it whole otherwise
    auto stub = std::make_shared<ServedBody>();
    stub->zone = zone;
    stub->bytes = std::move(*soa);
    stub->digest = digest;
    stub->serial = it->second->serial;
    stub->complete = false;
    it->second = std::move(stub);
    receipts_.erase(zone);
}

bool AxfrListener::serves(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    return bodies_.contains(zone);
}

size_t AxfrListener::servedCount() const {
    std::lock_guard lock(mutex_);
    return bodies_.size();
}

std::shared_ptr<const ServedBody> AxfrListener::find(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto it = bodies_.find(zone);
    return it == bodies_.end() ? nullptr : it->second;
}

TransferWait AxfrListener::waitForTransfer(
    const std::string& zone, const std::string& digest, std::chrono::steady_clock::time_point after,
    std::chrono::steady_clock::time_point retry_after,
    std::chrono::steady_clock::time_point start_deadline,
    std::chrono::steady_clock::time_point complete_deadline) {
    std::unique_lock lock(mutex_);
    for (;;) {
        bool running = false;
        if (auto it = receipts_.find(zone); it != receipts_.end()) {
            for (const auto& r : it->second) {
                if (r.digest != digest || r.start < after) continue;
                if (r.finished && r.completed) return TransferWait::Completed;
                if (r.finished && r.start >= retry_after) return TransferWait::Failed;
                if (!r.finished) running = true;
            }
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= complete_deadline) {
            return running ? TransferWait::Failed : TransferWait::NotStarted;
        }
        if (!running && now >= start_deadline) return TransferWait::NotStarted;
        cv_.wait_until(lock,
                       running ? complete_deadline : std::min(start_deadline, complete_deadline));
    }
}

uint64_t AxfrListener::beginReceipt(const std::string& zone, const std::string& digest) {
    std::lock_guard lock(mutex_);
    auto& list = receipts_[zone];
    if (list.size() >= kReceiptsKept) list.erase(list.begin());
    const auto id = ++next_receipt_;
    list.push_back(
        Receipt{.id = id, .digest = digest, .start = std::chrono::steady_clock::now(), .end = {}});
    cv_.notify_all();
    return id;
}

void AxfrListener::endReceipt(const std::string& zone, uint64_t id, bool completed) {
    {
        std::lock_guard lock(mutex_);
        if (auto it = receipts_.find(zone); it != receipts_.end()) {
            for (auto& r : it->second) {
                if (r.id != id) continue;
                r.finished = true;
                r.completed = completed;
                r.end = std::chrono::steady_clock::now();
            }
        }
        if (auto a = active_.find(zone); a != active_.end() && --a->second <= 0) active_.erase(a);
    }
    (completed ? transfers_completed_ : transfers_failed_).inc();
    cv_.notify_all();
}

bool AxfrListener::allowed(const std::string& peer) const {
    return std::find(allow_.begin(), allow_.end(), peer) != allow_.end();
}

void AxfrListener::reapConnections() {
    std::lock_guard lock(conn_mutex_);
    connections_.remove_if([](const auto& c) { return c->done.load(); });
}

void AxfrListener::acceptLoop(const std::stop_token& st) {
    std::vector<pollfd> fds;
    for (const auto& s : tcp_) fds.push_back(pollfd{.fd = s.fd, .events = POLLIN, .revents = 0});
    while (!st.stop_requested()) {
        if (::poll(fds.data(), fds.size(), 250) <= 0) {
            reapConnections();
            continue;
        }
        for (auto& p : fds) {
            if ((p.revents & POLLIN) == 0) continue;
            sockaddr_storage ss{};
            socklen_t len = sizeof(ss);
            // Listening sockets are non-blocking: a connection reset between poll and accept
            // must not stall the loop.
            const int fd = ::accept4(p.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
            if (fd < 0) continue;
            const auto peer = peerString(ss);
            reapConnections();
            std::lock_guard lock(conn_mutex_);
            if (!allowed(peer) || connections_.size() >= kMaxConnections) {
                refused_.inc();
                if (log_limiter_.allow()) {
                    spdlog::warn("AXFR listener closed a connection from '{}' ({})", peer,
                                 allowed(peer) ? "too many connections" : "source not allowed");
                }
                ::close(fd);
                continue;
            }
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            const timeval tv{.tv_sec = 10, .tv_usec = 0};
            ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            auto conn = std::make_unique<Connection>();
            auto* raw = conn.get();
            conn->thread = std::jthread([this, fd, peer, raw](const std::stop_token& cst) {
                serveConnection(fd, peer, cst);
                ::close(fd);
                raw->done = true;
            });
            connections_.push_back(std::move(conn));
        }
    }
}

void AxfrListener::serveConnection(int fd, const std::string& peer, const std::stop_token& st) {
    while (!st.stop_requested()) {
        std::array<std::byte, 2> len_buf{};
        if (!readFull(fd, len_buf, st)) return;
        const size_t len =
            (std::to_integer<size_t>(len_buf[0]) << 8) | std::to_integer<size_t>(len_buf[1]);
        if (len < 12) {
            malformed_.inc();
            return;
        }
        std::vector<std::byte> msg(len);
        if (!readFull(fd, msg, st)) return;
        if (!answerTcp(fd, msg, peer)) return;
    }
}

ScreenedQuery screenQuery(std::span<const std::byte> message, const TsigKey* key,
                          std::chrono::system_clock::time_point now) {
    ScreenedQuery s;
    auto parsed = common::parseQuery(message);
    if (!parsed) {
        s.reply = common::buildErrorResponse(message, kRcodeFormErr);
        return s;
    }
    s.query = std::move(*parsed);
    if (!s.query->is_query) {
        s.outcome = ScreenedQuery::Outcome::NotAQuery;
        return s;
    }
    if (key != nullptr) s.tsig = verifyRequest(message, *key, now);
    if (s.tsig.status == TsigStatus::Valid) {
        s.outcome = ScreenedQuery::Outcome::Accepted;
        s.signer.emplace(*key, s.tsig.record->mac);
        return s;
    }
    s.outcome = ScreenedQuery::Outcome::Refused;
    if (s.tsig.status == TsigStatus::Unsigned) {
        s.reply = common::buildErrorResponse(message, kRcodeNotAuth);
    } else {
        s.reply = tsigErrorResponse(message, s.tsig, *key, now);
    }
    return s;
}

bool AxfrListener::admit(const ScreenedQuery& screened, const TsigKey* key,
                         const std::string& peer) {
    switch (screened.outcome) {
        case ScreenedQuery::Outcome::Accepted:
            return true;
        case ScreenedQuery::Outcome::Malformed:
        case ScreenedQuery::Outcome::NotAQuery:
            malformed_.inc();
            return false;
        case ScreenedQuery::Outcome::Refused:
            break;
    }
    const auto status = screened.tsig.status;
    std::string reason(toString(status));
    std::transform(reason.begin(), reason.end(), reason.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<uint8_t>(c))); });
    if (status == TsigStatus::FormErr) {
        reason = "formerr";
        malformed_.inc();
    }
    metrics_
        .counter("pdns_distribute_syncer_listener_tsig_refused_total",
                 "queries refused for their TSIG, by reason", {{"reason", reason}})
        .inc();
    refused_.inc();
    if (log_limiter_.allow()) {
        spdlog::warn(
            "AXFR listener refused a query for '{}' type {} from '{}' (TSIG {}); the local pdns "
            "must sign its transfers with key '{}'",
            screened.query->qname, screened.query->qtype, peer, toString(status),
            key != nullptr ? key->name() : "(none yet)");
    }
    return false;
}

bool AxfrListener::answerTcp(int fd, std::span<const std::byte> query, const std::string& peer) {
    const auto key = tsigKey();  // outlives the signer
    auto screened = screenQuery(query, key.get(), std::chrono::system_clock::now());
    if (!admit(screened, key.get(), peer)) {
        // Malformed, a response or unauthenticated: answer once (if at all) and hang up.
        if (screened.reply) writeMessage(fd, *screened.reply);
        return false;
    }
    const auto& q = screened.query;
    auto& signer = *screened.signer;
    auto send = [&](Bytes msg) {
        if (auto s = signer.sign(msg, std::chrono::system_clock::now()); !s) {
            spdlog::error("cannot sign an answer for '{}' ({})", q->qname, s.error().message);
            return false;
        }
        return writeMessage(fd, msg);
    };
    auto refuse = [&](uint8_t rcode, std::string_view why) {
        refused_.inc();
        spdlog::debug("AXFR listener refused {} for '{}' from '{}' ({})", q->qtype, q->qname, peer,
                      why);
        auto err = common::buildErrorResponse(query, rcode);
        return err && send(std::move(*err));
    };
    auto body = find(q->qname);
    if (!body) return refuse(kRcodeNotAuth, "zone not managed");
    if (q->qtype == common::rrtype::kSoa) {
        auto r = common::buildSoaResponse(query, body->bytes);
        return r && send(std::move(*r));
    }
    if (q->qtype == common::rrtype::kIxfr) return refuse(kRcodeNotImp, "IXFR not offered");
    if (q->qtype != common::rrtype::kAxfr) return refuse(kRcodeRefused, "type not served");
    if (!body->complete) {
        // Only the SOA is kept once the local pdns serves the zone; its data come again with
        // the next apply (an event, a resync, a repair by the scan).
        return refuse(kRcodeRefused, "the zone is applied; its body is fetched again on change");
    }
    {
        std::unique_lock lock(mutex_);
        if (active_[q->qname] > 0) {
            lock.unlock();
            return refuse(kRcodeRefused, "a transfer of this zone is running");
        }
        active_[q->qname] = 1;
    }
    const auto receipt = beginReceipt(q->qname, body->digest);
    auto messages = common::buildAxfrResponse(query, q->qname, body->bytes);
    bool ok = messages.hasValue();
    if (ok) {
        // RFC 8945 §5.3.1: every message signed, each MAC chained to the one before.
        for (auto& m : *messages) {
            if (!send(std::move(m))) {
                ok = false;
                break;
            }
        }
    } else {
        spdlog::error("cannot build the AXFR of '{}' ({})", q->qname, messages.error().message);
    }
    endReceipt(q->qname, receipt, ok);
    return ok;
}

std::optional<Bytes> AxfrListener::answerUdp(std::span<const std::byte> query,
                                             const std::string& peer) {
    const auto key = tsigKey();  // outlives the signer
    auto screened = screenQuery(query, key.get(), std::chrono::system_clock::now());
    if (!admit(screened, key.get(), peer)) return std::move(screened.reply);
    const auto& q = screened.query;
    std::optional<Bytes> answer;
    if (auto body = find(q->qname); !body) {
        refused_.inc();
        answer = common::buildErrorResponse(query, kRcodeNotAuth);
    } else if (q->qtype == common::rrtype::kSoa) {
        auto r = common::buildSoaResponse(query, body->bytes);
        if (r) answer = std::move(*r);
    } else {
        refused_.inc();
        answer = common::buildErrorResponse(query, kRcodeRefused);
    }
    if (answer && !screened.signer->sign(*answer, std::chrono::system_clock::now())) {
        return std::nullopt;
    }
    return answer;
}

void AxfrListener::udpLoop(const std::stop_token& st) {
    std::vector<std::byte> buf(65535);
    std::vector<pollfd> fds;
    for (const auto& s : udp_) fds.push_back(pollfd{.fd = s.fd, .events = POLLIN, .revents = 0});
    while (!st.stop_requested()) {
        if (fds.empty()) {
            std::this_thread::sleep_for(250ms);
            continue;
        }
        if (::poll(fds.data(), fds.size(), 250) <= 0) continue;
        for (auto& p : fds) {
            if ((p.revents & POLLIN) == 0) continue;
            sockaddr_storage ss{};
            socklen_t len = sizeof(ss);
            const auto n =
                ::recvfrom(p.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
            if (n <= 0) continue;
            const auto peer = peerString(ss);
            if (!allowed(peer)) {
                refused_.inc();
                continue;  // silently dropped: answering would make us a reflector
            }
            auto answer =
                answerUdp(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)), peer);
            if (answer) {
                ::sendto(p.fd, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&ss),
                         len);
            }
        }
    }
}

}  // namespace pdns_distribute::secondary_syncer
