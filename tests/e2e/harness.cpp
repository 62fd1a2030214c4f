// SPDX-License-Identifier: Apache-2.0
#include "harness.hpp"

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;  // NOLINT: POSIX

namespace pdns_distribute::e2e {

namespace {

std::string errnoText() { return std::strerror(errno); }

/// Live ChildProcesses, for dumpLogsIfFailed().
class ProcessRegistry {
public:
    static ProcessRegistry& instance() {
        static ProcessRegistry registry;
        return registry;
    }
    void add(ChildProcess* process) {
        std::lock_guard lock(mutex_);
        processes_.insert(process);
    }
    void remove(ChildProcess* process) {
        std::lock_guard lock(mutex_);
        processes_.erase(process);
    }
    std::vector<ChildProcess*> all() {
        std::lock_guard lock(mutex_);
        return {processes_.begin(), processes_.end()};
    }

private:
    std::mutex mutex_;
    std::set<ChildProcess*> processes_;
};

int decodeWaitStatus(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

/// Resolves argv[0] against PATH before fork (execve in the child needs no allocation then).
std::string findExecutable(const std::string& program) {
    if (program.find('/') != std::string::npos) {
        return program;
    }
    const char* path_env = std::getenv("PATH");
    std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    path += ":/usr/sbin:/sbin";  // pdns_server and nats-server live in /usr/sbin on Debian
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) {
            continue;
        }
        std::string candidate = fmt::format("{}/{}", dir, program);
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    throw std::runtime_error(fmt::format("cannot find program '{}' (not in PATH)", program));
}

std::vector<std::string> mergedEnvironment(const EnvVars& additions) {
    std::vector<std::string> env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view item(*entry);
        const auto eq = item.find('=');
        const auto key = item.substr(0, eq);
        const bool overridden = std::any_of(additions.begin(), additions.end(),
                                            [&](const auto& kv) { return kv.first == key; });
        if (!overridden) {
            env.emplace_back(item);
        }
    }
    for (const auto& [key, value] : additions) {
        env.push_back(fmt::format("{}={}", key, value));
    }
    return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

/// Child side after fork: only async-signal-safe calls until execve.
[[noreturn]] void execChild(const char* path, char* const* argv, char* const* envp, int log_fd) {
    // Die with the test binary, even if it is SIGKILLed and no destructor runs.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) {
        ::dup2(null_fd, STDIN_FILENO);
    }
    if (log_fd >= 0) {
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
    }
    ::execve(path, argv, envp);
    const char msg[] = "execve failed\n";
    (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(127);
}

bool tcpConnects(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

int bindPort(int type, int port) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("cannot create a socket ({})", errnoText()));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

/// Body of GET http://127.0.0.1:<port><path> when it answers 200 (short timeouts: loopback).
std::optional<std::string> httpGet(int port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(2, 0);
    auto response = client.Get(path.c_str());
    if (!response || response->status != 200) {
        return std::nullopt;
    }
    return std::move(response->body);
}

/// object[key] when it is a string, else empty.
std::string jsonString(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) {
        return {};
    }
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

}  // namespace

// --- TempDir ------------------------------------------------------------------------------------

TempDir::TempDir(const std::string& prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string templ =
        fmt::format("{}/{}-XXXXXX", base != nullptr && *base != '\0' ? base : "/tmp", prefix);
    if (::mkdtemp(templ.data()) == nullptr) {
        throw std::runtime_error(
            fmt::format("cannot create temp dir '{}' ({})", templ, errnoText()));
    }
    path_ = templ;
}

TempDir::~TempDir() {
    if (std::getenv("PDD_KEEP_TMP") != nullptr) {
        std::cerr << "keeping temp dir " << path_ << "\n";
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string TempDir::writeFile(const std::string& name, const std::string& content,
                               int mode) const {
    std::string path = file(name);
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) {
        throw std::runtime_error(fmt::format("cannot write '{}' ({})", path, errnoText()));
    }
    ::fchmod(fd, static_cast<mode_t>(mode));
    size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            const std::string cause = errnoText();
            ::close(fd);
            throw std::runtime_error(fmt::format("cannot write '{}' ({})", path, cause));
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return path;
}

// --- ChildProcess -------------------------------------------------------------------------------

ChildProcess::~ChildProcess() {
    if (::testing::Test::HasFailure()) {
        dumpLog();
    }
    if (pid_ > 0 && running()) {
        stop(5s);
    }
    if (registered_) {
        ProcessRegistry::instance().remove(this);
    }
}

void ChildProcess::start(std::vector<std::string> argv, const EnvVars& env, std::string log_path,
                         std::string name) {
    if (argv.empty()) {
        throw std::runtime_error("cannot start a process (empty argv)");
    }
    if (pid_ > 0 && running()) {
        throw std::runtime_error(fmt::format("cannot start '{}' (already running)", argv[0]));
    }
    name_ = name.empty() ? argv[0] : std::move(name);
    log_path_ = std::move(log_path);
    const std::string path = findExecutable(argv[0]);
    std::vector<std::string> env_strings = mergedEnvironment(env);
    auto c_argv = cStrings(argv);
    auto c_env = cStrings(env_strings);

    int log_fd = -1;
    if (!log_path_.empty()) {
        log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            throw std::runtime_error(
                fmt::format("cannot open log file '{}' ({})", log_path_, errnoText()));
        }
        const std::string banner = fmt::format("=== start: {} ===\n", fmt::join(argv, " "));
        (void)!::write(log_fd, banner.data(), banner.size());
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        const std::string cause = errnoText();
        if (log_fd >= 0) {
            ::close(log_fd);
        }
        throw std::runtime_error(fmt::format("cannot fork for '{}' ({})", name_, cause));
    }
    if (pid == 0) {
        execChild(path.c_str(), c_argv.data(), c_env.data(), log_fd);
    }
    if (log_fd >= 0) {
        ::close(log_fd);
    }
    pid_ = pid;
    exit_status_.reset();
    dumped_ = false;
    if (!registered_) {
        ProcessRegistry::instance().add(this);
        registered_ = true;
    }
}

bool ChildProcess::reap(bool block) {
    if (pid_ <= 0) {
        return true;
    }
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
        exit_status_ = decodeWaitStatus(status);
        pid_ = -1;
        return true;
    }
    if (r < 0) {  // ECHILD: not ours any more
        pid_ = -1;
        return true;
    }
    return false;
}

