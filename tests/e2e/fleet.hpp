// SPDX-License-Identifier: Apache-2.0
#pragma once
// A whole pdns-distribute deployment on loopback for scenario tests: nats-server, a primary
// pdns_server with the zone-provider, api-proxy and health-checker, and N secondary pdns_server
// each with its syncer. Everything runs on ephemeral ports in temp dirs.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pdns_distribute/common/bus.hpp>

#include "harness.hpp"

namespace pdns_distribute::e2e {

struct HttpResult {
    int status = 0;  ///< 0 when the request failed at the transport level
    std::string body;
    std::string error;
};

struct FleetOptions {
    int secondaries = 2;
    std::string canary_zone = "canary.pdd.test.";
    std::chrono::milliseconds reconcile_interval{30000};
    std::chrono::milliseconds event_check_wait{20000};
    std::chrono::milliseconds heartbeat{1000};      ///< syncers' heartbeat interval
    std::chrono::milliseconds scan_interval{1000};  ///< syncers' look at their local pdns
    std::chrono::milliseconds leader_ttl{3000};
    /// An external NATS (e.g. a NatsCluster); empty: the fleet starts its own nats-server.
    std::vector<std::string> nats_urls;
    int stream_replicas = 1;
    /// The NSEC3 policy changes signed test zones behind the tests' backs: off unless asked for.
    bool nsec3_policy = false;
    /// Secondaries (by index) on a host reachable only over IPv6: their pdns listens on ::1
    /// only, and their syncer reaches pdns and NATS over ::1.
    std::set<size_t> ipv6_secondaries;
    std::string log_level = "info";  ///< every daemon's [log] level
    /// NATS as shipped (the default): nats-server runs the example configuration
    /// packaging/nats/nats-server.conf, rendered with this fleet's paths, ports and node ids:
    /// TLS required with client certificates from a throwaway CA, and one user per role with
    /// the permissions the file grants (secondaries' entries made by pdd-nats-secondary.sh).
    /// Every daemon connects over tls:// with its role's user, password file and client
    /// certificate. Off: plain NATS without users (or with nats_password). Ignored with
    /// nats_urls: an external NatsCluster runs plain.
    bool secure_nats = true;
    /// With secure_nats, ~Fleet fails the test when nats-server logged a permissions violation
    /// (the shipped permissions are missing something a daemon needs). Tests that provoke
    /// violations on purpose turn it off.
    bool fail_on_permission_violation = true;
    /// Plain NATS: when set, nats-server requires user "pdd" with this password: the primary's
    /// daemons read it from a file (nats.password_file), the syncers carry it in their NATS URL.
    /// Secure NATS: every role's password starts with it (followed by '-' and random hex), and
    /// the syncers carry theirs in their NATS URL.
    std::string nats_password;
    std::chrono::milliseconds tombstone_age{std::chrono::hours{24 * 7}};
    /// health-checker publish_rate (reconcile publishes per second); 0: the checker's default.
    int publish_rate = 0;
    /// syncers' scan_rate (local DNS queries per second while scanning); 0: the syncer's default.
    int scan_rate = 0;
};

class Fleet {
public:
    /// NATS identities of the shipped configuration. Primary: every primary-side right at once
    /// (the file's `admin` user), for tests that act as a rogue or compromised primary.
    enum class Role { ApiProxy, ZoneProvider, HealthChecker, Secondary, Admin, Primary };

    explicit Fleet(FleetOptions options = {});
    ~Fleet();
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    /// Starts every server and daemon and waits until each is ready; creates the canary zone.
    void start();
    /// Stops the daemons with SIGTERM and returns false if any did not exit 0.
    bool stopDaemons();

    // --- the PowerDNS API -------------------------------------------------------------
    /// Through the api-proxy over HTTPS (certificate checked against the generated one).
    HttpResult api(const std::string& method, const std::string& path,
                   const std::string& body = {});
    /// Straight to the primary's own API port (bypassing the proxy).
    HttpResult primaryApi(const std::string& method, const std::string& path,
                          const std::string& body = {});
    /// POST /zones through the proxy: a Native zone with an NS and the given extra rrsets.
    HttpResult createZone(const std::string& zone,
                          const nlohmann::json& rrsets = nlohmann::json::array(),
                          bool dnssec = false);
    /// PATCH one A rrset (replace) through the proxy.
    HttpResult setA(const std::string& zone, const std::string& name,
                    const std::vector<std::string>& ips);
    HttpResult deleteZone(const std::string& zone);
    /// The same PATCH as setA, straight to the primary's own API port (a change that bypasses
    /// the proxy, as pdnsutil or another API client would make).
    HttpResult setAOnPrimary(const std::string& zone, const std::string& name,
                             const std::vector<std::string>& ips);

