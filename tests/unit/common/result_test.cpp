// SPDX-License-Identifier: Apache-2.0
#include <string>

#include <gtest/gtest.h>

#include <pdns_distribute/common/result.hpp>

namespace pdns_distribute::common {
namespace {

Result<int> half(int v) {
    if (v % 2 != 0) return makeError("cannot halve '{}' (odd)", v);
    return v / 2;
}

TEST(Result, Value_HasValue_ReturnsIt) {
    auto r = half(4);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 2);
}

TEST(Result, Error_NoValue_CarriesMessage) {
    auto r = half(3);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "cannot halve '3' (odd)");
}

TEST(Result, Status_DefaultIsOk) {
    Status s;
    EXPECT_TRUE(s);
    Status e = Error{.message = "x", .code = "c"};
    EXPECT_FALSE(e);
    EXPECT_EQ(e.error().code, "c");
}

}  // namespace
}  // namespace pdns_distribute::common
