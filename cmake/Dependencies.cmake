# SPDX-License-Identifier: Apache-2.0
# Every dependency comes from Debian 12 packages. C libraries without a usable CMake config become
# IMPORTED targets through pkg-config. libnats-dev ships a cnats config that names an archive the
# package lacks (cnats::nats_static), so pkg-config is the only reliable way to find it.
find_package(PkgConfig REQUIRED)
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
pkg_check_modules(LDNS REQUIRED IMPORTED_TARGET ldns)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
# cpp-httplib 0.11 in Debian is a compiled library; its feature macros (OpenSSL, zlib, brotli) must
# match how it was built, and only its .pc file carries them.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
if(PDNS_DISTRIBUTE_TESTS)
  find_package(GTest REQUIRED)
endif()
