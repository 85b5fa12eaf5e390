#pragma once
// Strict TOML tables: a key the reader does not know is an error naming it (a typo in a
// configuration or scenario must not pass silently). Header-only over toml++.

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/toml.hpp"

namespace ma::core {

// `code` is the error code to report ("invalid_config", "invalid_scenario").
inline Status check_toml_keys(const toml::table& t, const std::string& where,
                              std::initializer_list<std::string_view> allowed,
                              const char* code = "invalid_config") {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto a : allowed) ok |= k.str() == a;
    if (!ok) return fail(code, "unknown key " + where + std::string(k.str()));
  }
  return Ok{};
}

}  // namespace ma::core