bool ChildProcess::running() { return pid_ > 0 && !reap(false); }

std::optional<int> ChildProcess::waitExit(std::chrono::milliseconds deadline) {
    if (waitUntil([this] { return !running(); }, deadline)) {
        return exit_status_;
    }
    return std::nullopt;
}

int ChildProcess::stop(std::chrono::milliseconds deadline) {
    if (pid_ <= 0) {
        return exit_status_.value_or(-1);
    }
    if (!running()) {
        return exit_status_.value_or(-1);
    }
    ::kill(pid_, SIGTERM);
    if (!waitUntil([this] { return !running(); }, deadline)) {
        std::cerr << "process '" << name_ << "' ignored SIGTERM for " << deadline.count()
                  << " ms; sending SIGKILL\n";
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        reap(true);
    }
    return exit_status_.value_or(-1);
}

void ChildProcess::kill(int sig) {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, sig);
    if (sig == SIGKILL) {
        reap(true);
    }
}

std::string ChildProcess::logTail(size_t lines) const {
    std::ifstream in(log_path_);
    if (!in) {
        return {};
    }
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
        tail.push_back(std::move(line));
        if (tail.size() > lines) {
            tail.pop_front();
        }
    }
    std::string out;
    for (const auto& l : tail) {
        out += l;
        out += '\n';
    }
    return out;
}

void ChildProcess::dumpLog(size_t lines) {
    if (dumped_ || log_path_.empty()) {
        return;
    }
    dumped_ = true;
    std::cerr << "----- last " << lines << " log lines of '" << name_ << "' (" << log_path_
              << ") -----\n"
              << logTail(lines) << "----- end of '" << name_ << "' -----\n";
}

void dumpLogsIfFailed(size_t lines) {
    if (!::testing::Test::HasFailure()) {
        return;
    }
    for (ChildProcess* process : ProcessRegistry::instance().all()) {
        process->dumpLog(lines);
    }
}

// --- ports, waiting, commands ---------------------------------------------------------------

int freeTcpPort() {
    const int port = bindPort(SOCK_STREAM, 0);
    if (port <= 0) {
        throw std::runtime_error(fmt::format("cannot find a free TCP port ({})", errnoText()));
    }
    return port;
}

