// SPDX-License-Identifier: Apache-2.0
// The proxy's connection bounds: admission (ConnectionQueue), client deadlines
// (ClientDeadlines), request body framing and the settings that drive them.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <pdns_distribute/common/config.hpp>
#include <pdns_distribute/common/metrics.hpp>

#include "client_deadlines.hpp"
#include "config.hpp"
#include "connection_queue.hpp"
#include "manual_clock.hpp"
#include "proxy_service.hpp"

namespace pdns_distribute::api_proxy {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// --- body framing ---

TEST(RequestBodyFraming, NoHeaders_NoBody) {
    EXPECT_EQ(requestBodyFraming({}, {}, 100), BodyFraming::None);
}

TEST(RequestBodyFraming, ZeroLength_NoBody) {
    EXPECT_EQ(requestBodyFraming({"0"}, {}, 100), BodyFraming::None);
}

TEST(RequestBodyFraming, LengthUpToTheLimit_Length) {
    EXPECT_EQ(requestBodyFraming({"1"}, {}, 100), BodyFraming::Length);
    EXPECT_EQ(requestBodyFraming({"100"}, {}, 100), BodyFraming::Length);
    EXPECT_EQ(requestBodyFraming({" 100 "}, {}, 100), BodyFraming::Length);
}

TEST(RequestBodyFraming, LengthAboveTheLimit_TooLarge) {
    EXPECT_EQ(requestBodyFraming({"101"}, {}, 100), BodyFraming::TooLarge);
    EXPECT_EQ(requestBodyFraming({"9999999999999999999"}, {}, 100), BodyFraming::TooLarge);
}

TEST(RequestBodyFraming, RepeatedEqualLengths_Accepted) {
    EXPECT_EQ(requestBodyFraming({"42", "42"}, {}, 100), BodyFraming::Length);
    EXPECT_EQ(requestBodyFraming({"42, 42"}, {}, 100), BodyFraming::Length);
}

TEST(RequestBodyFraming, MalformedOrConflictingLength_Invalid) {
    for (const char* bad : {"", "-1", "+5", "1e3", "0x10", "12a", "99999999999999999999", ","}) {
        EXPECT_EQ(requestBodyFraming({bad}, {}, 100), BodyFraming::Invalid) << "'" << bad << "'";
    }
    EXPECT_EQ(requestBodyFraming({"42", "43"}, {}, 100), BodyFraming::Invalid);
    EXPECT_EQ(requestBodyFraming({"42, 43"}, {}, 100), BodyFraming::Invalid);
}

TEST(RequestBodyFraming, Chunked_Chunked) {
    EXPECT_EQ(requestBodyFraming({}, {"chunked"}, 100), BodyFraming::Chunked);
    EXPECT_EQ(requestBodyFraming({}, {" Chunked "}, 100), BodyFraming::Chunked);
}

TEST(RequestBodyFraming, OtherTransferCodings_Unsupported) {
    EXPECT_EQ(requestBodyFraming({}, {"gzip"}, 100), BodyFraming::Unsupported);
    EXPECT_EQ(requestBodyFraming({}, {"gzip, chunked"}, 100), BodyFraming::Unsupported);
    EXPECT_EQ(requestBodyFraming({}, {"chunked", "chunked"}, 100), BodyFraming::Unsupported);
    EXPECT_EQ(requestBodyFraming({}, {""}, 100), BodyFraming::Unsupported);
}

TEST(RequestBodyFraming, LengthAndTransferEncoding_Invalid) {
    // RFC 9112 §6.1: the request-smuggling pattern.
    EXPECT_EQ(requestBodyFraming({"5"}, {"chunked"}, 100), BodyFraming::Invalid);
}

TEST(RetryAfter, RoundsTheQueueTimeoutUpToWholeSeconds) {
    EXPECT_EQ(retryAfterSeconds(100ms), 1);
    EXPECT_EQ(retryAfterSeconds(1000ms), 1);
    EXPECT_EQ(retryAfterSeconds(1001ms), 2);
    EXPECT_EQ(retryAfterSeconds(5s), 5);
}

// --- settings ---

ApiProxySettings parse(std::string_view text) {
    auto reader = common::ConfigReader::fromString(text);
    auto settings = readApiProxySettings(reader.root());
    reader.finish();
    return settings;
}

TEST(ApiProxySettings, LimitDefaults) {
    const auto s = parse("");
    EXPECT_EQ(s.client_timeout, 30s);
    EXPECT_EQ(s.queue_timeout, 5s);
    EXPECT_EQ(s.max_queued, 64);
    EXPECT_EQ(s.tls.client_ca_file, "");
}

TEST(ApiProxySettings, LimitsParsed) {
    const auto s = parse(
        "[proxy]\nclient_timeout = \"1500ms\"\nqueue_timeout = \"2s\"\nmax_queued = 0\n"
        "[tls]\nclient_ca_file = \"/etc/ca.pem\"\n");
    EXPECT_EQ(s.client_timeout, 1500ms);
    EXPECT_EQ(s.queue_timeout, 2s);
    EXPECT_EQ(s.max_queued, 0);
    EXPECT_EQ(s.tls.client_ca_file, "/etc/ca.pem");
}

TEST(ApiProxySettings, LimitsOutOfRange_Rejected) {
    EXPECT_THROW(static_cast<void>(parse("[proxy]\nclient_timeout = \"10ms\"\n")),
                 common::ConfigError);
    EXPECT_THROW(static_cast<void>(parse("[proxy]\nqueue_timeout = \"1ms\"\n")),
                 common::ConfigError);
    EXPECT_THROW(static_cast<void>(parse("[proxy]\nmax_queued = -1\n")), common::ConfigError);
}

// --- ConnectionQueue ---

/// Records the mode each job ran in; jobs can block until released.
class Jobs {
public:
    std::function<void()> job(int id, bool block = false) {
        return [this, id, block] {
            std::unique_lock lock(mutex_);
            runs_.push_back({id, currentConnectionMode()});
            cv_.notify_all();
            if (block) cv_.wait(lock, [this] { return released_; });
        };
    }
    void release() {
        const std::lock_guard lock(mutex_);
        released_ = true;
        cv_.notify_all();
    }
    /// Waits (bounded) until `n` jobs have started.
    bool waitStarted(size_t n) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, 10s, [&] { return runs_.size() >= n; });
    }
    std::optional<ConnectionMode> modeOf(int id) {
        const std::lock_guard lock(mutex_);
        for (const auto& [i, m] : runs_) {
            if (i == id) return m;
        }
        return std::nullopt;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::pair<int, ConnectionMode>> runs_;
    bool released_ = false;
};

