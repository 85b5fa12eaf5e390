#include "catalog/title_index.hpp"

#include <algorithm>
#include <mutex>
#include <set>

#include "core/json_util.hpp"
#include "core/text.hpp"

namespace ma::catalog {

namespace {

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Index key of a normalized string: its first word (ASCII) or first two code points.
std::string index_key(std::string_view norm, bool ascii) {
  if (ascii) return std::string(norm.substr(0, norm.find(' ')));
  std::string out;
  const auto cps = core::utf8_decode(norm);
  for (std::size_t i = 0; i < cps.size() && i < 2; ++i) core::utf8_append(out, cps[i]);
  return out;
}

// The distinct character bigrams of a normalized string, sorted; none spans a space.
std::vector<std::string> bigrams(std::string_view norm) {
  std::vector<std::string> out;
  const auto cps = core::utf8_decode(norm);
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    if (cps[i] == ' ' || cps[i + 1] == ' ') continue;
    std::string b;
    core::utf8_append(b, cps[i]);
    core::utf8_append(b, cps[i + 1]);
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Bytes of the UTF-8 sequence that starts with `c`.
std::size_t utf8_seq_len(unsigned char c) {
  return c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
}

}  // namespace

void TitleIndex::add_titles() {
  for (std::size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    for (const auto* t : {&s.title_en, &s.title_ja, &s.title_romaji}) {
      if (t->empty()) continue;
      add_key(*t, i);
      if (auto colon = t->find(':'); colon != std::string::npos && colon >= 4) {
        add_key(t->substr(0, colon), i);
      }
    }
    std::set<std::string> grams;
    for (const auto* t : {&s.title_en, &s.title_ja, &s.title_romaji}) {
      for (auto& b : bigrams(core::normalize_for_match(*t))) grams.insert(std::move(b));
    }
    for (const auto& b : grams) bigram_index_[b].push_back(i);
  }
}

core::Status TitleIndex::load_aliases(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::Ok{};  // optional
  auto v = core::parse_json(*text);
  if (!v.ok()) return core::fail("catalog_invalid", "bad JSON in " + path);
  if (const auto* a = v->as_object().if_contains("aliases"); a && a->is_object()) {
    for (const auto& [id, names] : a->get_object()) {
      const auto index = series_.index_of(id);
      if (!index || !names.is_array()) continue;
      for (const auto& n : names.get_array()) {
        if (n.is_string()) add_key(n.get_string(), *index);
      }
    }
  }
  return core::Ok{};
}

void TitleIndex::add_key(std::string_view raw, std::size_t series_index) {
  std::string norm = core::normalize_for_match(raw);
  if (norm.empty()) return;
  const bool ascii = is_ascii(norm);
  if (ascii ? norm.size() < 3 : core::utf8_length(norm) < 2) return;
  const std::string k = index_key(norm, ascii);
  auto& bucket = key_index_[k];
  for (std::size_t i : bucket) {
    if (keys_[i].text == norm) return;  // the more popular series keeps the name
  }
  bucket.push_back(keys_.size());
  keys_.push_back(Key{std::move(norm), series_index, ascii});
}

std::vector<SeriesMatch> TitleIndex::find_series(std::string_view text) const {
  return find_series_normalized(core::normalize_for_match(text));
}

std::vector<SeriesMatch> TitleIndex::find_series_normalized(std::string_view norm) const {
  std::vector<SeriesMatch> found;
  auto try_keys = [&](std::string_view k, std::size_t pos) {
    auto it = key_index_.find(k);
    if (it == key_index_.end()) return;
    for (std::size_t ki : it->second) {
      const Key& key = keys_[ki];
      if (norm.compare(pos, key.text.size(), key.text) != 0) continue;
      const std::size_t end = pos + key.text.size();
      if (key.ascii) {
        const bool left_ok =
            pos == 0 || norm[pos - 1] == ' ' || static_cast<unsigned char>(norm[pos - 1]) >= 0x80;
        const bool right_ok =
            end == norm.size() || norm[end] == ' ' || static_cast<unsigned char>(norm[end]) >= 0x80;
        if (!left_ok || !right_ok) continue;
      }
      found.push_back({&series_[key.series_index], pos, end});
    }
  };
  // Walk the text: every word start (ASCII keys) and every code point (CJK keys).
  std::size_t i = 0;
  while (i < norm.size()) {
    const auto c = static_cast<unsigned char>(norm[i]);
    const std::size_t len = utf8_seq_len(c);
    if (c < 0x80) {
      const bool word_start = c != ' ' && (i == 0 || norm[i - 1] == ' ' ||
                                           static_cast<unsigned char>(norm[i - 1]) >= 0x80);
      if (word_start) {
        std::size_t j = i;
        while (j < norm.size() && norm[j] != ' ' && static_cast<unsigned char>(norm[j]) < 0x80) ++j;
        try_keys(norm.substr(i, j - i), i);
      }
    } else if (i + len < norm.size()) {
      const std::size_t len2 = utf8_seq_len(static_cast<unsigned char>(norm[i + len]));
      try_keys(norm.substr(i, len + len2), i);
    }
    i += len;
  }
  std::sort(found.begin(), found.end(), [](const SeriesMatch& a, const SeriesMatch& b) {
    const auto la = a.end - a.begin, lb = b.end - b.begin;
    if (la != lb) return la > lb;
    return a.series->popularity_rank < b.series->popularity_rank;
  });
  // One match per series.
  std::vector<SeriesMatch> unique;
  for (const auto& m : found) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const SeriesMatch& u) { return u.series == m.series; })) {
      unique.push_back(m);
    }
  }
  return unique;
}

