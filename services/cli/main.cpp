// SPDX-License-Identifier: Apache-2.0
// pdns-distribute: the operator's command-line tool. `keygen` creates the Ed25519 key pair that
// signs zone data (secret key for the zone-provider, public key for every syncer); `status` shows
// the fleet as the health-checker sees it; `resync` asks nodes to fetch a zone again;
// `deletions approve` releases the deletions the health-checker holds back. The commands live in
// cli_commands.cpp so unit tests can run them.

#include <exception>
#include <iostream>

#include "cli_commands.hpp"

int main(int argc, char** argv) {
    try {
        return pdns_distribute::cli::runCli(argc, argv, std::cout, std::cerr);
    } catch (const std::exception& e) {
        std::cerr << "pdns-distribute: " << e.what() << '\n';
        return 1;
    }
}