int freeDnsPort() {
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int port = freeTcpPort();
        if (bindPort(SOCK_DGRAM, port) == port) {
            return port;
        }
    }
    throw std::runtime_error("cannot find a port free for both TCP and UDP");
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
               std::chrono::milliseconds poll) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (condition()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= end) {
            return false;
        }
        std::this_thread::sleep_for(poll);
    }
}

CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    if (argv.empty()) {
        throw std::runtime_error("cannot run a command (empty argv)");
    }
    const std::string path = findExecutable(argv[0]);
    std::vector<std::string> args = argv;
    std::vector<std::string> env_strings = mergedEnvironment({});
    auto c_argv = cStrings(args);
    auto c_env = cStrings(env_strings);
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(fmt::format("cannot create pipes ({})", errnoText()));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(fmt::format("cannot fork for '{}' ({})", argv[0], errnoText()));
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            ::dup2(null_fd, STDIN_FILENO);
        }
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_pipe[1], STDERR_FILENO);
        ::execve(path.c_str(), c_argv.data(), c_env.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);

    CommandResult result;
    std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    const auto end = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    int open_fds = 2;
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            timed_out = n == 0;
            break;
        }
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            std::array<char, 4096> buffer{};
            const ssize_t got = ::read(fds[i].fd, buffer.data(), buffer.size());
            if (got > 0) {
                sinks[i]->append(buffer.data(), static_cast<size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& fd : fds) {
        if (fd.fd >= 0) {
            ::close(fd.fd);
        }
    }
    if (timed_out) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = timed_out ? -1 : decodeWaitStatus(status);
    return result;
}

std::string daemonBinary(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> kDirs{
        {"pdns-api-proxy", "api-proxy"},
        {"pdns-zone-provider", "zone-provider"},
        {"pdns-secondary-syncer", "secondary-syncer"},
        {"pdns-health-checker", "health-checker"},
        {"pdns-distribute", "cli"},
    };
    for (const auto& [binary, dir] : kDirs) {
        if (binary == name) {
            return fmt::format("{}/services/{}/{}", PDD_BINARY_DIR, dir, name);
        }
    }
    throw std::runtime_error(fmt::format("cannot locate daemon '{}' (unknown name)", name));
}

std::string randomHex(size_t bytes) {
    std::random_device device;
    std::string out;
    for (size_t i = 0; i < bytes; ++i) {
        out += fmt::format("{:02x}", device() & 0xffU);
    }
    return out;
}

// --- TestCa, bcrypt ------------------------------------------------------------------------

namespace {

/// Runs openssl, throwing with its output when it fails.
void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = runCommand(argv);
    if (result.exit_code != 0) {
        throw std::runtime_error(fmt::format("cannot run 'openssl {}' (exit {}): {}{}",
                                             fmt::join(args, " "), result.exit_code, result.err,
                                             result.out));
    }
}

}  // namespace

TestCa::TestCa(std::string dir, const std::string& name) : dir_(std::move(dir)) {
    ca_ = Issued{.cert_file = dir_ + "/" + name + ".crt", .key_file = dir_ + "/" + name + ".key"};
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_.key_file, "-out", ca_.cert_file, "-days", "2", "-subj",
             "/CN=pdns-distribute test CA " + randomHex(4), "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
}

TestCa::Issued TestCa::issue(const std::string& name, const std::string& extensions) {
    Issued out{.cert_file = dir_ + "/" + name + ".crt", .key_file = dir_ + "/" + name + ".key"};
    const std::string csr = dir_ + "/" + name + ".csr";
    const std::string ext = dir_ + "/" + name + ".ext";
    {
        std::ofstream f(ext);
        f << "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
          << extensions;
        if (!f) throw std::runtime_error(fmt::format("cannot write '{}'", ext));
    }
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", out.key_file, "-out", csr, "-subj", "/CN=" + name});
    openssl({"x509", "-req", "-in", csr, "-CA", ca_.cert_file, "-CAkey", ca_.key_file,
             "-set_serial", "0x" + randomHex(8), "-days", "2", "-extfile", ext, "-out",
             out.cert_file});
    return out;
}

