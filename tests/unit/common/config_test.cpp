// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pdns_distribute/common/config.hpp>

namespace pdns_distribute::common {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no ConfigError>";
}

TEST(ConfigReader, EmptyConfig_GettersReturnDefaults) {
    auto reader = ConfigReader::empty("x.toml");
    auto root = reader.root();
    auto sec = root.section("svc");
    EXPECT_EQ(sec.getString("name", "abc", "h"), "abc");
    EXPECT_EQ(sec.getInt("n", 7, "h", 0, 10), 7);
    EXPECT_TRUE(sec.getBool("b", true, "h"));
    EXPECT_EQ(sec.getDuration("d", 250ms, "h"), 250ms);
    EXPECT_EQ(sec.getStringList("l", {"a", "b"}, "h"), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(sec.sectionArray("arr", "h").empty());
    EXPECT_NO_THROW(reader.finish());
}

TEST(ConfigReader, EachType_ValuesRead) {
    auto reader = ConfigReader::fromString(R"(
[svc]
name = "node-1"
n = 42
b = false
d = "2m"
l = ["x", "y"]
one = "single"
)");
    auto sec = reader.root().section("svc");
    EXPECT_EQ(sec.getString("name", "", "h"), "node-1");
    EXPECT_EQ(sec.getInt("n", 0, "h", 0, 100), 42);
    EXPECT_FALSE(sec.getBool("b", true, "h"));
    EXPECT_EQ(sec.getDuration("d", 1s, "h"), 2min);
    EXPECT_EQ(sec.getStringList("l", {}, "h"), (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(sec.getStringList("one", {}, "h"), (std::vector<std::string>{"single"}));
    EXPECT_NO_THROW(reader.finish());
}

TEST(ConfigReader, Docs_RecordPathDefaultAndHelp) {
    auto reader = ConfigReader::empty("x.toml");
    auto sec = reader.root().section("nats");
    (void)sec.getString("name", "abc", "the name");
    (void)sec.getDuration("wait", 5s, "the wait");
    (void)sec.getStringList("urls", {"nats://a:1"}, "the urls");
    (void)sec.getBool("flag", false, "a flag");
    (void)sec.getInt("n", 3, "a number", 0, 9);
    (void)sec.getString("name", "abc", "again");  // no duplicate
    const auto& docs = reader.docs();
    ASSERT_EQ(docs.size(), 5U);
    EXPECT_EQ(docs[0].path, "nats.name");
    EXPECT_EQ(docs[0].default_value, "\"abc\"");
    EXPECT_EQ(docs[0].help, "the name");
    EXPECT_EQ(docs[1].default_value, "\"5s\"");
    EXPECT_EQ(docs[2].default_value, "[\"nats://a:1\"]");
    EXPECT_EQ(docs[3].default_value, "false");
    EXPECT_EQ(docs[4].default_value, "3");
}

TEST(ConfigReader, WrongType_ErrorNamesFileLineKeyAndType) {
    auto reader = ConfigReader::fromString("[nats]\n\nurls = 5\n", "syncer.toml");
    auto sec = reader.root().section("nats");
    EXPECT_EQ(errorOf([&] { (void)sec.getStringList("urls", {}, "h"); }),
              "syncer.toml:3: key 'nats.urls' must be a list of strings (got integer)");
}

TEST(ConfigReader, WrongTypes_EachGetterRejects) {
    auto reader = ConfigReader::fromString(R"(s = 1
i = "x"
f = 1.5
b = "yes"
d = 5
l = ["a", 2]
t = 3
)",
                                           "c.toml");
    auto root = reader.root();
    EXPECT_EQ(errorOf([&] { (void)root.getString("s", "", "h"); }),
              "c.toml:1: key 's' must be a string (got integer)");
    EXPECT_EQ(errorOf([&] { (void)root.getInt("i", 0, "h", 0, 9); }),
              "c.toml:2: key 'i' must be an integer (got string)");
    EXPECT_EQ(errorOf([&] { (void)root.getInt("f", 0, "h", 0, 9); }),
              "c.toml:3: key 'f' must be an integer (got float)");
    EXPECT_EQ(errorOf([&] { (void)root.getBool("b", false, "h"); }),
              "c.toml:4: key 'b' must be true or false (got string)");
    EXPECT_THAT(errorOf([&] { (void)root.getDuration("d", 1s, "h"); }),
                HasSubstr("c.toml:5: key 'd' must be a duration string"));
    EXPECT_THAT(errorOf([&] { (void)root.getStringList("l", {}, "h"); }),
                HasSubstr("c.toml:6: key 'l' must be a list of strings"));
    EXPECT_EQ(errorOf([&] { (void)root.section("t"); }),
              "c.toml:7: key 't' must be a table (got integer)");
}

TEST(ConfigReader, IntOutOfRange_ErrorNamesRange) {
    auto reader = ConfigReader::fromString("n = 11\n", "c.toml");
    auto root = reader.root();
    EXPECT_EQ(errorOf([&] { (void)root.getInt("n", 0, "h", 1, 10); }),
              "c.toml:1: key 'n' must be between 1 and 10 (got 11)");
}

TEST(ConfigReader, DurationOutOfRange_ErrorNamesRange) {
    auto reader = ConfigReader::fromString("d = \"2h\"\n", "c.toml");
    auto root = reader.root();
    EXPECT_EQ(errorOf([&] { (void)root.getDuration("d", 1s, "h", 250ms, 1h); }),
              "c.toml:1: key 'd' must be between 250ms and 1h (got 2h)");
}

TEST(ConfigReader, BadDuration_ErrorNamesAcceptedForms) {
    auto reader = ConfigReader::fromString("d = \"5x\"\n", "c.toml");
    auto root = reader.root();
    const std::string err = errorOf([&] { (void)root.getDuration("d", 1s, "h"); });
    EXPECT_THAT(err, HasSubstr("c.toml:1: key 'd' has an invalid duration '5x'"));
    EXPECT_THAT(err, HasSubstr("ms, s, m, h or d"));
}

TEST(ConfigReader, UnknownKeys_AllReportedWithLines) {
    auto reader = ConfigReader::fromString(R"([nats]
urls = ["nats://a:4222"]
ulr = "typo"

[extra]
x = 1

[svc]
known = 1
unknown_a = 2
[svc.sub]
deep = 3
)",
                                           "syncer.toml");
    auto root = reader.root();
    (void)root.section("nats").getStringList("urls", {}, "h");
    auto svc = root.section("svc");
    (void)svc.getInt("known", 0, "h", 0, 10);
    (void)svc.section("sub");
    EXPECT_EQ(errorOf([&] { reader.finish(); }),
              "syncer.toml:3: unknown key 'nats.ulr'\n"
              "syncer.toml:5: unknown key 'extra'\n"
              "syncer.toml:10: unknown key 'svc.unknown_a'\n"
              "syncer.toml:12: unknown key 'svc.sub.deep'");
}

TEST(ConfigReader, NestedTables_DottedPathsAndLines) {
    auto reader = ConfigReader::fromString("[a.b.c]\nv = \"x\"\nw = true\n", "c.toml");
    auto c = reader.root().section("a").section("b").section("c");
    EXPECT_EQ(c.getString("v", "", "h"), "x");
    EXPECT_EQ(c.path("v"), "a.b.c.v");
    EXPECT_EQ(errorOf([&] { reader.finish(); }), "c.toml:3: unknown key 'a.b.c.w'");
}

TEST(ConfigReader, ArrayOfTables_EachElementASection) {
    auto reader = ConfigReader::fromString(R"([[trusted_key]]
public_key = "k1"

[[trusted_key]]
public_key = "k2"
not_after = "2030-01-01"
bogus = 1
)",
                                           "c.toml");
    auto keys = reader.root().sectionArray("trusted_key", "trusted keys");
    ASSERT_EQ(keys.size(), 2U);
    EXPECT_EQ(keys[0].getString("public_key", "", "h"), "k1");
    EXPECT_EQ(keys[1].getString("public_key", "", "h"), "k2");
    EXPECT_EQ(keys[0].getString("not_after", "", "h"), "");
    EXPECT_EQ(keys[1].getString("not_after", "", "h"), "2030-01-01");
    EXPECT_EQ(errorOf([&] { reader.finish(); }), "c.toml:7: unknown key 'trusted_key[1].bogus'");
    // Docs list the array and its keys once, index-free.
    std::vector<std::string> paths;
    for (const auto& d : reader.docs()) paths.push_back(d.path);
    EXPECT_EQ(paths, (std::vector<std::string>{"trusted_key", "trusted_key[].public_key",
                                               "trusted_key[].not_after"}));
}

