// SPDX-License-Identifier: Apache-2.0
#include "checker_service.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

namespace pdns_distribute::health_checker {

namespace {

class CheckerService final : public common::Service {
public:
    CheckerService(const Settings& settings, common::DaemonContext& context)
        : nats_connected_(context.metrics.gauge("pdns_distribute_health_checker_nats_connected",
                                                "1 while the NATS connection is up")) {
        auto nats = settings.nats;
        if (nats.name.empty()) nats.name = "pdns-health-checker";
        bus_ = common::NatsBus::connect(nats);
        common::StreamSettings stream;
        stream.replicas = settings.stream_replicas;
        if (auto s = bus_->ensureStream(stream); !s) {
            throw std::runtime_error("cannot create stream 'PDNS_ZONES' (" + s.error().message +
                                     ")");
        }
        spdlog::info("health-checker connected; stream 'PDNS_ZONES' ready");
    }
    ~CheckerService() override { stop(); }

    void start() override {}
    void stop() override {
        if (bus_) bus_->close();
    }
    common::HealthReport health() override {
        common::HealthReport r;
        const bool up = bus_ && bus_->connected();
        nats_connected_.set(up ? 1 : 0);
        r.details["nats_connected"] = up;
        if (!up) r.level = common::HealthLevel::Critical;
        return r;
    }

private:
    common::Gauge& nats_connected_;
    std::unique_ptr<common::NatsBus> bus_;
};

}  // namespace

std::unique_ptr<common::Service> makeCheckerService(const Settings& settings,
                                                    common::DaemonContext& context) {
    return std::make_unique<CheckerService>(settings, context);
}

}  // namespace pdns_distribute::health_checker
