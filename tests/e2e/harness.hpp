// SPDX-License-Identifier: Apache-2.0
#pragma once
// End-to-end harness: RAII child processes, temp dirs, ephemeral ports, waiters, and wrappers
// that run a real nats-server (JetStream) and pdns_server (sqlite3 backend) on loopback.
//
// Every ChildProcess is SIGTERMed then SIGKILLed by its destructor, so a failed ASSERT leaks
// nothing; when the current test has failed, the destructor prints the process's log tail.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pdns_distribute::e2e {

using namespace std::chrono_literals;

using EnvVars = std::vector<std::pair<std::string, std::string>>;

/// A directory made with mkdtemp under $TMPDIR (or /tmp), removed with its contents in the
/// destructor unless the environment variable PDD_KEEP_TMP is set.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "pdd-e2e");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    /// path()/name
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
    /// Writes `content` to path()/name with the given mode; returns the full path.
    std::string writeFile(const std::string& name, const std::string& content,
                          int mode = 0644) const;

private:
    std::string path_;
};

/// A child process whose stdout and stderr go to a log file (appended, so restarts keep the
/// history). Not movable: the process registry keeps its address. The child runs in its own
/// process group with an empty signal mask, and gets SIGKILL when the thread that started it
/// exits (PR_SET_PDEATHSIG), so start processes from the test's main thread.
class ChildProcess {
public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// Starts argv[0] (searched in PATH when it has no '/') with the current environment plus
    /// `env`. `name` labels the log dump (defaults to argv[0]). Throws std::runtime_error if the
    /// process is already running or cannot be started.
    void start(std::vector<std::string> argv, const EnvVars& env, std::string log_path,
               std::string name = {});

    [[nodiscard]] pid_t pid() const { return pid_; }
    /// True while the process has not exited (reaps it when it has).
    [[nodiscard]] bool running();
    /// SIGTERM, wait up to `deadline`, then SIGKILL. Returns the exit status: the exit code when
    /// the process exited, 128 + signal when a signal ended it, -1 if it was never started.
    int stop(std::chrono::milliseconds deadline = 10s);
    /// Sends `sig`; for SIGKILL also waits for the process to be gone. Fault-injection helper.
    void kill(int sig = SIGKILL);
    /// Waits up to `deadline` for the process to exit on its own; its status, or nullopt.
    std::optional<int> waitExit(std::chrono::milliseconds deadline);
    /// Exit status of the last run once it has ended (see stop()).
    [[nodiscard]] std::optional<int> exitStatus() const { return exit_status_; }

    [[nodiscard]] std::string logTail(size_t lines = 40) const;
    [[nodiscard]] const std::string& logPath() const { return log_path_; }
    [[nodiscard]] const std::string& name() const { return name_; }
    /// Prints the log tail to stderr once (used when a test failed).
    void dumpLog(size_t lines = 40);

private:
    bool reap(bool block);

    pid_t pid_ = -1;
    std::optional<int> exit_status_;
    std::string log_path_;
    std::string name_;
    bool dumped_ = false;
    bool registered_ = false;
};

/// Prints the log tail of every live ChildProcess if the current gtest test has failed.
/// ChildProcess destructors do the same for themselves; call this at a point where processes
/// are still alive to see their logs first.
void dumpLogsIfFailed(size_t lines = 40);

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
[[nodiscard]] int freeTcpPort();
/// A port free for both TCP and UDP on 127.0.0.1 (for DNS servers).
[[nodiscard]] int freeDnsPort();

/// Polls `condition` every `poll` until it is true (returns true) or `deadline` passes.
bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
               std::chrono::milliseconds poll = 10ms);

struct CommandResult {
    int exit_code = -1;  ///< exit code, 128 + signal, or -1 when it timed out (and was killed)
    std::string out;     ///< stdout
    std::string err;     ///< stderr
};

/// Runs a command to completion (argv[0] searched in PATH), capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = 30s);

/// Path of one of our daemons in the build tree, e.g. daemonBinary("pdns-api-proxy").
[[nodiscard]] std::string daemonBinary(const std::string& name);

/// Random lowercase hex string of `bytes` random bytes.
[[nodiscard]] std::string randomHex(size_t bytes = 16);

/// A throwaway certificate authority made with the openssl CLI in `dir`: EC P-256 keys, valid
/// for two days, for TLS tests (e.g. nats-server with client certificates). Files are named
/// `<name>.crt` / `<name>.key`; keys are mode 0600.
class TestCa {
public:
    struct Issued {
        std::string cert_file;
        std::string key_file;
    };
    /// Creates the CA's key and self-signed certificate as `<name>.crt`/`<name>.key` in `dir`
    /// (which must exist). Throws std::runtime_error with openssl's output on failure.
    explicit TestCa(std::string dir, const std::string& name = "ca");

