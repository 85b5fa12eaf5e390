#pragma once
// Helpers the catalog's loaders share: lookups that never throw, and the optional JSON data
// files (a missing file is an empty section; a present one must be a JSON object).

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ma::catalog {

// The string member `key` of `o`, or "" when it is missing or not a string.
std::string str_or_empty(const boost::json::object& o, std::string_view key);
// The string members of the array `key` of `o`, in order; none when it is not an array.
std::vector<std::string> strings_in(const boost::json::object& o, std::string_view key);

// The JSON object in `path`: nullopt when the file cannot be read (these files are optional),
// error `catalog_invalid` when it is not a JSON object.
core::Result<std::optional<boost::json::value>> read_optional_json_object(const std::string& path);

// The members of the array `key` of `file` that are objects, in order; none when `file` is
// nullopt or its `key` is not an array. REQUIRES: `file` holds an object or nothing.
std::vector<const boost::json::value*> objects_in(const std::optional<boost::json::value>& file,
                                                  std::string_view key);

}  // namespace ma::catalog
