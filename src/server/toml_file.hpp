#pragma once
// Reading a TOML file the way the service's config is read (server::load_toml uses it;
// check-config too). A header of its own so that config.hpp stays free of toml++.

#include <string>

#include "core/result.hpp"
#include "core/toml.hpp"

namespace ma::server {

// The file parsed, or why not: "cannot read F", "F:12: <what toml++ says>", or a character
// outside ASCII where TOML does not allow one (refused before toml++ sees it: toml++ 3.3
// reaches undefined behaviour on some).
core::Result<toml::table> parse_toml_file(const std::string& path);

}  // namespace ma::server