TestCa::Issued TestCa::issueServer(const std::string& name) {
    return issue(name,
                 "extendedKeyUsage=serverAuth\n"
                 "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
}

TestCa::Issued TestCa::issueClient(const std::string& name) {
    return issue(name, "extendedKeyUsage=clientAuth\n");
}

std::string bcryptHash(const std::string& password, int cost) {
    std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
    // No random bytes given: libxcrypt takes them from the kernel.
    if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt.data(),
                         static_cast<int>(salt.size())) == nullptr) {
        throw std::runtime_error(fmt::format("cannot make a bcrypt salt ({})", errnoText()));
    }
    auto data = std::make_unique<crypt_data>();  // about 32 KiB: not on the stack
    const char* hash = crypt_rn(password.c_str(), salt.data(), data.get(), sizeof(crypt_data));
    if (hash == nullptr || hash[0] == '*') {
        throw std::runtime_error(fmt::format("cannot bcrypt a password ({})", errnoText()));
    }
    return hash;
}

// --- NatsServer -------------------------------------------------------------------------------

NatsServer::NatsServer(std::string name) : name_(std::move(name)), dir_("pdd-nats") {}

NatsServer::~NatsServer() {
    if (::testing::Test::HasFailure()) {
        process_.dumpLog();
    }
    process_.stop();
}

void NatsServer::setConfig(const std::string& text) {
    config_path_ = dir_.writeFile("nats.conf", text);
    config_has_store_dir_ = text.find("store_dir") != std::string::npos;
}

std::vector<std::string> NatsServer::permissionViolations() const {
    std::vector<std::string> out;
    std::ifstream in(dir_.file("nats-server.log"));
    for (std::string line; std::getline(in, line);) {
        // nats-server 2.9 logs `Publish Violation - User "u", Subject "s"` and
        // `Subscription Violation - ...`, and tells the client "Permissions Violation".
        if (line.find("Publish Violation") != std::string::npos ||
            line.find("Subscription Violation") != std::string::npos ||
            line.find("=== start: ") == 0) {
            out.push_back(line);
        }
    }
    return out;
}

std::string NatsServer::url() const { return fmt::format("nats://127.0.0.1:{}", port_); }

std::string NatsServer::urlV6() const { return fmt::format("nats://[::1]:{}", port_); }

bool NatsServer::ready() const {
    if (!tcpConnects(port_)) {
        return false;
    }
    // /healthz answers 200 only once JetStream is up (nats-server 2.9).
    return httpGet(monitor_port_, "/healthz").has_value();
}

bool NatsServer::launch(std::chrono::milliseconds ready_deadline) {
    std::vector<std::string> argv{"nats-server", "-js",
                                  "-a",          dual_stack_ ? "::" : "127.0.0.1",
                                  "-p",          std::to_string(port_),
                                  "-m",          std::to_string(monitor_port_)};
    if (!config_has_store_dir_) {
        argv.emplace_back("-sd");
        argv.push_back(storeDir());
    }
    // Diagnostics (benchmarks): PDD_NATS_PROFILE_PORT=N serves Go's pprof on 127.0.0.1:N, e.g.
    // `go tool pprof -top http://127.0.0.1:N/debug/pprof/profile?seconds=30`.
    if (const char* prof = std::getenv("PDD_NATS_PROFILE_PORT"); prof != nullptr) {
        argv.emplace_back("--profile");
        argv.emplace_back(prof);
    }
    if (config_path_.empty()) {
        argv.emplace_back("-n");
        argv.push_back(name_);
    } else {
        // No -n with a config file: nats-server 2.9 forgets the flag on a reload (SIGHUP) and
        // then refuses the reload ("not supported for ServerName").
        argv.emplace_back("-c");
        argv.push_back(config_path_);
    }
    process_.start(argv, {}, dir_.file("nats-server.log"), name_);
    return waitUntil([this] { return !process_.running() || ready(); }, ready_deadline, 20ms) &&
           process_.running();
}

void NatsServer::start(std::chrono::milliseconds ready_deadline) {
    if (port_ != 0) {
        // A restart must keep the port the daemons know. While the server was down, their
        // reconnect attempts to a loopback port in the ephemeral range can briefly hold that very
        // port (a TCP self-connect, when the kernel picks it as the source port): retry a while.
        for (int attempt = 0; attempt < 10; ++attempt) {
            if (launch(ready_deadline)) return;
            process_.stop(2s);
            std::this_thread::sleep_for(500ms);
        }
        throw std::runtime_error(
            fmt::format("cannot restart nats-server on port {}:\n{}", port_, process_.logTail()));
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        port_ = freeTcpPort();
        monitor_port_ = freeTcpPort();
        if (launch(ready_deadline)) {
            return;
        }
        process_.stop(2s);
    }
    throw std::runtime_error(fmt::format("cannot start nats-server:\n{}", process_.logTail()));
}

