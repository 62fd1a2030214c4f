// SPDX-License-Identifier: Apache-2.0
#include "checker_service.hpp"

#include <condition_variable>
#include <stdexcept>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/log.hpp>
#include <pdns_distribute/common/node_messages.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/status_view.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "freshness.hpp"
#include "leadership.hpp"
#include "reconciler.hpp"
#include "tombstones.hpp"
#include "verifier.hpp"

namespace pdns_distribute::health_checker {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct CheckerMetrics {
    explicit CheckerMetrics(common::MetricsRegistry& r)
        : registry(r),
          nats_connected(r.gauge("pdns_distribute_health_checker_nats_connected",
                                 "1 while the NATS connection is up")),
          leader(r.gauge("pdns_distribute_health_checker_leader",
                         "1 while this health-checker is the leader (the only one that acts)")),
          passes(r.counter("pdns_distribute_health_checker_reconcile_passes_total",
                           "reconcile passes completed")),
          failed_passes(r.counter("pdns_distribute_health_checker_reconcile_failures_total",
                                  "reconcile passes that could not list the primary")),
          published_upsert(r.counter("pdns_distribute_health_checker_reconcile_published_total",
                                     "zone events published by reconcile, by op",
                                     {{"op", "upsert"}})),
          published_delete(r.counter("pdns_distribute_health_checker_reconcile_published_total",
                                     "zone events published by reconcile, by op",
                                     {{"op", "delete"}})),
          conflicts(r.counter("pdns_distribute_health_checker_reconcile_conflicts_total",
                              "conditional publishes dropped because someone newer published "
                              "first")),
          held(r.gauge("pdns_distribute_health_checker_held_deletions",
                       "deletions waiting for operator approval")),
          mirror(r.gauge("pdns_distribute_health_checker_mirror_zones",
                         "zones in the mirror of PDNS_ZONES")),
          desired(r.gauge("pdns_distribute_health_checker_desired_zones",
                          "zones wanted whose primary state is known")),
          resyncs(r.counter("pdns_distribute_health_checker_resyncs_total",
                            "zones a node was asked to resync (answered or not: a request "
                            "that timed out may still have reached it)")),
          propagation(r.histogram(
              "pdns_distribute_health_checker_propagation_seconds",
              "from a zone change's API answer to a secondary serving it, from applied reports",
              common::MetricsRegistry::latencyBuckets())),
          state_bytes(r.counter("pdns_distribute_health_checker_state_bytes_total",
                                "bytes of node state replies fetched for verification")),
          freshness_published(
              r.counter("pdns_distribute_health_checker_freshness_published_total",
                        "re-signed zones republished (spread over time, before expiry)")),
          freshness_pending(r.gauge("pdns_distribute_health_checker_freshness_pending_zones",
                                    "re-signed zones waiting for their spread-out republish")),
          tombstones_purged(r.counter("pdns_distribute_health_checker_tombstones_purged_total",
                                      "delete events purged from the stream")),
          nodes_in_sync(r.gauge("pdns_distribute_health_checker_nodes_in_sync",
                                "active, scanned nodes whose heartbeat digest equals the digest "
                                "of the desired state")),
          verify_rounds(r.counter("pdns_distribute_health_checker_verify_rounds_total",
                                  "verify rounds that compared every node with a rebuilt desired "
                                  "state or examined a node")),
          verify_round_seconds(
              r.gauge("pdns_distribute_health_checker_verify_round_seconds",
                      "wall time of the last such verify round, desired-state rebuild and node "
                      "examinations included")) {}