TEST(ConfigReader, ArrayOfTables_ErrorInElementNamesIndex) {
    auto reader = ConfigReader::fromString("[[k]]\nv = 1\n[[k]]\nv = \"x\"\n", "c.toml");
    auto ks = reader.root().sectionArray("k", "h");
    ASSERT_EQ(ks.size(), 2U);
    (void)ks[0].getInt("v", 0, "h", 0, 9);
    EXPECT_EQ(errorOf([&] { (void)ks[1].getInt("v", 0, "h", 0, 9); }),
              "c.toml:4: key 'k[1].v' must be an integer (got string)");
}

TEST(ConfigReader, NotAnArrayOfTables_Rejected) {
    auto reader = ConfigReader::fromString("k = [1, 2]\n", "c.toml");
    auto root = reader.root();
    EXPECT_THAT(errorOf([&] { (void)root.sectionArray("k", "h"); }),
                HasSubstr("c.toml:1: key 'k' must be an array of tables"));
}

TEST(ConfigReader, SyntaxError_ReportsLineAndColumn) {
    const std::string err =
        errorOf([] { (void)ConfigReader::fromString("a = 1\nb = = 2\n", "bad.toml"); });
    EXPECT_THAT(err, ::testing::StartsWith("bad.toml:2:"));
    EXPECT_THAT(err, ::testing::MatchesRegex("bad\\.toml:2:[0-9]+: .+"));
}

