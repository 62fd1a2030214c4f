// SPDX-License-Identifier: Apache-2.0
#pragma once
// A small stand-in for C++23 std::expected: GCC 12 has none. Result<T> holds a value or an Error;
// per-message and per-request code returns it instead of throwing (STYLE §3).

#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace pdns_distribute::common {

/// What went wrong, as one operator-readable sentence (STYLE §7 grammar: lowercase, no final
/// period, object in quotes, cause in parentheses). `code` is an optional machine-readable tag.
struct Error {
    std::string message;
    std::string code;
};

/// Builds an Error from a fmt format string.
template <typename... Args>
[[nodiscard]] Error makeError(fmt::format_string<Args...> format, Args&&... args) {
    return Error{.message = fmt::format(format, std::forward<Args>(args)...), .code = {}};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value)
        : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error error)
        : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool hasValue() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return hasValue(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    [[nodiscard]] const Error& error() const& { return std::get<1>(v_); }
    [[nodiscard]] Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error)
        : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool hasValue() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    [[nodiscard]] const Error& error() const& { return error_; }
    [[nodiscard]] Error&& error() && { return std::move(error_); }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace pdns_distribute::common
