// SPDX-License-Identifier: Apache-2.0
#include "syncer_service.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "applier.hpp"
#include "axfr_listener.hpp"
#include "lanes.hpp"
#include "late_flush.hpp"
#include "local_tsig_key.hpp"
#include "node_identity.hpp"
#include "parking.hpp"
#include "served_table.hpp"
#include "socket_activation.hpp"
#include "sweep.hpp"
#include "zone_data_client.hpp"

namespace pdns_distribute::secondary_syncer {

namespace {

using namespace std::chrono_literals;
using DeliveryPtr = std::shared_ptr<common::Delivery>;

// How long after an apply its zone is flushed from the local pdns's caches once more
// (late_flush.hpp): long enough for an answer computed before the commit to have been stored on
// a loaded machine, short next to the cache's TTL that such an answer would otherwise live for.
constexpr std::chrono::milliseconds kLateFlushDelay{250};

std::string hostName() {
    std::array<char, 256> buf{};
    if (gethostname(buf.data(), buf.size() - 1) != 0) return "?";
    return buf.data();
}

template <typename F>
auto retryFor(std::chrono::milliseconds total, const char* what, F&& f) {
    const auto deadline = std::chrono::steady_clock::now() + total;
    auto delay = 100ms;
    for (;;) {
        auto r = f();
        if (r || std::chrono::steady_clock::now() >= deadline) return r;
        spdlog::warn("{} ({}); retrying", what, r.error().message);
        std::this_thread::sleep_for(delay);
        delay = std::min<std::chrono::milliseconds>(delay * 2, 2s);
    }
}

struct SyncerMetrics {
    explicit SyncerMetrics(common::MetricsRegistry& r)
        : registry(r),
          apply_seconds(r.histogram("pdns_distribute_syncer_apply_seconds",
                                    "time from taking up a zone to the local pdns serving it",
                                    common::MetricsRegistry::latencyBuckets())),
          parked(r.gauge("pdns_distribute_syncer_parked_zones", "zones in the parking table")),
          served(r.gauge("pdns_distribute_syncer_managed_zones",
                         "zones whose verified body the listener serves")),
          malformed_events(
              r.counter("pdns_distribute_syncer_malformed_events_total",
                        "stream messages that were not valid zone events (terminated)")),
          fetch_errors(r.counter("pdns_distribute_syncer_fetch_errors_total",
                                 "failed fetches from the durable consumer")),
          priority_events(
              r.counter("pdns_distribute_syncer_priority_events_total",
                        "api zone events heard on the core subscription (the priority lane)")),
          priority_dedup(
              r.counter("pdns_distribute_syncer_priority_dedup_total",
                        "zone events acked without work: the other lane had applied that message")),
          priority_failures(r.counter(
              "pdns_distribute_syncer_priority_failures_total",
              "priority-lane applies that failed and were left to the stream's delivery")) {}
    common::Counter& laneApplied(Lane lane) {
        return registry.counter("pdns_distribute_syncer_lane_applied_total",
                                "zones applied or deleted, by lane",
                                {{"lane", std::string(toString(lane))}});
    }
    common::Gauge& laneDepth(Lane lane) {
        return registry.gauge("pdns_distribute_syncer_lane_queued_zones",
                              "zones waiting to be taken up, by lane",
                              {{"lane", std::string(toString(lane))}});
    }
    common::Counter& outcome(Outcome o) {
        return registry.counter("pdns_distribute_syncer_zone_results_total",
                                "zone events handled, by outcome",
                                {{"outcome", std::string(toString(o))}});
    }
    common::MetricsRegistry& registry;
    common::Histogram& apply_seconds;
    common::Gauge& parked;
    common::Gauge& served;
    common::Counter& malformed_events;
    common::Counter& fetch_errors;
    common::Counter& priority_events;
    common::Counter& priority_dedup;
    common::Counter& priority_failures;
};

class SyncerService final : public common::Service {
public:
    SyncerService(const Settings& settings, common::DaemonContext& context)
        : settings_(settings),
          metrics_(context.metrics),
          budget_(clock_, settings.syncer.delete_budget_window, settings.syncer.delete_budget_min,
                  settings.syncer.delete_budget_percent),
          parking_(std::filesystem::path(settings.syncer.state_dir) / "parked.json", clock_, 5s,
                   settings.syncer.park_backoff_max),
          lanes_(clock_, LaneSettings{}) {
        metrics_.laneApplied(Lane::Priority);  // both series from the start, at 0
        metrics_.laneApplied(Lane::Bulk);
        const auto& y = settings.syncer;
        auto trusted = loadTrustedKeys(y);
        instance_ = loadOrCreateInstanceId(y.state_dir);
        parking_.load();

        auto listen = common::parseHostPort(y.listen);
        auto local_dns = common::parseHostPort(y.pdns_dns);
        if (!listen || !local_dns) throw std::runtime_error("bad syncer.listen or syncer.pdns_dns");
        listener_ = std::make_unique<AxfrListener>(*listen, y.allow, context.metrics);
        if (auto inherited = takeInheritedSockets(); !inherited.empty()) {
            std::string where;
            bool configured_port = false;
            for (const auto& sock : inherited) {
                where += fmt::format("{}{} {}:{}", where.empty() ? "" : ", ",
                                     sock.stream ? "tcp" : "udp", sock.address, sock.port);
                configured_port = configured_port || sock.port == listen->port;
            }
            spdlog::info("AXFR listener uses the sockets systemd passed ({})", where);
            if (!configured_port) {
                spdlog::warn(
                    "no socket systemd passed is on port {} of syncer.listen; the local pdns is "
                    "told to transfer from the passed sockets",
                    listen->port);
            }
            listener_->adopt(std::move(inherited));
        } else {
            listener_->bind();
        }

        api_ = std::make_unique<common::HttpPdnsApi>(settings.pdns);
        auto info =
            retryFor(30s, "local PowerDNS API does not answer", [&] { return api_->serverInfo(); });
        if (!info) {
            throw std::runtime_error("cannot reach the local PowerDNS API '" + settings.pdns.url +
                                     "' (" + info.error().message + "); check [pdns]");
        }
        // The listener answers only transfers signed with this key; every managed zone carries it.
        const auto key_name = tsigKeyNameForNode(y.node_id);
        auto key = retryFor(30s, "cannot set up the TSIG key in the local PowerDNS", [&] {
            auto k = ensureLocalTsigKey(*api_, key_name);
            // Not worth retrying: the key there is unusable or the request is refused.
            if (!k && (k.error().code == "unusable" || k.error().code.starts_with("http-4"))) {
                throw std::runtime_error(k.error().message);
            }
            return k;
        });
        if (!key) {
            throw std::runtime_error("cannot set up TSIG key '" + key_name +
                                     "' in the local PowerDNS (" + key.error().message + ")");
        }
        tsig_key_id_ = key->id;
        listener_->setTsigKey(key->key);
        spdlog::info("TSIG key '{}' ({}) {} the local pdns", key->key->name(),
                     tsigAlgorithmName(key->key->algorithm()),
                     key->created ? "created in" : "read from");
        // The applier's looks go past pdns's packet cache (a look before the transfer's commit
        // would otherwise leave its answer there); the scan asks as the clients do.
        dns_ = std::make_unique<common::LdnsDnsClient>(
            common::DnsEndpoint{.address = local_dns->host, .port = local_dns->port}, 2000ms,
            common::ApexQueries::PastPacketCache);
        scan_dns_ = std::make_unique<common::LdnsDnsClient>(
            common::DnsEndpoint{.address = local_dns->host, .port = local_dns->port}, 2000ms);
        since_ = common::rfc3339Millis(std::chrono::system_clock::now());

        auto nats = settings.nats;
        if (nats.name.empty()) nats.name = "pdns-secondary-syncer " + y.node_id;
        bus_ = common::NatsBus::connect(nats);

        auto kv = bus_->keyValue("PDNS_NODES", 3 * y.heartbeat, settings.kv_replicas);
        if (!kv)
            throw std::runtime_error("cannot open KV bucket 'PDNS_NODES' (" + kv.error().message +
                                     ")");
        kv_ = std::move(*kv);
        claim_ = std::make_unique<NodeClaim>(*kv_, y.node_id, instance_, hostName());
        if (auto s = claim_->claim(); !s) throw std::runtime_error(s.error().message);

        const auto durable = this->durable();
        const common::ConsumerSettings cs{
            .stream = "PDNS_ZONES",
            .durable = durable,
            .filter_subject = "pdns.zones." + y.group + ".>",
            .ack_wait = std::chrono::duration_cast<std::chrono::seconds>(y.ack_wait),
            .max_ack_pending = y.max_ack_pending};
        auto ensured = retryFor(30s, "cannot create the durable consumer",
                                [&] { return bus_->ensureConsumer(cs); });
        if (!ensured) {
            throw std::runtime_error("cannot create consumer '" + durable +
                                     "' on stream "
                                     "'PDNS_ZONES' (" +
                                     ensured.error().message +
                                     "); the api-proxy or health-checker creates the stream");
        }
        auto consumer = bus_->bindPullConsumer("PDNS_ZONES", durable);
        if (!consumer) {
            throw std::runtime_error("cannot bind consumer '" + durable + "' (" +
                                     consumer.error().message + ")");
        }
        consumer_ = std::move(*consumer);
        for (const auto* kind : {"state", "resync"}) {
            auto sub = bus_->subscribe(common::nodeSubject(y.node_id, kind));
            if (!sub) {
                throw std::runtime_error(fmt::format("cannot subscribe to '{}' ({})",
                                                     common::nodeSubject(y.node_id, kind),
                                                     sub.error().message));
            }
            (std::string_view(kind) == "state" ? state_sub_ : resync_sub_) = std::move(*sub);
        }
        // The priority lane (DESIGN §5.2) hears every event of the group as it is published,
        // without a queue group: each syncer applies api events itself.
        if (y.priority_workers > 0) {
            auto sub = bus_->subscribe(cs.filter_subject);
            if (!sub) {
                throw std::runtime_error(fmt::format("cannot subscribe to '{}' ({})",
                                                     cs.filter_subject, sub.error().message));
            }
            priority_sub_ = std::move(*sub);
        }

        data_client_ = std::make_unique<ZoneDataClient>(
            *bus_,
            ZoneDataClientSettings{.group = y.group,
                                   .node = y.node_id,
                                   .trusted = std::move(trusted),
                                   .max_zone_bytes = y.max_zone_bytes,
                                   .timeout = y.request_timeout},
            clock_, context.metrics);
        master_ = listener_->masterAddress();
        late_flush_ = std::make_unique<DelayedCacheFlusher>(*api_, clock_, kLateFlushDelay);
        applier_ = std::make_unique<Applier>(
            ApplierSettings{
                .master = master_, .tsig_key_id = tsig_key_id_, .apply_timeout = y.apply_timeout},
            *data_client_, *api_, *dns_, *listener_, budget_, *late_flush_, clock_,
            [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
        spdlog::info("syncer node={} instance={} consumer={} listener={}", y.node_id, instance_,
                     durable, master_);
    }

    ~SyncerService() override { stop(); }

    void start() override {
        listener_->start();
        late_flush_->start();
        for (int i = 0; i < settings_.syncer.workers; ++i) {
            workers_.emplace_back(
                [this](const std::stop_token& st) { workerLoop(st, Lane::Bulk); });
        }
        if (priority_sub_) {
            for (int i = 0; i < settings_.syncer.priority_workers; ++i) {
                workers_.emplace_back(
                    [this](const std::stop_token& st) { workerLoop(st, Lane::Priority); });
            }
            priority_thread_ =
                std::jthread([this](const std::stop_token& st) { priorityLoop(st); });
        }
        consumer_thread_ = std::jthread([this](const std::stop_token& st) { consumeLoop(st); });
        housekeeping_ = std::jthread([this](const std::stop_token& st) { housekeepingLoop(st); });
        sweep_running_ = true;
        sweep_thread_ = std::jthread([this](const std::stop_token& st) {
            sweep(st);
            common::releaseFreedMemory();  // the stream's events and the listing it compared
        });
        key_thread_ =
            std::jthread([this](const std::stop_token& st) { ensureKeysOnManagedZones(st); });
        scan_thread_ = std::jthread([this](const std::stop_token& st) { scanLoop(st); });
        state_thread_ = std::jthread([this](const std::stop_token& st) { stateLoop(st); });
        resync_thread_ = std::jthread([this](const std::stop_token& st) { resyncLoop(st); });
    }

    // Stop order: take no new messages; let the workers finish the zone each has in hand (the
    // keep-alive and the node claim stay alive meanwhile); hand every message not yet taken up
    // back to the server at once (nak without delay), so a successor need not wait ack_wait.
    void stop() override {
        if (stopped_.exchange(true)) return;
        resync_thread_ = {};
        state_thread_ = {};
        scan_thread_ = {};
        sweep_thread_ = {};
        key_thread_ = {};
        consumer_thread_ = {};
        priority_thread_ = {};
        for (auto& t : workers_) t.request_stop();
        workers_.clear();
        for (auto& d : lanes_.clear()) (void)d->nak(std::chrono::milliseconds{0});
        housekeeping_ = {};
        if (late_flush_) late_flush_->stop();
        if (listener_) listener_->stop();
        // Without NATS the release could only wait for its request to time out; the claim then
        // lapses by its TTL (3 heartbeats) instead.
        if (claim_ && !claim_lost_ && bus_ && bus_->connected()) claim_->release();
        consumer_.reset();  // never unsubscribes: the durable consumer survives
        if (bus_) bus_->close();
    }

    common::HealthReport health() override {
        common::HealthReport r;
        r.details["node"] = settings_.syncer.node_id;
        r.details["instance"] = instance_;
        r.details["nats_connected"] = bus_->connected();
        r.details["managed_zones"] = listener_->servedCount();
        r.details["served_zones"] = served_.servedCount();
        r.details["digest"] = served_.digestHex();
        r.details["local_dns"] = local_dns_down_ ? "not answering" : "ok";
        r.details["tsig_key"] = tsig_key_id_;
        auto parked = parking_.all();
        r.details["parked"] = nlohmann::json::array();
        for (size_t i = 0; i < parked.size() && i < 100; ++i) {
            r.details["parked"].push_back({{"zone", parked[i].zone},
                                           {"op", common::toString(parked[i].op)},
                                           {"attempts", parked[i].attempts},
                                           {"last_error", parked[i].last_error}});
        }
        if (!parked.empty()) r.level = common::HealthLevel::Warn;
        if (local_dns_down_) r.level = common::HealthLevel::Critical;
        if (!bus_->connected() || claim_lost_) r.level = common::HealthLevel::Critical;
        return r;
    }

private:
    void enqueue(const common::ZoneEvent& event, DeliveryPtr delivery, EventSource source) {
        std::string msg_id;
        if (delivery) msg_id = delivery->message().header("Nats-Msg-Id").value_or("");
        lanes_.add(event, source, std::move(msg_id), std::move(delivery));
    }

    void consumeLoop(const std::stop_token& st) {
        const auto prefix = "pdns.zones." + settings_.syncer.group + ".";
        bool idle = true;
        common::LogLimiter limiter(10s);
        auto next_pending_check = std::chrono::steady_clock::now();
        while (!st.stop_requested()) {
            if (lanes_.heldDeliveries() >= static_cast<size_t>(settings_.syncer.max_ack_pending)) {
                std::this_thread::sleep_for(20ms);
                continue;
            }
            // Idle: one message, returned as soon as it arrives. Busy: sweep up what is pending.
            auto batch = idle ? consumer_->fetch(1, 1000ms) : consumer_->fetch(64, 20ms);
            if (!batch) {
                metrics_.fetch_errors.inc();
                if (limiter.allow())
                    spdlog::warn("cannot fetch zone events ({})", batch.error().message);
                std::this_thread::sleep_for(250ms);
                continue;
            }
            idle = batch->empty();
            // What the server still holds for us behind this batch: part of the backlog. An
            // empty fetch does not prove there is nothing: a loaded server lets a short fetch
            // expire with messages pending (the 100,000-zone bootstrap: the joining node then
            // reported "caught up" and was asked to resync its backlog), so it is asked.
            // At most once a second, so a server that keeps letting fetches expire is not also
            // asked for the consumer's info after each of them.
            if (idle && server_pending_.load() != 0 &&
                std::chrono::steady_clock::now() >= next_pending_check) {
                next_pending_check = std::chrono::steady_clock::now() + 1s;
                if (auto floor = bus_->consumerFloor("PDNS_ZONES", durable())) {
                    server_pending_ = floor->num_pending;
                }
            }
            for (auto& d : *batch) {
                server_pending_ = d->pendingBehind();
                uint64_t through = delivered_through_.load();
                while (d->streamSequence() > through &&
                       !delivered_through_.compare_exchange_weak(through, d->streamSequence())) {
                }
                DeliveryPtr delivery(std::move(d));
                auto event = common::parseZoneEvent(delivery->message().data);
                const auto& subject = delivery->message().subject;
                auto subject_zone =
                    subject.starts_with(prefix)
                        ? common::decodeZoneKey(std::string_view(subject).substr(prefix.size()))
                        : common::Result<std::string>(common::Error{});
                if (!event || !subject_zone || *subject_zone != event->zone) {
                    metrics_.malformed_events.inc();
                    spdlog::error("terminating malformed zone event seq={} subject='{}' ({})",
                                  delivery->streamSequence(), subject,
                                  event ? "zone does not match subject" : event.error().message);
                    (void)delivery->term();
                    continue;
                }
                enqueue(*event, std::move(delivery), EventSource::Stream);
            }
        }
    }

    // The priority lane's feed: api events as they are published. Everything else on the
    // subject (reconcile, resync, policy and freshness events, malformed messages) is left to the
    // durable consumer, which delivers every message anyway.
    void priorityLoop(const std::stop_token& st) {
        const auto prefix = "pdns.zones." + settings_.syncer.group + ".";
        while (!st.stop_requested()) {
            auto m = priority_sub_->next(500ms);
            if (!m) continue;
            auto event = common::parseZoneEvent(m->data);
            if (!event || event->cause != common::EventCause::Api) continue;
            if (!m->subject.starts_with(prefix)) continue;
            auto subject_zone =
                common::decodeZoneKey(std::string_view(m->subject).substr(prefix.size()));
            if (!subject_zone || *subject_zone != event->zone) continue;
            metrics_.priority_events.inc();
            lanes_.add(*event, EventSource::Priority, m->header("Nats-Msg-Id").value_or(""));
        }
    }

    void workerLoop(const std::stop_token& st, Lane lane) {
        while (!st.stop_requested()) {
            auto job = lanes_.take(lane, st, 500ms);
            if (!job) continue;
            const bool succeeded = handle(*job);
            lanes_.finish(*job, succeeded);
        }
    }

    // True when the zone is settled (applied, deleted or nothing to do).
    bool handle(const LaneJob& job) {
        // This very message (or a later one of its publisher) is already applied, by either lane:
        // ack it without work, unless the zone got parked since (then its event is taken up
        // normally).
        if (job.covered && !parking_.contains(job.zone)) {
            spdlog::debug("zone '{}' msg_id={} already applied", job.zone, job.msg_id);
            metrics_.priority_dedup.inc();
            metrics_.outcome(Outcome::Skipped).inc();
            settle(job);
            return true;
        }
        // A parking retry queued before a real event settled the zone is stale by now.
        if (job.source == EventSource::Parking && !parking_.contains(job.zone)) {
            settle(job);
            return true;
        }
        // A priority event without a stream delivery in hand: on failure the stream's copy of the
        // message does the work (with retries and parking), so nothing is parked here.
        const bool stream_follows = job.source == EventSource::Priority && job.deliveries.empty();
        const auto outcome = process(job, stream_follows);
        return outcome == Outcome::Applied || outcome == Outcome::Deleted ||
               outcome == Outcome::Skipped;
    }

    Outcome process(const LaneJob& job, bool stream_follows) {
        const auto& event = job.event;
        ApplyResult r;
        static constexpr std::array<std::chrono::milliseconds, 2> kRetryDelays{250ms, 1000ms};
        for (size_t attempt = 0;; ++attempt) {
            try {
                // Interactive changes get every flush; a node catching up saves one per zone.
                r = applier_->apply(event, job.lane == Lane::Bulk && catchingUp()
                                               ? FlushMode::LateOnly
                                               : FlushMode::Immediate);
            } catch (const std::exception& e) {
                r = ApplyResult{.outcome = Outcome::Retry,
                                .error = std::string("internal error: ") + e.what()};
            }
            if (r.outcome != Outcome::Retry || attempt >= kRetryDelays.size()) break;
            spdlog::warn("zone '{}' {} failed, retrying ({})", event.zone,
                         common::toString(event.op), r.error);
            std::this_thread::sleep_for(kRetryDelays[attempt]);
        }
        metrics_.outcome(r.outcome).inc();
        switch (r.outcome) {
            case Outcome::Applied:
                spdlog::info("zone '{}' serial {} applied in {} ms ({} lane)", event.zone, r.serial,
                             r.took.count(), toString(job.lane));
                metrics_.apply_seconds.observe(std::chrono::duration<double>(r.took).count());
                metrics_.laneApplied(job.lane).inc();
                parking_.clear(event.zone);
                if (r.served) served_.set(event.zone, ServedState::from(*r.served));
                break;
            case Outcome::Deleted:
                spdlog::info("zone '{}' deleted (absence verified, {} lane)", event.zone,
                             toString(job.lane));
                metrics_.laneApplied(job.lane).inc();
                parking_.clear(event.zone);
                served_.erase(event.zone);
                break;
            case Outcome::Skipped:
                parking_.clear(event.zone);
                break;
            case Outcome::Retry:
            case Outcome::Park:
                if (stream_follows) {
                    spdlog::warn(
                        "zone '{}' {} not applied by the priority lane; left to the stream's "
                        "delivery ({})",
                        event.zone, common::toString(event.op), r.error);
                    metrics_.priority_failures.inc();
                    return r.outcome;
                }
                spdlog::error("zone '{}' {} not applied, parked ({})", event.zone,
                              common::toString(event.op), r.error);
                parking_.park(event.zone, event.op, r.error);
                served_.setError(event.zone, r.error);
                break;
        }
        settle(job);
        if (r.outcome != Outcome::Skipped) report(event, r);
        return r.outcome;
    }

    // Acks every delivery taken up with the job: its effect is proven, or it is parked (and the
    // parking table, not a nak, carries the retry; naks would hold ack-pending slots).
    void settle(const LaneJob& job) {
        for (const auto& d : job.deliveries) {
            if (auto s = d->ack(); !s)
                spdlog::warn("cannot ack seq={} ({})", d->streamSequence(), s.error().message);
        }
        metrics_.parked.set(static_cast<double>(parking_.size()));
        metrics_.served.set(static_cast<double>(listener_->servedCount()));
    }

    // The propagation time (event `at` → served) is reported for api events only: the others
    // carry the time they were planned, not when the zone changed.
    void report(const common::ZoneEvent& event, const ApplyResult& r) {
        common::AppliedReport a{.zone = event.zone,
                                .serial = r.outcome == Outcome::Applied
                                              ? std::optional<uint32_t>(r.serial)
                                              : std::nullopt,
                                .apex = r.apex,
                                .op = std::string(toString(r.outcome)),
                                .apply_ms = r.took.count(),
                                .event_ms = std::nullopt,
                                .error = r.error};
        if (event.cause == common::EventCause::Api) {
            if (auto at = common::parseRfc3339(event.at)) {
                a.event_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now() - *at)
                                 .count();
            }
        }
        (void)bus_->publishCore(common::nodeSubject(settings_.syncer.node_id, "applied"),
                                common::serializeAppliedReport(a));
    }

    // Startup sweep (DESIGN §5.7): repairs managed zones the local pdns lost, holds at another
    // serial, or should no longer have, through the same per-zone lanes as stream events.
    void sweep(const std::stop_token& st) {
        struct Done {
            std::atomic<bool>& flag;
            ~Done() { flag = false; }
        } done{sweep_running_};
        const auto filter = "pdns.zones." + settings_.syncer.group + ".>";
        auto reader = bus_->readStream("PDNS_ZONES", filter);
        // nats-server 2.9 may place the ordered consumer on a cluster node that is down.
        for (int attempt = 1; !reader && attempt < 6 && !st.stop_requested(); ++attempt) {
            std::this_thread::sleep_for(1s);
            reader = bus_->readStream("PDNS_ZONES", filter);
        }
        if (!reader) {
            spdlog::warn("startup sweep skipped: cannot read the stream ({})",
                         reader.error().message);
            return;
        }
        // Under load a message can take longer than one wait: a wait that ends empty while
        // messages are still pending is waited out again (30 s in a row at most). An incomplete
        // read plans no deletion: an unread zone is not an unwanted one.
        auto read =
            readDesired(**reader, 250ms, 5000ms, 30000ms, [&] { return st.stop_requested(); });
        auto& desired = read.zones;
        if (!read.complete && !st.stop_requested()) {
            spdlog::warn(
                "startup sweep: the stream was not read to its end ({} zone(s) read); repairing "
                "those, deleting nothing",
                desired.size());
        }
        reader->reset();
        if (st.stop_requested()) return;
        const auto listed_at = std::chrono::steady_clock::now();
        auto local = api_->listZones(std::nullopt, false);
        if (!local) {
            spdlog::warn("startup sweep skipped: cannot list local zones ({})",
                         local.error().message);
            return;
        }
        auto plan = planSweep(desired, *local, master_, read.complete, deliveredThrough());
        for (const auto& zone : plan.clashes) {
            spdlog::error(
                "zone '{}' is wanted but exists in the local pdns without account '{}'; "
                "not touching it",
                zone, kManagedAccount);
        }
        const auto since_listing = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - listed_at);
        const size_t in_hand = leaveInHand(plan, [&](const std::string& zone) {
            return lanes_.contains(zone) || applier_->verifiedWithin(zone, since_listing);
        });
        spdlog::info(
            "startup sweep: {} wanted zone(s), {} local, {} to repair ({} more already in hand)",
            desired.size(), local->size(), plan.events.size(), in_hand);
        for (const auto& e : plan.events) enqueue(e, nullptr, EventSource::Sweep);
    }

