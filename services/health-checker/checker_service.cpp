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
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "reconciler.hpp"

namespace pdns_distribute::health_checker {

namespace {

using namespace std::chrono_literals;

class CheckerService final : public common::Service {
public:
    CheckerService(const Settings& settings, common::DaemonContext& context)
        : settings_(settings),
          reconciler_(ReconcilerSettings{.hold_percent = settings.hold_percent,
                                         .hold_zones = settings.hold_zones},
                      clock_),
          msg_ids_("checker-" + common::randomNonce().substr(0, 12)),
          nats_connected_(context.metrics.gauge("pdns_distribute_health_checker_nats_connected",
                                                "1 while the NATS connection is up")),
          passes_(context.metrics.counter("pdns_distribute_health_checker_reconcile_passes_total",
                                          "reconcile passes completed")),
          failed_passes_(
              context.metrics.counter("pdns_distribute_health_checker_reconcile_failures_total",
                                      "reconcile passes that could not list the primary")),
          published_upsert_(context.metrics.counter(
              "pdns_distribute_health_checker_reconcile_published_total",
              "zone events published by reconcile, by op", {{"op", "upsert"}})),
          published_delete_(context.metrics.counter(
              "pdns_distribute_health_checker_reconcile_published_total",
              "zone events published by reconcile, by op", {{"op", "delete"}})),
          conflicts_(context.metrics.counter(
              "pdns_distribute_health_checker_reconcile_conflicts_total",
              "conditional publishes dropped because someone newer published first")),
          held_gauge_(context.metrics.gauge("pdns_distribute_health_checker_held_deletions",
                                            "deletions waiting for operator approval")),
          mirror_gauge_(context.metrics.gauge("pdns_distribute_health_checker_mirror_zones",
                                              "zones in the mirror of PDNS_ZONES")) {
        api_ = std::make_unique<common::HttpPdnsApi>(settings.pdns);
        auto hp = common::parseHostPort(settings.primary_dns);
        if (!hp) throw std::runtime_error("bad checker.primary_dns");
        dns_ = std::make_unique<common::LdnsDnsClient>(
            common::DnsEndpoint{.address = hp->host, .port = hp->port}, 2000ms);
        auto nats = settings.nats;
        if (nats.name.empty()) nats.name = "pdns-health-checker";
        bus_ = common::NatsBus::connect(nats);
        common::StreamSettings stream;
        stream.replicas = settings.stream_replicas;
        if (auto s = bus_->ensureStream(stream); !s) {
            throw std::runtime_error("cannot create stream 'PDNS_ZONES' (" + s.error().message +
                                     ")");
        }
        auto reader = bus_->readStream("PDNS_ZONES", "pdns.zones." + settings.group + ".>");
        if (!reader) throw std::runtime_error(reader.error().message);
        reader_ = std::move(*reader);
        context.http.Post(
            "/deletions/approve", [this](const httplib::Request&, httplib::Response& res) {
                const auto n = reconciler_.approve();
                spdlog::warn("operator approved {} held deletion(s)", n);
                wake_.notify_all();
                res.set_content(nlohmann::json{{"approved", n}}.dump(), "application/json");
            });
        context.http.Get("/deletions", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(
                nlohmann::json{{"held", reconciler_.held()}, {"reason", reconciler_.holdReason()}}
                    .dump(),
                "application/json");
        });
        spdlog::info("health-checker connected; stream 'PDNS_ZONES' ready");
    }
    ~CheckerService() override { stop(); }

    void start() override {
        mirror_thread_ = std::jthread([this](const std::stop_token& st) { followStream(st); });
        reconcile_thread_ = std::jthread([this](const std::stop_token& st) { reconcileLoop(st); });
    }

    void stop() override {
        if (stopped_.exchange(true)) return;
        reconcile_thread_.request_stop();
        wake_.notify_all();
        reconcile_thread_ = {};
        mirror_thread_ = {};
        if (bus_) bus_->close();
    }

