// SPDX-License-Identifier: Apache-2.0
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pdns_distribute/common/daemon.hpp>

namespace pdns_distribute::common {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pdd-daemon-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] fs::path file(std::string_view name, std::string_view content) const {
        const auto p = path_ / name;
        std::ofstream out(p);
        out << content;
        return p;
    }
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

struct Calls {
    int loads = 0;
    int checks = 0;
    int builds = 0;
    int starts = 0;
    int stops = 0;
    int64_t value = 0;
};

class FakeService final : public Service {
public:
    FakeService(Calls& calls, bool signal_on_start) : calls_(calls), signal_(signal_on_start) {}
    void start() override {
        ++calls_.starts;
        // SIGTERM is blocked in this thread by the runner, so it stays pending until sigwait.
        if (signal_) ::raise(SIGTERM);
    }
    void stop() override { ++calls_.stops; }
    HealthReport health() override { return {}; }

private:
    Calls& calls_;
    bool signal_;
};

class FakeDefinition final : public DaemonDefinition {
public:
    explicit FakeDefinition(fs::path default_config) : default_config_(std::move(default_config)) {}
    std::string name() const override { return "pdd-fake"; }
    std::string description() const override { return "a fake daemon for tests"; }
    std::string defaultConfigPath() const override { return default_config_.string(); }
    std::string defaultHttpListen() const override { return "127.0.0.1:0"; }
    void loadConfig(ConfigSection root) override {
        ++calls.loads;
        calls.value = root.section("fake").getInt("value", 1, "a value for tests", 0, 100);
    }
    void checkConfig() override { ++calls.checks; }
    std::unique_ptr<Service> build(DaemonContext& context) override {
        ++calls.builds;
        (void)context.metrics.counter("pdd_fake_total", "fake");
        if (build_throws) throw std::runtime_error("cannot connect to NATS 'x' (refused)");
        return std::make_unique<FakeService>(calls, true);
    }

    Calls calls;
    bool build_throws = false;

private:
    fs::path default_config_;
};

struct RunResult {
    int code;
    std::string out;
    std::string err;
};

RunResult run(DaemonDefinition& def, std::vector<std::string> args) {
    args.insert(args.begin(), "pdd-fake");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = runDaemon(static_cast<int>(args.size()), argv.data(), def);
    RunResult r{code, ::testing::internal::GetCapturedStdout(),
                ::testing::internal::GetCapturedStderr()};
    return r;
}

class RunDaemon : public ::testing::Test {
protected:
    TempDir dir;
    FakeDefinition def{dir.path() / "absent-default.toml"};
};

TEST_F(RunDaemon, Version_PrintsNameAndVersion) {
    const auto r = run(def, {"--version"});
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, ::testing::MatchesRegex("pdd-fake [0-9]+\\.[0-9]+\\.[0-9]+\n"));
    EXPECT_EQ(def.calls.loads, 0);
}

