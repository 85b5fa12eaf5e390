#pragma once
// JSON and file helpers over Boost.JSON. Parsing never throws: failures are values.

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ma::core {

Result<boost::json::value> parse_json(std::string_view text);
Result<std::string> read_file(const std::string& path);

// Typed lookups on an object that answer nullopt on a missing key or another type.
std::optional<std::string_view> get_string(const boost::json::value& v, std::string_view key);
std::optional<double> get_number(const boost::json::value& v, std::string_view key);
std::optional<std::int64_t> get_int(const boost::json::value& v, std::string_view key);
std::optional<bool> get_bool(const boost::json::value& v, std::string_view key);

// Serialises `s` as a JSON string literal (quotes included) onto `out`.
void append_json_string(std::string& out, std::string_view s);

// Starts the next member of a JSON object being written onto `out`: `{"key":` when `out` is
// empty, else `,"key":`. REQUIRES: `key` needs no escaping (the writer's own constants).
void append_json_key(std::string& out, std::string_view key);

}  // namespace ma::core
