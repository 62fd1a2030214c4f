// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/config.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace pdns_distribute::common {

struct ConfigReader::Impl {
    std::string source;
    toml::table root;
    // Nodes some getter read (values, sections, arrays of tables). finish() reports the rest.
    std::unordered_set<const toml::node*> consumed;
    std::vector<ConfigKeyDoc> docs;
    std::set<std::string, std::less<>> documented;
    // --help-config: arrays of tables yield one empty element so their keys get documented.
    bool documenting = false;
    toml::table doc_element;
};

namespace {

using namespace std::chrono_literals;

constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;

constexpr std::string_view kDurationForms =
    "an integer with a unit: ms, s, m, h or d, e.g. \"250ms\", \"5s\", \"2m\"";

std::string_view typeName(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::array:
            return "array";
        case toml::node_type::table:
            return "table";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string tomlQuoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

/// "a.b[2].c" -> "a.b[].c", so that docs list one entry per key of an array of tables.
std::string docPath(std::string_view path) {
    std::string out;
    for (size_t i = 0; i < path.size(); ++i) {
        out += path[i];
        if (path[i] == '[') {
            while (i + 1 < path.size() && path[i + 1] != ']') ++i;
        }
    }
    return out;
}

uint32_t lineOf(const toml::source_region& region) { return region.begin.line; }

std::string locate(const std::string& source, uint32_t line) {
    return line > 0 ? fmt::format("{}:{}", source, line) : source;
}

struct Unknown {
    uint32_t line;
    uint32_t column;
    std::string path;
};

void collectUnknown(const toml::table& table, const std::string& prefix,
                    const std::unordered_set<const toml::node*>& consumed,
                    std::vector<Unknown>& out) {
    for (const auto& [key, node] : table) {
        const std::string path =
            prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
        if (!consumed.contains(&node)) {
            auto where = key.source().begin.line > 0 ? key.source() : node.source();
            out.push_back({where.begin.line, where.begin.column, path});
            continue;
        }
        if (const auto* sub = node.as_table()) {
            collectUnknown(*sub, path, consumed, out);
        } else if (const auto* arr = node.as_array()) {
            for (size_t i = 0; i < arr->size(); ++i) {
                if (const auto* elem = arr->get(i)->as_table(); elem && consumed.contains(elem)) {
                    collectUnknown(*elem, fmt::format("{}[{}]", path, i), consumed, out);
                }
            }
        }
    }
}

std::string readWholeFile(const std::filesystem::path& file) {
    const auto fail = [&](int err) {
        return ConfigError(
            fmt::format("cannot read configuration '{}' ({})", file.string(), std::strerror(err)));
    };
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw fail(errno);
    std::string text;
    std::array<char, 8192> buf{};
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            throw fail(err);
        }
        if (n == 0) break;
        text.append(buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return text;
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
    const auto bad = [&] {
        return makeError("cannot parse duration '{}' (expected {})", text, kDurationForms);
    };
    if (text == "0") return std::chrono::milliseconds{0};
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits == text.size()) return bad();
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
    if (ec != std::errc{} || ptr != text.data() + digits) return bad();
    const std::string_view unit = text.substr(digits);
    int64_t factor = 0;
    if (unit == "ms") {
        factor = 1;
    } else if (unit == "s") {
        factor = kMsPerSecond;
    } else if (unit == "m") {
        factor = kMsPerMinute;
    } else if (unit == "h") {
        factor = kMsPerHour;
    } else if (unit == "d") {
        factor = kMsPerDay;
    } else {
        return bad();
    }
    if (value > std::numeric_limits<int64_t>::max() / factor) {
        return makeError("cannot parse duration '{}' (too large)", text);
    }
    return std::chrono::milliseconds{value * factor};
}

std::string formatDuration(std::chrono::milliseconds d) {
    const int64_t ms = d.count();
    if (ms == 0) return "0s";
    const int64_t mag = ms < 0 ? -ms : ms;
    if (mag % kMsPerDay == 0) return fmt::format("{}d", ms / kMsPerDay);
    if (mag % kMsPerHour == 0) return fmt::format("{}h", ms / kMsPerHour);
    if (mag % kMsPerMinute == 0) return fmt::format("{}m", ms / kMsPerMinute);
    if (mag % kMsPerSecond == 0) return fmt::format("{}s", ms / kMsPerSecond);
    return fmt::format("{}ms", ms);
}

// ---------------------------------------------------------------------------------------------
// ConfigSection

ConfigSection::ConfigSection(ConfigReader* reader, std::string prefix, const void* table)
    : reader_(reader), prefix_(std::move(prefix)), table_(table) {}

std::string ConfigSection::path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

namespace {

struct Lookup {
    const toml::node* node = nullptr;
    uint32_t line = 0;
};

Lookup lookup(const void* table, std::string_view key) {
    if (table == nullptr) return {};
    const auto* t = static_cast<const toml::table*>(table);
    const auto it = t->find(key);
    if (it == t->end()) return {};
    const uint32_t line =
        lineOf(it->first.source()) > 0 ? lineOf(it->first.source()) : lineOf(it->second.source());
    return {&it->second, line};
}

}  // namespace

void ConfigSection::fail(std::string_view key, std::string_view message) const {
    const Lookup found = lookup(table_, key);
    uint32_t line = found.line;
    if (line == 0 && table_ != nullptr) {
        line = lineOf(static_cast<const toml::table*>(table_)->source());
    }
    throw ConfigError(
        fmt::format("{}: key '{}' {}", locate(reader_->impl_->source, line), path(key), message));
}

namespace {

/// Marks the key consumed, records its doc, and returns its node (nullptr when absent).
const toml::node* consume(ConfigReader::Impl& impl, const std::string& full_path, const void* table,
                          std::string_view key, std::string default_value, std::string_view help) {
    std::string doc = docPath(full_path);
    if (!impl.documented.contains(doc)) {
        impl.documented.insert(doc);
        impl.docs.push_back(ConfigKeyDoc{.path = std::move(doc),
                                         .default_value = std::move(default_value),
                                         .help = std::string(help)});
    }
    const Lookup found = lookup(table, key);
    if (found.node != nullptr) impl.consumed.insert(found.node);
    return found.node;
}

}  // namespace

std::string ConfigSection::getString(std::string_view key, std::string_view def,
                                     std::string_view help) {
    const auto* node = consume(*reader_->impl_, path(key), table_, key, tomlQuoted(def), help);
    if (node == nullptr) return std::string(def);
    if (const auto* s = node->as_string()) return s->get();
    fail(key, fmt::format("must be a string (got {})", typeName(*node)));
}

int64_t ConfigSection::getInt(std::string_view key, int64_t def, std::string_view help, int64_t min,
                              int64_t max) {
    const auto* node =
        consume(*reader_->impl_, path(key), table_, key, fmt::format("{}", def), help);
    if (node == nullptr) return def;
    const auto* i = node->as_integer();
    if (i == nullptr) fail(key, fmt::format("must be an integer (got {})", typeName(*node)));
    const int64_t v = i->get();
    if (v < min || v > max) {
        fail(key, fmt::format("must be between {} and {} (got {})", min, max, v));
    }
    return v;
}

bool ConfigSection::getBool(std::string_view key, bool def, std::string_view help) {
    const auto* node =
        consume(*reader_->impl_, path(key), table_, key, def ? "true" : "false", help);
    if (node == nullptr) return def;
    if (const auto* b = node->as_boolean()) return b->get();
    fail(key, fmt::format("must be true or false (got {})", typeName(*node)));
}

std::chrono::milliseconds ConfigSection::getDuration(std::string_view key,
                                                     std::chrono::milliseconds def,
                                                     std::string_view help,
                                                     std::chrono::milliseconds min,
                                                     std::chrono::milliseconds max) {
    const auto* node =
        consume(*reader_->impl_, path(key), table_, key, tomlQuoted(formatDuration(def)), help);
    if (node == nullptr) return def;
    const auto* s = node->as_string();
    if (s == nullptr) {
        fail(key,
             fmt::format("must be a duration string such as \"5s\" (got {})", typeName(*node)));
    }
    auto parsed = parseDuration(s->get());
    if (!parsed) {
        fail(key,
             fmt::format("has an invalid duration '{}' (expected {})", s->get(), kDurationForms));
    }
    if (*parsed < min || *parsed > max) {
        fail(key, fmt::format("must be between {} and {} (got {})", formatDuration(min),
                              formatDuration(max), s->get()));
    }
    return *parsed;
}

std::vector<std::string> ConfigSection::getStringList(std::string_view key,
                                                      const std::vector<std::string>& def,
                                                      std::string_view help) {
    std::string rendered = "[";
    for (size_t i = 0; i < def.size(); ++i) {
        if (i > 0) rendered += ", ";
        rendered += tomlQuoted(def[i]);
    }
    rendered += "]";
    const auto* node = consume(*reader_->impl_, path(key), table_, key, rendered, help);
    if (node == nullptr) return def;
    // A single string is accepted for convenience: urls = "nats://a:4222".
    if (const auto* s = node->as_string()) return {s->get()};
    const auto* arr = node->as_array();
    if (arr == nullptr) {
        fail(key, fmt::format("must be a list of strings (got {})", typeName(*node)));
    }
    std::vector<std::string> out;
    out.reserve(arr->size());
    for (const auto& elem : *arr) {
        const auto* s = elem.as_string();
        if (s == nullptr) {
            fail(key, fmt::format("must be a list of strings (got an element of type {})",
                                  typeName(elem)));
        }
        out.push_back(s->get());
    }
    return out;
}

ConfigSection ConfigSection::section(std::string_view name, std::string_view help) {
    auto& impl = *reader_->impl_;
    const Lookup found = lookup(table_, name);
    if (!help.empty()) {
        std::string doc = docPath(path(name));
        if (!impl.documented.contains(doc)) {
            impl.documented.insert(doc);
            impl.docs.push_back(ConfigKeyDoc{
                .path = std::move(doc), .default_value = "(section)", .help = std::string(help)});
        }
    }
    if (found.node == nullptr) return ConfigSection(reader_, path(name), nullptr);
    const auto* t = found.node->as_table();
    if (t == nullptr) fail(name, fmt::format("must be a table (got {})", typeName(*found.node)));
    impl.consumed.insert(found.node);
    return ConfigSection(reader_, path(name), t);
}

std::vector<ConfigSection> ConfigSection::sectionArray(std::string_view name,
                                                       std::string_view help) {
    const auto* node = consume(*reader_->impl_, path(name), table_, name, "[]", help);
    if (node == nullptr && reader_->impl_->documenting) {
        return {ConfigSection(reader_, path(name) + "[]", &reader_->impl_->doc_element)};
    }
    if (node == nullptr) return {};
    const auto* arr = node->as_array();
    if (arr == nullptr) {
        fail(name, fmt::format("must be an array of tables, written [[{}]] (got {})", path(name),
                               typeName(*node)));
    }
    std::vector<ConfigSection> out;
    out.reserve(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
        const auto* t = arr->get(i)->as_table();
        if (t == nullptr) {
            fail(name, fmt::format("must be an array of tables, written [[{}]] (element {} is "
                                   "{})",
                                   path(name), i, typeName(*arr->get(i))));
        }
        reader_->impl_->consumed.insert(t);
        out.push_back(ConfigSection(reader_, fmt::format("{}[{}]", path(name), i), t));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// ConfigReader

ConfigReader::ConfigReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;
ConfigReader::~ConfigReader() = default;

ConfigReader ConfigReader::fromFile(const std::filesystem::path& file) {
    return fromString(readWholeFile(file), file.string());
}

ConfigReader ConfigReader::fromString(std::string_view text, std::string source_name) {
    auto impl = std::make_unique<Impl>();
    impl->source = std::move(source_name);
    try {
        impl->root = toml::parse(text, impl->source);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("{}:{}:{}: {}", impl->source, e.source().begin.line,
                                      e.source().begin.column, e.description()));
    }
    return ConfigReader(std::move(impl));
}

ConfigReader ConfigReader::empty(std::string source_name) {
    auto impl = std::make_unique<Impl>();
    impl->source = std::move(source_name);
    return ConfigReader(std::move(impl));
}

ConfigReader ConfigReader::forDocs(std::string source_name) {
    auto reader = empty(std::move(source_name));
    reader.impl_->documenting = true;
    return reader;
}

bool ConfigSection::documenting() const { return reader_->impl_->documenting; }

ConfigSection ConfigReader::root() { return ConfigSection(this, "", &impl_->root); }

void ConfigReader::finish() {
    std::vector<Unknown> unknown;
    collectUnknown(impl_->root, "", impl_->consumed, unknown);
    if (unknown.empty()) return;
    std::sort(unknown.begin(), unknown.end(), [](const Unknown& a, const Unknown& b) {
        return std::tie(a.line, a.column, a.path) < std::tie(b.line, b.column, b.path);
    });
    std::string message;
    for (const auto& u : unknown) {
        if (!message.empty()) message += '\n';
        message += fmt::format("{}: unknown key '{}'", locate(impl_->source, u.line), u.path);
    }
    throw ConfigError(message);
}

const std::vector<ConfigKeyDoc>& ConfigReader::docs() const { return impl_->docs; }
const std::string& ConfigReader::source() const { return impl_->source; }

// ---------------------------------------------------------------------------------------------
// Shared sections

namespace {

/// A literal NATS subject: non-empty tokens separated by '.', no wildcard tokens, no whitespace.
bool validInboxPrefix(std::string_view prefix) {
    size_t start = 0;
    for (;;) {
        const size_t dot = prefix.find('.', start);
        const auto token = prefix.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (token.empty() || token == "*" || token == ">") return false;
        for (const char c : token) {
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') return false;
        }
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

}  // namespace

NatsSettings readNatsSettings(ConfigSection section) {
    const NatsSettings d;
    NatsSettings s;
    s.urls = section.getStringList(
        "urls", d.urls,
        "NATS server URLs (nats:// or tls://); the client reconnects to any of them");
    if (s.urls.empty()) section.fail("urls", "must list at least one URL");
    for (const auto& url : s.urls) {
        if (url.empty()) section.fail("urls", "must not contain an empty URL");
    }
    s.name = section.getString("name", d.name,
                               "connection name shown by nats-server (default: the daemon name)");
    s.connect_timeout = section.getDuration("connect_timeout", d.connect_timeout,
                                            "timeout of one connection attempt", 100ms, 5min);
    s.reconnect_wait =
        section.getDuration("reconnect_wait", d.reconnect_wait,
                            "base wait between reconnect attempts (jittered)", 10ms, 5min);
    s.initial_connect_deadline = section.getDuration(
        "initial_connect_deadline", d.initial_connect_deadline,
        "keep retrying the first connection with backoff for this long (0: try once)", 0ms, 24h);
    s.user = section.getString("user", d.user, "user name for user/password authentication");
    s.password_file =
        section.getString("password_file", d.password_file, "file holding the password for 'user'");
    s.token_file =
        section.getString("token_file", d.token_file, "file holding an authentication token");
    s.creds_file =
        section.getString("creds_file", d.creds_file, "NATS credentials file (JWT and NKey seed)");
    s.nkey_seed_file = section.getString("nkey_seed_file", d.nkey_seed_file,
                                         "file holding an NKey seed for NKey authentication");
    s.tls_ca_file = section.getString("tls_ca_file", d.tls_ca_file,
                                      "CA certificate(s) to verify the server with (PEM)");
    s.tls_cert_file = section.getString("tls_cert_file", d.tls_cert_file,
                                        "client certificate for mutual TLS (PEM)");
    s.tls_key_file =
        section.getString("tls_key_file", d.tls_key_file, "private key of tls_cert_file (PEM)");
    s.tls_server_name = section.getString(
        "tls_server_name", d.tls_server_name,
        "host name the server certificate must carry (empty: the certificate chain is checked "
        "against tls_ca_file, no name)");
    s.inbox_prefix = section.getString(
        "inbox_prefix", d.inbox_prefix,
        "prefix of reply subjects (empty: _INBOX); match the user's subscribe permission, e.g. "
        "\"_INBOX.syncer-ns1\"");
    if (!s.inbox_prefix.empty() && !validInboxPrefix(s.inbox_prefix)) {
        section.fail("inbox_prefix",
                     fmt::format("must be subject tokens separated by '.', without wildcards or "
                                 "spaces (got '{}')",
                                 s.inbox_prefix));
    }
    if (!s.user.empty() && s.password_file.empty()) {
        section.fail("user", "needs password_file as well");
    }
    if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
        section.fail(s.tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file",
                     "needs tls_cert_file and tls_key_file together");
    }
    return s;
}

PdnsApiSettings readPdnsApiSettings(ConfigSection section, std::string_view default_url) {
    const PdnsApiSettings d;
    PdnsApiSettings s;
    s.url =
        section.getString("url", default_url, "base URL of the PowerDNS HTTP API, without /api/v1");
    if (!s.url.starts_with("http://") && !s.url.starts_with("https://")) {
        section.fail("url", fmt::format("must start with http:// or https:// (got '{}')", s.url));
    }
    s.server_id = section.getString("server_id", d.server_id, "PowerDNS server id in API URLs");
    if (s.server_id.empty()) section.fail("server_id", "must not be empty");
    s.api_key_file =
        section.getString("api_key_file", d.api_key_file, "file holding the X-API-Key value");
    s.timeout =
        section.getDuration("timeout", d.timeout, "timeout of one API request", 100ms, 10min);
    return s;
}

}  // namespace pdns_distribute::common
