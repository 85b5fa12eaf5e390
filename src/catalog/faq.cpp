#include "catalog/faq.hpp"

#include "catalog/json_fields.hpp"
#include "core/text.hpp"

namespace ma::catalog {

core::Status Faq::load(const std::string& path) {
  auto file = read_optional_json_object(path);
  if (!file.ok()) return core::fail(std::move(file).error());
  for (const auto* x : objects_in(*file, "entries")) {
    const auto& o = x->get_object();
    FaqEntry e{str_or_empty(o, "id"),
               str_or_empty(o, "en"),
               str_or_empty(o, "ja"),
               str_or_empty(o, "url"),
               {}};
    for (const auto& kw : strings_in(o, "keywords")) {
      e.keywords.push_back(core::normalize_for_match(kw));
    }
    entries_.push_back(std::move(e));
  }
  return core::Ok{};
}

}  // namespace ma::catalog
