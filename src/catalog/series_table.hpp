#pragma once
// The series of data/manga_series.jsonl, in file order (which is popularity order).
//
// Derivation (docs/catalog.md): a row without a positive `volumes` has
// 5 + fnv1a(series id) % 26 volumes; the demographic is the row's Shounen, Shoujo, Seinen or
// Josei genre (the last one listed).
//
// Thread safety: const methods are safe from any thread once loading is done; load and add
// are not, and must not run beside anything else.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/string_map.hpp"
#include "core/result.hpp"

namespace ma::catalog {

struct Series {
  std::string id;
  std::string title_en, title_ja, title_romaji;
  std::vector<std::string> authors, genres;
  std::string demographic;  // Shounen, Shoujo, Seinen, Josei or empty
  int volumes = 0;
  int year = 0;
  int popularity_rank = 0;  // 1 = most popular (file order)
  std::size_t first_product = 0;

  // The title to show in a reply in the given language.
  const std::string& display_title(bool japanese) const;
};

class SeriesTable final {
 public:
  SeriesTable() = default;
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // Appends every row of the JSON-lines file at `path`. Errors: `catalog_missing` (cannot
  // open), `catalog_invalid` (a line that is not a JSON object, a missing or duplicate id).
  core::Status load(const std::string& path);
  // Appends `s`, giving it the next popularity rank and the index of its first product (the
  // products of all series before it, one per volume). False, and nothing added, for an
  // empty or already present id. REQUIRES: s.volumes > 0.
  [[nodiscard]] bool add(Series s);

  const std::vector<Series>& all() const { return series_; }
  std::size_t size() const { return series_.size(); }
  const Series& operator[](std::size_t index) const { return series_[index]; }
  // nullptr for an unknown id.
  const Series* find(std::string_view id) const;
  // The position of the series with this id; nullopt for an unknown id.
  std::optional<std::size_t> index_of(std::string_view id) const;
  // Products of all series: the sum of their volumes.
  std::size_t product_total() const { return product_total_; }

 private:
  std::vector<Series> series_;
  StringMap<std::size_t> by_id_;
  std::size_t product_total_ = 0;
};

}  // namespace ma::catalog
