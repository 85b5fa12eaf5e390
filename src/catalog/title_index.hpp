#pragma once
// Finding series by name: the titles (kanji, kana, romaji, English) and aliases of every
// series, matched in a message (find_series) or fuzzily (search), and recommendations
// (similar, popular_in_genre).
//
// Keys are normalized (core::normalize_for_match). An ASCII key matches whole words only; a
// CJK key matches anywhere. Keys are indexed by their first word (ASCII) or first two code
// points (CJK), so finding series costs one lookup per word start or code point.
//
// Thread safety: const methods are safe from any thread once indexing is done; add_titles,
// add_key and load_aliases are not, and must not run beside anything else.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "catalog/series_table.hpp"
#include "catalog/string_map.hpp"
#include "core/result.hpp"
#include "core/spin_lock.hpp"

namespace ma::catalog {

struct SeriesMatch {
  const Series* series;
  std::size_t begin, end;  // byte range in the normalized text
};

class TitleIndex final {
 public:
  // REQUIRES: `series` outlives the index and is fully loaded before add_titles.
  explicit TitleIndex(const SeriesTable& series) : series_(series) {}
  TitleIndex(const TitleIndex&) = delete;
  TitleIndex& operator=(const TitleIndex&) = delete;

  // Indexes every series' titles (a title with a colon at byte 4 or later also by the part
  // before it: "Demon Slayer: Kimetsu no Yaiba" is also "Demon Slayer") and the character
  // bigrams of its titles, for search. REQUIRES: called once, before add_key/load_aliases.
  void add_titles();
  // Adds the `aliases` ({series id: [names]}) of the JSON file at `path`; a missing file
  // adds none, an unknown series id is skipped. Error `catalog_invalid` for bad JSON.
  // NOTE: a JSON value that is not an object throws (as it always has).
  core::Status load_aliases(const std::string& path);
  // Makes `raw` a name of series `series_index`. A key shorter than 3 bytes (ASCII) or 2
  // code points (CJK) is ignored, since it would match inside ordinary words; so is a key
  // some series already has (the first, more popular, series keeps the name).
  void add_key(std::string_view raw, std::size_t series_index);

  // Series mentioned in a message, longest first (then most popular), one match per series.
  std::vector<SeriesMatch> find_series(std::string_view text) const;
  // The same over text that is normalize_for_match's output already; the matches' byte
  // ranges are in `norm`.
  std::vector<SeriesMatch> find_series_normalized(std::string_view norm) const;
  // Fuzzy title search: series sharing at least half of the query's distinct character
  // bigrams (spaces excluded), best share first, then most popular; at most `limit`.
  std::vector<const Series*> search(std::string_view query, std::size_t limit) const;
  // Series sharing two or more genres with `s` and none of its authors (sequels and
  // spin-offs are not recommendations), most shared genres first, then most popular.
  // REQUIRES: `s` is in the series table.
  std::vector<const Series*> similar(const Series& s, std::size_t limit) const;
  // The most popular series with this genre (any genre when empty), at most `limit`.
  std::vector<const Series*> popular_in_genre(std::string_view genre, std::size_t limit) const;

 private:
  struct Key {
    std::string text;  // normalized title or alias
    std::size_t series_index;
    bool ascii;
  };

  const SeriesTable& series_;
  std::vector<Key> keys_;
  StringMap<std::vector<std::size_t>> key_index_;  // index key -> positions in keys_
  // Character bigram -> series indexes, for fuzzy search.
  std::unordered_map<std::string, std::vector<std::size_t>> bigram_index_;

  // similar() scans every series (~70 us); its answer never changes, so it is memoised.
  mutable core::SpinLock similar_mu_;
  mutable std::unordered_map<std::size_t, std::vector<const Series*>> similar_memo_;
};

}  // namespace ma::catalog
