// SPDX-License-Identifier: Apache-2.0
// pdd-demo: starts a whole deployment on loopback (nats-server with JetStream, a primary and two
// secondary pdns_server with sqlite3, all four daemons), then creates, changes and deletes a zone
// through the api-proxy and prints how long each secondary took to serve each step, measured over
// DNS (SOA polled every 2 ms). Finally 20 changes give a median. Usage: pdd-demo [--keep]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fleet.hpp"

namespace {

using namespace pdns_distribute::e2e;
using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Time from `t0` until secondary i serves `serial` (or, with nullopt, stops serving the zone).
std::vector<double> timeEach(Fleet& f, const std::string& zone, std::optional<uint32_t> serial,
                             Clock::time_point t0) {
    std::vector<double> took(f.secondaries.size(), -1);
    const auto deadline = t0 + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
        bool all = true;
        for (size_t i = 0; i < f.secondaries.size(); ++i) {
            if (took[i] >= 0) continue;
            if (f.serial(*f.secondaries[i], zone) == serial) {
                took[i] = ms(Clock::now() - t0);
            } else {
                all = false;
            }
        }
        if (all) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return took;
}

void show(const std::string& what, const std::vector<double>& took) {
    std::string line = fmt::format("  {:<34}", what);
    for (size_t i = 0; i < took.size(); ++i) {
        line += took[i] < 0 ? fmt::format("  secondary{}: TIMEOUT", i + 1)
                            : fmt::format("  secondary{}: {:7.1f} ms", i + 1, took[i]);
    }
    std::puts(line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const bool keep = argc > 1 && std::strcmp(argv[1], "--keep") == 0;
    try {
        Fleet f;
        std::puts("starting nats-server, 1 primary + 2 secondary pdns_server, and the daemons ...");
        f.start();
        std::printf("  api-proxy (HTTPS): https://127.0.0.1:%d  (X-API-Key: see %s)\n",
                    f.proxy_port, f.primary.apiKeyFile().c_str());
        std::printf("  primary DNS 127.0.0.1:%d; secondaries", f.primary.dnsPort());
        for (auto& s : f.secondaries) std::printf(" 127.0.0.1:%d", s->dnsPort());
        std::printf("\n  logs and state: %s\n\n", f.dir.path().c_str());

        const std::string zone = "demo.example.";
        std::puts("time from the API's 2xx answer until each secondary serves it (over DNS):");
        auto t0 = Clock::now();
        auto r = f.createZone(
            zone, nlohmann::json::array(
                      {{{"name", "www." + zone},
                        {"type", "A"},
                        {"ttl", 300},
                        {"changetype", "REPLACE"},
                        {"records", {{{"content", "192.0.2.1"}, {"disabled", false}}}}}}));
        t0 = Clock::now();
        if (r.status != 201) throw std::runtime_error("create failed: " + r.body + r.error);
        show("create " + zone, timeEach(f, zone, f.serial(f.primary, zone), t0));

        r = f.setA(zone, "www." + zone, {"192.0.2.2"});
        t0 = Clock::now();
        if (r.status != 204) throw std::runtime_error("change failed: " + r.body + r.error);
        show("change www A -> 192.0.2.2", timeEach(f, zone, f.serial(f.primary, zone), t0));

        r = f.deleteZone(zone);
        t0 = Clock::now();
        if (r.status != 204) throw std::runtime_error("delete failed: " + r.body + r.error);
        show("delete " + zone, timeEach(f, zone, std::nullopt, t0));

        const std::string bench = "median.example.";
        if (f.createZone(bench).status != 201 || !f.waitLikePrimary(bench)) {
            throw std::runtime_error("cannot set up the median run");
        }
        std::vector<double> both;
        for (int i = 0; i < 20; ++i) {
            const auto before = f.serial(f.primary, bench);
            r = f.setA(bench, "www." + bench, {fmt::format("198.51.100.{}", i + 1)});
            t0 = Clock::now();
            auto want = f.serial(f.primary, bench);
            if (r.status != 204 || want == before)
                throw std::runtime_error("change did not bump the serial");
            auto took = timeEach(f, bench, want, t0);
            both.push_back(*std::max_element(took.begin(), took.end()));
        }
        std::sort(both.begin(), both.end());
        std::printf(
            "\n20 changes, time until both secondaries serve the new serial: median %.1f ms, "
            "max %.1f ms\n",
            (both[9] + both[10]) / 2, both.back());
        if (keep) {
            std::puts("\n--keep: everything keeps running; press Ctrl-C to stop.");
            for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
        }
        return f.stopDaemons() ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "demo failed: %s\n", e.what());
        return 1;
    }
}
