// SPDX-License-Identifier: Apache-2.0
#pragma once
// The AXFR listener the local pdns_server transfers from (DESIGN §5.8): serves exactly one
// verified body per managed zone, to allow-listed loopback sources only, answers only queries
// TSIG-signed with the node's key and signs every reply (RFC 8945), and records every transfer
// it serves so that the applier can prove the local pdns took that exact body. Once that is
// proven the body is retired to its SOA (refresh checks answered, AXFR refused until the next
// apply serves a body again), so the syncer does not hold every zone's data.
//
// Sockets: those systemd passed (socket activation, several addresses) or one TCP and one UDP
// socket it binds itself. Threads: one accept thread, one UDP thread, one thread per TCP
// connection (bounded). All state is behind mutexes/condition variables; serve/withdraw/
// waitForTransfer/setTsigKey are thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <pdns_distribute/common/daemon.hpp>
#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/metrics.hpp>

#include "socket_activation.hpp"
#include "tsig.hpp"

namespace pdns_distribute::secondary_syncer {

struct ServedBody {
    std::string zone;  ///< canonical
    std::vector<std::byte> bytes;
    std::string digest;  ///< hex BLAKE2b-256 of the whole body
    uint32_t serial = 0;
    /// False once retired: `bytes` holds the SOA alone, enough for the local pdns's refresh
    /// checks; an AXFR is refused (never an empty zone) until the next apply serves a body.
    bool complete = true;
};

enum class TransferWait { Completed, NotStarted, Failed };

/// How the listener treats one incoming message before it looks at the zone: parse it, drop
/// responses, verify its TSIG under `key` (RFC 8945 §5.2; without a key every query is refused as
/// unsigned). Pure and thread-safe (no sockets, metrics or logs), so that the fuzz target reaches
/// the code the sockets do.
struct ScreenedQuery {
    enum class Outcome { Malformed, NotAQuery, Refused, Accepted };
    Outcome outcome = Outcome::Malformed;
    std::optional<common::ParsedQuery> query;  ///< unless Malformed
    TsigCheck tsig;                            ///< checked when Refused or Accepted
    /// Accepted only: signs the answer, the first MAC chained to the request's; refers to `key`.
    std::optional<TsigSigner> signer;
    /// Otherwise what to send before giving up (FORMERR, NOTAUTH with the TSIG error), if any.
    std::optional<Bytes> reply;
};
[[nodiscard]] ScreenedQuery screenQuery(std::span<const std::byte> message, const TsigKey* key,
                                        std::chrono::system_clock::time_point now);

/// Port the applier uses.
class TransferServer {
public:
    virtual ~TransferServer() = default;
    /// Makes `body` the only version served for its zone.
    virtual void serve(std::shared_ptr<const ServedBody> body) = 0;
    virtual void withdraw(const std::string& zone) = 0;
    /// The local pdns proved it serves the body of `digest`: keep only its SOA (and forget its
    /// transfer receipts), unless another body is served by now or a transfer is running.
    virtual void retire(const std::string& zone, const std::string& digest) = 0;
    [[nodiscard]] virtual bool serves(const std::string& zone) const = 0;
    [[nodiscard]] virtual size_t servedCount() const = 0;
    /// Waits for a complete transfer of exactly `digest` that started at or after `after`
    /// (Completed). A transfer of it that started at or after `retry_after` and broke off gives
    /// Failed; none running or done by `start_deadline` gives NotStarted; one still running at
    /// `complete_deadline` gives Failed.
    [[nodiscard]] virtual TransferWait waitForTransfer(
        const std::string& zone, const std::string& digest,
        std::chrono::steady_clock::time_point after,
        std::chrono::steady_clock::time_point retry_after,
        std::chrono::steady_clock::time_point start_deadline,
        std::chrono::steady_clock::time_point complete_deadline) = 0;
};

class AxfrListener final : public TransferServer {
public:
    AxfrListener(common::HostPort listen, std::vector<std::string> allow,
                 common::MetricsRegistry& metrics);
    ~AxfrListener() override;
    AxfrListener(const AxfrListener&) = delete;
    AxfrListener& operator=(const AxfrListener&) = delete;