    [[nodiscard]] const std::string& caFile() const { return ca_.cert_file; }
    /// A server certificate (CN = name) for localhost, 127.0.0.1 and ::1.
    Issued issueServer(const std::string& name);
    /// A client certificate (CN = name, extended key usage clientAuth).
    Issued issueClient(const std::string& name);

private:
    Issued issue(const std::string& name, const std::string& extensions);

    std::string dir_;
    Issued ca_;
};

/// bcrypt hash ("$2b$<cost>$...", libxcrypt) of `password`, as nats-server accepts for user
/// passwords in its configuration.
[[nodiscard]] std::string bcryptHash(const std::string& password, int cost = 8);

/// nats-server with JetStream on a temp store, on 127.0.0.1, with a monitoring port.
class NatsServer {
public:
    explicit NatsServer(std::string name = "nats-server");
    ~NatsServer();
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    /// Config file text (e.g. an authorization block) passed with -c; set before start(), or
    /// while running followed by process().kill(SIGHUP) to reload it. When the text sets
    /// `store_dir` (use storeDir()), -sd is not passed: nats-server refuses both.
    void setConfig(const std::string& text);
    /// The JetStream store directory (what -sd gets).
    [[nodiscard]] std::string storeDir() const { return dir_.file("store"); }
    /// Lines of the server's log reporting a permissions violation (a client publishing or
    /// subscribing outside its user's allow-lists: "Publish Violation - User \"u\", Subject
    /// \"s\"", "Subscription Violation - ..."), in order, each start of the server marked by
    /// its "=== start: ..." line.
    [[nodiscard]] std::vector<std::string> permissionViolations() const;
    /// Listen on [::] (IPv4 and IPv6 loopback) instead of 127.0.0.1; set before start().
    void setDualStack(bool on) { dual_stack_ = on; }
    /// nats://[::1]:<port> (needs setDualStack(true)).
    [[nodiscard]] std::string urlV6() const;
    /// Starts and waits until it accepts connections and JetStream is ready. The first start
    /// picks ports (retrying on a clash); later starts reuse the same ports and store.
    void start(std::chrono::milliseconds ready_deadline = 15s);
    int stop(std::chrono::milliseconds deadline = 10s);
    void kill();
    [[nodiscard]] bool ready() const;

    [[nodiscard]] std::string url() const;
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] int monitorPort() const { return monitor_port_; }
    [[nodiscard]] const TempDir& dir() const { return dir_; }
    ChildProcess& process() { return process_; }

private:
    bool launch(std::chrono::milliseconds ready_deadline);

    std::string name_;
    TempDir dir_;
    ChildProcess process_;
    std::string config_path_;
    bool config_has_store_dir_ = false;
    bool dual_stack_ = false;
    int port_ = 0;
    int monitor_port_ = 0;
};

/// A cluster of nats-server processes (default 3) with clustered JetStream, all on 127.0.0.1:
/// each node has its own server_name, store dir, client, monitor and route ports, and a route
/// to every other node. Needs at least 3 nodes for replicas = 3 streams.
class NatsCluster {
public:
    explicit NatsCluster(size_t nodes = 3);
    ~NatsCluster();
    NatsCluster(const NatsCluster&) = delete;
    NatsCluster& operator=(const NatsCluster&) = delete;

    /// Starts every node and waits until each is ready() and the meta leader lists every other
    /// node as a current peer. The first start picks ports, retrying the whole cluster on a
    /// clash; a later start (after stop()) reuses the ports and stores.
    void start(std::chrono::milliseconds ready_deadline = 30s);
    /// SIGTERMs every running node; the exit status of each node's last run, in node order
    /// (see ChildProcess::stop(); 137 for a node killed with kill()).
    std::vector<int> stop(std::chrono::milliseconds deadline = 10s);
    /// SIGKILLs node i and reaps it.
    void kill(size_t i);
    /// Starts node i again with the same ports and store, and waits until it is ready (see
    /// start()). Throws std::runtime_error when it does not get there in time.
    void restart(size_t i, std::chrono::milliseconds ready_deadline = 30s);
    /// Node i accepts connections, its JetStream server is healthy (/healthz?js-server-only)
    /// and it knows the meta leader (/jsz meta_cluster.leader). Says nothing about whether its
    /// stream and consumer replicas have caught up.
    [[nodiscard]] bool ready(size_t i) const;
    [[nodiscard]] bool running(size_t i);