    common::HealthReport health() override {
        common::HealthReport r;
        const bool up = bus_ && bus_->connected();
        nats_connected_.set(up ? 1 : 0);
        r.details["nats_connected"] = up;
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
        if (!up || !held.empty()) r.level = common::HealthLevel::Critical;
        return r;
    }

private:
    void followStream(const std::stop_token& st) {
        const auto prefix = "pdns.zones." + settings_.group + ".";
        while (!st.stop_requested()) {
            auto m = reader_->next(500ms);
            if (!m) {
                // Nothing more pending right now: the backlog (if any) has been read.
                if (!mirror_.synced()) mirror_.markSynced();
                continue;
            }
            auto event = common::parseZoneEvent(m->message.data);
            if (event) {
                mirror_.apply(*event, m->sequence);
            } else {
                spdlog::warn("ignoring malformed zone event seq={} ({})", m->sequence,
                             event.error().message);
            }
            if (m->pending == 0 && !mirror_.synced()) mirror_.markSynced();
            mirror_gauge_.set(static_cast<double>(mirror_.size()));
        }
    }

    void reconcileLoop(const std::stop_token& st) {
        while (!st.stop_requested() && !mirror_.synced()) std::this_thread::sleep_for(20ms);
        while (!st.stop_requested()) {
            const auto started = std::chrono::steady_clock::now();
            try {
                pass(st);
            } catch (const std::exception& e) {
                spdlog::error("reconcile pass failed ({})", e.what());
            }
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
        const bool canary = canaryOk();
        auto listing = api_->listZones(std::nullopt, /*dnssec=*/true);
        if (!listing) {
            failed_passes_.inc();
            *last_error_.lock() = "cannot list the primary's zones: " + listing.error().message;
            spdlog::warn("{}", *last_error_.lock());
            return;
        }
        last_error_.lock()->clear();
        std::vector<PrimaryZone> primary;
        primary.reserve(listing->size());
        for (const auto& z : *listing) {
            PrimaryZone p{.name = z.name, .serial = z.edited_serial.value_or(z.serial), .apex = {}};
            if (z.dnssec) {
                // Signed zones: key changes and re-signing keep the serial, so read the apex
                // fingerprint the primary serves. The serial comes with it, consistently.
                if (auto a = dns_->apex(z.name)) {
                    p.serial = a->serial;
                    p.apex = a->hex();
                }
            } else {
                common::ApexFingerprint f;
                f.serial = p.serial;
                p.apex = f.hex();
            }
            primary.push_back(std::move(p));
        }
        auto plan = reconciler_.plan(primary, canary, mirror_.snapshot());
        for (const auto& zone : plan.newly_held) {
            spdlog::error("zone '{}' vanished from the primary; deletion held ({})", zone,
                          reconciler_.holdReason());
        }
        held_gauge_.set(static_cast<double>(reconciler_.held().size()));
        const auto gap = std::chrono::microseconds{1'000'000 / settings_.publish_rate};
        for (const auto& p : plan.publishes) {
            if (st.stop_requested()) return;
            publish(p);
            std::this_thread::sleep_for(gap);
        }
        passes_.inc();
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
                conflicts_.inc();  // someone newer published for this zone: theirs stands
                return;
            }
            spdlog::warn("cannot publish reconcile event for '{}' ({})", p.event.zone,
                         ack.error().message);
            return;
        }
        if (p.event.op == common::ZoneOp::Upsert) {
            published_upsert_.inc();
            spdlog::info("zone '{}' reconciled: serial {} published", p.event.zone,
                         p.event.serial.value_or(0));
        } else {
            published_delete_.inc();
            spdlog::info("zone '{}' gone from the primary: delete published", p.event.zone);
        }
    }

    const Settings& settings_;
    common::SystemClock clock_;
    ZoneMirror mirror_;
    Reconciler reconciler_;
    common::MsgIdGenerator msg_ids_;
    common::Gauge& nats_connected_;
    common::Counter& passes_;
    common::Counter& failed_passes_;
    common::Counter& published_upsert_;
    common::Counter& published_delete_;
    common::Counter& conflicts_;
    common::Gauge& held_gauge_;
    common::Gauge& mirror_gauge_;
    std::unique_ptr<common::HttpPdnsApi> api_;
    std::unique_ptr<common::LdnsDnsClient> dns_;
    std::unique_ptr<common::NatsBus> bus_;
    std::unique_ptr<common::StreamReader> reader_;
    common::Guarded<std::string> last_error_;
    std::mutex wake_mutex_;  // only for wake_
    std::condition_variable wake_;
    std::atomic<bool> stopped_{false};
    std::jthread mirror_thread_;
    std::jthread reconcile_thread_;
};

}  // namespace

std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                    common::DaemonContext& context) {
    return std::make_unique<CheckerService>(settings, context);
}

}  // namespace pdns_distribute::health_checker
