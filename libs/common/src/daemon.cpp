// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/daemon.hpp>

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <CLI/CLI.hpp>

#include <pdns_distribute/common/log.hpp>

namespace pdns_distribute::common {

namespace {

using namespace std::chrono_literals;

/// What the runner itself reads from the configuration: [log], [http], [health].
struct RunnerSettings {
    LogSettings log;
    HostPort http;
    int64_t load_warn = 0;  ///< 0: cores × 2
};

bool isLoopbackHost(std::string_view host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

RunnerSettings readRunnerSettings(ConfigSection root, const DaemonDefinition& definition) {
    RunnerSettings s;
    auto log = root.section("log");
    s.log.level = log.getString("level", s.log.level,
                                "log level: trace, debug, info, warn, error or critical");
    static constexpr std::string_view kLevels[] = {"trace", "debug", "info",
                                                   "warn",  "error", "critical"};
    if (std::find(std::begin(kLevels), std::end(kLevels), s.log.level) == std::end(kLevels)) {
        log.fail("level", fmt::format("must be trace, debug, info, warn, error or critical (got "
                                      "'{}')",
                                      s.log.level));
    }
    s.log.format = log.getString("format", s.log.format,
                                 "log line format on stderr: text or json (one object per line)");
    if (s.log.format != "text" && s.log.format != "json") {
        log.fail("format", fmt::format("must be text or json (got '{}')", s.log.format));
    }

    auto http = root.section("http");
    const std::string listen = http.getString("listen", definition.defaultHttpListen(),
                                              "address:port of the /health and /metrics endpoint");
    const bool allow_public = http.getBool(
        "allow_public", false, "allow http.listen on a non-loopback address (no authentication)");
    auto parsed = parseHostPort(listen);
    if (!parsed) http.fail("listen", fmt::format("is invalid ({})", parsed.error().message));
    if (!allow_public && !isLoopbackHost(parsed->host)) {
        http.fail("listen", fmt::format("must be a loopback address (got '{}'); set "
                                        "http.allow_public = true to expose it",
                                        listen));
    }
    s.http = *parsed;

    auto health = root.section("health");
    s.load_warn = health.getInt("load_warn", 0,
                                "/health says warn above this 1-minute load average (0: cores x 2)",
                                0, 1000000);
    return s;
}

/// Collects the docs by loading an empty configuration: every getter records its key.
void printConfigDocs(DaemonDefinition& definition) {
    auto reader = ConfigReader::forDocs(definition.defaultConfigPath());
    auto root = reader.root();
    (void)readRunnerSettings(root, definition);
    definition.loadConfig(root);
    fmt::print("Configuration keys (TOML, default file {}):\n", definition.defaultConfigPath());
    for (const auto& doc : reader.docs()) {
        fmt::print("  {} = {}\n      {}\n", doc.path, doc.default_value, doc.help);
    }
}

/// Serves an httplib::Server bound beforehand from a jthread; stop() (also from the destructor)
/// shuts it down and joins.
class HttpListener {
public:
    explicit HttpListener(httplib::Server& server) : server_(server) {}
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;
    ~HttpListener() {
        // A bound but never served socket is only closed by a listen/stop cycle.
        if (!thread_.joinable() && bound_) start();
        stop();
    }

    void markBound() { bound_ = true; }

    void start() {
        thread_ = std::jthread([this] {
            if (!server_.listen_after_bind()) spdlog::error("the HTTP endpoint stopped serving");
            done_ = true;
        });
        // listen_after_bind() flags the server running first thing; stop() before that would be
        // lost and leave the thread listening forever, so wait for it (bounded by thread start).
        while (!server_.is_running() && !done_) std::this_thread::sleep_for(1ms);
    }

    void stop() {
        if (!thread_.joinable()) return;
        server_.stop();
        thread_.join();
    }

private:
    httplib::Server& server_;
    std::jthread thread_;
    std::atomic<bool> done_{false};
    bool bound_ = false;
};

/// Stops a started service unless stop() already ran (exception paths).
class ServiceStopper {
public:
    explicit ServiceStopper(Service* service) : service_(service) {}
    ServiceStopper(const ServiceStopper&) = delete;
    ServiceStopper& operator=(const ServiceStopper&) = delete;
    ~ServiceStopper() {
        if (service_ == nullptr) return;
        try {
            service_->stop();
        } catch (const std::exception& e) {
            spdlog::error("cannot stop the service cleanly ({})", e.what());
        }
    }
    void stopNow() {
        Service* s = std::exchange(service_, nullptr);
        s->stop();
    }

private:
    Service* service_;
};

void addHealthRoutes(httplib::Server& http, MetricsRegistry& metrics,
                     std::unique_ptr<Service>& service, int64_t load_warn) {
    http.Get("/health", [&service, load_warn](const httplib::Request&, httplib::Response& res) {
        HealthReport report;
        try {
            report = service->health();
        } catch (const std::exception& e) {
            report.level = HealthLevel::Critical;
            report.details = {{"error", e.what()}};
        }
        const LoadInfo load = readLoad();
        const double warn_at =
            load_warn > 0 ? static_cast<double>(load_warn) : static_cast<double>(load.cores) * 2;
        HealthLevel level = report.level;
        if (level == HealthLevel::Ok && load.load1 > warn_at) level = HealthLevel::Warn;
        const nlohmann::json body = {{"status", toString(level)},
                                     {"load1", load.load1},
                                     {"cores", load.cores},
                                     {"load_warn", warn_at},
                                     {"service", report.details}};
        res.status = level == HealthLevel::Critical ? 503 : 200;
        res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "application/json");
    });
    http.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.render(), "text/plain; version=0.0.4");
    });
}

