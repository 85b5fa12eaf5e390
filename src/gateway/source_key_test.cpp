#include "gateway/source_key.hpp"

#include <gtest/gtest.h>

namespace ma::gateway {
namespace {

TEST(SourceKeyTest, AnIPv6ClientIsLimitedByItsSlash64) {
  EXPECT_EQ(source_key("2001:db8:1:2::a"), "2001:db8:1:2::/64");
  EXPECT_EQ(source_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
  EXPECT_NE(source_key("2001:db8:1:3::a"), source_key("2001:db8:1:2::a"));
  EXPECT_EQ(source_key("203.0.113.5"), "203.0.113.5");
  EXPECT_EQ(source_key("::ffff:203.0.113.5"), "203.0.113.5");
  EXPECT_EQ(source_key(""), "");
  EXPECT_EQ(source_key("not:an:address"), "not:an:address");
}

TEST(SourceKeyTest, ParsesAddressesWithPortsBracketsAndBlanks) {
  EXPECT_EQ(parse_address(" 10.1.2.3:8080 ")->to_string(), "10.1.2.3");
  EXPECT_EQ(parse_address("[2001:db8::1]:443")->to_string(), "2001:db8::1");
  EXPECT_EQ(parse_address("::ffff:10.1.2.3")->to_string(), "10.1.2.3");
  EXPECT_FALSE(parse_address("[2001:db8::1").has_value());
  EXPECT_FALSE(parse_address("unknown").has_value());
}

}  // namespace
}  // namespace ma::gateway