    [[nodiscard]] std::string durable() const { return "syncer-" + settings_.syncer.node_id; }

    // The last stream sequence the durable consumer has delivered, to this process or to an
    // earlier one (the server's count): every event after it is still to come through the
    // consumer, so the sweep leaves those zones to it. Unknown (the server did not answer):
    // UINT64_MAX, the sweep then repairs everything itself.
    uint64_t deliveredThrough() {
        auto floor = bus_->consumerFloor("PDNS_ZONES", durable());
        if (!floor) {
            spdlog::warn(
                "startup sweep: cannot read the durable consumer's position ({}); "
                "repairing every zone that differs",
                floor.error().message);
            return UINT64_MAX;
        }
        return std::max(floor->delivered_stream_seq, delivered_through_.load());
    }

    // Managed zones without our TSIG key (an upgrade from a version without TSIG, or a renamed
    // node) get it. Until then pdns's own refresh checks of such a zone are refused, but the zone
    // is still served, and any apply sets the key before it asks for a transfer. A marker in the
    // state dir records that every managed zone carries the key, so later starts skip the reads.
    void ensureKeysOnManagedZones(const std::stop_token& st) {
        const auto marker = std::filesystem::path(settings_.syncer.state_dir) / "tsig-zones";
        {
            std::ifstream in(marker);
            std::string done;
            if (in && std::getline(in, done) && done == tsig_key_id_ + " " + master_) return;
        }
        auto local = api_->listZones(std::nullopt, false);
        for (int attempt = 1; !local && attempt < 10 && !st.stop_requested(); ++attempt) {
            std::this_thread::sleep_for(1s);
            local = api_->listZones(std::nullopt, false);
        }
        if (!local) {
            spdlog::warn("cannot give managed zones the TSIG key ({}); the next start tries again",
                         local.error().message);
            return;
        }
        const auto r = ensureZoneKeys(*api_, *local, master_, tsig_key_id_,
                                      [&] { return st.stop_requested(); });
        spdlog::info("TSIG key on managed zones: {} checked, {} given the key, {} failed",
                     r.managed, r.updated, r.failed);
        if (r.failed > 0) {
            spdlog::warn(
                "{} managed zone(s) could not be given the TSIG key; each gets it on its next "
                "change, and the next start tries again",
                r.failed);
            return;
        }
        std::ofstream out(marker, std::ios::trunc);
        out << tsig_key_id_ << " " << master_ << "\n";
        if (!out)
            spdlog::warn("cannot write '{}' (the next start checks every zone again)",
                         marker.string());
    }