TEST(ConfigReader, MissingFile_ErrorNamesCause) {
    const auto path = std::filesystem::temp_directory_path() / "pdd-config-test-missing.toml";
    std::filesystem::remove(path);
    EXPECT_EQ(errorOf([&] { (void)ConfigReader::fromFile(path); }),
              "cannot read configuration '" + path.string() + "' (No such file or directory)");
}

TEST(ConfigReader, FromFile_UsesPathAsSource) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("pdd-config-test-" + std::to_string(::getpid()) + ".toml");
    {
        std::ofstream out(path);
        out << "x = 1\n";
    }
    auto reader = ConfigReader::fromFile(path);
    std::filesystem::remove(path);
    EXPECT_EQ(reader.source(), path.string());
    EXPECT_EQ(errorOf([&] { reader.finish(); }), path.string() + ":1: unknown key 'x'");
}

TEST(ConfigSection, Fail_NamesFileLineAndKey) {
    auto reader = ConfigReader::fromString("[svc]\nnode = \"a b\"\n", "c.toml");
    auto svc = reader.root().section("svc");
    EXPECT_EQ(errorOf([&] { svc.fail("node", "must match [A-Za-z0-9_-]{1,64}"); }),
              "c.toml:2: key 'svc.node' must match [A-Za-z0-9_-]{1,64}");
}

struct DurationCase {
    const char* text;
    std::optional<std::chrono::milliseconds> want;
};

class ParseDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, Table_MatchesExpectation) {
    const auto& c = GetParam();
    auto got = parseDuration(c.text);
    if (c.want) {
        ASSERT_TRUE(got) << c.text << ": " << got.error().message;
        EXPECT_EQ(*got, *c.want) << c.text;
    } else {
        ASSERT_FALSE(got) << c.text;
        EXPECT_THAT(got.error().message, HasSubstr("ms, s, m, h or d"));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseDuration,
    ::testing::Values(DurationCase{"250ms", 250ms}, DurationCase{"5s", 5s},
                      DurationCase{"2m", 2min}, DurationCase{"1h", 1h}, DurationCase{"1d", 24h},
                      DurationCase{"0", 0ms}, DurationCase{"0s", 0ms},
                      DurationCase{"5", std::nullopt}, DurationCase{"5x", std::nullopt},
                      DurationCase{"-1s", std::nullopt}, DurationCase{"", std::nullopt},
                      DurationCase{"s", std::nullopt}, DurationCase{"1.5s", std::nullopt},
                      DurationCase{" 5s", std::nullopt}, DurationCase{"5 s", std::nullopt},
                      DurationCase{"5S", std::nullopt}, DurationCase{"5sec", std::nullopt}));

TEST(ParseDuration, Overflow_Rejected) {
    EXPECT_FALSE(parseDuration("99999999999999999999d"));
    EXPECT_FALSE(parseDuration("9223372036854775807d"));
}

TEST(FormatDuration, PicksLargestExactUnit) {
    EXPECT_EQ(formatDuration(0ms), "0s");
    EXPECT_EQ(formatDuration(250ms), "250ms");
    EXPECT_EQ(formatDuration(1500ms), "1500ms");
    EXPECT_EQ(formatDuration(5s), "5s");
    EXPECT_EQ(formatDuration(2min), "2m");
    EXPECT_EQ(formatDuration(90min), "90m");
    EXPECT_EQ(formatDuration(1h), "1h");
    EXPECT_EQ(formatDuration(48h), "2d");
}

TEST(ConfigDocs, ArrayOfTablesElementKeysAreDocumented) {
    auto reader = ConfigReader::forDocs("c.toml");
    auto elements = reader.root().sectionArray("trusted_key", "keys");
    ASSERT_EQ(elements.size(), 1U);
    EXPECT_TRUE(elements[0].documenting());
    (void)elements[0].getString("file", "", "key file");
    std::vector<std::string> paths;
    for (const auto& doc : reader.docs()) paths.push_back(doc.path);
    EXPECT_EQ(paths, (std::vector<std::string>{"trusted_key", "trusted_key[].file"}));
    // A real (empty) configuration has no element and does not document.
    auto plain = ConfigReader::empty("c.toml");
    EXPECT_TRUE(plain.root().sectionArray("trusted_key", "keys").empty());
    EXPECT_FALSE(plain.root().documenting());
}

TEST(ReadNatsSettings, AbsentSection_Defaults) {
    auto reader = ConfigReader::empty("c.toml");
    const auto s = readNatsSettings(reader.root().section("nats"));
    const NatsSettings d;
    EXPECT_EQ(s.urls, d.urls);
    EXPECT_EQ(s.connect_timeout, d.connect_timeout);
    EXPECT_EQ(s.reconnect_wait, d.reconnect_wait);
    EXPECT_EQ(s.initial_connect_deadline, d.initial_connect_deadline);
    EXPECT_TRUE(s.user.empty());
    // Every key is documented with help text.
    std::vector<std::string> paths;
    for (const auto& doc : reader.docs()) {
        paths.push_back(doc.path);
        EXPECT_FALSE(doc.help.empty()) << doc.path;
    }
    EXPECT_EQ(paths, (std::vector<std::string>{
                         "nats.urls", "nats.name", "nats.connect_timeout", "nats.reconnect_wait",
                         "nats.initial_connect_deadline", "nats.user", "nats.password_file",
                         "nats.token_file", "nats.creds_file", "nats.nkey_seed_file",
                         "nats.tls_ca_file", "nats.tls_cert_file", "nats.tls_key_file",
                         "nats.tls_server_name", "nats.inbox_prefix"}));
}

TEST(ReadNatsSettings, AllKeys_Read) {
    auto reader = ConfigReader::fromString(R"([nats]
urls = ["tls://a:4222", "tls://b:4222"]
name = "syncer-a"
connect_timeout = "3s"
reconnect_wait = "500ms"
initial_connect_deadline = "0"
user = "u"
password_file = "/p"
token_file = "/t"
creds_file = "/c"
nkey_seed_file = "/n"
tls_ca_file = "/ca"
tls_cert_file = "/cert"
tls_key_file = "/key"
tls_server_name = "nats.example.net"
inbox_prefix = "_INBOX.syncer-a"
)");
    const auto s = readNatsSettings(reader.root().section("nats"));
    EXPECT_NO_THROW(reader.finish());
    EXPECT_EQ(s.urls, (std::vector<std::string>{"tls://a:4222", "tls://b:4222"}));
    EXPECT_EQ(s.name, "syncer-a");
    EXPECT_EQ(s.connect_timeout, 3s);
    EXPECT_EQ(s.reconnect_wait, 500ms);
    EXPECT_EQ(s.initial_connect_deadline, 0ms);
    EXPECT_EQ(s.user, "u");
    EXPECT_EQ(s.password_file, "/p");
    EXPECT_EQ(s.token_file, "/t");
    EXPECT_EQ(s.creds_file, "/c");
    EXPECT_EQ(s.nkey_seed_file, "/n");
    EXPECT_EQ(s.tls_ca_file, "/ca");
    EXPECT_EQ(s.tls_cert_file, "/cert");
    EXPECT_EQ(s.tls_key_file, "/key");
    EXPECT_EQ(s.tls_server_name, "nats.example.net");
    EXPECT_EQ(s.inbox_prefix, "_INBOX.syncer-a");
}

TEST(ReadNatsSettings, InboxPrefixWithWildcardOrEmptyToken_Rejected) {
    for (const char* bad : {"_INBOX.>", "_INBOX.*.x", "_INBOX..x", "_INBOX.", "a b"}) {
        auto reader = ConfigReader::fromString(
            std::string("[nats]\ninbox_prefix = \"") + bad + "\"\n", "c.toml");
        const auto error = errorOf([&] { (void)readNatsSettings(reader.root().section("nats")); });
        EXPECT_NE(error.find("c.toml:2: key 'nats.inbox_prefix' must be subject tokens"),
                  std::string::npos)
            << bad << ": " << error;
    }
}

TEST(ReadNatsSettings, EmptyUrlList_Rejected) {
    auto reader = ConfigReader::fromString("[nats]\nurls = []\n", "c.toml");
    EXPECT_EQ(errorOf([&] { (void)readNatsSettings(reader.root().section("nats")); }),
              "c.toml:2: key 'nats.urls' must list at least one URL");
}

TEST(ReadPdnsApiSettings, DefaultsAndOverrides) {
    {
        auto reader = ConfigReader::empty("c.toml");
        const auto s = readPdnsApiSettings(reader.root().section("pdns"), "http://127.0.0.1:8082");
        EXPECT_EQ(s.url, "http://127.0.0.1:8082");
        EXPECT_EQ(s.server_id, "localhost");
        EXPECT_EQ(s.timeout, 5s);
        ASSERT_EQ(reader.docs().size(), 4U);
        EXPECT_EQ(reader.docs()[0].default_value, "\"http://127.0.0.1:8082\"");
    }
    {
        auto reader = ConfigReader::fromString(
            "[pdns]\nurl = \"https://h:1\"\nserver_id = \"s\"\napi_key_file = \"/k\"\n"
            "timeout = \"2s\"\n");
        const auto s = readPdnsApiSettings(reader.root().section("pdns"), "http://x:1");
        EXPECT_NO_THROW(reader.finish());
        EXPECT_EQ(s.url, "https://h:1");
        EXPECT_EQ(s.server_id, "s");
        EXPECT_EQ(s.api_key_file, "/k");
        EXPECT_EQ(s.timeout, 2s);
    }
}

TEST(ReadPdnsApiSettings, BadUrl_Rejected) {
    auto reader = ConfigReader::fromString("[pdns]\nurl = \"ftp://x\"\n", "c.toml");
    EXPECT_THAT(
        errorOf([&] { (void)readPdnsApiSettings(reader.root().section("pdns"), "http://a:1"); }),
        HasSubstr("c.toml:2: key 'pdns.url' must start with http:// or https://"));
}

}  // namespace
}  // namespace pdns_distribute::common