class ConnectionQueueTest : public ::testing::Test {
protected:
    std::unique_ptr<ConnectionQueue> makeQueue(size_t workers, size_t max_queued,
                                               size_t max_rejecting = 8) {
        return std::make_unique<ConnectionQueue>(
            ConnectionQueueSettings{.workers = workers,
                                    .max_queued = max_queued,
                                    .queue_timeout = 5s,
                                    .reject_threads = 1,
                                    .max_rejecting = max_rejecting},
            clock_, ConnectionQueueMetrics::create(metrics_));
    }
    double counter(const std::string& reason) {
        return static_cast<double>(
            metrics_
                .counter("pdns_distribute_api_proxy_connections_rejected_total", "",
                         {{"reason", reason}})
                .value());
    }
    double dropped() {
        return static_cast<double>(
            metrics_.counter("pdns_distribute_api_proxy_connections_dropped_total", "").value());
    }

    testing::ManualClock clock_;
    common::MetricsRegistry metrics_;
    Jobs jobs_;
};

TEST_F(ConnectionQueueTest, FreeWorker_JobServed) {
    auto q = makeQueue(2, 0);
    q->enqueue(jobs_.job(1));
    ASSERT_TRUE(jobs_.waitStarted(1));
    EXPECT_EQ(jobs_.modeOf(1), ConnectionMode::Serve);
    q->shutdown();
}

TEST_F(ConnectionQueueTest, WorkersBusyAndQueueFull_Rejected) {
    auto q = makeQueue(1, 1);
    q->enqueue(jobs_.job(1, true));
    ASSERT_TRUE(jobs_.waitStarted(1));
    q->enqueue(jobs_.job(2, true));  // waits for the worker
    q->enqueue(jobs_.job(3));        // beyond workers + max_queued: the reject lane
    ASSERT_TRUE(jobs_.waitStarted(2));
    EXPECT_EQ(jobs_.modeOf(3), ConnectionMode::Reject);
    EXPECT_FALSE(jobs_.modeOf(2).has_value());
    EXPECT_EQ(counter("queue_full"), 1);
    jobs_.release();
    ASSERT_TRUE(jobs_.waitStarted(3));
    EXPECT_EQ(jobs_.modeOf(2), ConnectionMode::Serve);
    q->shutdown();
}

