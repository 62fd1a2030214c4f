// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/json_array_splitter.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pdns_distribute::common {
namespace {

using Failure = JsonArraySplitter::Failure;

struct Outcome {
    std::vector<std::string> objects;
    bool ok = false;
    Failure failure = Failure::None;
};

// Feeds `text` in chunks of `chunk` bytes.
Outcome split(std::string_view text, size_t chunk) {
    Outcome out;
    JsonArraySplitter s([&](std::string_view o) {
        out.objects.emplace_back(o);
        return true;
    });
    bool fed = true;
    for (size_t i = 0; i < text.size() && fed; i += chunk) fed = s.feed(text.substr(i, chunk));
    out.ok = fed && s.finish();
    out.failure = s.failure();
    return out;
}

// Braces, brackets, quotes and escapes inside strings do not move the framing, whatever the
// chunk boundaries.
TEST(JsonArraySplitter, ObjectsWithTrickyStrings_SameAtEveryChunkSize) {
    const std::string text =
        " [ {\"a\": \"}{][\", \"b\": [1, {\"c\": \"\\\"}\"}]},\n"
        "{\"d\": \"\\\\\"}, {\"e\": {}} ]  \n";
    const std::vector<std::string> want{R"({"a": "}{][", "b": [1, {"c": "\"}"}]})",
                                        R"({"d": "\\"})", R"({"e": {}})"};
    for (size_t chunk = 1; chunk <= text.size(); ++chunk) {
        const auto r = split(text, chunk);
        EXPECT_TRUE(r.ok) << "chunk " << chunk;
        EXPECT_EQ(r.objects, want) << "chunk " << chunk;
    }
}

TEST(JsonArraySplitter, EmptyArray_NoObjects) {
    const auto r = split(" [ ] ", 2);
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.objects.empty());
}

TEST(JsonArraySplitter, BadFraming_SaysWhat) {
    struct Case {
        std::string text;
        Failure want;
    };
    for (const auto& c : std::vector<Case>{
             {"", Failure::NotJson},
             {"not json", Failure::NotJson},
             {R"({"error": "x"})", Failure::NotAnArray},
             {R"([{"a": 1}, 7])", Failure::NotAnObject},
             {R"([{"a": 1}, "x"])", Failure::NotAnObject},
             {R"([{"a": 1},])", Failure::NotJson},
             {R"([{"a": 1} {"b": 2}])", Failure::NotJson},
             {R"([{"a": 1}] x)", Failure::NotJson},
             {R"([{"a": 1})", Failure::NotJson},  // cut short after an item
             {R"([{"a": "1)", Failure::NotJson},  // cut short inside a string
             {R"([, {"a": 1}])", Failure::NotAnObject},
         }) {
        const auto r = split(c.text, 3);
        EXPECT_FALSE(r.ok) << c.text;
        EXPECT_EQ(r.failure, c.want) << c.text;
    }
}

TEST(JsonArraySplitter, ConsumerRefuses_StopsThere) {
    int seen = 0;
    JsonArraySplitter s([&](std::string_view) { return ++seen < 2; });
    EXPECT_FALSE(s.feed(R"([{"a": 1}, {"b": 2}, {"c": 3}])"));
    EXPECT_EQ(seen, 2);
    EXPECT_EQ(s.failure(), Failure::Refused);
    EXPECT_FALSE(s.finish());
}

}  // namespace
}  // namespace pdns_distribute::common