    void heartbeat() {
        const auto load = common::readLoad();
        const common::Heartbeat h{
            .node = settings_.syncer.node_id,
            .instance = instance_,
            .version = std::string(common::version()),
            .zones = served_.servedCount(),
            .parked = parking_.size(),
            .digest = served_.digestHex(),
            .load1 = load.load1,
            .cores = load.cores,
            .since = since_,
            .interval_ms = static_cast<uint64_t>(settings_.syncer.heartbeat.count()),
            .scanned = scanned_.load(),
            .backlog = backlog(),
            .catching_up = catchingUp()};
        (void)bus_->publishCore(common::nodeSubject(settings_.syncer.node_id, "heartbeat"),
                                common::serializeHeartbeat(h));
    }

    bool inHand(const std::string& zone) { return lanes_.contains(zone); }

    // Reads every managed zone's apex from the local pdns, paced by scan_rate, so a zone lost or
    // edited there (or a local pdns that stopped answering) shows in the heartbeat digest. Zones
    // being applied are left to the apply; a look that an apply overtook is dropped.
    void scanLoop(const std::stop_token& st) {
        const auto gap = std::chrono::microseconds{1'000'000 / settings_.syncer.scan_rate};
        while (!st.stop_requested()) {
            const auto started = std::chrono::steady_clock::now();
            scanOnce(st, gap);
            while (!st.stop_requested() &&
                   std::chrono::steady_clock::now() < started + settings_.syncer.scan_interval) {
                std::this_thread::sleep_for(50ms);
            }
        }
    }

