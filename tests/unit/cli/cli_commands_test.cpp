// SPDX-License-Identifier: Apache-2.0
// The CLI's commands against a stub health-checker: an httplib::Server on an ephemeral loopback
// port, serving canned answers and recording what it was sent.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pdns_distribute/common/guarded.hpp>

#include "cli_commands.hpp"

namespace pdns_distribute::cli {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct Canned {
    int status = 200;
    std::string body;
};

struct StubState {
    Canned status_answer;
    Canned resync_answer;
    Canned approve_answer;
    std::vector<std::string> requests;  ///< "METHOD path body"
};

class StubChecker {
public:
    StubChecker() {
        server_.Get("/status", [this](const httplib::Request& req, httplib::Response& res) {
            answer(req, res, &StubState::status_answer);
        });
        server_.Post("/resync", [this](const httplib::Request& req, httplib::Response& res) {
            answer(req, res, &StubState::resync_answer);
        });
        server_.Post("/deletions/approve",
                     [this](const httplib::Request& req, httplib::Response& res) {
                         answer(req, res, &StubState::approve_answer);
                     });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("cannot bind the stub checker on 127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() before the server flags itself running would be lost (see daemon.cpp).
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        if (!server_.is_running()) {
            thread_.detach();
            throw std::runtime_error("the stub checker did not start");
        }
    }
    StubChecker(const StubChecker&) = delete;
    StubChecker& operator=(const StubChecker&) = delete;
    ~StubChecker() {
        server_.stop();
        thread_.join();
    }

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    void setStatus(int code, std::string body) {
        state_.lock()->status_answer = {.status = code, .body = std::move(body)};
    }
    void setResync(int code, std::string body) {
        state_.lock()->resync_answer = {.status = code, .body = std::move(body)};
    }
    void setApprove(int code, std::string body) {
        state_.lock()->approve_answer = {.status = code, .body = std::move(body)};
    }
    [[nodiscard]] std::vector<std::string> requests() { return state_.lock()->requests; }

private:
    void answer(const httplib::Request& req, httplib::Response& res, Canned StubState::*which) {
        auto state = state_.lock();
        state->requests.push_back(req.method + " " + req.path + " " + req.body);
        const Canned& canned = (*state).*which;
        res.status = canned.status;
        res.set_content(canned.body, "application/json");
    }

    httplib::Server server_;
    common::Guarded<StubState> state_;
    std::thread thread_;
    int port_ = 0;
};

/// A TCP port on 127.0.0.1 that refuses connections: bound (so nobody else gets it while the test
/// runs) but not listening.
class RefusingPort {
public:
    RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ::close(fd_);
            throw std::runtime_error("bind() on 127.0.0.1 failed");
        }
        port_ = ntohs(addr.sin_port);
    }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    ~RefusingPort() { ::close(fd_); }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    int fd_;
    int port_ = 0;
};

const char* const kStatus = R"({"v":1,"generated_at":"2026-11-26T16:00:00.123Z",
  "checker":{"instance":"checker-ab12","group":"default","leader":true},
  "zones":3,"mirror_synced":true,
  "nodes":[{"node":"sec1","state":"active","zones":2,"out_of_sync":1,"max_lag_ms":5400}],
  "divergences":[{"node":"sec1","zone":"b.example.","wanted_serial":7,"served_serial":6,
                  "lag_ms":5400,"error":"","resyncs":1}]})";

class CliTest : public ::testing::Test {
protected:
    StubChecker checker_;
    std::ostringstream out_;
    std::ostringstream err_;

    int cli(std::vector<std::string> args) {
        args.insert(args.begin(), "pdns-distribute");
        std::vector<const char*> argv;
        argv.reserve(args.size());
        for (const auto& a : args) argv.push_back(a.c_str());
        return runCli(static_cast<int>(argv.size()), argv.data(), out_, err_);
    }
};

// ---- status ----

TEST_F(CliTest, Status_Text_PrintsReport) {
    checker_.setStatus(200, kStatus);
    EXPECT_EQ(runStatus(checker_.url(), false, out_, err_), 0) << err_.str();
    EXPECT_THAT(out_.str(), HasSubstr("group 'default', checker 'checker-ab12' (leader)"));
    EXPECT_THAT(out_.str(), HasSubstr("\nsec1  b.example.  7 "));
    EXPECT_EQ(err_.str(), "");
    EXPECT_EQ(checker_.requests(), std::vector<std::string>{"GET /status "});
}

TEST_F(CliTest, Status_Json_PrettyPrintedSameDocument) {
    checker_.setStatus(200, kStatus);
    EXPECT_EQ(runStatus(checker_.url(), true, out_, err_), 0) << err_.str();
    EXPECT_EQ(json::parse(out_.str()), json::parse(kStatus));
    EXPECT_THAT(out_.str(), HasSubstr("{\n  \""));
}

