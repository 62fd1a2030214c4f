// SPDX-License-Identifier: Apache-2.0
#include "socket_activation.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include <gtest/gtest.h>

namespace pdns_distribute::secondary_syncer {
namespace {

EnvReader env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(ListenFds, NoVariables_NoSockets) {
    auto r = parseListenFds(env({}), 42);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
}

TEST(ListenFds, ForUs_DescriptorsFromThreeWithNames) {
    auto r = parseListenFds(
        env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "3"}, {"LISTEN_FDNAMES", "tcp4:tcp6:udp4"}}), 42);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].fd, 3);
    EXPECT_EQ((*r)[0].name, "tcp4");
    EXPECT_EQ((*r)[2].fd, 5);
    EXPECT_EQ((*r)[2].name, "udp4");
}

TEST(ListenFds, WithoutNames_Unknown) {
    auto r = parseListenFds(env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "2"}}), 42);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[1].name, "unknown");
}

TEST(ListenFds, ForAnotherProcess_Ignored) {
    auto r = parseListenFds(env({{"LISTEN_PID", "41"}, {"LISTEN_FDS", "2"}}), 42);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
}

TEST(ListenFds, Malformed_Errors) {
    EXPECT_FALSE(parseListenFds(env({{"LISTEN_PID", "x"}, {"LISTEN_FDS", "2"}}), 42));
    EXPECT_FALSE(parseListenFds(env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "-1"}}), 42));
    EXPECT_FALSE(parseListenFds(env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "2x"}}), 42));
    EXPECT_FALSE(parseListenFds(env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "100000"}}), 42));
    EXPECT_FALSE(parseListenFds(
        env({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "2"}, {"LISTEN_FDNAMES", "a:b:c"}}), 42));
}

TEST(InspectSockets, ListeningTcpAndBoundUdp_Described) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(tcp, 0);
    ASSERT_GE(udp, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(tcp, 4), 0);
    ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    auto s = inspectSockets({PassedFd{.fd = tcp, .name = "t"}, PassedFd{.fd = udp, .name = "u"}});
    ASSERT_EQ(s.size(), 2u);
    EXPECT_TRUE(s[0].stream);
    EXPECT_FALSE(s[1].stream);
    EXPECT_EQ(s[0].address, "127.0.0.1");
    EXPECT_NE(s[0].port, 0);
    EXPECT_EQ(s[1].family, AF_INET);
    ::close(tcp);
    ::close(udp);
}

TEST(InspectSockets, NotListeningOrNotASocket_Throws) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(tcp, 0);
    EXPECT_THROW((void)inspectSockets({PassedFd{.fd = tcp, .name = "t"}}), std::runtime_error);
    ::close(tcp);
    std::array<int, 2> pipe_fds{};
    ASSERT_EQ(::pipe(pipe_fds.data()), 0);
    EXPECT_THROW((void)inspectSockets({PassedFd{.fd = pipe_fds[0], .name = "p"}}),
                 std::runtime_error);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
