// SPDX-License-Identifier: Apache-2.0
// NatsBus against a 3-node nats-server cluster: while 200 zone events are published to an R3
// stream, the node holding both the stream leader and our client connection is SIGKILLed.
// Publishes that fail are retried with the same msg id (as the api-proxy does) until acked; the
// stream must then hold every event exactly once, and a durable pull consumer made before the
// kill must still receive them all. The killed node is restarted and must become a current
// stream replica again.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>

#include "harness.hpp"

namespace pdns_distribute::e2e {
namespace {

using common::ConsumerSettings;
using common::NatsBus;
using common::NatsSettings;
using common::StreamSettings;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kMessages = 200;
constexpr int kKillAfter = 100;
constexpr auto kPublishDeadline = 30s;
constexpr const char* kStream = "PDNS_ZONES";
constexpr const char* kDurable = "cluster-syncer";
constexpr const char* kConnectionName = "e2e-cluster";

std::string subjectFor(int i) { return fmt::format("pdns.zones.default.z{}", i); }
std::string payloadFor(int i) { return fmt::format(R"({{"zone":"z{}.","n":{}}})", i, i); }

long long millis(SteadyClock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

/// The $JS.API.STREAM.INFO reply, or nullopt while no stream leader answers (an election).
std::optional<json> streamInfo(NatsBus& bus) {
    auto reply = bus.request(fmt::format("$JS.API.STREAM.INFO.{}", kStream), "", {}, 1s);
    if (!reply) {
        return std::nullopt;
    }
    auto doc = json::parse(reply->data, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || doc.contains("error")) {
        return std::nullopt;
    }
    return doc;
}

/// server_name of the stream's current leader, empty when unknown.
std::string streamLeader(NatsBus& bus) {
    const auto info = streamInfo(bus);
    return info ? info->value(json::json_pointer("/cluster/leader"), std::string{}) : std::string{};
}

/// Waits (bounded) for a stream leader to be known; empty if none came up in time.
std::string awaitStreamLeader(NatsBus& bus, const std::string& not_this = {}) {
    std::string leader;
    waitUntil(
        [&] {
            leader = streamLeader(bus);
            return !leader.empty() && leader != not_this;
        },
        15s, 50ms);
    return leader != not_this ? leader : std::string{};
}

/// The node our connection (named kConnectionName) is attached to, from each node's /connz.
std::optional<size_t> connectedNode(NatsCluster& cluster) {
    for (size_t i = 0; i < cluster.size(); ++i) {
        if (!cluster.running(i)) {
            continue;
        }
        const auto body = cluster.monitorGet(i, "/connz");
        if (!body) {
            continue;
        }
        const auto doc = json::parse(*body, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("connections") ||
            !doc["connections"].is_array()) {
            continue;
        }
        for (const auto& connection : doc["connections"]) {
            if (connection.is_object() &&
                connection.value("name", std::string{}) == kConnectionName) {
                return i;
            }
        }
    }
    return std::nullopt;
}

/// Moves the stream leader onto `target` with leader stepdowns (each hands leadership to
/// another replica at random). Returns the leader it ended with.
std::string moveStreamLeader(NatsBus& bus, const std::string& target) {
    std::string leader = awaitStreamLeader(bus);
    for (int attempt = 0; attempt < 10 && !leader.empty() && leader != target; ++attempt) {
        (void)bus.request(fmt::format("$JS.API.STREAM.LEADER.STEPDOWN.{}", kStream), "", {}, 2s);
        leader = awaitStreamLeader(bus, leader);
    }
    return leader;
}

/// True once `name` is listed among the stream's replicas as current and online.
bool replicaCurrent(NatsBus& bus, const std::string& name) {
    const auto info = streamInfo(bus);
    if (!info) {
        return false;
    }
    if (info->value(json::json_pointer("/cluster/leader"), std::string{}) == name) {
        return true;
    }
    const auto replicas = info->value(json::json_pointer("/cluster/replicas"), json::array());
    for (const auto& replica : replicas) {
        if (replica.is_object() && replica.value("name", std::string{}) == name) {
            return replica.value("current", false) && !replica.value("offline", false);
        }
    }
    return false;
}

/// How far `name`'s replica of the durable consumer is behind its leader: nullopt once it is
/// current (or leads), -1 when unknown (no answer, or the replica is not listed).
std::optional<int64_t> consumerReplicaLag(NatsBus& bus, const std::string& name) {
    auto reply =
        bus.request(fmt::format("$JS.API.CONSUMER.INFO.{}.{}", kStream, kDurable), "", {}, 1s);
    if (!reply) {
        return -1;
    }
    const auto doc = json::parse(reply->data, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || doc.contains("error")) {
        return -1;
    }
    if (doc.value(json::json_pointer("/cluster/leader"), std::string{}) == name) {
        return std::nullopt;
    }
    for (const auto& replica : doc.value(json::json_pointer("/cluster/replicas"), json::array())) {
        if (replica.is_object() && replica.value("name", std::string{}) == name) {
            if (replica.value("current", false) && !replica.value("offline", false)) {
                return std::nullopt;
            }
            return replica.value("lag", int64_t{-1});
        }
    }
    return -1;
}

class NatsClusterTest : public ::testing::Test {
protected:
    void SetUp() override {
        cluster_.start();
        NatsSettings settings;
        settings.urls = cluster_.urls();
        settings.name = kConnectionName;
        settings.connect_timeout = 1s;
        settings.initial_connect_deadline = 10s;
        settings.reconnect_wait = 100ms;
        bus_ = NatsBus::connect(settings);
    }
    void TearDown() override {
        dumpLogsIfFailed();
        if (bus_) {
            bus_->close();
        }
    }

    NatsCluster cluster_;
    std::unique_ptr<NatsBus> bus_;
};

TEST_F(NatsClusterTest, Publish_StreamLeaderKilledMidway_EveryEventStoredOnceAndConsumed) {
    StreamSettings stream;  // PDNS_ZONES on pdns.zones.>
    stream.replicas = 3;
    auto ensured = bus_->ensureStream(stream);
    ASSERT_TRUE(ensured) << ensured.error().message;

    ConsumerSettings consumer_settings;
    consumer_settings.stream = kStream;
    consumer_settings.durable = kDurable;
    consumer_settings.filter_subject = "pdns.zones.>";
    consumer_settings.ack_wait = 5s;  // an ack lost in the failover comes back soon
    auto consumer_ensured = bus_->ensureConsumer(consumer_settings);
    ASSERT_TRUE(consumer_ensured) << consumer_ensured.error().message;
    auto consumer = bus_->bindPullConsumer(kStream, kDurable);
    ASSERT_TRUE(consumer) << consumer.error().message;

    // The hardest case: the node we kill holds both our connection and the stream leader, so
    // the client must reconnect elsewhere while the survivors elect a new leader.
    const auto client_node = connectedNode(cluster_);
    ASSERT_TRUE(client_node.has_value()) << "no node lists connection '" << kConnectionName << "'";
    const std::string leader = moveStreamLeader(*bus_, cluster_.serverName(*client_node));
    ASSERT_FALSE(leader.empty()) << "the stream has no leader";
    const auto victim = cluster_.indexOf(leader);
    ASSERT_TRUE(victim.has_value()) << "unknown stream leader '" << leader << "'";

    std::map<int, uint64_t> sequences;    // message index -> stream sequence from its ack
    std::map<std::string, int> failures;  // error code -> count
    std::string last_failure;
    int duplicate_acks = 0;
    std::optional<size_t> client_node_at_kill;
    std::optional<SteadyClock::time_point> killed_at;
    std::optional<SteadyClock::duration> stall;
    SteadyClock::duration slowest_after_kill{};
    const auto deadline = SteadyClock::now() + kPublishDeadline;
    for (int i = 0; i < kMessages; ++i) {
        if (i == kKillAfter) {
            client_node_at_kill = connectedNode(cluster_);
            cluster_.kill(*victim);
            killed_at = SteadyClock::now();
        }
        const std::string msg_id = fmt::format("cluster-test.{}", i);
        const auto started = SteadyClock::now();
        for (;;) {
            ASSERT_LT(SteadyClock::now(), deadline)
                << "message " << i << " not acked within " << kPublishDeadline.count()
                << " s of publishing; last error: " << last_failure;
            auto ack = bus_->publish(subjectFor(i), payloadFor(i), {.msg_id = msg_id});
            if (ack) {
                sequences[i] = ack->sequence;
                duplicate_acks += ack->duplicate ? 1 : 0;
                break;
            }
            ++failures[ack.error().code.empty() ? "other" : ack.error().code];
            last_failure = ack.error().message;
            if (ack.error().code != "timeout") {
                // Errors that come back at once (no responders, disconnected) would spin.
                std::this_thread::sleep_for(50ms);
            }
        }
        if (killed_at) {
            const auto now = SteadyClock::now();
            slowest_after_kill = std::max(slowest_after_kill, now - started);
            if (!stall) {
                stall = now - *killed_at;
            }
        }
    }
    ASSERT_TRUE(stall.has_value());

    std::string failure_text;
    for (const auto& [code, count] : failures) {
        failure_text += fmt::format(" {}={}", code, count);
    }
    const std::string new_leader = awaitStreamLeader(*bus_);
    std::printf(
        "killed node '%s' (stream leader%s) after %d publishes; publishes stalled %lld ms "
        "(slowest single publish after the kill %lld ms); failed attempts:%s; duplicate acks %d; "
        "new stream leader '%s'\n",
        leader.c_str(), client_node_at_kill == victim ? " and client connection" : "", kKillAfter,
        millis(*stall), millis(slowest_after_kill),
        failure_text.empty() ? " none" : failure_text.c_str(), duplicate_acks, new_leader.c_str());
    RecordProperty("publish_stall_ms", static_cast<int>(millis(*stall)));
    RecordProperty("killed_client_node", client_node_at_kill == victim ? "yes" : "no");
    RecordProperty("failed_publish_attempts", failure_text.empty() ? "none" : failure_text);
    EXPECT_FALSE(new_leader.empty());
    EXPECT_NE(new_leader, leader);

    // Acks name sequences 1..200 once each: a retried publish that had been stored before the
    // failover was recognised by its msg id instead of being stored again.
    std::set<uint64_t> acked_sequences;
    for (const auto& [index, sequence] : sequences) {
        acked_sequences.insert(sequence);
    }
    EXPECT_EQ(acked_sequences.size(), static_cast<size_t>(kMessages));
    EXPECT_EQ(*acked_sequences.begin(), 1U);
    EXPECT_EQ(*acked_sequences.rbegin(), static_cast<uint64_t>(kMessages));

    // The stream keeps one message per subject, so a stored duplicate would replace the first
    // copy and not show in a read: the stream's own counters tell.
    std::optional<json> info;
    ASSERT_TRUE(waitUntil([&] { return (info = streamInfo(*bus_)).has_value(); }, 15s, 50ms));
    EXPECT_EQ(info->value(json::json_pointer("/state/messages"), uint64_t{0}),
              static_cast<uint64_t>(kMessages));
    EXPECT_EQ(info->value(json::json_pointer("/state/last_seq"), uint64_t{0}),
              static_cast<uint64_t>(kMessages))
        << "a retried publish was stored twice";

    // The durable consumer, created and bound before the kill, gets every event.
    std::set<std::string> consumed;
    int redeliveries = 0;
    int fetch_errors = 0;
    int ack_errors = 0;
    std::string last_consumer_error;
    const auto consume_deadline = SteadyClock::now() + 20s;
    while (consumed.size() < static_cast<size_t>(kMessages) &&
           SteadyClock::now() < consume_deadline) {
        auto batch = (*consumer)->fetch(50, 1s);
        if (!batch) {
            ++fetch_errors;
            last_consumer_error = batch.error().message;
            std::this_thread::sleep_for(50ms);
            continue;
        }
        for (auto& delivery : *batch) {
            redeliveries += delivery->deliveryCount() > 1 ? 1 : 0;
            auto acked = delivery->ack();
            if (!acked) {
                ++ack_errors;
                last_consumer_error = acked.error().message;
                continue;  // redelivered after ack_wait
            }
            consumed.insert(delivery->message().subject);
        }
    }
    std::printf(
        "consumer: %zu of %d events acked; redeliveries %d, fetch errors %d, ack errors %d\n",
        consumed.size(), kMessages, redeliveries, fetch_errors, ack_errors);
    EXPECT_EQ(consumed.size(), static_cast<size_t>(kMessages))
        << "last consumer error: " << last_consumer_error;
    for (int i = 0; i < kMessages; ++i) {
        EXPECT_EQ(consumed.count(subjectFor(i)), 1U) << subjectFor(i);
    }

    // The killed node comes back on its ports and store and becomes a current replica of the
    // stream again.
    cluster_.restart(*victim);
    EXPECT_TRUE(waitUntil([&] { return replicaCurrent(*bus_, leader); }, 20s, 250ms))
        << "restarted node '" << leader << "' did not become a current replica again";
    // Its replica of the durable consumer is only reported: with nats-server 2.9.10 it sometimes
    // stays behind (current=false, lag ~200 entries) for 20 s and more, even after new
    // deliveries; seen in 1 run of 20, and in about 4 of 10 while the node's full /healthz was
    // being polled. The consumer keeps working on its other two replicas meanwhile.
    const auto restarted_at = SteadyClock::now();
    std::optional<int64_t> consumer_lag;
    const bool consumer_current = waitUntil(
        [&] {
            consumer_lag = consumerReplicaLag(*bus_, leader);
            return !consumer_lag.has_value();
        },
        3s, 250ms);
    const std::string consumer_state =
        consumer_current
            ? fmt::format("current after {} ms", millis(SteadyClock::now() - restarted_at))
            : fmt::format("still behind after 3 s (lag {}; a nats-server 2.9 issue, not asserted)",
                          consumer_lag.value_or(-1));
    std::printf("restarted node '%s': consumer replica %s\n", leader.c_str(),
                consumer_state.c_str());
    RecordProperty("restarted_consumer_replica_current", consumer_current ? "yes" : "no");

    // Every subject is in the stream exactly once, with its payload. Read only now that all
    // nodes are up: readStream's ordered consumer is an R1 ephemeral, which nats-server 2.9 may
    // place on an offline peer of the stream (fixed upstream by nats-io/nats-server#7165), so
    // with a node down about one create in three times out after 5 s.
    auto reader = bus_->readStream(kStream, "pdns.zones.>");
    ASSERT_TRUE(reader) << reader.error().message;
    std::map<std::string, int> read_counts;
    std::map<std::string, std::string> read_payloads;
    int reads = 0;
    const auto read_deadline = SteadyClock::now() + 15s;
    while (SteadyClock::now() < read_deadline) {
        const auto message = (*reader)->next(reads >= kMessages ? 500ms : 2s);
        if (!message) {
            if (reads >= kMessages) {
                break;  // caught up and nothing more arrives
            }
            continue;
        }
        ++reads;
        ++read_counts[message->message.subject];
        read_payloads[message->message.subject] = message->message.data;
    }
    EXPECT_EQ(reads, kMessages);
    EXPECT_EQ(read_counts.size(), static_cast<size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) {
        const auto subject = subjectFor(i);
        EXPECT_EQ(read_counts[subject], 1) << subject;
        EXPECT_EQ(read_payloads[subject], payloadFor(i)) << subject;
    }
}

}  // namespace
}  // namespace pdns_distribute::e2e