    common::MetricsRegistry& registry;
    common::Gauge& nats_connected;
    common::Gauge& leader;
    common::Counter& passes;
    common::Counter& failed_passes;
    common::Counter& published_upsert;
    common::Counter& published_delete;
    common::Counter& conflicts;
    common::Gauge& held;
    common::Gauge& mirror;
    common::Gauge& desired;
    common::Counter& resyncs;
    common::Histogram& propagation;
    common::Counter& state_bytes;
    common::Counter& freshness_published;
    common::Gauge& freshness_pending;
    common::Counter& tombstones_purged;
    common::Gauge& nodes_in_sync;
    common::Counter& verify_rounds;
    common::Gauge& verify_round_seconds;
};

class CheckerService final : public common::Service {
public:
    CheckerService(const Settings& settings, common::DaemonContext& context)
        : settings_(settings),
          instance_("checker-" + common::randomNonce().substr(0, 12)),
          reconciler_(ReconcilerSettings{.hold_percent = settings.hold_percent,
                                         .hold_zones = settings.hold_zones},
                      clock_),
          verifier_(VerifierSettings{.event_check_wait = settings.event_check_wait,
                                     .resync_backoff_max = settings.resync_backoff_max,
                                     .missed_heartbeats = 3},
                    clock_),
          freshness_(FreshnessSettings{}, clock_),
          msg_ids_(instance_),
          metrics_(context.metrics) {
        api_ = std::make_unique<common::HttpPdnsApi>(settings.pdns);
        auto hp = common::parseHostPort(settings.primary_dns);
        if (!hp) throw std::runtime_error("bad checker.primary_dns");
        const common::DnsEndpoint primary{.address = hp->host, .port = hp->port};
        dns_ = std::make_unique<common::LdnsDnsClient>(primary, 2000ms);
        probe_dns_ = std::make_unique<common::LdnsDnsClient>(primary, 2000ms);
        auto nats = settings.nats;
        if (nats.name.empty()) nats.name = "pdns-health-checker";
        bus_ = common::NatsBus::connect(nats);
        common::StreamSettings stream;
        stream.replicas = settings.stream_replicas;
        if (auto s = bus_->ensureStream(stream); !s) {
            throw std::runtime_error("cannot create stream 'PDNS_ZONES' (" + s.error().message +
                                     ")");
        }
        auto kv = bus_->keyValue("PDNS_LEADER", settings.leader_ttl, settings.stream_replicas);
        if (!kv) {
            throw std::runtime_error("cannot open KV bucket 'PDNS_LEADER' (" + kv.error().message +
                                     ")");
        }
        leader_kv_ = std::move(*kv);
        leadership_ = std::make_unique<Leadership>(*leader_kv_, "checker." + settings.group,
                                                   instance_, settings.leader_ttl, clock_);
        // nats-server 2.9 may place the ordered consumer on a cluster node that is down (the
        // create then times out): try again for a while before giving up.
        auto reader = bus_->readStream("PDNS_ZONES", "pdns.zones." + settings.group + ".>");
        for (int attempt = 1; !reader && attempt < 6; ++attempt) {
            spdlog::warn("cannot read stream 'PDNS_ZONES' ({}); retrying", reader.error().message);
            std::this_thread::sleep_for(1s);
            reader = bus_->readStream("PDNS_ZONES", "pdns.zones." + settings.group + ".>");
        }
        if (!reader) throw std::runtime_error(reader.error().message);
        reader_ = std::move(*reader);
        for (const auto* kind : {"heartbeat", "applied"}) {
            auto sub = bus_->subscribe(common::nodeSubject("*", kind));
            if (!sub) {
                throw std::runtime_error(fmt::format("cannot subscribe to node {} messages ({})",
                                                     kind, sub.error().message));
            }
            (std::string_view(kind) == "heartbeat" ? heartbeat_sub_ : applied_sub_) =
                std::move(*sub);
        }
        addRoutes(context.http);
        spdlog::info("health-checker {} connected; stream 'PDNS_ZONES' ready", instance_);
    }
    ~CheckerService() override { stop(); }

    void start() override {
        leader_thread_ = std::jthread([this](const std::stop_token& st) { leadershipLoop(st); });
        mirror_thread_ = std::jthread([this](const std::stop_token& st) { followStream(st); });
        probe_thread_ = std::jthread([this](const std::stop_token& st) { probeLoop(st); });
        heartbeat_thread_ = std::jthread([this](const std::stop_token& st) { heartbeatLoop(st); });
        applied_thread_ = std::jthread([this](const std::stop_token& st) { appliedLoop(st); });
        verify_thread_ = std::jthread([this](const std::stop_token& st) { verifyLoop(st); });
        reconcile_thread_ = std::jthread([this](const std::stop_token& st) { reconcileLoop(st); });
    }

    void stop() override {
        if (stopped_.exchange(true)) return;
        reconcile_thread_.request_stop();
        probe_thread_.request_stop();
        wake_.notify_all();
        probe_cv_.notify_all();
        reconcile_thread_ = {};
        verify_thread_ = {};
        applied_thread_ = {};
        heartbeat_thread_ = {};
        probe_thread_ = {};
        mirror_thread_ = {};
        leader_thread_ = {};
        // Without NATS the release could only wait for its request to time out; the lock then
        // lapses by its TTL instead.
        if (leadership_ && bus_ && bus_->connected()) leadership_->release();
        if (bus_) bus_->close();
    }

    common::HealthReport health() override {
        common::HealthReport r;
        const bool up = bus_ && bus_->connected();
        metrics_.nats_connected.set(up ? 1 : 0);
        r.details["nats_connected"] = up;
        r.details["instance"] = instance_;
        r.details["leader"] = leadership_->leading();
        r.details["leader_instance"] = leadership_->holder();
        r.details["mirror_zones"] = mirror_.size();
        r.details["mirror_synced"] = mirror_.synced();
        const auto held = reconciler_.held();
        r.details["held_deletions"] = held;
        if (!held.empty()) {
            r.details["held_reason"] = reconciler_.holdReason();
            r.details["hint"] =
                "check the primary; approve with `pdns-distribute deletions approve`";
        }
        if (!last_error_.lock()->empty()) r.details["last_reconcile_error"] = *last_error_.lock();
        size_t inactive = 0;
        size_t lagging = 0;
        for (const auto& n : verifier_.nodes()) {
            if (!n.active) ++inactive;
            if (n.max_lag >= settings_.event_check_wait) ++lagging;
        }
        r.details["nodes_inactive"] = inactive;
        r.details["nodes_lagging"] = lagging;
        if (inactive > 0 || lagging > 0) r.level = common::HealthLevel::Warn;
        if (!up || !held.empty()) r.level = common::HealthLevel::Critical;
        return r;
    }

private:
    // --- HTTP ----------------------------------------------------------------------------------

