#pragma once
// Test-only helper: loads a public test vector from tests/data/.

#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <string>

#include "core/json_util.hpp"

namespace ma::resilience::testing {

inline std::string vector_path(const std::string& name) {
  return std::string(MA_TEST_DATA_DIR) + "/" + name;
}

inline std::string load_text(const std::string& name) {
  auto text = core::read_file(vector_path(name));
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? *text : std::string();
}

inline boost::json::value load_json(const std::string& name) {
  auto v = core::parse_json(load_text(name));
  EXPECT_TRUE(v.ok()) << name;
  return v.ok() ? *v : boost::json::value();
}

inline double num(const boost::json::value& v) { return v.to_number<double>(); }

}  // namespace ma::resilience::testing