TEST_F(CliTest, Status_Non200_FailsNamingUrlAndCause) {
    checker_.setStatus(503, R"({"error":"mirror not loaded yet"})");
    EXPECT_EQ(runStatus(checker_.url(), false, out_, err_), 1);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), HasSubstr("'" + checker_.url() + "'"));
    EXPECT_THAT(err_.str(), HasSubstr("(HTTP 503: mirror not loaded yet)"));
}

TEST_F(CliTest, Status_NotJson_Fails) {
    checker_.setStatus(200, "<html>hello</html>");
    EXPECT_EQ(runStatus(checker_.url(), false, out_, err_), 1);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), HasSubstr("sent no status"));
    EXPECT_THAT(err_.str(), HasSubstr(checker_.url()));
}

TEST_F(CliTest, Status_JsonArray_Fails) {
    checker_.setStatus(200, "[1,2]");
    EXPECT_EQ(runStatus(checker_.url(), true, out_, err_), 1);
    EXPECT_THAT(err_.str(), HasSubstr("not an object"));
}

TEST_F(CliTest, Status_Unreachable_FailsNamingUrl) {
    const RefusingPort refusing;
    EXPECT_EQ(runStatus(refusing.url(), false, out_, err_), 1);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(),
                HasSubstr("cannot reach the health-checker '" + refusing.url() + "' ("));
}

TEST_F(CliTest, Status_BadUrl_UsageErrorWithoutRequest) {
    const std::vector<std::string> urls = {checker_.url() + "/status",
                                           "ftp://127.0.0.1:9382",
                                           "http://127.0.0.1:70000",
                                           "http://127.0.0.1:",
                                           "http://",
                                           "http://[::1"};
    for (const auto& url : urls) {
        std::ostringstream err;
        EXPECT_EQ(runStatus(url, false, out_, err), 2) << url;
        EXPECT_THAT(err.str(), HasSubstr("invalid checker URL")) << url;
    }
    EXPECT_TRUE(checker_.requests().empty());
}

TEST_F(CliTest, Status_TrailingSlashAccepted) {
    checker_.setStatus(200, kStatus);
    EXPECT_EQ(runStatus(checker_.url() + "/", false, out_, err_), 0) << err_.str();
}

// ---- resync ----

TEST_F(CliTest, Resync_AllAccepted_CanonicalZoneSent) {
    checker_.setResync(200, R"({"requested":[{"node":"sec1","accepted":true,"error":""},
                                              {"node":"sec2","accepted":true,"error":""}]})");
    EXPECT_EQ(runResync(checker_.url(), "Example.ORG", "", out_, err_), 0) << err_.str();
    EXPECT_EQ(out_.str(), "sec1: resync requested\nsec2: resync requested\n");
    const auto requests = checker_.requests();
    ASSERT_EQ(requests.size(), 1U);
    const std::string prefix = "POST /resync ";
    ASSERT_EQ(requests[0].rfind(prefix, 0), 0U) << requests[0];
    EXPECT_EQ(json::parse(requests[0].substr(prefix.size())), json({{"zone", "example.org."}}));
}

TEST_F(CliTest, Resync_WithNode_SendsNode) {
    checker_.setResync(200, R"({"requested":[{"node":"sec2","accepted":true,"error":""}]})");
    EXPECT_EQ(runResync(checker_.url(), "example.org.", "sec2", out_, err_), 0) << err_.str();
    const auto requests = checker_.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(json::parse(requests[0].substr(std::string("POST /resync ").size())),
              json({{"zone", "example.org."}, {"node", "sec2"}}));
}

TEST_F(CliTest, Resync_OneRefused_Exit1AndLinePerNode) {
    checker_.setResync(200, R"json({"requested":[{"node":"sec1","accepted":true,"error":""},
                                              {"node":"sec2","accepted":false,"error":"no reply (timeout)"},
                                              {"node":"sec3","accepted":false}]})json");
    EXPECT_EQ(runResync(checker_.url(), "example.org", "", out_, err_), 1);
    EXPECT_EQ(out_.str(),
              "sec1: resync requested\nsec2: failed: no reply (timeout)\n"
              "sec3: failed: no reason given\n");
}

TEST_F(CliTest, Resync_4xx_FailsWithCheckerError) {
    checker_.setResync(404, R"({"error":"unknown node 'sec9'"})");
    EXPECT_EQ(runResync(checker_.url(), "example.org", "sec9", out_, err_), 1);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), HasSubstr("refused the resync of 'example.org.' (HTTP 404: unknown "
                                      "node 'sec9')"));
}