    // While the lanes hold a backlog (a bootstrap, a mass change), its applies verify what they
    // apply, and the scan's looks (and its list of every zone) would only compete with them for
    // the local pdns: the scan waits until the backlog is down to what the workers hold.
    void yieldToBacklog(const std::stop_token& st) {
        while (!st.stop_requested() && catchingUp()) std::this_thread::sleep_for(200ms);
    }

    // The backlog: what the lanes hold plus what the server still holds for the durable consumer
    // (as the last delivery said). Until the first fetch has answered, the server's part is
    // unknown, and the node counts as catching up: a joining node's first heartbeat must not
    // look like a node that lost every zone.
    size_t backlog() {
        const uint64_t server = server_pending_.load();
        return lanes_.depth(Lane::Bulk) + lanes_.depth(Lane::Priority) +
               (server == kUnknownPending ? 0 : static_cast<size_t>(server));
    }
    bool catchingUp() {
        return server_pending_.load() == kUnknownPending ||
               backlog() > static_cast<size_t>(settings_.syncer.workers);
    }

    void scanOnce(const std::stop_token& st, std::chrono::microseconds gap) {
        yieldToBacklog(st);
        // Managed zones of the local pdns that the served table does not list yet (normally none:
        // the sweep and the applies put every zone there). The listing is read zone by zone.
        std::vector<std::string> unknown;
        const auto listed = api_->forEachZone(false, [&](common::PdnsZoneInfo&& z) {
            if (z.account == kManagedAccount && served_.version(z.name) == 0) {
                unknown.push_back(std::move(z.name));
            }
        });
        common::releaseFreedMemory();  // the listing's HTTP body
        if (!listed) {
            localDnsDown("the local PowerDNS API does not answer: " + listed.error().message);
            return;
        }
        int failures_in_a_row = 0;
        for (const auto& zone : unknown) {
            if (!scanZone(st, zone, gap, failures_in_a_row)) return;
        }
        unknown = {};
        // Then every zone of the table, a digest bucket at a time: the pass never holds more than
        // one bucket's names (~25 at 100,000 zones).
        for (uint32_t k = 0; k < common::ZoneDigest::kBuckets; ++k) {
            for (const auto& zone : served_.zonesIn(k)) {
                if (!scanZone(st, zone, gap, failures_in_a_row)) return;
            }
        }
        scanned_ = true;
        applier_->forgetVerified(settings_.syncer.scan_interval);
        common::releaseFreedMemory();
    }

