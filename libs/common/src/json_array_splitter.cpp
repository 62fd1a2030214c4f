// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/json_array_splitter.hpp>

namespace pdns_distribute::common {

namespace {

constexpr size_t kHeadBytes = 200;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

JsonArraySplitter::JsonArraySplitter(std::function<bool(std::string_view object)> on_object)
    : on_object_(std::move(on_object)) {}

bool JsonArraySplitter::fail(Failure f) {
    state_ = State::Failed;
    failure_ = f;
    item_.clear();
    item_.shrink_to_fit();
    return false;
}

bool JsonArraySplitter::feed(std::string_view chunk) {
    if (head_.size() < kHeadBytes) head_.append(chunk.substr(0, kHeadBytes - head_.size()));
    for (const char c : chunk) {
        switch (state_) {
            case State::Failed:
                return false;
            case State::BeforeArray:
                if (isSpace(c)) break;
                if (c == '[') {
                    state_ = State::FirstItem;
                    break;
                }
                return fail(c == '{' ? Failure::NotAnArray : Failure::NotJson);
            case State::FirstItem:
            case State::NextItem:
                if (isSpace(c)) break;
                if (c == ']' && state_ == State::FirstItem) {
                    state_ = State::Done;
                    break;
                }
                if (c != '{') return fail(c == ']' ? Failure::NotJson : Failure::NotAnObject);
                state_ = State::InItem;
                item_.assign(1, c);
                depth_ = 1;
                in_string_ = false;
                escaped_ = false;
                break;
            case State::InItem:
                item_.push_back(c);
                if (in_string_) {
                    if (escaped_) {
                        escaped_ = false;
                    } else if (c == '\\') {
                        escaped_ = true;
                    } else if (c == '"') {
                        in_string_ = false;
                    }
                    break;
                }
                if (c == '"') {
                    in_string_ = true;
                } else if (c == '{' || c == '[') {
                    ++depth_;
                } else if (c == '}' || c == ']') {
                    if (--depth_ == 0) {
                        if (!on_object_(item_)) return fail(Failure::Refused);
                        item_.clear();
                        state_ = State::AfterItem;
                    }
                }
                break;
            case State::AfterItem:
                if (isSpace(c)) break;
                if (c == ',') {
                    state_ = State::NextItem;
                } else if (c == ']') {
                    state_ = State::Done;
                } else {
                    return fail(Failure::NotJson);
                }
                break;
            case State::Done:
                if (!isSpace(c)) return fail(Failure::NotJson);
                break;
        }
    }
    return state_ != State::Failed;
}

bool JsonArraySplitter::finish() {
    if (state_ == State::Failed) return false;
    if (state_ != State::Done) return fail(Failure::NotJson);  // empty or cut short
    return true;
}

}  // namespace pdns_distribute::common
