// SPDX-License-Identifier: Apache-2.0
#include "connection_queue.hpp"

#include <exception>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace pdns_distribute::api_proxy {
namespace {

thread_local ConnectionMode t_mode = ConnectionMode::Serve;

/// The reject lane re-checks the waiting jobs' age this often while no job wakes it.
constexpr std::chrono::milliseconds kExpiryPoll{50};

}  // namespace

ConnectionMode currentConnectionMode() { return t_mode; }

ConnectionQueueMetrics ConnectionQueueMetrics::create(common::MetricsRegistry& registry) {
    constexpr std::string_view kRejected = "Connections answered 503 because every worker was busy";
    return ConnectionQueueMetrics{
        .rejected_full = registry.counter("pdns_distribute_api_proxy_connections_rejected_total",
                                          kRejected, {{"reason", "queue_full"}}),
        .rejected_timeout = registry.counter("pdns_distribute_api_proxy_connections_rejected_total",
                                             kRejected, {{"reason", "queue_timeout"}}),
        .dropped = registry.counter(
            "pdns_distribute_api_proxy_connections_dropped_total",
            "Connections closed unanswered (the 503 lane was full, or the proxy was stopping)"),
        .waiting = registry.gauge("pdns_distribute_api_proxy_connections_waiting",
                                  "Connections waiting for a free worker"),
    };
}

ConnectionQueue::ConnectionQueue(const ConnectionQueueSettings& settings,
                                 const common::Clock& clock, ConnectionQueueMetrics metrics)
    : settings_(settings), clock_(clock), metrics_(metrics) {
    if (settings_.workers == 0) settings_.workers = 1;
    if (settings_.reject_threads == 0) settings_.reject_threads = 1;
    threads_.reserve(settings_.workers + settings_.reject_threads);
    for (size_t i = 0; i < settings_.workers; ++i) threads_.emplace_back([this] { workerLoop(); });
    for (size_t i = 0; i < settings_.reject_threads; ++i) {
        threads_.emplace_back([this] { rejectLoop(); });
    }
}

ConnectionQueue::~ConnectionQueue() { shutdown(); }

void ConnectionQueue::enqueue(std::function<void()> fn) {
    Job job{.fn = std::move(fn), .queued = clock_.steady()};
    {
        const std::lock_guard lock(mutex_);
        if (!shutdown_) {
            if (waiting_.size() + busy_ < settings_.workers + settings_.max_queued) {
                waiting_.push_back(std::move(job));
                metrics_.waiting.set(static_cast<double>(waiting_.size()));
                work_cv_.notify_one();
                reject_cv_.notify_one();  // the reject lane watches waiting jobs' age
                return;
            }
            if (rejecting_.size() < settings_.max_rejecting) {
                rejecting_.push_back(std::move(job));
                metrics_.rejected_full.inc();
                reject_cv_.notify_one();
                warnRefused("answering 503 (every worker busy and the queue full)");
                return;
            }
        }
    }
    // On the accepting thread, but quick: the TLS hook closes the socket before reading.
    metrics_.dropped.inc();
    warnRefused("closing new connections unanswered (every worker and the 503 lane busy)");
    run(job, ConnectionMode::Drop);
}

void ConnectionQueue::shutdown() {
    {
        const std::lock_guard lock(mutex_);
        if (shutdown_ && threads_.empty()) return;
        shutdown_ = true;
    }
    work_cv_.notify_all();
    reject_cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    const std::lock_guard lock(mutex_);
    threads_.clear();
}

bool ConnectionQueue::shuttingDown() {
    const std::lock_guard lock(mutex_);
    return shutdown_;
}

void ConnectionQueue::workerLoop() {
    for (;;) {
        Job job;
        auto mode = ConnectionMode::Serve;
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [this] { return shutdown_ || !waiting_.empty(); });
            if (waiting_.empty()) return;  // shut down and drained
            job = std::move(waiting_.front());
            waiting_.pop_front();
            metrics_.waiting.set(static_cast<double>(waiting_.size()));
            if (shutdown_) {
                mode = ConnectionMode::Drop;
                metrics_.dropped.inc();
            } else if (clock_.steady() - job.queued >= settings_.queue_timeout) {
                // Waited too long: answering it is the reject lane's work, not a worker's.
                if (rejecting_.size() < settings_.max_rejecting) {
                    rejecting_.push_back(std::move(job));
                    metrics_.rejected_timeout.inc();
                    reject_cv_.notify_one();
                    warnRefused("answering 503 (waited proxy.queue_timeout for a worker)");
                    continue;
                }
                mode = ConnectionMode::Drop;
                metrics_.dropped.inc();
            } else {
                ++busy_;
            }
        }
        run(job, mode);
        if (mode == ConnectionMode::Serve) {
            const std::lock_guard lock(mutex_);
            --busy_;
        }
    }
}

void ConnectionQueue::rejectLoop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        expireWaiting();
        if (!rejecting_.empty()) {
            Job job = std::move(rejecting_.front());
            rejecting_.pop_front();
            const auto mode = shutdown_ ? ConnectionMode::Drop : ConnectionMode::Reject;
            if (shutdown_) metrics_.dropped.inc();
            lock.unlock();
            run(job, mode);
            lock.lock();
            continue;
        }
        if (shutdown_) return;
        if (waiting_.empty()) {
            reject_cv_.wait(lock);  // enqueue and shutdown notify
        } else {
            reject_cv_.wait_for(lock, kExpiryPoll);
        }
    }
}

void ConnectionQueue::expireWaiting() {
    if (shutdown_) return;
    const auto now = clock_.steady();
    while (!waiting_.empty() && now - waiting_.front().queued >= settings_.queue_timeout &&
           rejecting_.size() < settings_.max_rejecting) {
        rejecting_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
        metrics_.rejected_timeout.inc();
        warnRefused("answering 503 (waited proxy.queue_timeout for a worker)");
    }
    metrics_.waiting.set(static_cast<double>(waiting_.size()));
}

void ConnectionQueue::warnRefused(std::string_view what) {
    uint64_t suppressed = 0;
    if (!log_limiter_.allowAt(clock_.steady(), &suppressed)) return;
    spdlog::warn(
        "HTTPS connections refused: {}; {} workers (proxy.max_connections), {} may wait "
        "(proxy.max_queued){}",
        what, settings_.workers, settings_.max_queued,
        suppressed > 0 ? fmt::format(" ({} similar since the last report)", suppressed)
                       : std::string{});
}

void ConnectionQueue::run(const Job& job, ConnectionMode mode) {
    t_mode = mode;
    try {
        job.fn();
    } catch (const std::exception& e) {
        spdlog::error("HTTPS connection handling failed (bug: {})", e.what());
    } catch (...) {
        spdlog::error("HTTPS connection handling failed (bug: unknown exception)");
    }
    t_mode = ConnectionMode::Serve;
}

}  // namespace pdns_distribute::api_proxy
