// SPDX-License-Identifier: Apache-2.0
#pragma once
// Asks many DNS servers for many zones' SOA at once over one UDP socket, and tracks until when
// each (server, zone) pair first showed what a benchmark waits for. The blocking, one query at a
// time DnsClient of libs/common is too slow for 500 zones x 6 secondaries every few ms.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pdns_distribute::bench {

using Clock = std::chrono::steady_clock;

struct DnsTarget {
    std::string address;  ///< IPv4 literal (every benchmark server is on 127.0.0.1)
    uint16_t port = 0;
};

enum class SoaStatus {
    NoReply,    ///< no answer within the reply timeout (or a malformed one)
    Served,     ///< NOERROR with AA and the zone's SOA in the answer
    NotServed,  ///< REFUSED, NOTAUTH, SERVFAIL, NXDOMAIN, or no SOA: the server has no such zone
};

struct SoaAnswer {
    SoaStatus status = SoaStatus::NoReply;
    uint32_t serial = 0;
    unsigned rcode = 0;      ///< the reply's RCODE (when there was one)
    Clock::time_point at{};  ///< when the reply arrived
};

/// "no reply", "REFUSED", "SERVFAIL", "NOERROR no SOA" or "serial <n>": what a server said.
[[nodiscard]] std::string describe(const SoaAnswer& answer);

struct SoaQuery {
    size_t target = 0;  ///< index into the poller's targets
    std::string zone;   ///< absolute name, trailing dot
};

/// One UDP socket; query() sends every query (at most `max_in_flight` outstanding), matches
/// replies by id, source and question, and returns one answer per query in order. Not
/// thread-safe: one poller per polling thread.
class SoaPoller final {
public:
    SoaPoller(std::vector<DnsTarget> targets, std::chrono::milliseconds reply_timeout,
              size_t max_in_flight = 512);
    ~SoaPoller();
    SoaPoller(const SoaPoller&) = delete;
    SoaPoller& operator=(const SoaPoller&) = delete;

    [[nodiscard]] std::vector<SoaAnswer> query(std::span<const SoaQuery> queries);
    [[nodiscard]] SoaAnswer queryOne(size_t target, const std::string& zone);
    [[nodiscard]] size_t targetCount() const { return targets_.size(); }

private:
    std::vector<DnsTarget> targets_;
    std::chrono::milliseconds reply_timeout_;
    size_t max_in_flight_;
    int fd_ = -1;
    uint16_t next_id_ = 0;
};

/// What a probe waits for.
enum class Expect {
    AnySoa,         ///< the zone is served at all (a created zone)
    SerialAtLeast,  ///< the SOA serial reached `serial` (RFC 1982 comparison)
    Absent,         ///< the zone is no longer served (a deleted zone)
};

struct Probe {
    size_t target = 0;
    std::string zone;
    Expect expect = Expect::AnySoa;
    uint32_t serial = 0;
    std::optional<Clock::time_point> done;  ///< arrival of the first reply that satisfied it
    std::string last_other;  ///< describe() of the last reply that did not satisfy it
    Clock::time_point last_other_at{};
};

/// True when `answer` satisfies `probe`'s expectation.
[[nodiscard]] bool satisfies(const Probe& probe, const SoaAnswer& answer);

/// A growing set of probes polled in rounds. Each round queries at most `budget` open probes,
/// continuing round-robin where the previous round stopped, so that with many open probes the
/// polling load (and the servers' extra work) stays bounded while every probe is still visited.
class ProbeSet final {
public:
    /// Returns the probe's index.
    size_t add(Probe probe);
    /// One round of queries; returns the number of probes still open.
    size_t round(SoaPoller& poller, size_t budget);
    [[nodiscard]] const Probe& operator[](size_t i) const { return probes_[i]; }
    [[nodiscard]] size_t size() const { return probes_.size(); }
    [[nodiscard]] size_t open() const { return open_.size(); }

private:
    std::vector<Probe> probes_;
    std::vector<size_t> open_;
    size_t cursor_ = 0;
};

/// Runs rounds every `interval` until no probe is open or `deadline` passes; `between` (if set)
/// runs before each round (to add probes) and returns whether more probes may still come;
/// `give_up` (if set) ends the polling early when it returns true (e.g. a daemon died). Returns
/// true when every probe was satisfied.
bool pollUntilDone(ProbeSet& probes, SoaPoller& poller, Clock::time_point deadline,
                   std::chrono::milliseconds interval, size_t budget,
                   const std::function<bool()>& between = {},
                   const std::function<bool()>& give_up = {});

}  // namespace pdns_distribute::bench
