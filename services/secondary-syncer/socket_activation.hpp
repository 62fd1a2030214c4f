// SPDX-License-Identifier: Apache-2.0
#pragma once
// Sockets passed by systemd socket activation (sd_listen_fds(3)): LISTEN_PID names this process,
// LISTEN_FDS counts the descriptors, which start at 3, and LISTEN_FDNAMES optionally names them
// (colon-separated). Parsed here rather than through libsystemd: the protocol is three variables,
// and a pure parser can be unit-tested without faking getpid(). The AXFR listener takes these
// sockets so that its port stays bound by systemd while the syncer restarts (DESIGN §5.1).

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::secondary_syncer {

inline constexpr int kListenFdsStart = 3;

struct PassedFd {
    int fd = -1;
    std::string name;  ///< from LISTEN_FDNAMES, "unknown" when absent (as systemd says)
};

using EnvReader = std::function<std::optional<std::string>(const char* name)>;

/// The descriptors passed to process `pid`; empty when LISTEN_PID is unset or names another
/// process (the variables were inherited, not meant for us). Error when the variables are
/// malformed (LISTEN_FDS not a small positive number, names not matching the count).
[[nodiscard]] common::Result<std::vector<PassedFd>> parseListenFds(const EnvReader& env, pid_t pid);

struct InheritedSocket {
    int fd = -1;
    bool stream = true;   ///< SOCK_STREAM (listening) or SOCK_DGRAM
    int family = 0;       ///< AF_INET or AF_INET6
    std::string address;  ///< local address, e.g. "127.0.0.1" or "::1"
    uint16_t port = 0;
    std::string name;
};

/// Checks each passed descriptor (an IPv4/IPv6 listening TCP socket or bound UDP socket), marks
/// it close-on-exec and non-blocking. Throws std::runtime_error naming the descriptor otherwise.
[[nodiscard]] std::vector<InheritedSocket> inspectSockets(const std::vector<PassedFd>& fds);

/// parseListenFds on the real environment and pid, then inspectSockets. Throws on malformed
/// variables or unusable descriptors.
[[nodiscard]] std::vector<InheritedSocket> takeInheritedSockets();

}  // namespace pdns_distribute::secondary_syncer