TEST_F(ConnectionQueueTest, QueuedPastTimeout_RejectedWhileWorkersStayBusy) {
    auto q = makeQueue(1, 4);
    q->enqueue(jobs_.job(1, true));
    ASSERT_TRUE(jobs_.waitStarted(1));
    q->enqueue(jobs_.job(2));
    clock_.advance(4s);
    q->enqueue(jobs_.job(3));
    clock_.advance(1s);  // job 2 has waited 5 s, job 3 only 1 s
    ASSERT_TRUE(jobs_.waitStarted(2));
    EXPECT_EQ(jobs_.modeOf(2), ConnectionMode::Reject);
    EXPECT_FALSE(jobs_.modeOf(3).has_value());
    EXPECT_EQ(counter("queue_timeout"), 1);
    jobs_.release();
    ASSERT_TRUE(jobs_.waitStarted(3));
    EXPECT_EQ(jobs_.modeOf(3), ConnectionMode::Serve);
    q->shutdown();
}

TEST_F(ConnectionQueueTest, RejectLaneFull_DroppedOnTheAcceptingThread) {
    auto q = makeQueue(1, 0, 1);
    q->enqueue(jobs_.job(1, true));
    ASSERT_TRUE(jobs_.waitStarted(1));
    q->enqueue(jobs_.job(2, true));  // the reject lane's only thread, held
    ASSERT_TRUE(jobs_.waitStarted(2));
    q->enqueue(jobs_.job(3));  // waits for the reject lane
    q->enqueue(jobs_.job(4));  // nowhere left: runs at once, here, in Drop mode
    EXPECT_EQ(jobs_.modeOf(4), ConnectionMode::Drop);
    EXPECT_EQ(dropped(), 1);
    EXPECT_EQ(currentConnectionMode(), ConnectionMode::Serve);  // restored on this thread
    jobs_.release();
    ASSERT_TRUE(jobs_.waitStarted(4));
    EXPECT_EQ(jobs_.modeOf(3), ConnectionMode::Reject);
    q->shutdown();
}

TEST_F(ConnectionQueueTest, Shutdown_WaitingJobsDroppedRunningOnesFinish) {
    auto q = makeQueue(1, 4);
    q->enqueue(jobs_.job(1, true));
    ASSERT_TRUE(jobs_.waitStarted(1));
    q->enqueue(jobs_.job(2));
    std::thread stopper([&] { q->shutdown(); });  // joins the worker: waits for job 1
    bool stopping = false;
    for (int i = 0; i < 10000 && !stopping; ++i) {
        stopping = q->shuttingDown();
        if (!stopping) std::this_thread::sleep_for(1ms);  // polling, bounded to 10 s
    }
    jobs_.release();
    stopper.join();
    ASSERT_TRUE(stopping);
    EXPECT_EQ(jobs_.modeOf(1), ConnectionMode::Serve);
    EXPECT_EQ(jobs_.modeOf(2), ConnectionMode::Drop);
    q->enqueue(jobs_.job(3));  // after shutdown: closed at once, on this thread
    EXPECT_EQ(jobs_.modeOf(3), ConnectionMode::Drop);
}

// --- ClientDeadlines ---

/// A connected socket pair: the proxy's end and the client's.
class SocketPair {
public:
    SocketPair() {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_) != 0) {
            throw std::runtime_error("socketpair failed");
        }
    }
    ~SocketPair() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    SocketPair(const SocketPair&) = delete;
    SocketPair& operator=(const SocketPair&) = delete;
    [[nodiscard]] int proxy() const { return fds_[0]; }
    /// The client sees the proxy's end shut down: a read returns end of file at once.
    [[nodiscard]] bool clientSeesClose() const {
        char c = 0;
        return ::recv(fds_[1], &c, 1, MSG_DONTWAIT) == 0;
    }

private:
    int fds_[2] = {-1, -1};
};

class ClientDeadlinesTest : public ::testing::Test {
protected:
    ClientDeadlinesTest()
        : deadlines_(1s, 500ms, clock_, ClientDeadlineMetrics::create(metrics_)) {}
    uint64_t cutCount() {
        return metrics_.counter("pdns_distribute_api_proxy_client_timeouts_total", "").value();
    }
    // Only the address is used as a key; these are never dereferenced.
    const SSL* conn1_ = reinterpret_cast<const SSL*>(0x1000);
    const SSL* conn2_ = reinterpret_cast<const SSL*>(0x2000);
    testing::ManualClock clock_;
    common::MetricsRegistry metrics_;
    ClientDeadlines deadlines_;
};

