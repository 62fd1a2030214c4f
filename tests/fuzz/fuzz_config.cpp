// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the configuration reader (config.hpp). The input is parsed as TOML, then read the
// way the daemons read it: once through a representative set of keys with every getter (each read
// on its own, so that one bad key does not hide the others), once through the secondary syncer's
// real readSettings, each followed by finish(). ConfigError is the expected way to refuse input
// and is caught; any other exception escapes and libFuzzer reports it as a crash.

#include <chrono>
#include <string>

#include <pdns_distribute/common/config.hpp>

#include "config.hpp"  // secondary-syncer
#include "fuzz_check.hpp"

namespace {

namespace common = pdns_distribute::common;
using pdns_distribute::fuzz::check;
using namespace std::chrono_literals;

template <typename F>
void tolerate(F&& read) {
    try {
        read();
    } catch (const common::ConfigError&) {
        // expected: the input was refused with a message
    }
}

void readRepresentative(common::ConfigReader& reader) {
    auto root = reader.root();
    tolerate([&] { (void)common::readNatsSettings(root.section("nats", "NATS connection")); });
    tolerate([&] {
        (void)common::readPdnsApiSettings(root.section("pdns", "PowerDNS API"),
                                          "http://127.0.0.1:8081");
    });
    tolerate([&] {
        auto sec = root.section("syncer", "syncer");
        tolerate([&] { (void)sec.getString("node_id", "", "node id"); });
        tolerate([&] { (void)sec.getString("group", "default", "group"); });
        tolerate([&] { (void)sec.getStringList("allow", {"127.0.0.1", "::1"}, "allow-list"); });
        tolerate([&] { (void)sec.getInt("workers", 8, "workers", 1, 256); });
        tolerate(
            [&] { (void)sec.getInt("max_zone_bytes", 1 << 20, "limit", 1024, int64_t{1} << 34); });
        tolerate(
            [&] { (void)sec.getInt("delete_budget_min", 100, "budget", INT64_MIN, INT64_MAX); });
        tolerate([&] { (void)sec.getBool("enabled", true, "switch"); });
        tolerate([&] { (void)sec.getDuration("request_timeout", 10s, "deadline"); });
        tolerate([&] { (void)sec.getDuration("ack_wait", 60s, "ack wait", 5s, 1h); });
        tolerate([&] {
            (void)sec.getDuration("heartbeat", 5s, "heartbeat", 0ms,
                                  std::chrono::milliseconds::max());
        });
        tolerate([&] {
            auto nested = sec.section("limits", "nested");
            (void)nested.getInt("depth", 1, "depth", 0, 10);
            (void)nested.getBool("strict", false, "strict");
        });
    });
    tolerate([&] {
        for (auto& key : root.sectionArray("trusted_key", "trusted keys")) {
            tolerate([&] { (void)key.getString("file", "", "file"); });
            tolerate([&] { (void)key.getString("not_after", "", "expiry"); });
        }
    });
    tolerate([&] { (void)root.getBool("debug", false, "top-level flag"); });
    tolerate([&] { (void)root.getString("log_level", "info", "level"); });
    tolerate([&] { root.fail("probe", "is only a probe"); });
    tolerate([&] { reader.finish(); });
    check(!reader.docs().empty(), "no key documented after reading");
}

void readAsSyncer(std::string_view text) {
    tolerate([&] {
        auto reader = common::ConfigReader::fromString(text, "syncer.toml");
        (void)pdns_distribute::secondary_syncer::readSettings(reader.root());
        reader.finish();
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = pdns_distribute::fuzz::textOf(data, size);
    tolerate([&] {
        auto reader = common::ConfigReader::fromString(text, "fuzz.toml");
        readRepresentative(reader);
    });
    readAsSyncer(text);

    // Durations: what parses formats back to the same value.
    if (auto d = common::parseDuration(text)) {
        auto again = common::parseDuration(common::formatDuration(*d));
        check(again && *again == *d, "duration changes through formatDuration");
    }
    return 0;
}