    // --- what DNS says ----------------------------------------------------------------
    [[nodiscard]] std::optional<uint32_t> serial(const PdnsServer& server, const std::string& zone);
    /// Waits until every secondary answers the zone's SOA with `serial`; returns false on timeout.
    bool waitSerial(const std::string& zone, uint32_t serial,
                    std::chrono::milliseconds timeout = 20s);
    /// Waits until every secondary serves the same serial as the primary does now.
    bool waitLikePrimary(const std::string& zone, std::chrono::milliseconds timeout = 20s);
    /// Waits until no secondary serves the zone.
    bool waitGone(const std::string& zone, std::chrono::milliseconds timeout = 20s);
    /// The zone's AXFR as a set of normalised RR strings (RRSIG signature bytes left out: ECDSA
    /// signatures differ on every signing; key tag, inception and expiry are kept).
    [[nodiscard]] std::optional<std::multiset<std::string>> axfr(const PdnsServer& server,
                                                                 const std::string& zone);

    // --- processes ---------------------------------------------------------------------
    void startSyncer(size_t i);
    int stopSyncer(size_t i);
    void startProvider(const std::string& server_id = "localhost");
    int stopProvider();
    /// Config file for a syncer with the given node id against secondary i; its state lives in
    /// `<state_name>-state` (defaults to the node id).
    std::string syncerConfig(size_t i, const std::string& node_id, int http_port, int listen_port,
                             const std::string& state_name = {});
    /// A second health-checker (a standby while the first leads).
    void startSecondChecker();
    /// The health-checker's loopback status port (`which` 1: the second checker).
    HttpResult checkerHttp(const std::string& method, const std::string& path, int which = 0,
                           const std::string& body = {});
    /// GET /status of a health-checker, parsed (null on failure).
    nlohmann::json checkerStatus(int which = 0);
    [[nodiscard]] int checkerHttpPort() const { return checker_http_port_; }
    /// GET on a daemon's loopback /health or /metrics.
    HttpResult syncerHttp(size_t i, const std::string& path);

    // --- NATS ----------------------------------------------------------------------------
    /// True when nats-server runs the shipped configuration with TLS and per-role users.
    [[nodiscard]] bool secureNats() const;
    /// Settings to connect to the fleet's NATS as `role` (for Role::Secondary: as secondary
    /// `i`'s node). Secure mode: tls://127.0.0.1 with the role's user, password file, client
    /// certificate, the CA, the server name to check ("localhost") and the role's inbox
    /// prefix (after start(): throws before). Plain mode: the URLs (and user "pdd" when
    /// nats_password is set).
    [[nodiscard]] common::NatsSettings natsSettingsFor(Role role, size_t i = 0) const;
    /// Node id of secondary i ("sec1", "sec2", ...).
    [[nodiscard]] static std::string nodeId(size_t i);
    /// NATS user name of a role in the shipped configuration ("syncer-<node>" for secondaries).
    [[nodiscard]] static std::string natsUser(Role role, const std::string& node_id = {});
    /// nats-server's log lines reporting a permissions violation, but for replies dropped
    /// after a restart of the server (a request taken before it, answered after it).
    [[nodiscard]] std::vector<std::string> natsPermissionViolations() const;
    /// The rendered nats-server configuration (secure mode; empty otherwise).
    [[nodiscard]] const std::string& natsConfigText() const { return nats_config_text_; }
    /// The CA of the NATS TLS setup (secure mode; null otherwise): issue more certificates.
    [[nodiscard]] TestCa* natsCa() const { return nats_ca_.get(); }

    NatsServer nats;
    PdnsServer primary;
    std::vector<std::unique_ptr<PdnsServer>> secondaries;
    ChildProcess provider;
    ChildProcess proxy;
    ChildProcess checker;
    ChildProcess checker2;
    std::vector<std::unique_ptr<ChildProcess>> syncers;
    TempDir dir;
    FleetOptions options;
    int proxy_port = 0;
    std::vector<int> syncer_http_ports;
    std::vector<int> syncer_listen_ports;
    std::string secret_key_file;
    std::string public_key_file;

private:
    void writeConfigs();
    /// Secure mode: the CA, certificates and passwords, and nats-server's rendered config.
    void setUpSecureNats();
    [[nodiscard]] std::string natsSection(Role role) const;
    [[nodiscard]] std::string checkerConfig(int http_port) const;
    [[nodiscard]] std::string logSection() const;
    [[nodiscard]] std::string syncerNatsSection(const std::string& node_id, bool ipv6) const;
    [[nodiscard]] std::string natsPasswordFile(const std::string& user) const;
    void startDaemon(ChildProcess& p, const std::string& binary, const std::string& config,
                     const std::string& name);
    int provider_http_port_ = 0;
    int checker_http_port_ = 0;
    int checker2_http_port_ = 0;
    std::unique_ptr<TestCa> nats_ca_;
    std::string nats_config_text_;
    std::map<std::string, std::string> nats_passwords_;  ///< user → password (secure mode)
};

/// Waits until GET http://127.0.0.1:<port>/health answers at all.
bool waitHttpHealth(int port, std::chrono::milliseconds timeout);

}  // namespace pdns_distribute::e2e