int NatsServer::stop(std::chrono::milliseconds deadline) { return process_.stop(deadline); }

void NatsServer::kill() { process_.kill(SIGKILL); }

// --- NatsCluster ------------------------------------------------------------------------------

NatsCluster::NatsCluster(size_t nodes) : dir_("pdd-nats-cluster") {
    if (nodes == 0) {
        throw std::runtime_error("cannot build a nats cluster (no nodes)");
    }
    nodes_.resize(nodes);
    for (size_t i = 0; i < nodes; ++i) {
        nodes_[i].name = fmt::format("pdd-n{}", i);
        nodes_[i].process = std::make_unique<ChildProcess>();
    }
}

NatsCluster::~NatsCluster() {
    if (::testing::Test::HasFailure()) {
        for (auto& n : nodes_) {
            n.process->dumpLog();
        }
    }
    stop();
}

const NatsCluster::Node& NatsCluster::node(size_t i) const {
    if (i >= nodes_.size()) {
        throw std::out_of_range(
            fmt::format("no nats cluster node {} (the cluster has {})", i, nodes_.size()));
    }
    return nodes_[i];
}

NatsCluster::Node& NatsCluster::node(size_t i) {
    return const_cast<Node&>(std::as_const(*this).node(i));
}

std::string NatsCluster::url(size_t i) const {
    return fmt::format("nats://127.0.0.1:{}", node(i).port);
}

std::vector<std::string> NatsCluster::urls() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
        out.push_back(url(i));
    }
    return out;
}

const std::string& NatsCluster::serverName(size_t i) const { return node(i).name; }

std::optional<size_t> NatsCluster::indexOf(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].name == name) {
            return i;
        }
    }
    return std::nullopt;
}

std::optional<std::string> NatsCluster::monitorGet(size_t i, const std::string& path) const {
    return httpGet(node(i).monitor_port, path);
}

bool NatsCluster::running(size_t i) { return node(i).process->running(); }

bool NatsCluster::ready(size_t i) const {
    const Node& n = node(i);
    // js-server-only: a restarted node's full /healthz also wants every stream and consumer
    // replica current, and nats-server 2.9.10 can report an idle durable consumer as not
    // current for a long time after a restart. Stream catch-up is for the test to check (e.g.
    // $JS.API.STREAM.INFO cluster.replicas). /jsz then confirms a meta leader is known.
    if (!tcpConnects(n.port) || !httpGet(n.monitor_port, "/healthz?js-server-only=true")) {
        return false;
    }
    const auto jsz = httpGet(n.monitor_port, "/jsz");
    if (!jsz) {
        return false;
    }
    const auto doc = nlohmann::json::parse(*jsz, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("meta_cluster")) {
        return false;
    }
    return !jsonString(doc["meta_cluster"], "leader").empty();
}

bool NatsCluster::metaGroupCurrent() const {
    // Only the meta leader lists the other peers (meta_cluster.replicas) with their state.
    for (const auto& n : nodes_) {
        const auto jsz = httpGet(n.monitor_port, "/jsz");
        if (!jsz) {
            continue;
        }
        const auto doc = nlohmann::json::parse(*jsz, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("meta_cluster")) {
            continue;
        }
        const auto& meta = doc["meta_cluster"];
        if (jsonString(meta, "leader") != n.name) {
            continue;
        }
        if (!meta.contains("replicas") || !meta["replicas"].is_array()) {
            return false;
        }
        size_t current = 0;
        for (const auto& peer : meta["replicas"]) {
            if (peer.is_object() && peer.value("current", false) && !peer.value("offline", false)) {
                ++current;
            }
        }
        return current + 1 == nodes_.size();
    }
    return false;
}

void NatsCluster::pickPorts() {
    // freeTcpPort() reserves nothing, so make sure the 3 * N ports at least differ from each other.
    std::set<int> taken;
    auto fresh = [&taken] {
        for (;;) {
            const int port = freeTcpPort();
            if (taken.insert(port).second) {
                return port;
            }
        }
    };
    for (auto& n : nodes_) {
        n.port = fresh();
        n.monitor_port = fresh();
        n.cluster_port = fresh();
    }
}