TEST_F(RunDaemon, CheckConfig_ValidFile_Exit0) {
    const auto cfg = dir.file("ok.toml",
                              "[fake]\nvalue = 7\n[log]\nlevel = \"debug\"\n"
                              "[http]\nlisten = \"[::1]:9381\"\n");
    const auto r = run(def, {"--config", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "configuration '" + cfg.string() + "' is valid\n");
    EXPECT_EQ(def.calls.value, 7);
    EXPECT_EQ(def.calls.checks, 1);
    EXPECT_EQ(def.calls.builds, 0);
}

TEST_F(RunDaemon, UnknownKey_Exit2WithLine) {
    const auto cfg = dir.file("bad.toml", "[fake]\nvalue = 7\nvalu = 8\n");
    const auto r = run(def, {"--config", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.err, cfg.string() + ":3: unknown key 'fake.valu'\n");
    EXPECT_EQ(def.calls.checks, 0);
}

TEST_F(RunDaemon, ServiceKeyOutOfRange_Exit2) {
    const auto cfg = dir.file("bad.toml", "[fake]\nvalue = 700\n");
    const auto r = run(def, {"-c", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr(":2: key 'fake.value' must be between 0 and 100 (got 700)"));
}

TEST_F(RunDaemon, SyntaxError_Exit2) {
    const auto cfg = dir.file("bad.toml", "[fake\n");
    const auto r = run(def, {"--config", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, ::testing::StartsWith(cfg.string() + ":1:"));
}

TEST_F(RunDaemon, MissingExplicitConfig_Exit2) {
    const auto missing = dir.path() / "missing.toml";
    const auto r = run(def, {"--config", missing.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.err,
              "cannot read configuration '" + missing.string() + "' (No such file or directory)\n");
}

TEST_F(RunDaemon, MissingDefaultConfig_DefaultsUsed) {
    const auto r = run(def, {"--check-config"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("is valid"));
    EXPECT_THAT(r.err, HasSubstr("not found; running with defaults"));
    EXPECT_EQ(def.calls.value, 1);
}

TEST_F(RunDaemon, PublicHttpListen_Exit2UnlessAllowed) {
    const auto cfg = dir.file("pub.toml", "[http]\nlisten = \"0.0.0.0:9381\"\n");
    auto r = run(def, {"--config", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr(":2: key 'http.listen' must be a loopback address"));

    const auto ok =
        dir.file("pub2.toml", "[http]\nlisten = \"0.0.0.0:9381\"\nallow_public = true\n");
    r = run(def, {"--config", ok.string(), "--check-config"});
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(RunDaemon, BadLogLevel_Exit2) {
    const auto cfg = dir.file("log.toml", "[log]\nlevel = \"loud\"\n");
    const auto r = run(def, {"--config", cfg.string(), "--check-config"});
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr(":2: key 'log.level' must be trace, debug"));
}

TEST_F(RunDaemon, UnknownOption_Exit2) {
    const auto r = run(def, {"--bogus"});
    EXPECT_EQ(r.code, 2);
}

TEST_F(RunDaemon, Help_Exit0WithDescription) {
    const auto r = run(def, {"--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, HasSubstr("a fake daemon for tests"));
    EXPECT_THAT(r.out, HasSubstr("--check-config"));
    EXPECT_THAT(r.out, HasSubstr("--help-config"));
}

TEST_F(RunDaemon, HelpConfig_ListsRunnerAndServiceKeys) {
    const auto r = run(def, {"--help-config"});
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, HasSubstr("Configuration keys"));
    EXPECT_THAT(r.out, HasSubstr("  log.level = \"info\"\n"));
    EXPECT_THAT(r.out, HasSubstr("  http.listen = \"127.0.0.1:0\"\n"));
    EXPECT_THAT(r.out, HasSubstr("  health.load_warn = 0\n"));
    EXPECT_THAT(r.out, HasSubstr("  fake.value = 1\n      a value for tests\n"));
}

TEST_F(RunDaemon, BuildThrows_Exit1) {
    def.build_throws = true;
    const auto cfg = dir.file("ok.toml", "[http]\nlisten = \"127.0.0.1:0\"\n");
    const auto r = run(def, {"--config", cfg.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("cannot start: cannot connect to NATS 'x' (refused)"));
    EXPECT_EQ(def.calls.starts, 0);
}

TEST_F(RunDaemon, SigtermAfterStart_StopsServiceExit0) {
    const auto cfg = dir.file("ok.toml", "[http]\nlisten = \"127.0.0.1:0\"\n");
    const auto r = run(def, {"--config", cfg.string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(def.calls.builds, 1);
    EXPECT_EQ(def.calls.starts, 1);
    EXPECT_EQ(def.calls.stops, 1);
}

TEST(ParseHostPort, Ipv4) {
    auto r = parseHostPort("127.0.0.1:9381");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->host, "127.0.0.1");
    EXPECT_EQ(r->port, 9381);
}

TEST(ParseHostPort, BracketedIpv6) {
    auto r = parseHostPort("[::1]:9381");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->host, "::1");
    EXPECT_EQ(r->port, 9381);
}

TEST(ParseHostPort, HostName) {
    auto r = parseHostPort("localhost:80");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->host, "localhost");
    EXPECT_EQ(r->port, 80);
}

TEST(ParseHostPort, Invalid_Rejected) {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "[::1]80",
                            "[::1:80", "h:65536", "h:-1", "h:8x", "[]:80"}) {
        EXPECT_FALSE(parseHostPort(bad)) << bad;
    }
}

TEST(HealthLevel, ToString) {
    EXPECT_EQ(toString(HealthLevel::Ok), "ok");
    EXPECT_EQ(toString(HealthLevel::Warn), "warn");
    EXPECT_EQ(toString(HealthLevel::Critical), "critical");
}

TEST(ReadLoad, CoresAtLeastOneLoadNonNegative) {
    const auto l = readLoad();
    EXPECT_GE(l.cores, 1U);
    EXPECT_GE(l.load1, 0.0);
}

// What a daemon does all day: a pass frees a large block (glibc then raises its thresholds by
// default), and a thread allocates and frees many small ones. With the daemons' settings the
// space those took in the thread's arena goes back to the kernel; by default ~16 MB would stay.
TEST(ConfigureMemoryRelease, ArenaSpaceFreedByAThreadGoesBack) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "ASan replaces glibc's malloc: nothing of glibc's to configure or measure";
#else
    configureMemoryRelease();
    {
        std::vector<char> big(16U << 20U, 'x');  // its own mapping (under 32 MB: glibc adapts)
        ASSERT_EQ(big.back(), 'x');
    }
    const size_t before = ::mallinfo2().arena;
    std::thread([] {
        std::vector<std::unique_ptr<char[]> > blocks;
        for (int i = 0; i < 16'000; ++i) {
            blocks.emplace_back(new char[1024]);
            blocks.back()[0] = 1;
        }
    }).join();
    const size_t after = ::mallinfo2().arena;
    EXPECT_LT(after, before + (2U << 20U))
        << "arena bytes before " << before << ", after " << after;
#endif
}

}  // namespace
}  // namespace pdns_distribute::common
