// SPDX-License-Identifier: Apache-2.0
#pragma once
// The baseline: N pdns_server secondaries replicating natively (NOTIFY/AXFR) from the same primary
// as the Fleet, tuned as well as pdns 4.7 allows, plus a thread that sends the explicit
// `PUT …/notify` after every API change.
//
// pdns 4.7 facts this relies on (checked against Debian 12's 4.7.3):
// - Deletions reach a native secondary only through a catalog zone: the primary has a zone of kind
//   "Producer" and each member zone names it in its `catalog` field; each secondary has the same
//   zone as kind "Consumer", which creates and deletes member zones as Slave on every transfer.
// - A Producer zone's serial is rewritten to the current UNIX time when its members change; a
//   zone created with the usual date serial (2026112601 > 1.8e9) looks newer to the consumer than
//   every later version, so the producer is created with serial 1 and soa_edit_api "".
// - Autoprimary (autosecondary=yes) answers a NOTIFY for an unknown zone by querying the notifier's
//   address on port 53 and creating the zone with that address (port 53) as master. On loopback
//   with ephemeral ports that needs the primary to listen on <ip>:53 and send NOTIFY from <ip>
//   (root only). A zone created that way is never a catalog member on the secondary ("Catalog-Zone
//   zone 'x' already exists, create skipped"), so its deletion never arrives: autoprimary is off
//   unless asked for (--native-autoprimary).

#include <condition_variable>
#include <deque>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <pdns_distribute/common/guarded.hpp>

#include "fleet.hpp"
#include "harness.hpp"

namespace pdns_distribute::bench {

inline constexpr const char* kCatalogZone = "catalog.bench.";

struct NativeOptions {
    int secondaries = 3;
    /// Also register the primary as autoprimary (needs root: the primary gets a listener on
    /// <autoprimary_ip>:53 and sends its NOTIFYs from that address).
    bool autoprimary = false;
};

/// A call to a pdns_server's own API over plain HTTP on loopback (X-API-Key set).
[[nodiscard]] e2e::HttpResult pdnsApi(const e2e::PdnsServer& server, const std::string& method,
                                      const std::string& path, const std::string& body = {});

/// The native secondaries. Start them before the primary (its also-notify names their ports).
class NativeSecondaries final {
public:
    explicit NativeSecondaries(NativeOptions options);

    /// Starts every secondary (empty); picks the autoprimary address when asked for.
    void start();
    /// pdns.conf lines the primary needs (also-notify, xfr-cycle-interval, autoprimary listener).
    [[nodiscard]] std::vector<std::string> primarySettings() const;
    /// Creates the producer catalog zone on the primary (through its own API port) and a
    /// consumer zone on every secondary; waits until each secondary serves the catalog.
    void attach(const e2e::PdnsServer& primary);
    /// pdns.conf lines of each native secondary (for the report).
    [[nodiscard]] static std::vector<std::string> secondarySettings(bool autoprimary);

    std::vector<std::unique_ptr<e2e::PdnsServer>> servers;
    const NativeOptions options;

private:
    std::string autoprimary_ip_;
};

/// Sends `PUT /api/v1/servers/localhost/zones/<zone>/notify` to the primary's own API from its
/// own thread, in order, so the poller is never delayed by a notify. push() is thread-safe.
class Notifier final {
public:
    Notifier(std::string api_url, std::string api_key);
    ~Notifier();
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    void push(const std::string& zone);
    /// Waits until every pushed notify was answered.
    void drain();
    /// Notifies answered with something other than 200 (e.g. the zone is gone): counted, since
    /// pdns answers 422 for a deleted zone and the catalog notify is the one that matters then.
    [[nodiscard]] size_t failures() const;
    [[nodiscard]] size_t sent() const;

private:
    void run(const std::stop_token& stop);

    struct State {
        std::deque<std::string> queue;
        size_t busy = 0;
        size_t failures = 0;
        size_t sent = 0;
    };

    std::string api_url_;
    std::string api_key_;
    mutable common::Guarded<State> state_;
    std::condition_variable_any cv_;
    std::jthread thread_;  // last: stopped and joined before the members it uses go
};

}  // namespace pdns_distribute::bench