void NatsCluster::launch(size_t i) {
    Node& n = node(i);
    std::string routes;
    for (const auto& other : nodes_) {
        if (&other != &n) {
            routes += fmt::format("    \"nats-route://127.0.0.1:{}\"\n", other.cluster_port);
        }
    }
    // Small JetStream limits: the tests store a few hundred tiny messages, and several clusters
    // may run at once on a shared machine.
    const std::string config = fmt::format(
        R"(server_name: "{name}"
listen: "127.0.0.1:{port}"
http: "127.0.0.1:{monitor}"
jetstream {{
  store_dir: "{store}"
  max_memory_store: 32MB
  max_file_store: 512MB
}}
cluster {{
  name: "pdd"
  listen: "127.0.0.1:{cluster}"
  routes: [
{routes}  ]
}}
)",
        fmt::arg("name", n.name), fmt::arg("port", n.port), fmt::arg("monitor", n.monitor_port),
        fmt::arg("store", dir_.file(n.name + "-store")), fmt::arg("cluster", n.cluster_port),
        fmt::arg("routes", routes));
    const std::string config_path = dir_.writeFile(n.name + ".conf", config);
    n.process->start({"nats-server", "-c", config_path}, {}, dir_.file(n.name + ".log"), n.name);
}

bool NatsCluster::waitReady(const std::vector<size_t>& which, std::chrono::milliseconds deadline,
                            bool whole_group) {
    bool exited = false;
    const bool done = waitUntil(
        [&] {
            for (const size_t i : which) {
                if (!running(i)) {
                    exited = true;
                    return true;
                }
            }
            return std::all_of(which.begin(), which.end(), [this](size_t i) { return ready(i); }) &&
                   (!whole_group || metaGroupCurrent());
        },
        deadline, 50ms);
    return done && !exited;
}

std::string NatsCluster::logTails() const {
    std::string out;
    for (const auto& n : nodes_) {
        out += fmt::format("--- {} ---\n{}", n.name, n.process->logTail(20));
    }
    return out;
}

void NatsCluster::start(std::chrono::milliseconds ready_deadline) {
    std::vector<size_t> all(nodes_.size());
    std::iota(all.begin(), all.end(), size_t{0});
    if (nodes_.front().port != 0) {
        for (const size_t i : all) {
            if (!running(i)) {
                launch(i);
            }
        }
        if (!waitReady(all, ready_deadline, /*whole_group=*/true)) {
            throw std::runtime_error(
                fmt::format("cannot restart the nats cluster:\n{}", logTails()));
        }
        return;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        pickPorts();
        for (const auto& n : nodes_) {
            // A failed attempt leaves meta state naming peers that never formed a cluster.
            std::error_code ec;
            std::filesystem::remove_all(dir_.file(n.name + "-store"), ec);
        }
        for (const size_t i : all) {
            launch(i);
        }
        if (waitReady(all, ready_deadline, /*whole_group=*/true)) {
            return;
        }
        for (auto& n : nodes_) {
            n.process->stop(2s);
        }
    }
    throw std::runtime_error(
        fmt::format("cannot start a {}-node nats cluster:\n{}", nodes_.size(), logTails()));
}

std::vector<int> NatsCluster::stop(std::chrono::milliseconds deadline) {
    std::vector<int> statuses;
    for (auto& n : nodes_) {
        statuses.push_back(n.process->stop(deadline));
    }
    return statuses;
}

void NatsCluster::kill(size_t i) { node(i).process->kill(SIGKILL); }

void NatsCluster::restart(size_t i, std::chrono::milliseconds ready_deadline) {
    if (node(i).port == 0) {
        throw std::runtime_error(
            fmt::format("cannot restart nats cluster node {} (the cluster never started)", i));
    }
    launch(i);
    if (!waitReady({i}, ready_deadline, /*whole_group=*/false)) {
        throw std::runtime_error(
            fmt::format("cannot restart nats cluster node '{}' on port {}:\n{}", node(i).name,
                        node(i).port, node(i).process->logTail()));
    }
}

// --- PdnsServer -------------------------------------------------------------------------------

PdnsServer::PdnsServer(PdnsOptions options)
    : options_(std::move(options)), dir_("pdd-pdns"), api_key_(randomHex(16)) {
    if (options_.name.empty()) {
        options_.name = options_.role == PdnsRole::Primary ? "pdns-primary" : "pdns-secondary";
    }
}

PdnsServer::~PdnsServer() {
    if (::testing::Test::HasFailure()) {
        process_.dumpLog();
    }
    process_.stop();
}

