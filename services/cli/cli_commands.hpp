// SPDX-License-Identifier: Apache-2.0
#pragma once
// The commands of `pdns-distribute`, apart from main() so unit tests can run them against an HTTP
// server on a loopback port and read what they print. Exit codes: 0 done, 1 failed (checker
// unreachable, refused, or answered something unexpected), 2 bad usage (unknown option, invalid
// zone name, node id or checker URL).

#include <iosfwd>
#include <string>
#include <string_view>

namespace pdns_distribute::cli {

/// The health-checker's loopback HTTP endpoint (its default `http.listen`).
inline constexpr std::string_view kDefaultChecker = "http://127.0.0.1:9382";

/// Parses the command line and runs the chosen command; help and usage errors go to `out`/`err`.
[[nodiscard]] int runCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

/// `status`: GET <checker>/status; prints the text report, or the JSON pretty-printed.
[[nodiscard]] int runStatus(std::string_view checker, bool as_json, std::ostream& out,
                            std::ostream& err);

/// `resync ZONE [--node NODE]`: POST <checker>/resync; one line per node on `out`. `node` empty
/// means every node the checker knows.
[[nodiscard]] int runResync(std::string_view checker, std::string_view zone, std::string_view node,
                            std::ostream& out, std::ostream& err);

/// `deletions approve`: POST <checker>/deletions/approve.
[[nodiscard]] int runApproveDeletions(std::string_view checker, std::ostream& out,
                                      std::ostream& err);

/// `keygen`: writes a new Ed25519 key pair.
[[nodiscard]] int runKeygen(const std::string& secret_path, const std::string& public_path,
                            std::ostream& out, std::ostream& err);

}  // namespace pdns_distribute::cli
