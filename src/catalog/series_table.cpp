#include "catalog/series_table.hpp"

#include <cassert>
#include <fstream>

#include "catalog/json_fields.hpp"
#include "core/json_util.hpp"
#include "core/text.hpp"

namespace ma::catalog {

using core::fail;

const std::string& Series::display_title(bool japanese) const {
  if (japanese && !title_ja.empty()) return title_ja;
  if (!title_en.empty()) return title_en;
  if (!title_romaji.empty()) return title_romaji;
  return title_ja;
}

core::Status SeriesTable::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail("catalog_missing", "cannot open " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto v = core::parse_json(line);
    if (!v.ok() || !v->is_object()) return fail("catalog_invalid", "bad line in " + path);
    const auto& o = v->get_object();
    Series s;
    s.id = str_or_empty(o, "id");
    s.title_en = str_or_empty(o, "title_en");
    s.title_ja = str_or_empty(o, "title_ja");
    s.title_romaji = str_or_empty(o, "title_romaji");
    s.authors = strings_in(o, "authors");
    s.genres = strings_in(o, "genres");
    for (const auto& genre : s.genres) {
      if (genre == "Shounen" || genre == "Shoujo" || genre == "Seinen" || genre == "Josei") {
        s.demographic = genre;
      }
    }
    const auto vols = core::get_int(*v, "volumes");
    s.volumes =
        vols && *vols > 0 ? static_cast<int>(*vols) : static_cast<int>(5 + core::fnv1a(s.id) % 26);
    s.year = static_cast<int>(core::get_int(*v, "year").value_or(0));
    if (!add(std::move(s))) return fail("catalog_invalid", "missing or duplicate id in " + path);
  }
  return core::Ok{};
}

bool SeriesTable::add(Series s) {
  assert(s.volumes > 0);
  if (s.id.empty() || by_id_.contains(s.id)) return false;
  s.popularity_rank = static_cast<int>(series_.size() + 1);
  s.first_product = product_total_;
  product_total_ += static_cast<std::size_t>(s.volumes);
  by_id_.emplace(s.id, series_.size());
  series_.push_back(std::move(s));
  return true;
}

const Series* SeriesTable::find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &series_[it->second];
}

std::optional<std::size_t> SeriesTable::index_of(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ma::catalog