    /// Binds TCP and UDP on the configured address; throws std::runtime_error naming the
    /// address and cause.
    void bind();
    /// Uses sockets passed by systemd instead of binding (at least one TCP socket); throws
    /// std::runtime_error when there is none.
    void adopt(std::vector<InheritedSocket> sockets);
    /// What the local pdns is told to transfer from ("127.0.0.1:5300"): the first IPv4 TCP
    /// socket in use (a wildcard address as 127.0.0.1), else the first IPv6 one ("[::1]:5300").
    [[nodiscard]] std::string masterAddress() const;
    /// The key queries must be signed with; until one is set every query is refused (NOTAUTH).
    void setTsigKey(std::shared_ptr<const TsigKey> key);
    void start();
    void stop();

    void serve(std::shared_ptr<const ServedBody> body) override;
    void withdraw(const std::string& zone) override;
    void retire(const std::string& zone, const std::string& digest) override;
    [[nodiscard]] bool serves(const std::string& zone) const override;
    [[nodiscard]] size_t servedCount() const override;
    [[nodiscard]] TransferWait waitForTransfer(
        const std::string& zone, const std::string& digest,
        std::chrono::steady_clock::time_point after,
        std::chrono::steady_clock::time_point retry_after,
        std::chrono::steady_clock::time_point start_deadline,
        std::chrono::steady_clock::time_point complete_deadline) override;

private:
    struct Receipt {
        uint64_t id = 0;
        std::string digest;
        std::chrono::steady_clock::time_point start;
        std::chrono::steady_clock::time_point end;
        bool finished = false;
        bool completed = false;
    };
    struct Connection {
        std::jthread thread;
        std::atomic<bool> done{false};
    };

    void acceptLoop(const std::stop_token& st);
    void udpLoop(const std::stop_token& st);
    void serveConnection(int fd, const std::string& peer, const std::stop_token& st);
    /// Answers one query; for AXFR writes the messages itself. Returns false to close.
    bool answerTcp(int fd, std::span<const std::byte> query, const std::string& peer);
    /// The answer to a UDP query, nullopt for none.
    std::optional<Bytes> answerUdp(std::span<const std::byte> query, const std::string& peer);
    /// Counts and logs what screenQuery decided; true when the query may be answered.
    bool admit(const ScreenedQuery& screened, const TsigKey* key, const std::string& peer);
    [[nodiscard]] std::shared_ptr<const TsigKey> tsigKey() const;
    [[nodiscard]] bool allowed(const std::string& peer) const;
    std::shared_ptr<const ServedBody> find(const std::string& zone) const;
    uint64_t beginReceipt(const std::string& zone, const std::string& digest);
    void endReceipt(const std::string& zone, uint64_t id, bool completed);
    void reapConnections();

    common::HostPort listen_;
    std::vector<std::string> allow_;
    std::vector<InheritedSocket> tcp_;  // listening, non-blocking
    std::vector<InheritedSocket> udp_;
    std::shared_ptr<const TsigKey> key_;  // guarded by mutex_

    mutable std::mutex mutex_;  // guards bodies_, receipts_, active_
    std::condition_variable cv_;
    std::map<std::string, std::shared_ptr<const ServedBody>, std::less<>> bodies_;
    std::map<std::string, std::vector<Receipt>, std::less<>> receipts_;
    std::map<std::string, int, std::less<>> active_;
    uint64_t next_receipt_ = 0;

    std::mutex conn_mutex_;
    std::list<std::unique_ptr<Connection>> connections_;
    std::jthread accept_thread_;
    std::jthread udp_thread_;

    common::Counter& transfers_completed_;
    common::Counter& transfers_failed_;
    common::Counter& refused_;
    common::Counter& malformed_;
    common::MetricsRegistry& metrics_;
    common::LogLimiter log_limiter_{std::chrono::seconds{10}};
};

}  // namespace pdns_distribute::secondary_syncer