int runLoaded(DaemonDefinition& definition, const RunnerSettings& runner,
              const std::string& config_file) {
    // Signals are taken by sigwait below; block them before any thread exists so that every
    // thread (ours, httplib's, libnats') inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    if (const int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0) {
        throw std::runtime_error(fmt::format("cannot block signals ({})", std::strerror(rc)));
    }

    MetricsRegistry metrics;
    std::unique_ptr<Service> service;
    httplib::Server http;
    HttpListener listener(http);

    // httplib's default sets SO_REUSEPORT, which lets a second instance bind the same port
    // silently; SO_REUSEADDR alone still allows a quick restart past TIME_WAIT.
    http.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    errno = 0;
    if (!http.bind_to_port(runner.http.host, runner.http.port)) {
        const int err = errno;
        throw std::runtime_error(fmt::format(
            "cannot listen on '{}:{}' ({}); check http.listen in {}", runner.http.host,
            runner.http.port, err != 0 ? std::strerror(err) : "bind failed", config_file));
    }
    listener.markBound();
    addHealthRoutes(http, metrics, service, runner.load_warn);

    DaemonContext context{.metrics = metrics, .http = http, .config_file = config_file};
    service = definition.build(context);
    if (!service) throw std::runtime_error("the service factory returned nothing");
    listener.start();
    service->start();
    ServiceStopper stopper(service.get());
    sd_notify(0, "READY=1");
    spdlog::info("{} {} started, http={}:{}", definition.name(), PDNS_DISTRIBUTE_VERSION,
                 runner.http.host, runner.http.port);

    for (;;) {
        int sig = 0;
        if (const int rc = sigwait(&signals, &sig); rc != 0) {
            throw std::runtime_error(
                fmt::format("cannot wait for signals ({})", std::strerror(rc)));
        }
        if (sig == SIGHUP) {
            spdlog::info("SIGHUP ignored (configuration reload is not supported; restart instead)");
            continue;
        }
        spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    sd_notify(0, "STOPPING=1");
    stopper.stopNow();
    listener.stop();
    spdlog::info("{} stopped", definition.name());
    return 0;
}

}  // namespace

std::string_view toString(HealthLevel level) {
    switch (level) {
        case HealthLevel::Ok:
            return "ok";
        case HealthLevel::Warn:
            return "warn";
        case HealthLevel::Critical:
            return "critical";
    }
    return "critical";
}

int runDaemon(int argc, char** argv, DaemonDefinition& definition) {
    configureMemoryRelease();
    CLI::App app{definition.description(), definition.name()};
    std::string config_path = definition.defaultConfigPath();
    bool check_config = false;
    bool version = false;
    bool help_config = false;
    auto* config_opt = app.add_option("-c,--config", config_path, "configuration file (TOML)")
                           ->capture_default_str();
    app.add_flag("--check-config", check_config,
                 "validate the configuration and exit (0 when valid, 2 otherwise)");
    app.add_flag("--version", version, "print the version and exit");
    app.add_flag("--help-config", help_config,
                 "list every configuration key with its default and help, then exit");
    app.footer("Configuration keys: run with --help-config.");

    bool logging_ready = false;
    try {
        app.parse(argc, argv);
        if (version) {
            fmt::print("{} {}\n", definition.name(), PDNS_DISTRIBUTE_VERSION);
            return 0;
        }
        if (help_config) {
            printConfigDocs(definition);
            return 0;
        }

        const bool given = config_opt->count() > 0;
        const bool absent = !given && !std::filesystem::exists(config_path);
        auto reader =
            absent ? ConfigReader::empty(config_path) : ConfigReader::fromFile(config_path);
        auto root = reader.root();
        const RunnerSettings runner = readRunnerSettings(root, definition);
        definition.loadConfig(root);
        reader.finish();

        setupLogging(definition.name(), runner.log);
        logging_ready = true;
        if (absent) {
            spdlog::warn("configuration '{}' not found; running with defaults", config_path);
        }
        if (check_config) {
            definition.checkConfig();
            fmt::print("configuration '{}' is valid{}\n", config_path,
                       absent ? " (file absent, defaults used)" : "");
            return 0;
        }
        return runLoaded(definition, runner, config_path);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    } catch (const ConfigError& e) {
        fmt::print(stderr, "{}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        if (logging_ready) {
            spdlog::critical("cannot start: {}", e.what());
        } else {
            fmt::print(stderr, "{}: cannot start: {}\n", definition.name(), e.what());
        }
        return 1;
    }
}

Result<HostPort> parseHostPort(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return makeError("cannot parse address '{}' (expected [v6-address]:port)", text);
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return makeError("cannot parse address '{}' (missing ':port')", text);
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return makeError("cannot parse address '{}' (write IPv6 addresses as [addr]:port)",
                             text);
        }
    }
    if (host.empty()) return makeError("cannot parse address '{}' (empty host)", text);
    unsigned port = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() ||
        port > 65535) {
        return makeError("cannot parse address '{}' (port must be 0..65535)", text);
    }
    return HostPort{.host = std::string(host), .port = static_cast<uint16_t>(port)};
}

void configureMemoryRelease() {
#ifdef __GLIBC__
    // Setting either threshold also turns glibc's dynamic adjustment of both off.
    (void)::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    (void)::mallopt(M_TRIM_THRESHOLD, 512 * 1024);
#endif
}

void releaseFreedMemory() {
#ifdef __GLIBC__
    (void)::malloc_trim(0);
#endif
}

LoadInfo readLoad() {
    LoadInfo info;
    double load[1] = {0};
    if (getloadavg(load, 1) == 1) info.load1 = load[0];
    info.cores = std::max(1U, std::thread::hardware_concurrency());
    return info;
}

std::string_view version() { return PDNS_DISTRIBUTE_VERSION; }

}  // namespace pdns_distribute::common