void PdnsServer::addSetting(const std::string& line) { options_.extra_settings.push_back(line); }

std::string PdnsServer::apiUrl() const {
    return options_.ipv6_only ? fmt::format("http://[::1]:{}", web_port_)
                              : fmt::format("http://127.0.0.1:{}", web_port_);
}

std::string PdnsServer::dnsHost() const { return options_.ipv6_only ? "::1" : "127.0.0.1"; }

std::string PdnsServer::apiKeyFile() const {
    return dir_.writeFile("api-key", api_key_ + "\n", 0600);
}

void PdnsServer::writeConfig() const {
    std::string conf;
    auto line = [&conf](const std::string& text) {
        conf += text;
        conf += '\n';
    };
    line("launch=gsqlite3");
    line("gsqlite3-database=" + databasePath());
    line("gsqlite3-dnssec=yes");
    if (options_.ipv6_only) {
        line("local-address=::1");
    } else {
        line(options_.listen_ipv6 ? "local-address=127.0.0.1, ::1" : "local-address=127.0.0.1");
    }
    line(fmt::format("local-port={}", dns_port_));
    line("api=yes");
    line("api-key=" + api_key_);
    line("webserver=yes");
    line(options_.ipv6_only ? "webserver-address=::1" : "webserver-address=127.0.0.1");
    line(fmt::format("webserver-port={}", web_port_));
    line("webserver-allow-from=127.0.0.0/8,::1/128");
    // Large zones are written through the API in one PATCH (pdns 4.7 default: 2 MB).
    line("webserver-max-bodysize=128");
    line("config-dir=" + dir_.path());
    line("socket-dir=" + dir_.path());
    line("guardian=no");
    line("daemon=no");
    line("disable-syslog=yes");
    line("log-timestamp=yes");
    line("loglevel=4");
    line("write-pid=no");
    if (options_.role == PdnsRole::Primary) {
        line("primary=yes");
        line("allow-axfr-ips=127.0.0.0/8,::1");
    } else {
        line("secondary=yes");
    }
    for (const auto& extra : options_.extra_settings) {
        line(extra);
    }
    dir_.writeFile("pdns.conf", conf, 0600);
}

bool PdnsServer::ready() const {
    httplib::Client client(dnsHost(), web_port_);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(2, 0);
    auto response =
        client.Get("/api/v1/servers/localhost", httplib::Headers{{"X-API-Key", api_key_}});
    return response && response->status == 200;
}

bool PdnsServer::launch(std::chrono::milliseconds ready_deadline) {
    writeConfig();
    process_.start({"pdns_server", "--config-dir=" + dir_.path()}, {}, dir_.file("pdns.log"),
                   options_.name);
    return waitUntil([this] { return !process_.running() || ready(); }, ready_deadline, 20ms) &&
           process_.running();
}

void PdnsServer::start(std::chrono::milliseconds ready_deadline) {
    if (!database_created_) {
        const auto result =
            runCommand({"sqlite3", databasePath(),
                        ".read /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"});
        if (result.exit_code != 0) {
            throw std::runtime_error(fmt::format("cannot create the pdns database '{}' ({})",
                                                 databasePath(), result.err));
        }
        database_created_ = true;
    }
    if (dns_port_ != 0) {
        if (!launch(ready_deadline)) {
            throw std::runtime_error(fmt::format("cannot restart pdns_server on port {}:\n{}",
                                                 dns_port_, process_.logTail()));
        }
        return;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        dns_port_ = freeDnsPort();
        web_port_ = freeTcpPort();
        if (launch(ready_deadline)) {
            return;
        }
        process_.stop(2s);
    }
    throw std::runtime_error(fmt::format("cannot start pdns_server:\n{}", process_.logTail()));
}

int PdnsServer::stop(std::chrono::milliseconds deadline) { return process_.stop(deadline); }

void PdnsServer::kill() { process_.kill(SIGKILL); }

CommandResult PdnsServer::pdnsutil(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout) const {
    std::vector<std::string> argv{"pdnsutil", "--config-dir=" + dir_.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, timeout);
}

CommandResult PdnsServer::dig(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"dig", "@" + dnsHost(), "-p", std::to_string(dns_port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.emplace_back("+time=2");
    argv.emplace_back("+tries=1");
    return runCommand(argv, 15s);
}

}  // namespace pdns_distribute::e2e