    // One zone of the scan; false when the scan should end (a stop, the local pdns down).
    bool scanZone(const std::stop_token& st, const std::string& zone, std::chrono::microseconds gap,
                  int& failures_in_a_row) {
        yieldToBacklog(st);
        if (st.stop_requested()) return false;
        if (inHand(zone)) return true;
        // An apply proved this zone within the interval: no second look yet. (During a bootstrap
        // the scan would otherwise put several DNS queries per applied zone on the local pdns,
        // which is the bottleneck there.)
        const auto version = served_.version(zone);
        if (version != 0 && applier_->verifiedWithin(zone, settings_.syncer.scan_interval)) {
            return true;
        }
        auto fp = scan_dns_->apex(zone);
        if (!fp && (fp.error().code == "network" || fp.error().code == "timeout")) {
            if (++failures_in_a_row >= 3) {
                localDnsDown("the local pdns does not answer DNS: " + fp.error().message);
                return false;
            }
            return true;
        }
        failures_in_a_row = 0;
        if (local_dns_down_.exchange(false)) {
            spdlog::info("the local pdns answers again; retrying parked zones now");
            parking_.retryAllNow();
        }
        (void)served_.setIfVersion(
            zone,
            fp ? ServedState::from(*fp)
               : ServedState::missing("the local pdns does not serve it: " + fp.error().message),
            version);
        std::this_thread::sleep_for(gap);
        return true;
    }