    void addRoutes(httplib::Server& http) {
        http.Post("/deletions/approve", [this](const httplib::Request&, httplib::Response& res) {
            const auto n = reconciler_.approve();
            spdlog::warn("operator approved {} held deletion(s)", n);
            wake_.notify_all();
            res.set_content(json{{"approved", n}}.dump(), "application/json");
        });
        http.Get("/deletions", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(
                json{{"held", reconciler_.held()}, {"reason", reconciler_.holdReason()}}.dump(),
                "application/json");
        });
        http.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(statusJson().dump(), "application/json");
        });
        http.Get("/", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(common::renderStatusHtml(statusJson()), "text/html; charset=utf-8");
        });
        http.Post("/resync", [this](const httplib::Request& req, httplib::Response& res) {
            handleResync(req, res);
        });
    }

    void handleResync(const httplib::Request& req, httplib::Response& res) {
        auto fail = [&](int status, const std::string& why) {
            res.status = status;
            res.set_content(json{{"error", why}}.dump(), "application/json");
        };
        const auto body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("zone") ||
            !body["zone"].is_string()) {
            return fail(400, R"(expected {"zone":"example.org.","node":"optional node id"})");
        }
        auto zone = common::canonicalZoneName(body["zone"].get<std::string>());
        if (!zone) return fail(400, zone.error().message);
        std::vector<std::string> nodes;
        if (body.contains("node")) {
            if (!body["node"].is_string() ||
                !common::isValidNodeId(body["node"].get<std::string>()))
                return fail(400, "node must be a node id ([A-Za-z0-9_-]{1,64})");
            nodes.push_back(body["node"].get<std::string>());
        } else {
            for (const auto& n : verifier_.nodes()) {
                if (n.active) nodes.push_back(n.heartbeat.node);
            }
            if (nodes.empty()) return fail(409, "no active secondary node is known");
        }
        json out = json::array();
        for (const auto& node : nodes) {
            auto r = requestResync(node, {*zone});
            out.push_back({{"node", node},
                           {"accepted", r.hasValue()},
                           {"error", r ? "" : r.error().message}});
        }
        res.set_content(json{{"requested", out}}.dump(), "application/json");
    }

    json statusJson() {
        json nodes = json::array();
        for (const auto& n : verifier_.nodes()) {
            const auto& h = n.heartbeat;
            nodes.push_back({{"node", h.node},
                             {"state", n.active ? "active" : "inactive"},
                             {"instance", h.instance},
                             {"version", h.version},
                             {"last_heartbeat", common::rfc3339Millis(n.last_heartbeat)},
                             {"heartbeat_age_ms", n.heartbeat_age.count()},
                             {"zones", h.zones},
                             {"parked", h.parked},
                             {"load1", h.load1},
                             {"cores", h.cores},
                             {"load_warning", h.cores > 0 && h.load1 > 2.0 * h.cores},
                             {"scanned", h.scanned},
                             {"in_sync", n.in_sync},
                             {"out_of_sync", n.out_of_sync},
                             {"max_lag_ms", n.max_lag.count()}});
        }
        json divergences = json::array();
        const auto now = clock_.steady();
        for (const auto& d : verifier_.divergences()) {
            divergences.push_back(
                {{"node", d.node},
                 {"zone", d.zone},
                 {"wanted_serial", d.wanted_serial ? json(*d.wanted_serial) : json(nullptr)},
                 {"served_serial", d.served_serial ? json(*d.served_serial) : json(nullptr)},
                 {"wanted_apex", d.wanted_content},
                 {"served_apex", d.served_content.empty() ? json(nullptr) : json(d.served_content)},
                 {"lag_ms",
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - d.first_seen)
                      .count()},
                 {"error", d.error},
                 {"resyncs", d.resyncs}});
        }
        return json{{"v", 1},
                    {"generated_at", common::rfc3339Millis(clock_.system())},
                    {"checker",
                     {{"instance", instance_},
                      {"group", settings_.group},
                      {"leader", leadership_->leading()},
                      {"leader_instance", leadership_->holder()}}},
                    {"zones", desired_size_.load()},
                    {"mirror_synced", mirror_.synced()},
                    {"held_deletions", reconciler_.held()},
                    {"held_reason", reconciler_.holdReason()},
                    {"nodes", std::move(nodes)},
                    {"divergences", std::move(divergences)}};
    }

    // --- leadership ----------------------------------------------------------------------------

    void leadershipLoop(const std::stop_token& st) {
        bool was = false;
        while (!st.stop_requested()) {
            const bool now = leadership_->tick();
            metrics_.leader.set(now ? 1 : 0);
            if (now && !was) wake_.notify_all();  // a new leader reconciles at once
            was = now;
            const auto until = std::chrono::steady_clock::now() + leadership_->ttl() / 3;
            while (!st.stop_requested() && std::chrono::steady_clock::now() < until) {
                std::this_thread::sleep_for(50ms);
            }
        }
    }

    // --- mirror and the primary's state --------------------------------------------------------

    void followStream(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto m = reader_->next(500ms);
            if (!m) {
                // Nothing more pending right now: the backlog (if any) has been read.
                if (!mirror_.synced()) mirror_.markSynced();
                continue;
            }
            auto event = common::parseZoneEvent(m->message.data);
            if (event) {
                mirror_.apply(*event, m->sequence);  // a delete drops the primary's look too
                ++generation_;
                if (event->op == common::ZoneOp::Upsert) queueProbe(event->zone, m->sequence);
            } else {
                spdlog::warn("ignoring malformed zone event seq={} ({})", m->sequence,
                             event.error().message);
            }
            if (m->pending == 0 && !mirror_.synced()) mirror_.markSynced();
            metrics_.mirror.set(static_cast<double>(mirror_.size()));
        }
    }

    void queueProbe(const std::string& zone, uint64_t sequence) {
        {
            auto q = probe_queue_.lock();
            auto& s = (*q)[zone];
            s = std::max(s, sequence);
        }
        probe_cv_.notify_one();
    }

    static common::ApexFingerprint unsignedFingerprint(uint32_t serial) {
        common::ApexFingerprint f;
        f.serial = serial;
        return f;
    }

    // Looks at the primary for zones whose event came after the last look, so the desired state
    // follows changes within milliseconds instead of at the next reconcile pass.
    void probeLoop(const std::stop_token& st) {
        while (!st.stop_requested()) {
            std::map<std::string, uint64_t> batch;
            {
                std::unique_lock lock(probe_mutex_);
                probe_cv_.wait_for(lock, 500ms, [&] {
                    return st.stop_requested() || !probe_queue_.lock()->empty();
                });
            }
            batch.swap(*probe_queue_.lock());
            for (const auto& [zone, sequence] : batch) {
                if (st.stop_requested()) return;
                if (auto look = mirror_.look(zone); look && look->sequence >= sequence) continue;
                auto fp = probe_dns_->apex(zone);
                if (!fp) continue;  // not served by the primary: the next reconcile decides
                mirror_.setLook(zone, PrimaryLook::from(*fp, sequence));
                ++generation_;
            }
        }
    }

    // --- verify --------------------------------------------------------------------------------

    std::shared_ptr<const DesiredState> buildDesired() {
        auto desired = std::make_shared<DesiredState>();
        const auto known = [](const MirrorEntry& entry) {
            return entry.look && entry.look->sequence >= entry.sequence;
        };
        // Sized first, so the state built for every round carries no growth slack: the mirror
        // is walked twice under one hold of its lock (no copy of it; the same order both times),
        // the first walk noting each wanted zone's bucket for the second.
        mirror_.withEntries([&](const MirrorTable& mirror) {
            std::vector<uint16_t> buckets;
            buckets.reserve(mirror.size());
            std::vector<uint32_t> per_bucket(common::ZoneDigest::kBuckets);
            size_t name_bytes = 0;
            mirror.forEach([&](std::string_view zone, const MirrorEntry& entry) {
                if (entry.op != common::ZoneOp::Upsert || !known(entry)) return;
                const auto b = static_cast<uint16_t>(common::ZoneDigest::bucketOf(zone));
                buckets.push_back(b);
                ++per_bucket[b];
                name_bytes += zone.size();
            });
            desired->reserve(per_bucket, name_bytes);
            size_t next = 0;
            mirror.forEach([&](std::string_view zone, const MirrorEntry& entry) {
                if (entry.op != common::ZoneOp::Upsert) return;
                if (!known(entry)) {
                    desired->setUnknown(zone);
                    return;
                }
                desired->set(
                    buckets[next++], zone,
                    DesiredZone{.serial = entry.look->serial, .content = entry.look->content});
            });
        });
        desired_size_ = desired->size();
        metrics_.desired.set(static_cast<double>(desired->size()));
        return desired;
    }

    void verifyLoop(const std::stop_token& st) {
        while (!st.stop_requested() && !mirror_.synced()) std::this_thread::sleep_for(20ms);
        std::shared_ptr<const DesiredState> desired;
        uint64_t built_generation = 0;
        std::chrono::steady_clock::time_point last_trim{};
        while (!st.stop_requested()) {
            std::this_thread::sleep_for(200ms);
            // A round without a new desired state and without a node to examine compares the
            // same digests again: only the others are timed (the cost of a full comparison).
            const auto round_start = std::chrono::steady_clock::now();
            const uint64_t g = generation_.load();
            const bool rebuild = !desired || g != built_generation;
            if (rebuild) {
                desired.reset();  // never two copies of every wanted zone at once
                desired = buildDesired();
                built_generation = g;
            }
            const auto desired_digest = desired->digest().totalHex();
            const auto to_examine = verifier_.nodesToExamine(desired_digest);
            for (const auto& node : to_examine) {
                if (st.stop_requested()) return;
                examine(node, *desired, desired_digest);
            }
            if (rebuild || !to_examine.empty()) {
                metrics_.verify_round_seconds.set(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - round_start)
                        .count());
                metrics_.verify_rounds.inc();
            }
            // After a rebuild the previous desired state and the mirror's copy are garbage;
            // handing it back at most every 10 s bounds the cost while zones change all the
            // time (and keeps it out of the round's time above).
            if (rebuild && round_start - last_trim >= 10s) {
                common::releaseFreedMemory();
                last_trim = round_start;
            }
            size_t in_sync = 0;
            for (const auto& n : verifier_.nodes()) {
                if (n.active && n.heartbeat.scanned && n.heartbeat.digest == desired_digest)
                    ++in_sync;
            }
            metrics_.nodes_in_sync.set(static_cast<double>(in_sync));
            if (leadership_->leading()) {
                resyncDue(st);
                publishFreshness(st);
            }
            publishNodeMetrics();
        }
    }

    // A request to a node, answered on pdns.node.<node>.reply.<token>, the one subject besides its
    // own heartbeats and reports that the node's NATS user may publish to: no `allow_responses`
    // for syncers (nats-server 2.9 records every message delivered to such a client with a
    // reply subject, JetStream deliveries included, for 2 minutes, and scans the whole record on
    // each delivery once it holds 4,096: a joining node's stream read made nats-server the
    // busiest process on the machine for minutes), and a node can only answer for itself.
    common::Result<common::BusMessage> requestNode(const std::string& node, std::string_view kind,
                                                   std::string_view data) {
        const auto token = fmt::format("{}{:x}", reply_token_prefix_, ++reply_counter_);
        return bus_->requestVia(common::nodeSubject(node, kind),
                                common::nodeReplySubject(node, token), data, 5s);
    }

    // One state request to a node; nullopt (logged) when it does not answer with a JSON object.
    std::optional<json> askState(const std::string& node, const common::StateRequest& request) {
        auto reply = requestNode(node, "state", common::serializeStateRequest(request));
        if (!reply) {
            if (limiter_.allow())
                spdlog::warn("cannot read the state of node '{}' ({})", node,
                             reply.error().message);
            return std::nullopt;
        }
        metrics_.state_bytes.inc(reply->data.size());
        auto j = json::parse(reply->data, nullptr, false);
        if (!j.is_object()) {
            spdlog::warn("node '{}' sent a malformed state reply", node);
            return std::nullopt;
        }
        return j;
    }

    static std::optional<std::vector<common::ZoneDigest::Hash>> hashesIn(const json& j,
                                                                         const char* key,
                                                                         size_t count) {
        const auto it = j.find(key);
        if (it == j.end() || !it->is_string()) return std::nullopt;
        return common::ZoneDigest::parseHashes(it->get<std::string>(), count);
    }

    // Which buckets of a node differ from the desired digest, in two levels: the 64 group
    // digests (2 KiB), then the 64 buckets of each differing group (2 KiB each). All 4,096
    // buckets at once (128 KiB) only when most groups differ, or when the node's syncer predates
    // group requests (it answers them with an error). nullopt: the node did not answer usably.
    std::optional<std::pair<std::string, std::vector<size_t>>> differingBuckets(
        const std::string& node, const common::ZoneDigest& want) {
        using common::ZoneDigest;
        auto groups_reply = askState(node, {.groups = true});
        if (!groups_reply) return std::nullopt;
        const auto groups = hashesIn(*groups_reply, "groups", ZoneDigest::kGroups);
        if (groups) {
            ZoneDigest::Hash total{};
            std::vector<size_t> differing_groups;
            for (size_t g = 0; g < ZoneDigest::kGroups; ++g) {
                const auto& h = (*groups)[g];
                for (size_t i = 0; i < total.size(); ++i) total[i] ^= h[i];
                if (want.group(g) != h) differing_groups.push_back(g);
            }
            if (differing_groups.size() <= ZoneDigest::kGroups / 2) {
                std::vector<size_t> differing;
                for (const size_t g : differing_groups) {
                    const auto first = static_cast<uint32_t>(g * ZoneDigest::kGroupSize);
                    auto r =
                        askState(node, {.buckets = true,
                                        .first = first,
                                        .count = static_cast<uint32_t>(ZoneDigest::kGroupSize)});
                    if (!r) return std::nullopt;
                    const auto buckets = hashesIn(*r, "buckets", ZoneDigest::kGroupSize);
                    if (!buckets) {
                        spdlog::warn("node '{}' sent a malformed bucket range", node);
                        return std::nullopt;
                    }
                    for (size_t i = 0; i < buckets->size(); ++i) {
                        if (want.bucket(first + i) != (*buckets)[i]) differing.push_back(first + i);
                    }
                }
                return std::pair{ZoneDigest::hex(total), std::move(differing)};
            }
        }
        auto all = askState(node, {.buckets = true});
        if (!all) return std::nullopt;
        std::optional<ZoneDigest> buckets;
        if (const auto it = all->find("buckets"); it != all->end() && it->is_string()) {
            buckets = ZoneDigest::fromBucketsHex(it->get<std::string>());
        }
        if (!buckets) {
            spdlog::warn("node '{}' sent a malformed state reply", node);
            return std::nullopt;
        }
        return std::pair{buckets->totalHex(), want.differingBuckets(*buckets)};
    }

    void examine(const std::string& node, const DesiredState& desired,
                 const std::string& desired_digest) {
        auto found = differingBuckets(node, desired.digest());
        if (!found) return;
        const auto& differing = found->second;
        verifier_.examined(node, found->first, desired_digest, differing);
        const auto limit = static_cast<size_t>(settings_.max_buckets_per_check);
        for (size_t i = 0; i < differing.size() && i < limit; ++i) {
            const auto k = static_cast<uint32_t>(differing[i]);
            auto r = requestNode(node, "state",
                                 common::serializeStateRequest({.buckets = false, .bucket = k}));
            if (!r) return;
            metrics_.state_bytes.inc(r->data.size());
            auto bucket = common::parseBucketReply(r->data);
            if (!bucket || bucket->bucket != k) {
                spdlog::warn("node '{}' sent a malformed bucket reply", node);
                return;
            }
            for (const auto& d : verifier_.compareBucket(node, *bucket, desired)) {
                spdlog::info(
                    "node '{}': zone '{}' differs from the primary (serves {}, wanted {}{}{})",
                    node, d.zone, d.served_serial ? std::to_string(*d.served_serial) : "nothing",
                    d.wanted_serial ? std::to_string(*d.wanted_serial) : "nothing",
                    d.error.empty() ? "" : "; ", d.error);
            }
        }
    }

    void resyncDue(const std::stop_token& st) {
        for (auto& [node, zones] : verifier_.dueResyncs()) {
            std::vector<std::string> confirmed;
            for (const auto& zone : zones) {
                if (st.stop_requested()) return;
                // A second look at the primary: the desired state may have been the stale side.
                auto d = verifier_.divergence(node, zone);
                auto fp = probe_dns_->apex(zone);
                if (d && fp && d->served_serial && fp->contentHex() == d->served_content) {
                    verifier_.resolve(node, zone);
                    mirror_.setLook(zone, PrimaryLook::from(*fp, mirror_.sequenceOf(zone)));
                    ++generation_;
                    continue;
                }
                confirmed.push_back(zone);
            }
            if (confirmed.empty()) continue;
            if (auto r = requestResync(node, confirmed); !r) {
                spdlog::warn("cannot ask node '{}' to resync {} zone(s) ({})", node,
                             confirmed.size(), r.error().message);
            } else {
                spdlog::info("node '{}' asked to resync {} zone(s), e.g. '{}'", node,
                             confirmed.size(), confirmed.front());
            }
        }
    }

    common::Status requestResync(const std::string& node, const std::vector<std::string>& zones) {
        auto reply = requestNode(node, "resync",
                                 common::serializeResyncRequest({.zones = zones, .all = false}));
        metrics_.resyncs.inc(zones.size());
        if (!reply) return std::move(reply).error();
        auto r = common::parseResyncReply(reply->data);
        if (!r) return std::move(r).error();
        if (!r->error.empty()) return common::makeError("node '{}': {}", node, r->error);
        return {};
    }

    void publishNodeMetrics() {
        for (const auto& n : verifier_.nodes()) {
            const common::Labels labels{{"node", n.heartbeat.node}};
            metrics_.registry
                .gauge("pdns_distribute_health_checker_node_active",
                       "1 while the node sends heartbeats", labels)
                .set(n.active ? 1 : 0);
            metrics_.registry
                .gauge("pdns_distribute_health_checker_node_out_of_sync_zones",
                       "zones the node serves differently from the primary", labels)
                .set(static_cast<double>(n.out_of_sync));
            metrics_.registry
                .gauge("pdns_distribute_health_checker_node_lag_seconds",
                       "how long the node's oldest difference from the primary has lasted", labels)
                .set(std::chrono::duration<double>(n.max_lag).count());
            metrics_.registry
                .gauge("pdns_distribute_health_checker_node_parked_zones",
                       "zones in the node's parking table", labels)
                .set(static_cast<double>(n.heartbeat.parked));
        }
    }

    void heartbeatLoop(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto m = heartbeat_sub_->next(500ms);
            if (!m) continue;
            auto h = common::parseHeartbeat(m->data);
            if (!h || m->subject != common::nodeSubject(h->node, "heartbeat")) {
                if (limiter_.allow())
                    spdlog::warn("ignoring a malformed heartbeat on '{}'", m->subject);
                continue;
            }
            verifier_.heartbeat(*h);
        }
    }

    void appliedLoop(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto m = applied_sub_->next(500ms);
            if (!m) continue;
            auto a = common::parseAppliedReport(m->data);
            if (!a) continue;
            if (a->op == "applied" || a->op == "deleted") {
                if (a->event_ms && *a->event_ms >= 0)
                    metrics_.propagation.observe(static_cast<double>(*a->event_ms) / 1000.0);
            }
        }
    }

    // --- reconcile -----------------------------------------------------------------------------

    void reconcileLoop(const std::stop_token& st) {
        while (!st.stop_requested() && !mirror_.synced()) std::this_thread::sleep_for(20ms);
        while (!st.stop_requested()) {
            const auto started = std::chrono::steady_clock::now();
            try {
                pass(st);
            } catch (const std::exception& e) {
                spdlog::error("reconcile pass failed ({})", e.what());
            }
            common::releaseFreedMemory();  // the listing and the pass's per-zone copies
            std::unique_lock lock(wake_mutex_);
            wake_.wait_until(lock, started + settings_.reconcile_interval,
                             [&] { return st.stop_requested(); });
        }
    }

    bool canaryOk() {
        if (settings_.canary_zone.empty()) return false;
        auto info = api_->serverInfo();
        if (!info || info->daemon_type != "authoritative") return false;
        return api_->getZone(settings_.canary_zone).hasValue() &&
               dns_->apex(settings_.canary_zone).hasValue();
    }

    void pass(const std::stop_token& st) {
        // Events after this one are newer than the listing read below: this pass leaves their
        // zones alone (planned against the listing, a publish could put older data over them).
        // The next pass sees them. Nothing of the mirror is copied for the pass.
        const uint64_t horizon = mirror_.lastSequence();
        const bool canary = canaryOk();
        std::vector<PrimaryZone> primary;
        const auto listed = api_->forEachZone(/*dnssec=*/true, [&](common::PdnsZoneInfo&& z) {
            primary.push_back(PrimaryZone{.name = std::move(z.name),
                                          .serial = z.edited_serial.value_or(z.serial),
                                          .apex = {},
                                          .content = {},
                                          .expiry = {},
                                          .dnssec = z.dnssec});
        });
        common::releaseFreedMemory();  // the listing's HTTP body
        if (!listed) {
            metrics_.failed_passes.inc();
            *last_error_.lock() = "cannot list the primary's zones: " + listed.error().message;
            spdlog::warn("{}", *last_error_.lock());
            return;
        }
        last_error_.lock()->clear();
        primary.shrink_to_fit();
        for (auto& p : primary) {
            if (st.stop_requested()) return;
            std::optional<common::ApexFingerprint> fp;
            if (p.dnssec) {
                // Signed zones: key changes and re-signing keep the serial, so read the apex
                // fingerprint the primary serves. The serial comes with it, consistently.
                if (auto a = dns_->apex(p.name)) fp = std::move(*a);
            } else {
                fp = unsignedFingerprint(p.serial);
            }
            if (!fp) continue;
            p.serial = fp->serial;
            p.apex = fp->hash();
            p.content = fp->contentHash();
            p.expiry = fp->earliestExpiry();
            // The look covers the zone's event as of the horizon (a later one stays unknown
            // until the probe looks again).
            const uint64_t sequence = mirror_.sequenceOf(p.name);
            if (sequence != 0 && sequence <= horizon) {
                mirror_.setLook(p.name, PrimaryLook::from(*fp, sequence), /*only_if_newer=*/true);
            }
        }
        ++generation_;
        if (settings_.nsec3_policy && leadership_->leading()) {
            applyNsec3Policy(primary, horizon, st);
        }
        ReconcilePlan plan;
        mirror_.withEntries([&](const MirrorTable& mirror) {
            plan = reconciler_.plan(primary, canary, mirror, horizon);
        });
        primary = {};
        for (const auto& zone : plan.newly_held) {
            spdlog::error("zone '{}' vanished from the primary; deletion held ({})", zone,
                          reconciler_.holdReason());
        }
        metrics_.held.set(static_cast<double>(reconciler_.held().size()));
        for (const auto& r : plan.resigned) freshness_.noteResigned(r.zone, r.apex, r.old_expiry);
        metrics_.freshness_pending.set(static_cast<double>(freshness_.pending()));
        if (!leadership_->leading()) return;  // a standby looks but never writes
        const auto gap = std::chrono::microseconds{1'000'000 / settings_.publish_rate};
        for (const auto& p : plan.publishes) {
            if (st.stop_requested() || !leadership_->leading()) return;
            if (p.maybe_weekly && weeklySoaEditJump(p.event.zone)) {
                freshness_.noteWeeklySerialJump(p.event.zone, p.event.apex.value_or(""));
                continue;
            }
            publish(p);
            std::this_thread::sleep_for(gap);
        }
        purgeTombstones();
        metrics_.passes.inc();
    }

    // NSEC3 policy (DESIGN §7): a signed zone that uses NSEC gets the configured NSEC3
    // parameters through the primary's API (never narrow), then an upsert with cause `policy`
    // so every secondary transfers the re-chained zone (serial and apex stay the same). Each zone
    // is looked at once per content change.
    void applyNsec3Policy(const std::vector<PrimaryZone>& primary, uint64_t horizon,
                          const std::stop_token& st) {
        for (const auto& z : primary) {
            if (st.stop_requested()) return;
            if (!z.dnssec || !z.content) continue;
            auto& checked = nsec3_checked_[z.name];
            if (checked == z.content) continue;
            const uint64_t sequence = mirror_.sequenceOf(z.name);
            if (sequence > horizon) continue;  // changed since the listing: the next pass
            auto full = api_->getZone(z.name);
            if (!full) {
                spdlog::warn("NSEC3 policy: cannot read zone '{}' ({})", z.name,
                             full.error().message);
                continue;
            }
            if (!full->dnssec || !full->nsec3param.empty()) {
                checked = z.content;
                continue;
            }
            if (auto s = api_->setNsec3Param(z.name, settings_.nsec3_param); !s) {
                spdlog::warn("NSEC3 policy: cannot set '{}' on zone '{}' ({})",
                             settings_.nsec3_param, z.name, s.error().message);
                continue;
            }
            spdlog::info("NSEC3 policy: zone '{}' now uses NSEC3 '{}'", z.name,
                         settings_.nsec3_param);
            // pdns bumps the serial (SOA-EDIT-API) but leaves its packet cache alone here.
            (void)api_->flushCache(z.name);
            auto fp = dns_->apex(z.name);
            checked = fp ? fp->contentHash() : *z.content;
            const common::ZoneEvent event{
                .zone = z.name,
                .op = common::ZoneOp::Upsert,
                .serial = fp ? fp->serial : z.serial,
                .apex = fp ? std::optional<std::string>(fp->hex()) : std::nullopt,
                .cause = common::EventCause::Policy,
                .at = common::rfc3339Millis(clock_.system()),
                .content = fp ? std::optional<std::string>(fp->contentHex()) : std::nullopt,
                .expiry = fp ? fp->earliestExpiry() : std::nullopt};
            if (fp && sequence != 0) mirror_.setLook(z.name, PrimaryLook::from(*fp, sequence));
            publish(PlannedPublish{.event = event, .expected_sequence = sequence});
        }
    }

    // A serial jump of a signed zone whose signature windows moved too, inside the first hours
    // after the weekly boundary, on a zone with SOA-EDIT INCEPTION-*: pdns changed the serial
    // of every such zone at once, so these are spread like re-signing.
    bool weeklySoaEditJump(const std::string& zone) {
        if (!freshness_.inWeeklyWindow()) return false;
        auto z = api_->getZone(zone);
        return z && z->soa_edit.starts_with("INCEPTION");
    }

    void publishFreshness(const std::stop_token& st) {
        const auto gap = std::chrono::microseconds{1'000'000 / settings_.publish_rate};
        for (const auto& due : freshness_.takeDue(static_cast<size_t>(settings_.publish_rate))) {
            if (st.stop_requested() || !leadership_->leading()) return;
            const auto look = mirror_.look(due.zone);
            if (!look) continue;  // gone from the primary: the reconcile decides
            const common::ZoneEvent event{.zone = due.zone,
                                          .op = common::ZoneOp::Upsert,
                                          .serial = look->serial,
                                          .apex = look->apex.hex(),
                                          .cause = common::EventCause::Freshness,
                                          .at = common::rfc3339Millis(clock_.system()),
                                          .content = look->content.hex(),
                                          .expiry = look->expiry};
            publish(PlannedPublish{.event = event,
                                   .expected_sequence = mirror_.sequenceOf(due.zone),
                                   .maybe_weekly = false});
            metrics_.freshness_published.inc();
            std::this_thread::sleep_for(gap);
        }
        metrics_.freshness_pending.set(static_cast<double>(freshness_.pending()));
    }

    // Tombstones (DESIGN §7): a delete event older than tombstone_age that every durable
    // consumer covering its subject has acked is purged — only that message, never a newer one.
    void purgeTombstones() {
        const auto now = clock_.system();
        std::vector<Tombstone> candidates;
        mirror_.forEach([&](std::string_view zone, const MirrorEntry& entry) {
            if (entry.op != common::ZoneOp::Delete) return;
            const auto& at = entry.at;
            if (!at || now - *at < settings_.tombstone_age) return;
            candidates.push_back(
                Tombstone{.zone = std::string(zone),
                          .subject = common::zoneEventSubject(settings_.group, zone),
                          .sequence = entry.sequence,
                          .at = *at});
        });
        if (candidates.empty()) return;
        auto floors = bus_->consumerFloors("PDNS_ZONES");
        if (!floors) {
            spdlog::warn("cannot read the consumers of PDNS_ZONES to purge tombstones ({})",
                         floors.error().message);
            return;
        }
        for (const auto& t : tombstonesToPurge(candidates, *floors, now, settings_.tombstone_age)) {
            if (!leadership_->leading()) return;
            if (auto s = bus_->purgeSubjectBefore("PDNS_ZONES", t.subject, t.sequence + 1); !s) {
                spdlog::warn("cannot purge the tombstone of '{}' ({})", t.zone, s.error().message);
                continue;
            }
            mirror_.erase(t.zone, t.sequence);
            ++generation_;
            metrics_.tombstones_purged.inc();
            spdlog::info("zone '{}': tombstone (seq {}) purged from the stream", t.zone,
                         t.sequence);
        }
    }

    void publish(const PlannedPublish& p) {
        const auto subject = common::zoneEventSubject(settings_.group, p.event.zone);
        auto ack =
            bus_->publish(subject, common::serializeZoneEvent(p.event),
                          common::PublishOptions{.msg_id = msg_ids_.next(),
                                                 .expected_last_subject_seq = p.expected_sequence,
                                                 .timeout = 2000ms});
        if (!ack) {
            if (ack.error().code == "conflict") {
                metrics_.conflicts.inc();  // someone newer published for this zone: theirs stands
                return;
            }
            spdlog::warn("cannot publish reconcile event for '{}' ({})", p.event.zone,
                         ack.error().message);
            return;
        }
        if (p.event.cause != common::EventCause::Freshness) freshness_.forget(p.event.zone);
        if (p.event.op == common::ZoneOp::Upsert) {
            metrics_.published_upsert.inc();
            spdlog::info("zone '{}' reconciled: serial {} published", p.event.zone,
                         p.event.serial.value_or(0));
        } else {
            metrics_.published_delete.inc();
            spdlog::info("zone '{}' gone from the primary: delete published", p.event.zone);
        }
    }

    const Settings& settings_;
    common::SystemClock clock_;
    std::string instance_;
    ZoneMirror mirror_;
    Reconciler reconciler_;
    Verifier verifier_;
    FreshnessPlanner freshness_;
    common::MsgIdGenerator msg_ids_;
    CheckerMetrics metrics_;
    common::LogLimiter limiter_{10s};
    std::unique_ptr<common::HttpPdnsApi> api_;
    std::unique_ptr<common::LdnsDnsClient> dns_;
    std::unique_ptr<common::LdnsDnsClient> probe_dns_;
    std::unique_ptr<common::NatsBus> bus_;
    const std::string reply_token_prefix_ = common::randomNonce().substr(0, 12) + ".";
    std::atomic<uint64_t> reply_counter_{0};  ///< see requestNode()
    std::unique_ptr<common::KeyValue> leader_kv_;
    std::unique_ptr<Leadership> leadership_;
    std::unique_ptr<common::StreamReader> reader_;
    std::unique_ptr<common::SyncSubscription> heartbeat_sub_;
    std::unique_ptr<common::SyncSubscription> applied_sub_;
    std::map<std::string, std::optional<common::Hash128>> nsec3_checked_;  // reconcile thread
    common::Guarded<std::map<std::string, uint64_t>> probe_queue_;
    std::mutex probe_mutex_;  // only for probe_cv_
    std::condition_variable probe_cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<size_t> desired_size_{0};
    common::Guarded<std::string> last_error_;
    std::mutex wake_mutex_;  // only for wake_
    std::condition_variable wake_;
    std::atomic<bool> stopped_{false};
    std::jthread leader_thread_;
    std::jthread mirror_thread_;
    std::jthread probe_thread_;
    std::jthread heartbeat_thread_;
    std::jthread applied_thread_;
    std::jthread verify_thread_;
    std::jthread reconcile_thread_;
};

}  // namespace

std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                    common::DaemonContext& context) {
    return std::make_unique<CheckerService>(settings, context);
}

}  // namespace pdns_distribute::health_checker
