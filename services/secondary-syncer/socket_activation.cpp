// SPDX-License-Identifier: Apache-2.0
#include "socket_activation.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace pdns_distribute::secondary_syncer {

namespace {

/// More than any socket unit of ours passes; guards against a nonsense count.
constexpr int kMaxPassedFds = 64;

template <typename T>
std::optional<T> parseNumber(const std::string& s) {
    T v{};
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || p != end || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

common::Result<std::vector<PassedFd>> parseListenFds(const EnvReader& env, pid_t pid) {
    const auto listen_pid = env("LISTEN_PID");
    if (!listen_pid) return std::vector<PassedFd>{};
    const auto parsed_pid = parseNumber<pid_t>(*listen_pid);
    if (!parsed_pid) {
        return common::makeError("cannot use passed sockets (LISTEN_PID '{}' is not a number)",
                                 *listen_pid);
    }
    if (*parsed_pid != pid) return std::vector<PassedFd>{};
    const auto count_text = env("LISTEN_FDS");
    if (!count_text) return std::vector<PassedFd>{};
    const auto count = parseNumber<int>(*count_text);
    if (!count || *count < 0 || *count > kMaxPassedFds) {
        return common::makeError(
            "cannot use passed sockets (LISTEN_FDS '{}' is not a number from 0 to {})", *count_text,
            kMaxPassedFds);
    }
    std::vector<std::string> names;
    if (auto names_text = env("LISTEN_FDNAMES")) {
        size_t start = 0;
        for (;;) {
            const auto colon = names_text->find(':', start);
            names.push_back(names_text->substr(start, colon - start));
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
        if (names.size() != static_cast<size_t>(*count)) {
            return common::makeError(
                "cannot use passed sockets (LISTEN_FDNAMES has {} names for {} descriptors)",
                names.size(), *count);
        }
    }
    std::vector<PassedFd> out;
    out.reserve(static_cast<size_t>(*count));
    for (int i = 0; i < *count; ++i) {
        out.push_back(PassedFd{.fd = kListenFdsStart + i,
                               .name = names.empty() ? "unknown" : names[static_cast<size_t>(i)]});
    }
    return out;
}

std::vector<InheritedSocket> inspectSockets(const std::vector<PassedFd>& fds) {
    std::vector<InheritedSocket> out;
    for (const auto& p : fds) {
        auto fail = [&](std::string_view why) {
            return std::runtime_error(
                fmt::format("cannot use passed socket {} ('{}') ({}); check the socket unit "
                            "pdns-secondary-syncer.socket",
                            p.fd, p.name, why));
        };
        int type = 0;
        socklen_t len = sizeof(type);
        if (::getsockopt(p.fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
            throw fail(std::strerror(errno));
        }
        if (type != SOCK_STREAM && type != SOCK_DGRAM) throw fail("neither TCP nor UDP");
        if (type == SOCK_STREAM) {
            int listening = 0;
            len = sizeof(listening);
            if (::getsockopt(p.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
                listening == 0) {
                throw fail("a stream socket that is not listening");
            }
        }
        sockaddr_storage ss{};
        len = sizeof(ss);
        if (::getsockname(p.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
            throw fail(std::strerror(errno));
        }
        InheritedSocket s{.fd = p.fd,
                          .stream = type == SOCK_STREAM,
                          .family = ss.ss_family,
                          .address = {},
                          .port = 0,
                          .name = p.name};
        std::array<char, INET6_ADDRSTRLEN> buf{};
        if (ss.ss_family == AF_INET) {
            const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
            inet_ntop(AF_INET, &v4->sin_addr, buf.data(), buf.size());
            s.port = ntohs(v4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
            inet_ntop(AF_INET6, &v6->sin6_addr, buf.data(), buf.size());
            s.port = ntohs(v6->sin6_port);
        } else {
            throw fail("not an IPv4 or IPv6 socket");
        }
        s.address = buf.data();
        const int fd_flags = ::fcntl(p.fd, F_GETFD);
        const int fl_flags = ::fcntl(p.fd, F_GETFL);
        if (fd_flags < 0 || fl_flags < 0 || ::fcntl(p.fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0 ||
            ::fcntl(p.fd, F_SETFL, fl_flags | O_NONBLOCK) != 0) {
            throw fail(std::strerror(errno));
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<InheritedSocket> takeInheritedSockets() {
    // The variables are left in the environment: unsetenv() is not thread-safe, other threads
    // (metrics, logging) already run, and the syncer starts no child processes.
    auto fds = parseListenFds(
        [](const char* name) -> std::optional<std::string> {
            const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read only
            if (v == nullptr) return std::nullopt;
            return std::string(v);
        },
        ::getpid());
    if (!fds) throw std::runtime_error(fds.error().message);
    return inspectSockets(*fds);
}

}  // namespace pdns_distribute::secondary_syncer