    void localDnsDown(const std::string& why) {
        if (!local_dns_down_.exchange(true)) spdlog::error("{}", why);
        served_.markAllUnserved(why);
    }

    void stateLoop(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto m = state_sub_->next(500ms);
            if (!m || m->reply.empty()) continue;
            auto req = common::parseStateRequest(m->data);
            std::string reply;
            if (!req) {
                reply = nlohmann::json{{"v", 1}, {"error", req.error().message}}.dump();
            } else if (req->groups) {
                reply = nlohmann::json{{"v", 1}, {"groups", served_.groupsHex()}}.dump();
            } else if (req->buckets && req->first == 0 && req->count == 4096) {
                reply = nlohmann::json{{"v", 1}, {"buckets", served_.bucketsHex()}}.dump();
            } else if (req->buckets) {
                reply = nlohmann::json{{"v", 1},
                                       {"first", req->first},
                                       {"buckets", served_.bucketsHex(req->first, req->count)}}
                            .dump();
            } else {
                reply = common::serializeBucketReply(served_.bucket(*req->bucket));
            }
            if (auto s = bus_->respond(*m, reply); !s)
                spdlog::warn("cannot answer a state request ({})", s.error().message);
        }
    }

    // Resync (DESIGN §3, §5.7): each zone is taken up again through the bulk lane as the stream
    // last described it (a zone without any message is unwanted), skipping nothing; `all`
    // re-runs the startup sweep.
    void resyncLoop(const std::stop_token& st) {
        const auto& y = settings_.syncer;
        while (!st.stop_requested()) {
            auto m = resync_sub_->next(500ms);
            if (!m) continue;
            auto req = common::parseResyncRequest(m->data);
            common::ResyncReply reply;
            if (!req) {
                reply.error = req.error().message;
            } else if (req->all) {
                if (sweep_running_.exchange(true)) {
                    reply.error = "a full sweep is already running";
                } else {
                    spdlog::info("resync of all zones requested");
                    sweep_thread_ = std::jthread([this](const std::stop_token& s) { sweep(s); });
                    reply.accepted = served_.size();
                }
            } else {
                // One stream read per zone: thousands of zones take longer than the requester
                // waits (the health-checker: 5 s). After kResyncAnswerWithin the answer goes out
                // with the zones not yet read counted as accepted; a failure among those is
                // logged only.
                const auto answer_by = std::chrono::steady_clock::now() + kResyncAnswerWithin;
                common::LogLimiter late_errors(10s);
                for (size_t i = 0; i < req->zones.size() && !st.stop_requested(); ++i) {
                    const auto& zone = req->zones[i];
                    if (!m->reply.empty() && std::chrono::steady_clock::now() >= answer_by) {
                        common::ResyncReply early = reply;
                        early.accepted += req->zones.size() - i;
                        (void)bus_->respond(*m, common::serializeResyncReply(early));
                        spdlog::info("resync: answered after {} of {} zone(s); reading the rest", i,
                                     req->zones.size());
                        m->reply.clear();
                    }
                    auto last =
                        bus_->lastMessage("PDNS_ZONES", common::zoneEventSubject(y.group, zone));
                    if (!last) {
                        if (m->reply.empty() && late_errors.allow())
                            spdlog::warn("resync of zone '{}': {}", zone, last.error().message);
                        reply.error = last.error().message;
                        continue;
                    }
                    common::ZoneEvent event{.zone = zone,
                                            .op = common::ZoneOp::Delete,
                                            .serial = std::nullopt,
                                            .apex = std::nullopt,
                                            .cause = common::EventCause::Resync,
                                            .at = {}};
                    if (*last) {
                        auto e = common::parseZoneEvent((*last)->message.data);
                        if (!e || e->zone != zone) {
                            reply.error = "the stream's event for '" + zone + "' is malformed";
                            if (m->reply.empty() && late_errors.allow())
                                spdlog::warn("resync: {}", reply.error);
                            continue;
                        }
                        event.op = e->op;
                        event.serial = e->serial;
                        event.apex = e->apex;
                    }
                    // Fresh data: the provider must not answer from a body older than now.
                    event.at = common::rfc3339Millis(std::chrono::system_clock::now());
                    spdlog::info("resync of zone '{}' requested ({})", zone,
                                 common::toString(event.op));
                    enqueue(event, nullptr, EventSource::Sweep);
                    ++reply.accepted;
                }
            }
            if (!m->reply.empty()) (void)bus_->respond(*m, common::serializeResyncReply(reply));
        }
    }