TEST_F(CliTest, Resync_EmptyList_Fails) {
    checker_.setResync(200, R"({"requested":[]})");
    EXPECT_EQ(runResync(checker_.url(), "example.org", "", out_, err_), 1);
    EXPECT_THAT(err_.str(), HasSubstr("no node was asked to resync 'example.org.'"));
}

TEST_F(CliTest, Resync_MalformedAnswer_Fails) {
    checker_.setResync(200, R"({"ok":true})");
    EXPECT_EQ(runResync(checker_.url(), "example.org", "", out_, err_), 1);
    EXPECT_THAT(err_.str(), HasSubstr("without a 'requested' list"));
}

TEST_F(CliTest, Resync_InvalidZone_RejectedBeforeSending) {
    EXPECT_EQ(runResync(checker_.url(), "a..example", "", out_, err_), 2);
    EXPECT_THAT(err_.str(), HasSubstr("invalid zone name 'a..example'"));
    EXPECT_EQ(runResync(checker_.url(), std::string(300, 'a'), "", out_, err_), 2);
    EXPECT_TRUE(checker_.requests().empty());
}

TEST_F(CliTest, Resync_InvalidNode_RejectedBeforeSending) {
    EXPECT_EQ(runResync(checker_.url(), "example.org", "sec 1", out_, err_), 2);
    EXPECT_THAT(err_.str(), HasSubstr("invalid node id 'sec 1'"));
    EXPECT_TRUE(checker_.requests().empty());
}

TEST_F(CliTest, Resync_Unreachable_Fails) {
    const RefusingPort refusing;
    EXPECT_EQ(runResync(refusing.url(), "example.org", "", out_, err_), 1);
    EXPECT_THAT(err_.str(), HasSubstr("cannot reach the health-checker '" + refusing.url()));
}

// ---- deletions approve ----

TEST_F(CliTest, Approve_PrintsCount) {
    checker_.setApprove(200, R"({"approved":3})");
    EXPECT_EQ(runApproveDeletions(checker_.url(), out_, err_), 0) << err_.str();
    EXPECT_THAT(out_.str(), HasSubstr("approved 3 held deletion(s)"));
}

// ---- command line ----

TEST_F(CliTest, Cli_StatusWithChecker_Runs) {
    checker_.setStatus(200, kStatus);
    EXPECT_EQ(cli({"status", "--checker", checker_.url(), "--json"}), 0) << err_.str();
    EXPECT_EQ(json::parse(out_.str()), json::parse(kStatus));
}

TEST_F(CliTest, Cli_ResyncWithNode_Runs) {
    checker_.setResync(200, R"({"requested":[{"node":"sec1","accepted":true,"error":""}]})");
    EXPECT_EQ(cli({"resync", "EXAMPLE.org", "--node", "sec1", "--checker", checker_.url()}), 0)
        << err_.str();
    ASSERT_EQ(checker_.requests().size(), 1U);
    EXPECT_THAT(checker_.requests()[0], HasSubstr(R"("node":"sec1")"));
    EXPECT_THAT(checker_.requests()[0], HasSubstr(R"("zone":"example.org.")"));
}

TEST_F(CliTest, Cli_StatusHelp_ListsOptions) {
    EXPECT_EQ(cli({"status", "--help"}), 0);
    const auto help = out_.str();
    EXPECT_THAT(help, HasSubstr("--checker"));
    EXPECT_THAT(help, HasSubstr("http://127.0.0.1:9382"));
    EXPECT_THAT(help, HasSubstr("--json"));
    EXPECT_THAT(help, HasSubstr("pretty-printed"));
}

TEST_F(CliTest, Cli_ResyncHelp_ListsOptions) {
    EXPECT_EQ(cli({"resync", "--help"}), 0);
    const auto help = out_.str();
    EXPECT_THAT(help, HasSubstr("zone to resync"));
    EXPECT_THAT(help, HasSubstr("--node"));
    EXPECT_THAT(help, HasSubstr("only this node id"));
    EXPECT_THAT(help, HasSubstr("--checker"));
}

TEST_F(CliTest, Cli_ResyncWithoutZone_Usage2) {
    EXPECT_EQ(cli({"resync"}), 2);
    EXPECT_THAT(err_.str(), HasSubstr("zone"));
    EXPECT_TRUE(checker_.requests().empty());
}

TEST_F(CliTest, Cli_EmptyNode_Usage2) {
    EXPECT_EQ(cli({"resync", "example.org", "--node", "", "--checker", checker_.url()}), 2);
    EXPECT_THAT(err_.str(), HasSubstr("invalid node id ''"));
    EXPECT_TRUE(checker_.requests().empty());
}

TEST_F(CliTest, Cli_UnknownOption_Usage2) {
    EXPECT_EQ(cli({"status", "--bogus"}), 2);
    EXPECT_THAT(out_.str(), Not(HasSubstr("NODES")));
}

}  // namespace
}  // namespace pdns_distribute::cli
