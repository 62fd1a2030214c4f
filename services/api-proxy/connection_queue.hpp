// SPDX-License-Identifier: Apache-2.0
#pragma once
// The proxy's connection admission (DESIGN §6 "connections are bounded"): httplib hands every
// accepted connection to a TaskQueue as an opaque job that does the TLS handshake, the requests
// and the close. ConnectionQueue runs those jobs on `workers` threads, lets at most `max_queued`
// more wait for a worker, and no longer than `queue_timeout`. A connection beyond that is still
// accepted but run by a small reject lane in ConnectionMode::Reject, where the proxy answers 503
// with Retry-After and forwards nothing; when even that lane is full it runs at once on the
// accepting thread in ConnectionMode::Drop, where the TLS hook closes it before the handshake.
// So an excess client is queued briefly, answered 503, or (under a flood) disconnected: it never
// waits without bound and never takes memory without bound.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/metrics.hpp>

namespace pdns_distribute::api_proxy {

/// How the connection job running on the calling thread is to be treated.
enum class ConnectionMode {
    Serve,   ///< a worker: forward requests
    Reject,  ///< the reject lane: answer 503 with Retry-After, forward nothing
    Drop,    ///< overflow or shutdown: close before the TLS handshake
};

/// The mode of the connection job the calling thread is running; Serve on any thread that is
/// not running a ConnectionQueue job. Read by the TLS hook and the request handlers, which run
/// on the thread that runs the job.
[[nodiscard]] ConnectionMode currentConnectionMode();

struct ConnectionQueueSettings {
    size_t workers = 32;                            ///< connections served in parallel
    size_t max_queued = 64;                         ///< waiting for a worker, beyond `workers`
    std::chrono::milliseconds queue_timeout{5000};  ///< longest wait for a worker
    size_t reject_threads = 2;                      ///< threads answering 503
    size_t max_rejecting = 64;                      ///< waiting for a reject thread
};

struct ConnectionQueueMetrics {
    common::Counter& rejected_full;     ///< answered 503: queue full
    common::Counter& rejected_timeout;  ///< answered 503: waited queue_timeout
    common::Counter& dropped;           ///< closed unanswered: reject lane full or shutting down
    common::Gauge& waiting;             ///< connections waiting for a worker
    [[nodiscard]] static ConnectionQueueMetrics create(common::MetricsRegistry& registry);
};

/// A httplib::TaskQueue (httplib owns it: Server::new_task_queue returns a raw pointer and the
/// server deletes it after shutdown()). enqueue() is called by httplib's accepting thread;
/// shutdown() once, after the accept loop ended. Jobs already running finish; jobs still waiting
/// at shutdown run in Drop mode, so every accepted socket is closed. Times come from `clock`.
class ConnectionQueue final : public httplib::TaskQueue {
public:
    ConnectionQueue(const ConnectionQueueSettings& settings, const common::Clock& clock,
                    ConnectionQueueMetrics metrics);
    ~ConnectionQueue() override;
    ConnectionQueue(const ConnectionQueue&) = delete;
    ConnectionQueue& operator=(const ConnectionQueue&) = delete;

    void enqueue(std::function<void()> fn) override;
    void shutdown() override;
    /// True once shutdown() has begun (it may still be waiting for running jobs).
    [[nodiscard]] bool shuttingDown();

private:
    struct Job {
        std::function<void()> fn;
        std::chrono::steady_clock::time_point queued;
    };
    void workerLoop();
    void rejectLoop();
    /// Moves jobs that waited queue_timeout from waiting_ to rejecting_ (lock held).
    void expireWaiting();
    static void run(const Job& job, ConnectionMode mode);
    /// A rate-limited warning about refused connections (the counters have every one).
    void warnRefused(std::string_view what);

    ConnectionQueueSettings settings_;
    const common::Clock& clock_;
    ConnectionQueueMetrics metrics_;
    common::LogLimiter log_limiter_{std::chrono::seconds{10}};
    // One mutex for both queues: a job moves from one to the other under it.
    std::mutex mutex_;
    std::condition_variable work_cv_;
    std::condition_variable reject_cv_;
    std::deque<Job> waiting_;
    std::deque<Job> rejecting_;
    size_t busy_ = 0;  ///< jobs running on workers
    bool shutdown_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace pdns_distribute::api_proxy