    void housekeepingLoop(const std::stop_token& st) {
        auto next_renew = std::chrono::steady_clock::now() + settings_.syncer.heartbeat;
        auto next_keepalive = std::chrono::steady_clock::now() + settings_.syncer.ack_wait / 3;
        while (!st.stop_requested()) {
            std::this_thread::sleep_for(200ms);
            const auto now = std::chrono::steady_clock::now();
            for (const auto lane : {Lane::Priority, Lane::Bulk}) {
                metrics_.laneDepth(lane).set(static_cast<double>(lanes_.depth(lane)));
            }
            for (const auto& p : parking_.takeDue()) {
                enqueue(common::ZoneEvent{.zone = p.zone,
                                          .op = p.op,
                                          .serial = std::nullopt,
                                          .apex = std::nullopt,
                                          .cause = common::EventCause::Resync,
                                          .at = {}},
                        nullptr, EventSource::Parking);
            }
            if (now >= next_keepalive) {
                next_keepalive = now + settings_.syncer.ack_wait / 3;
                for (auto& d : lanes_.deliveries()) (void)d->inProgress();
            }
            // While NATS is away a renewal could only wait for its request to time out (and hold
            // up a SIGTERM meanwhile); the claim's TTL covers the gap, and the first renewal after
            // the reconnect tells whether another instance took it.
            if (now >= next_renew && bus_->connected()) {
                next_renew = now + settings_.syncer.heartbeat;
                heartbeat();
                auto s = claim_->renew();
                if (!s && s.error().code == "lost") {
                    spdlog::critical("{}; stopping", s.error().message);
                    claim_lost_ = true;
                    ::kill(::getpid(), SIGTERM);
                } else if (!s) {
                    spdlog::warn("cannot renew the node claim ({})", s.error().message);
                }
            }
        }
    }

