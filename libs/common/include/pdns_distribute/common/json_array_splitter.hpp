// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reads a JSON array of objects in chunks as they arrive and hands over each top-level object as
// one complete JSON text, holding no more than that object: a listing of 100,000 zones is read in
// the memory of one zone instead of a ~30 MB body (cpp-httplib would collect it into one string,
// reallocating as it grows). Only the framing is checked here (strings, escapes, nesting, commas);
// each object is parsed strictly by the consumer (nlohmann::json).

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace pdns_distribute::common {

class JsonArraySplitter {
public:
    enum class Failure {
        None,
        NotJson,      ///< not a JSON text (or cut short)
        NotAnArray,   ///< a JSON object or scalar at the top level
        NotAnObject,  ///< an item of the array is not an object
        Refused,      ///< the consumer refused an object
    };

    /// `on_object` gets each item's text; returning false stops the reading (Refused).
    explicit JsonArraySplitter(std::function<bool(std::string_view object)> on_object);

    /// Reads the next chunk; false once the input is known to be bad (see failure()).
    bool feed(std::string_view chunk);
    /// The end of the input: true when it was exactly one array of objects.
    bool finish();
    [[nodiscard]] Failure failure() const { return failure_; }
    /// The first bytes read (up to 200), to quote in an error.
    [[nodiscard]] const std::string& head() const { return head_; }

private:
    enum class State { BeforeArray, FirstItem, NextItem, InItem, AfterItem, Done, Failed };
    bool fail(Failure f);

    std::function<bool(std::string_view)> on_object_;
    State state_ = State::BeforeArray;
    Failure failure_ = Failure::None;
    std::string item_;
    size_t depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    std::string head_;
};

}  // namespace pdns_distribute::common
