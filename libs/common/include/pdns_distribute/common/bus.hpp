// SPDX-License-Identifier: Apache-2.0
#pragma once
// Message bus: small ports the service logic uses, and the RAII wrapper over nats.c that
// implements them (NatsBus). Every nats.c status is translated into Error right after the call,
// with natsStatus_GetText, nats_GetLastError and the JetStream error code.
//
// Threading: NatsBus methods may be called from any thread (nats.c connections are thread-safe).
// No callback of ours runs on a nats.c thread except the connection event handlers, which only
// log. Messages are pulled by our own threads (SyncSubscription::next, PullConsumer::fetch).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct BusMessage {
    std::string subject;
    std::string reply;
    std::string data;
    Headers headers;
    [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

struct PublishOptions {
    std::string msg_id;                                 ///< Nats-Msg-Id (dedup window)
    std::optional<uint64_t> expected_last_subject_seq;  ///< conditional publish
    std::chrono::milliseconds timeout{500};             ///< wait for the ack at most this long
};

struct PubAck {
    uint64_t sequence = 0;
    bool duplicate = false;
};

/// Port: JetStream publish with ack. Error code "timeout" when no ack came in time, "conflict" when
/// the expected last subject sequence did not match.
class StreamPublisher {
public:
    virtual ~StreamPublisher() = default;
    [[nodiscard]] virtual Result<PubAck> publish(const std::string& subject, std::string_view data,
                                                 const PublishOptions& options) = 0;
};

/// Port: request/reply. Error code "timeout" or "no-responders".
class Requester {
public:
    virtual ~Requester() = default;
    [[nodiscard]] virtual Result<BusMessage> request(const std::string& subject,
                                                     std::string_view data, const Headers& headers,
                                                     std::chrono::milliseconds timeout) = 0;
};

/// Port: core publish (heartbeats, reports, replies).
class CorePublisher {
public:
    virtual ~CorePublisher() = default;
    [[nodiscard]] virtual Status publishCore(const std::string& subject, std::string_view data,
                                             const Headers& headers = {}) = 0;
};

/// A JetStream message delivered to a pull consumer; settle exactly once (ack/nak/term), plus
/// any number of inProgress calls before that. Implementations are thread-safe: inProgress
/// (e.g. from a keepalive thread) may run concurrently with a settle call from a worker.
class Delivery {
public:
    virtual ~Delivery() = default;
    [[nodiscard]] virtual const BusMessage& message() const = 0;
    [[nodiscard]] virtual uint64_t streamSequence() const = 0;
    [[nodiscard]] virtual uint64_t deliveryCount() const = 0;
    /// Messages of the consumer's filter still to deliver behind this one, as the server said
    /// when it delivered it (0: the consumer had caught up).
    [[nodiscard]] virtual uint64_t pendingBehind() const = 0;
    virtual Status ack() = 0;
    virtual Status nak(std::chrono::milliseconds delay) = 0;
    virtual Status term() = 0;
    virtual Status inProgress() = 0;
};

struct NatsSettings {
    std::vector<std::string> urls{"nats://127.0.0.1:4222"};
    std::string name;  ///< connection name shown by nats-server
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds reconnect_wait{250};
    /// Initial connect is retried with capped backoff until this elapses (0: try once).
    std::chrono::milliseconds initial_connect_deadline{30000};
    std::string user;
    std::string password_file;
    std::string token_file;
    std::string creds_file;
    std::string nkey_seed_file;
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    /// Host name the server certificate must carry; empty: the chain is verified against
    /// tls_ca_file but no name is checked (nats.c checks none by itself).
    std::string tls_server_name;
    /// Prefix of this connection's reply subjects (nats.c default "_INBOX"): lets nats-server
    /// permissions give each user its own inbox subtree, e.g. "_INBOX.syncer-ns1".
    std::string inbox_prefix;
};

struct StreamSettings {
    std::string name = "PDNS_ZONES";
    std::vector<std::string> subjects{"pdns.zones.>"};
    int replicas = 1;
    int32_t max_msg_size = 4096;
    std::chrono::seconds duplicate_window{120};
};

struct ConsumerSettings {
    std::string stream = "PDNS_ZONES";
    std::string durable;
    std::string filter_subject;
    std::chrono::seconds ack_wait{60};
    int64_t max_ack_pending = 1000;
};

class SyncSubscription {
public:
    virtual ~SyncSubscription() = default;
    /// Next message or nullopt on timeout.
    [[nodiscard]] virtual std::optional<BusMessage> next(std::chrono::milliseconds timeout) = 0;
};

class PullConsumer {
public:
    virtual ~PullConsumer() = default;
    /// Up to `batch` deliveries, waiting at most `timeout`; empty on timeout.
    [[nodiscard]] virtual Result<std::vector<std::unique_ptr<Delivery>>> fetch(
        int batch, std::chrono::milliseconds timeout) = 0;
};

/// A message read from a stream by an ordered consumer, with its stream sequence and how many
/// messages were still pending behind it when it was delivered (0: caught up).
struct StreamMessage {
    BusMessage message;
    uint64_t sequence = 0;
    uint64_t pending = 0;
};

/// A durable consumer's progress on a stream, as the server reports it (consumer info): the
/// ack floor, a stream sequence at or below which every message in its filter is acked (the
/// server may move it past messages outside the filter, never past an unacked one in it), and
/// how many messages are still to deliver or awaiting an ack. Used to decide when a tombstone
/// has reached every node, and which zones a syncer's startup sweep can leave to its consumer.
struct ConsumerFloor {
    std::string name;            ///< durable name
    std::string filter_subject;  ///< empty: the whole stream
    uint64_t ack_floor_stream_seq = 0;
    /// The last stream sequence delivered (to this consumer's current or an earlier client):
    /// every message of its filter above it is still to deliver.
    uint64_t delivered_stream_seq = 0;
    uint64_t num_pending = 0;
    uint64_t num_ack_pending = 0;
};

class StreamReader {
public:
    virtual ~StreamReader() = default;
    /// Next message or nullopt on timeout.
    [[nodiscard]] virtual std::optional<StreamMessage> next(std::chrono::milliseconds timeout) = 0;
};

struct KvEntry {
    std::string value;
    uint64_t revision = 0;
};

class KeyValue {
public:
    virtual ~KeyValue() = default;
    /// Create if absent; error code "exists" otherwise.
    [[nodiscard]] virtual Result<uint64_t> create(const std::string& key,
                                                  std::string_view value) = 0;
    /// Update with expected revision; error code "conflict" on mismatch.
    [[nodiscard]] virtual Result<uint64_t> update(const std::string& key, std::string_view value,
                                                  uint64_t expected_revision) = 0;
    /// nullopt if absent (or deleted).
    [[nodiscard]] virtual Result<std::optional<KvEntry>> get(const std::string& key) = 0;
    [[nodiscard]] virtual Status erase(const std::string& key) = 0;
};

/// The nats.c connection with its JetStream context. Movable only by pointer.
class NatsBus final : public StreamPublisher, public Requester, public CorePublisher {
public:
    /// Connects (retrying with backoff until settings.initial_connect_deadline or stop is
    /// requested). Throws std::runtime_error with an operator-readable message on failure.
    static std::unique_ptr<NatsBus> connect(const NatsSettings& settings,
                                            const std::stop_token& stop = {});
    ~NatsBus() override;
    NatsBus(const NatsBus&) = delete;
    NatsBus& operator=(const NatsBus&) = delete;

    [[nodiscard]] Result<PubAck> publish(const std::string& subject, std::string_view data,
                                         const PublishOptions& options) override;
    [[nodiscard]] Result<BusMessage> request(const std::string& subject, std::string_view data,
                                             const Headers& headers,
                                             std::chrono::milliseconds timeout) override;
    [[nodiscard]] Status publishCore(const std::string& subject, std::string_view data,
                                     const Headers& headers = {}) override;
    /// A request whose answer comes on `reply_to` (subscribed for this request only) instead
    /// of this connection's inbox: responders may then be allowed to publish exactly there
    /// rather than through nats-server's `allow_responses` (see requestNode in the
    /// health-checker). Error codes as request().
    [[nodiscard]] Result<BusMessage> requestVia(const std::string& subject,
                                                const std::string& reply_to, std::string_view data,
                                                std::chrono::milliseconds timeout);
    /// Replies to a request (publishes to its reply subject).
    [[nodiscard]] Status respond(const BusMessage& request, std::string_view data,
                                 const Headers& headers = {});

    /// Creates the stream if missing (or checks it exists with the wanted subjects).
    [[nodiscard]] Status ensureStream(const StreamSettings& settings);
    /// Creates (or updates) the durable pull consumer explicitly; never by a subscribe call.
    [[nodiscard]] Status ensureConsumer(const ConsumerSettings& settings);
    /// Binds to an existing durable pull consumer. Destroying the returned object never deletes
    /// the consumer.
    [[nodiscard]] Result<std::unique_ptr<PullConsumer>> bindPullConsumer(
        const std::string& stream, const std::string& durable);
    /// Core subscription read by our thread; optional queue group.
    [[nodiscard]] Result<std::unique_ptr<SyncSubscription>> subscribe(
        const std::string& subject, const std::string& queue = {});
    /// Ordered ephemeral consumer on `stream` filtered by `filter`: first the last message of every
    /// subject (deliver last-per-subject), then each new message. No acks; nats.c recreates the
    /// consumer on a gap or reconnect.
    [[nodiscard]] Result<std::unique_ptr<StreamReader>> readStream(const std::string& stream,
                                                                   const std::string& filter);
    /// The last message stored for `subject` in `stream` (a direct read, no consumer); nullopt
    /// when the subject has none.
    [[nodiscard]] Result<std::optional<StreamMessage>> lastMessage(const std::string& stream,
                                                                   const std::string& subject);
    /// Every durable consumer of `stream` with its ack floor (the JetStream consumer-list API).
    /// Ephemeral consumers (ordered readers) are left out. An error when the stream does not
    /// exist or the server does not answer.
    [[nodiscard]] Result<std::vector<ConsumerFloor>> consumerFloors(const std::string& stream);
    /// One durable consumer's floor (consumer info: needs only that consumer's INFO permission).
    [[nodiscard]] Result<ConsumerFloor> consumerFloor(const std::string& stream,
                                                      const std::string& durable);
    /// Purges the messages of `subject` (a literal subject or a filter) in `stream` whose
    /// sequence is below `before_sequence`; later messages of that subject and other subjects
    /// stay. Removing a tombstone at sequence S without racing a newer message: pass S + 1.
    /// A `before_sequence` of 0 or 1 purges nothing (no call is made: nats.c would send 0 as "no
    /// bound"); an empty subject is an error rather than a purge of the whole stream.
    [[nodiscard]] Status purgeSubjectBefore(const std::string& stream, const std::string& subject,
                                            uint64_t before_sequence);
    /// Opens (creating if missing) a KV bucket with the given per-bucket TTL (0 = none).
    [[nodiscard]] Result<std::unique_ptr<KeyValue>> keyValue(const std::string& bucket,
                                                             std::chrono::milliseconds ttl,
                                                             int replicas = 1);
    /// Flushes pending publishes and drains; called by the daemon runner at stop.
    void close();

    /// True while the connection is up (not reconnecting or closed).
    [[nodiscard]] bool connected() const;

    struct Impl;

private:
    explicit NatsBus(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pdns_distribute::common