    /// "nats://127.0.0.1:<port>" of every node, in node order.
    [[nodiscard]] std::vector<std::string> urls() const;
    [[nodiscard]] std::string url(size_t i) const;
    [[nodiscard]] size_t size() const { return nodes_.size(); }
    /// server_name of node i, as JetStream reports it (e.g. a stream's cluster.leader).
    [[nodiscard]] const std::string& serverName(size_t i) const;
    /// Index of the node whose server_name is `name`, or nullopt.
    [[nodiscard]] std::optional<size_t> indexOf(const std::string& name) const;
    [[nodiscard]] int port(size_t i) const { return node(i).port; }
    [[nodiscard]] int monitorPort(size_t i) const { return node(i).monitor_port; }
    /// Body of GET http://127.0.0.1:<monitor port of node i><path> when it answers 200.
    [[nodiscard]] std::optional<std::string> monitorGet(size_t i, const std::string& path) const;
    ChildProcess& process(size_t i) { return *node(i).process; }

private:
    struct Node {
        std::string name;
        int port = 0;
        int monitor_port = 0;
        int cluster_port = 0;
        std::unique_ptr<ChildProcess> process;
    };
    [[nodiscard]] const Node& node(size_t i) const;
    [[nodiscard]] Node& node(size_t i);
    void pickPorts();
    void launch(size_t i);
    /// Waits until every node in `which` is ready (and, with `whole_group`, the meta leader
    /// sees every other node as a current peer); false when one exits or the deadline passes.
    bool waitReady(const std::vector<size_t>& which, std::chrono::milliseconds deadline,
                   bool whole_group);
    /// The JetStream meta leader lists all other nodes as current, online peers: without it, a
    /// replicas = N stream created right away can wait for an election past the API timeout.
    [[nodiscard]] bool metaGroupCurrent() const;
    [[nodiscard]] std::string logTails() const;

    TempDir dir_;
    std::vector<Node> nodes_;
};

enum class PdnsRole { Primary, Secondary };

struct PdnsOptions {
    PdnsRole role = PdnsRole::Primary;
    bool listen_ipv6 = false;  ///< also listen on ::1
    bool ipv6_only = false;    ///< DNS and API on ::1 only (a host reachable only over IPv6)
    std::vector<std::string> extra_settings;  ///< pdns.conf lines appended verbatim
    std::string name;                         ///< log label; defaults to the role
};

/// pdns_server 4.7 with the gsqlite3 backend (DNSSEC enabled), the API and webserver on
/// loopback, everything in a temp dir.
class PdnsServer {
public:
    explicit PdnsServer(PdnsOptions options = {});
    ~PdnsServer();
    PdnsServer(const PdnsServer&) = delete;
    PdnsServer& operator=(const PdnsServer&) = delete;

    /// Appends a pdns.conf line; takes effect at the next start().
    void addSetting(const std::string& line);
    /// Starts and waits until GET /api/v1/servers/localhost answers 200. The first start picks
    /// ports (retrying on a clash); later starts reuse them and the database.
    void start(std::chrono::milliseconds ready_deadline = 20s);
    int stop(std::chrono::milliseconds deadline = 10s);
    void kill();
    [[nodiscard]] bool ready() const;

    [[nodiscard]] int dnsPort() const { return dns_port_; }
    /// "::1" for an IPv6-only server, else "127.0.0.1".
    [[nodiscard]] std::string dnsHost() const;
    [[nodiscard]] int webPort() const { return web_port_; }
    [[nodiscard]] std::string apiUrl() const;
    [[nodiscard]] const std::string& apiKey() const { return api_key_; }
    /// The API key in a 0600 file in the temp dir (for our daemons' config).
    [[nodiscard]] std::string apiKeyFile() const;
    [[nodiscard]] const std::string& configDir() const { return dir_.path(); }
    [[nodiscard]] std::string databasePath() const { return dir_.file("pdns.sqlite3"); }
    /// Runs `pdnsutil --config-dir=<dir> args...`.
    CommandResult pdnsutil(const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout = 30s) const;
    /// Runs `dig @127.0.0.1 -p <port> args... +time=2 +tries=1`.
    CommandResult dig(const std::vector<std::string>& args) const;
    ChildProcess& process() { return process_; }

private:
    void writeConfig() const;
    bool launch(std::chrono::milliseconds ready_deadline);

    PdnsOptions options_;
    TempDir dir_;
    ChildProcess process_;
    std::string api_key_;
    int dns_port_ = 0;
    int web_port_ = 0;
    bool database_created_ = false;
};

}  // namespace pdns_distribute::e2e
