// SPDX-License-Identifier: Apache-2.0
#include "provider_service.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/dns_client.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/signing.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "provider.hpp"

namespace pdns_distribute::zone_provider {

namespace {

using namespace std::chrono_literals;

class ProviderService final : public common::Service {
public:
    ProviderService(const Settings& settings, common::DaemonContext& context)
        : settings_(settings),
          metrics_(context.metrics),
          dropped_(context.metrics.counter("pdns_distribute_zone_provider_dropped_requests_total",
                                           "requests dropped because the queue was full")) {
        auto key = common::loadSecretKey(settings.provider.signing_key_file);
        if (!key) {
            throw std::runtime_error(key.error().message + "; check provider.signing_key_file");
        }
        key_ = std::move(*key);
        auto hp = common::parseHostPort(settings.provider.primary_dns);
        if (!hp) throw std::runtime_error(hp.error().message);
        dns_ = std::make_unique<common::LdnsDnsClient>(
            common::DnsEndpoint{.address = hp->host, .port = hp->port},
            settings.provider.axfr_timeout);
        api_ = std::make_unique<common::HttpPdnsApi>(settings.pdns);
        instance_id_ = common::randomNonce().substr(0, 12);
        provider_ = std::make_unique<ZoneDataProvider>(settings.provider, *dns_, *dns_, *api_, key_,
                                                       clock_, instance_id_, metrics_);
        auto nats = settings.nats;
        if (nats.name.empty()) nats.name = "pdns-zone-provider";
        bus_ = common::NatsBus::connect(nats);
        const auto request_subject = "pdns.zonedata." + settings.provider.group + ".>";
        request_sub_ = subscribeOrThrow(request_subject, "zone-provider");
        chunk_sub_ = subscribeOrThrow(provider_->xferPrefix() + ">", {});
        events_sub_ = subscribeOrThrow("pdns.zones." + settings.provider.group + ".>", {});
        spdlog::info("zone-provider instance={} key_id={} answering '{}'", instance_id_,
                     key_.publicKey().keyId(), request_subject);
    }

    ~ProviderService() override { stop(); }

    void start() override {
        // One subscription feeds a shared pool, so a request never queues behind a slow AXFR
        // while another worker is idle.
        threads_.emplace_back([this](const std::stop_token& st) { readRequests(st); });
        for (int i = 0; i < settings_.provider.workers; ++i) {
            threads_.emplace_back([this](const std::stop_token& st) { serveRequests(st); });
        }
        threads_.emplace_back([this](const std::stop_token& st) { serveChunks(st); });
        threads_.emplace_back([this](const std::stop_token& st) { followEvents(st); });
    }

    void stop() override {
        for (auto& t : threads_) t.request_stop();
        queue_cv_.notify_all();
        threads_.clear();  // joins
        if (bus_) bus_->close();
    }

    common::HealthReport health() override {
        common::HealthReport r;
        r.details["nats_connected"] = bus_ && bus_->connected();
        r.details["instance"] = instance_id_;
        r.details["transfers_held"] = provider_->transfers().size();
        if (!bus_ || !bus_->connected()) r.level = common::HealthLevel::Critical;
        return r;
    }

private:
    std::unique_ptr<common::SyncSubscription> subscribeOrThrow(const std::string& subject,
                                                               const std::string& queue) {
        auto sub = bus_->subscribe(subject, queue);
        if (!sub) {
            throw std::runtime_error("cannot subscribe to '" + subject + "' (" +
                                     sub.error().message + ")");
        }
        return std::move(*sub);
    }

    void readRequests(const std::stop_token& st) {
        while (!st.stop_requested()) {
            auto msg = request_sub_->next(500ms);
            if (!msg || msg->reply.empty()) continue;
            {
                std::lock_guard lock(queue_mutex_);
                if (queue_.size() >= kMaxQueued) {
                    // The oldest request's syncer has most likely given up waiting already.
                    queue_.pop_front();
                    dropped_.inc();
                }
                queue_.push_back(std::move(*msg));
            }
            queue_cv_.notify_one();
        }
    }

    void serveRequests(const std::stop_token& st) {
        while (!st.stop_requested()) {
            common::BusMessage msg;
            {
                std::unique_lock lock(queue_mutex_);
                queue_cv_.wait_for(lock, 500ms,
                                   [&] { return !queue_.empty() || st.stop_requested(); });
                if (queue_.empty()) continue;
                msg = std::move(queue_.front());
                queue_.pop_front();
            }
            try {
                auto reply = provider_->handleRequest(msg.data);
                if (!reply) continue;
                spdlog::debug("zone-data request on '{}' answered ({} bytes)", msg.subject,
                              reply->data.size());
                if (auto s = bus_->respond(msg, reply->data, reply->headers); !s) {
                    spdlog::warn("cannot answer zone-data request on '{}' ({})", msg.subject,
                                 s.error().message);
                }
            } catch (const std::exception& e) {
                spdlog::error("zone-data request on '{}' failed ({})", msg.subject, e.what());
            }
        }
    }

    void serveChunks(const std::stop_token& st) {
        const auto prefix = provider_->xferPrefix();
        while (!st.stop_requested()) {
            auto msg = chunk_sub_->next(500ms);
            if (!msg || msg->reply.empty()) continue;
            if (!msg->subject.starts_with(prefix)) continue;
            auto chunk = provider_->handleChunk(
                std::string_view(msg->subject).substr(prefix.size()), msg->data);
            // An empty reply tells the syncer the transfer is gone (it then asks again).
            if (auto s = bus_->respond(*msg, chunk ? *chunk : std::string{}); !s) {
                spdlog::warn("cannot answer chunk request ({})", s.error().message);
            }
        }
    }

    void followEvents(const std::stop_token& st) {
        const auto prefix = "pdns.zones." + settings_.provider.group + ".";
        while (!st.stop_requested()) {
            provider_->transfers().expire();
            auto msg = events_sub_->next(1s);
            if (!msg || !msg->subject.starts_with(prefix)) continue;
            auto zone = common::decodeZoneKey(std::string_view(msg->subject).substr(prefix.size()));
            if (zone) provider_->invalidate(*zone);
        }
    }

    const Settings& settings_;
    ProviderMetrics metrics_;
    common::Counter& dropped_;
    common::SystemClock clock_;
    common::SecretKey key_;
    std::unique_ptr<common::LdnsDnsClient> dns_;
    std::unique_ptr<common::HttpPdnsApi> api_;
    std::string instance_id_;
    std::unique_ptr<ZoneDataProvider> provider_;
    std::unique_ptr<common::NatsBus> bus_;
    static constexpr size_t kMaxQueued = 10000;
    std::unique_ptr<common::SyncSubscription> request_sub_;
    std::mutex queue_mutex_;  // guards queue_
    std::condition_variable queue_cv_;
    std::deque<common::BusMessage> queue_;
    std::unique_ptr<common::SyncSubscription> chunk_sub_;
    std::unique_ptr<common::SyncSubscription> events_sub_;
    std::vector<std::jthread> threads_;
};

}  // namespace

std::unique_ptr<common::Service> makeProviderService(const Settings& settings,
                                                     common::DaemonContext& context) {
    return std::make_unique<ProviderService>(settings, context);
}

}  // namespace pdns_distribute::zone_provider