TEST_F(ClientDeadlinesTest, PastDeadlinePlusGrace_SocketShutDownOnce) {
    SocketPair s;
    ASSERT_TRUE(deadlines_.begin(conn1_, s.proxy()));
    clock_.advance(1499ms);
    EXPECT_EQ(deadlines_.cutExpired(), 0U);
    EXPECT_FALSE(s.clientSeesClose());
    clock_.advance(1ms);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
    EXPECT_TRUE(s.clientSeesClose());
    EXPECT_EQ(deadlines_.cutExpired(), 0U);  // once
    EXPECT_EQ(cutCount(), 1U);
}

TEST_F(ClientDeadlinesTest, SecondBegin_KeepsTheFirstDeadline) {
    SocketPair s;
    ASSERT_TRUE(deadlines_.begin(conn1_, s.proxy()));
    clock_.advance(1s);
    EXPECT_FALSE(deadlines_.begin(conn1_, s.proxy()));  // a renegotiation buys no time
    clock_.advance(500ms);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
}

TEST_F(ClientDeadlinesTest, Extend_RestartsTheClock) {
    SocketPair s;
    ASSERT_TRUE(deadlines_.begin(conn1_, s.proxy()));
    clock_.advance(1s);
    deadlines_.extend(conn1_);
    clock_.advance(1s);
    EXPECT_EQ(deadlines_.cutExpired(), 0U);
    clock_.advance(500ms);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
}

TEST_F(ClientDeadlinesTest, Suspended_NeverCutUntilExtended) {
    SocketPair s;
    ASSERT_TRUE(deadlines_.begin(conn1_, s.proxy()));
    deadlines_.suspend(conn1_);
    clock_.advance(1h);
    EXPECT_EQ(deadlines_.cutExpired(), 0U);
    deadlines_.extend(conn1_);
    clock_.advance(1500ms);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
}

TEST_F(ClientDeadlinesTest, CloseAfter_CutsAfterExactlyTheDelay) {
    SocketPair s;
    ASSERT_TRUE(deadlines_.begin(conn1_, s.proxy()));
    deadlines_.closeAfter(conn1_, 200ms);
    clock_.advance(199ms);
    EXPECT_EQ(deadlines_.cutExpired(), 0U);
    clock_.advance(1ms);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
}

TEST_F(ClientDeadlinesTest, Forgotten_NeverTouched) {
    SocketPair s1;
    SocketPair s2;
    ASSERT_TRUE(deadlines_.begin(conn1_, s1.proxy()));
    ASSERT_TRUE(deadlines_.begin(conn2_, s2.proxy()));
    EXPECT_EQ(deadlines_.tracked(), 2U);
    deadlines_.forget(conn1_);
    clock_.advance(1h);
    EXPECT_EQ(deadlines_.cutExpired(), 1U);
    EXPECT_FALSE(s1.clientSeesClose());
    EXPECT_TRUE(s2.clientSeesClose());
    EXPECT_EQ(deadlines_.tracked(), 1U);
}

TEST_F(ClientDeadlinesTest, CutWaiting_SparesConnectionsTheProxyWorksOn) {
    SocketPair idle;
    SocketPair working;
    ASSERT_TRUE(deadlines_.begin(conn1_, idle.proxy()));
    ASSERT_TRUE(deadlines_.begin(conn2_, working.proxy()));
    deadlines_.suspend(conn2_);
    EXPECT_EQ(deadlines_.cutWaiting(), 1U);
    EXPECT_TRUE(idle.clientSeesClose());
    EXPECT_FALSE(working.clientSeesClose());
    EXPECT_EQ(cutCount(), 0U);  // a stop, not a slow client
}

TEST_F(ClientDeadlinesTest, UnknownConnection_Ignored) {
    deadlines_.extend(conn1_);
    deadlines_.suspend(conn1_);
    deadlines_.closeAfter(conn1_, 0ms);
    deadlines_.forget(conn1_);
    EXPECT_EQ(deadlines_.tracked(), 0U);
    EXPECT_EQ(deadlines_.cutExpired(), 0U);
}

}  // namespace
}  // namespace pdns_distribute::api_proxy