std::vector<const Series*> TitleIndex::search(std::string_view query, std::size_t limit) const {
  const auto grams = bigrams(core::normalize_for_match(query));
  if (grams.empty()) return {};
  std::unordered_map<std::size_t, int> hits;
  for (const auto& g : grams) {
    if (auto it = bigram_index_.find(g); it != bigram_index_.end()) {
      for (std::size_t si : it->second) ++hits[si];
    }
  }
  std::vector<std::pair<double, std::size_t>> scored;
  for (auto [si, n] : hits) {
    const double score = static_cast<double>(n) / static_cast<double>(grams.size());
    if (score >= 0.5) scored.emplace_back(score, si);
  }
  std::sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second < b.second;  // more popular first
  });
  std::vector<const Series*> out;
  for (std::size_t i = 0; i < scored.size() && out.size() < limit; ++i) {
    out.push_back(&series_[scored[i].second]);
  }
  return out;
}

std::vector<const Series*> TitleIndex::similar(const Series& s, std::size_t limit) const {
  constexpr std::size_t kMemo = 10;
  const std::size_t self = series_.index_of(s.id).value();
  if (limit <= kMemo) {
    std::lock_guard lock(similar_mu_);
    if (auto it = similar_memo_.find(self); it != similar_memo_.end()) {
      return {it->second.begin(),
              it->second.begin() + static_cast<long>(std::min(limit, it->second.size()))};
    }
  }
  std::vector<std::pair<int, std::size_t>> scored;
  for (std::size_t i = 0; i < series_.size(); ++i) {
    const Series& o = series_[i];
    if (o.id == s.id) continue;
    int shared = 0;
    for (const auto& g : o.genres) {
      if (std::find(s.genres.begin(), s.genres.end(), g) != s.genres.end()) ++shared;
    }
    bool same_author = false;
    for (const auto& a : o.authors) {
      same_author |= std::find(s.authors.begin(), s.authors.end(), a) != s.authors.end();
    }
    if (shared >= 2 && !same_author) scored.emplace_back(shared, i);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<const Series*> out;
  const std::size_t keep = std::max(limit, kMemo);
  for (std::size_t i = 0; i < scored.size() && out.size() < keep; ++i) {
    out.push_back(&series_[scored[i].second]);
  }
  {
    std::lock_guard lock(similar_mu_);
    similar_memo_.emplace(self, out);
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<const Series*> TitleIndex::popular_in_genre(std::string_view genre,
                                                        std::size_t limit) const {
  std::vector<const Series*> out;
  for (const auto& s : series_.all()) {
    if (out.size() >= limit) break;
    if (genre.empty() || std::find(s.genres.begin(), s.genres.end(), genre) != s.genres.end()) {
      out.push_back(&s);
    }
  }
  return out;
}

}  // namespace ma::catalog
