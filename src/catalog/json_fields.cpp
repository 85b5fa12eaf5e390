#include "catalog/json_fields.hpp"

#include "core/json_util.hpp"

namespace ma::catalog {

std::string str_or_empty(const boost::json::object& o, std::string_view key) {
  if (auto it = o.find(key); it != o.end() && it->value().is_string()) {
    return std::string(it->value().get_string());
  }
  return {};
}

std::vector<std::string> strings_in(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* a = o.if_contains(key); a != nullptr && a->is_array()) {
    for (const auto& x : a->get_array()) {
      if (x.is_string()) out.emplace_back(x.get_string());
    }
  }
  return out;
}

core::Result<std::optional<boost::json::value>> read_optional_json_object(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return std::optional<boost::json::value>();
  auto v = core::parse_json(*text);
  if (!v.ok() || !v->is_object()) return core::fail("catalog_invalid", "bad JSON in " + path);
  return std::optional<boost::json::value>(std::move(*v));
}

std::vector<const boost::json::value*> objects_in(const std::optional<boost::json::value>& file,
                                                  std::string_view key) {
  std::vector<const boost::json::value*> out;
  if (!file) return out;
  const auto* arr = file->get_object().if_contains(key);
  if (arr == nullptr || !arr->is_array()) return out;
  for (const auto& x : arr->get_array()) {
    if (x.is_object()) out.push_back(&x);
  }
  return out;
}

}  // namespace ma::catalog
