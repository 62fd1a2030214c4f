// SPDX-License-Identifier: Apache-2.0
#pragma once
// Strict TOML configuration (toml++). Every key is read through a ConfigSection with its default
// and help text in one place; keys nobody read are errors with their line number (userver's
// rule), reported by ConfigReader::finish(). Durations are strings with units ("250ms", "5s",
// "2m", "1h"). Secrets are file paths, never values.
//
// Not thread-safe; used once at start-up by the daemon runner and the service's config loader.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/bus.hpp>
#include <pdns_distribute/common/pdns_api.hpp>
#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {

/// A configuration problem. what() reads like
/// `/etc/pdns-distribute/syncer.toml:12: unknown key 'nats.ulr'`.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One documented key, for `--help-config` and the shipped example files.
struct ConfigKeyDoc {
    std::string path;  ///< "nats.urls"
    std::string default_value;
    std::string help;
};

/// Parses "250ms", "5s", "2m", "1h", "1d" (integer with unit). Error names the accepted forms.
[[nodiscard]] Result<std::chrono::milliseconds> parseDuration(std::string_view text);
[[nodiscard]] std::string formatDuration(std::chrono::milliseconds d);

class ConfigReader;

class ConfigSection {
public:
    [[nodiscard]] std::string getString(std::string_view key, std::string_view def,
                                        std::string_view help);
    [[nodiscard]] int64_t getInt(std::string_view key, int64_t def, std::string_view help,
                                 int64_t min, int64_t max);
    [[nodiscard]] bool getBool(std::string_view key, bool def, std::string_view help);
    [[nodiscard]] std::chrono::milliseconds getDuration(
        std::string_view key, std::chrono::milliseconds def, std::string_view help,
        std::chrono::milliseconds min = std::chrono::milliseconds{0},
        std::chrono::milliseconds max = std::chrono::hours{24 * 365});
    [[nodiscard]] std::vector<std::string> getStringList(std::string_view key,
                                                         const std::vector<std::string>& def,
                                                         std::string_view help);
    /// A sub-table; absent tables read as empty (all defaults).
    [[nodiscard]] ConfigSection section(std::string_view name, std::string_view help = {});
    /// An array of tables (e.g. [[trusted_key]]); each element is a section.
    [[nodiscard]] std::vector<ConfigSection> sectionArray(std::string_view name,
                                                          std::string_view help);
    /// Raises a ConfigError about `key` in this section, with its line when present.
    [[noreturn]] void fail(std::string_view key, std::string_view message) const;
    /// True while --help-config collects the keys (values are all defaults, nothing is valid).
    [[nodiscard]] bool documenting() const;
    [[nodiscard]] std::string path(std::string_view key) const;

private:
    friend class ConfigReader;
    ConfigSection(ConfigReader* reader, std::string prefix, const void* table);
    ConfigReader* reader_;
    std::string prefix_;
    const void* table_;  // const toml::table*, or nullptr when the table is absent
};

class ConfigReader {
public:
    /// Parses the file; throws ConfigError with file:line:column on a syntax error, and on an
    /// unreadable file (naming the cause).
    static ConfigReader fromFile(const std::filesystem::path& file);
    static ConfigReader fromString(std::string_view text, std::string source_name = "<config>");
    /// An empty configuration (all defaults), as when no file exists and none was asked for.
    static ConfigReader empty(std::string source_name);
    /// An empty configuration that documents every key, including those of array-of-tables
    /// elements ([[name]] keys appear as name[].key).
    static ConfigReader forDocs(std::string source_name);
    ConfigReader(ConfigReader&&) noexcept;
    ConfigReader& operator=(ConfigReader&&) noexcept;
    ~ConfigReader();

    [[nodiscard]] ConfigSection root();
    /// Throws ConfigError naming every key that no getter consumed, with line numbers.
    void finish();
    [[nodiscard]] const std::vector<ConfigKeyDoc>& docs() const;
    [[nodiscard]] const std::string& source() const;

    struct Impl;

private:
    explicit ConfigReader(std::unique_ptr<Impl> impl);
    friend class ConfigSection;
    std::unique_ptr<Impl> impl_;
};

/// Shared sections (DESIGN §8).
[[nodiscard]] NatsSettings readNatsSettings(ConfigSection section);
[[nodiscard]] PdnsApiSettings readPdnsApiSettings(ConfigSection section,
                                                  std::string_view default_url);

}  // namespace pdns_distribute::common