    const Settings& settings_;
    SyncerMetrics metrics_;
    common::SystemClock clock_;
    DeleteBudget budget_;
    ParkingTable parking_;
    std::string instance_;
    std::unique_ptr<AxfrListener> listener_;
    std::unique_ptr<common::HttpPdnsApi> api_;
    std::unique_ptr<common::LdnsDnsClient> dns_;
    std::unique_ptr<common::LdnsDnsClient> scan_dns_;
    std::unique_ptr<common::SyncSubscription> state_sub_;
    std::unique_ptr<common::SyncSubscription> resync_sub_;
    ServedTable served_;
    std::string since_;
    std::atomic<bool> scanned_{false};
    std::atomic<bool> local_dns_down_{false};
    std::atomic<bool> sweep_running_{false};
    static constexpr uint64_t kUnknownPending = UINT64_MAX;
    static constexpr auto kResyncAnswerWithin = std::chrono::seconds{2};  ///< see resyncLoop()
    std::atomic<uint64_t> server_pending_{kUnknownPending};               ///< see backlog()
    std::atomic<uint64_t> delivered_through_{0};  ///< highest stream sequence delivered to us
    std::unique_ptr<common::NatsBus> bus_;
    std::unique_ptr<common::KeyValue> kv_;
    std::unique_ptr<NodeClaim> claim_;
    std::unique_ptr<common::PullConsumer> consumer_;
    std::unique_ptr<ZoneDataClient> data_client_;
    std::unique_ptr<DelayedCacheFlusher> late_flush_;
    std::unique_ptr<Applier> applier_;

    LaneScheduler lanes_;
    std::unique_ptr<common::SyncSubscription> priority_sub_;

    std::atomic<bool> claim_lost_{false};
    std::atomic<bool> stopped_{false};
    std::vector<std::jthread> workers_;
    std::jthread consumer_thread_;
    std::jthread priority_thread_;
    std::jthread housekeeping_;
    std::jthread sweep_thread_;
    std::jthread key_thread_;
    std::jthread scan_thread_;
    std::jthread state_thread_;
    std::jthread resync_thread_;
    std::string master_;
    std::string tsig_key_id_;
};

}  // namespace

std::unique_ptr<common::Service> makeSyncerService(const Settings& settings,
                                                   common::DaemonContext& context) {
    return std::make_unique<SyncerService>(settings, context);
}

}  // namespace pdns_distribute::secondary_syncer
