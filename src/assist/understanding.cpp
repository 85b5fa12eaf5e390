#include "assist/understanding.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/text.hpp"

namespace ma::assist {

std::string_view to_string(Intent i) {
  switch (i) {
    case Intent::kOrderStatus:
      return "order_status";
    case Intent::kPricing:
      return "pricing";
    case Intent::kAvailability:
      return "availability";
    case Intent::kRecommendation:
      return "recommendation";
    case Intent::kFaq:
      return "faq";
    case Intent::kGeneral:
      return "general";
  }
  return "general";
}

std::optional<Intent> parse_intent(std::string_view s) {
  for (int i = 0; i < kIntentCount; ++i) {
    if (to_string(static_cast<Intent>(i)) == s) return static_cast<Intent>(i);
  }
  return std::nullopt;
}

namespace {

bool contains_any(std::string_view text, std::initializer_list<std::string_view> words) {
  for (auto w : words) {
    if (text.find(w) != std::string_view::npos) return true;
  }
  return false;
}

// ASCII words must match on word boundaries ("price" not in "surprise").
bool has_word(std::string_view text, std::initializer_list<std::string_view> words) {
  for (auto w : words) {
    std::size_t pos = 0;
    while ((pos = text.find(w, pos)) != std::string_view::npos) {
      const bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(text[pos - 1]));
      const std::size_t end = pos + w.size();
      const bool right = end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
      if (left && right) return true;
      pos = end;
    }
  }
  return false;
}

// Reads the digits starting at `pos`; empty when none.
std::string digits_at(std::string_view s, std::size_t pos) {
  std::string out;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && out.size() < 12)
    out.push_back(s[pos++]);
  return out;
}

std::optional<std::string> find_order_id(std::string_view norm) {
  // "#12345", "order 12345", "order no. 12345", "注文番号12345", "注文 12345".
  for (std::size_t i = 0; i < norm.size(); ++i) {
    if (norm[i] == '#') {
      auto d = digits_at(norm, i + 1);
      if (d.size() >= 5) return d;
    }
  }
  for (std::string_view marker : {"order number", "order no", "order", "注文番号", "注文"}) {
    std::size_t pos = norm.find(marker);
    if (pos == std::string_view::npos) continue;
    pos += marker.size();
    while (pos < norm.size() && (norm[pos] == ' ' || norm[pos] == '.' || norm[pos] == ':')) ++pos;
    if (norm.compare(pos, 1, "#") == 0) ++pos;
    auto d = digits_at(norm, pos);
    if (d.size() >= 5) return d;
  }
  return std::nullopt;
}

std::optional<int> find_volume(std::string_view norm, std::size_t skip_begin,
                               std::size_t skip_end) {
  auto number_before = [&](std::size_t end) -> std::optional<int> {
    std::size_t b = end;
    while (b > 0 && norm[b - 1] >= '0' && norm[b - 1] <= '9') --b;
    if (b == end || end - b > 4) return std::nullopt;
    if (b >= skip_begin && b < skip_end) return std::nullopt;  // digits of the title
    return std::stoi(std::string(norm.substr(b, end - b)));
  };
  // Japanese: "105巻", "第105巻".
  for (std::size_t pos = norm.find("巻"); pos != std::string_view::npos;
       pos = norm.find("巻", pos + 1)) {
    std::size_t end = pos;
    while (end > 0 && norm[end - 1] == ' ') --end;
    if (auto v = number_before(end)) return v;
  }
  // English: "volume 105", "vol 105", "vol. 105", "v105".
  for (std::string_view marker : {"volume", "vol", "v"}) {
    std::size_t pos = 0;
    while ((pos = norm.find(marker, pos)) != std::string_view::npos) {
      const bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(norm[pos - 1]));
      std::size_t p = pos + marker.size();
      while (p < norm.size() && (norm[p] == ' ' || norm[p] == '.' || norm[p] == '#')) ++p;
      auto d = digits_at(norm, p);
      if (left && !d.empty() && d.size() <= 4) return std::stoi(d);
      pos += marker.size();
    }
  }
  return std::nullopt;
}

}  // namespace

Understanding understand(std::string_view text, const catalog::Catalog& catalog) {
  Understanding u;
  u.lang = core::looks_japanese(text) ? fm::Language::kJa : fm::Language::kEn;
  // Keep the text readable for matching: NFKC + case fold, punctuation kept (for "#").
  const std::string folded = core::nfkc_casefold(text);
  u.normalized = core::normalize_folded_for_match(folded);

  std::size_t title_begin = 0, title_end = 0;
  const auto matches = catalog.find_series_normalized(u.normalized);
  if (!matches.empty()) {
    u.series = matches.front().series;
    // Title positions are in `normalized`; map roughly by searching the folded text.
    const std::string_view norm_title =
        std::string_view(u.normalized)
            .substr(matches.front().begin, matches.front().end - matches.front().begin);
    const auto at = folded.find(std::string(norm_title));
    if (at != std::string::npos) {
      title_begin = at;
      title_end = at + norm_title.size();
    }
  }
  u.order_id = find_order_id(folded);
  u.volume = find_volume(folded, title_begin, title_end);

  const std::string_view f = folded;
  // English keywords need ASCII letters, Japanese ones need non-ASCII bytes: a text without
  // either skips those scans (same result, a free-form text is scanned once for each list).
  const bool latin = std::any_of(f.begin(), f.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  const bool wide =
      std::any_of(f.begin(), f.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  auto en = [&](std::initializer_list<std::string_view> words) {
    return latin && has_word(f, words);
  };
  auto ja = [&](std::initializer_list<std::string_view> words) {
    return wide && contains_any(f, words);
  };
  const bool order_words =
      en({"order", "orders", "tracking", "shipped", "delivery", "package", "parcel"}) ||
      ja({"注文", "配送状況", "届", "荷物", "追跡", "発送状況"});
  const bool price_words =
      en({"price", "prices", "cost", "costs", "how much", "sale", "discount", "yen"}) ||
      ja({"いくら", "値段", "価格", "円", "セール", "割引", "料金"});
  const bool stock_words =
      en({"stock", "available", "availability", "in stock", "sold out", "buy"}) ||
      ja({"在庫", "買え", "売り切れ", "入荷", "購入でき"});
  const bool recommend_words =
      en({"recommend", "recommendation", "suggest", "similar", "like", "should i read"}) ||
      ja({"おすすめ", "オススメ", "お勧め", "似た", "みたいな", "ような"});
  for (const auto& e : catalog.faq()) {
    for (const auto& kw : e.keywords) {
      if (!kw.empty() && u.normalized.find(kw) != std::string::npos) {
        u.faq = &e;
        break;
      }
    }
    if (u.faq != nullptr) break;
  }

  if (u.order_id || (order_words && !price_words && u.series == nullptr && u.faq == nullptr)) {
    u.intent = Intent::kOrderStatus;
  } else if (u.faq != nullptr && u.series == nullptr) {
    u.intent = Intent::kFaq;
  } else if (price_words) {
    u.intent = Intent::kPricing;
  } else if (stock_words) {
    u.intent = Intent::kAvailability;
  } else if (recommend_words) {
    u.intent = Intent::kRecommendation;
  } else if (u.series != nullptr && u.volume) {
    u.intent = Intent::kAvailability;  // "鬼滅の刃 23巻" asks for that volume
  } else if (u.faq != nullptr) {
    u.intent = Intent::kFaq;
  }
  return u;
}

UnderstandingMemo::UnderstandingMemo(std::size_t max_entries) : per_shard_(max_entries / kShards) {}

std::shared_ptr<const Understanding> UnderstandingMemo::get(std::string_view text,
                                                            const catalog::Catalog& catalog) {
  // Understanding runs outside the shard's lock; only an entry that is kept holds its text.
  auto fresh = [&](bool keep) {
    auto e = std::make_shared<Entry>();
    if (keep) e->text = std::string(text);
    e->u = understand(text, catalog);
    return e;
  };
  if (per_shard_ == 0 || text.size() > 512) {
    auto e = fresh(false);
    return {e, &e->u};
  }
  const std::uint64_t h = core::fnv1a(text);
  Shard& s = shards_[(h >> 32) % kShards];
  bool seen_before = false;
  {
    std::lock_guard lock(s.mu);
    if (const auto* e = s.map.find(h); e != nullptr && (*e)->text == text) return {*e, &(*e)->u};
    std::uint64_t& seen = s.seen[h % kSeenPerShard];
    seen_before = seen == h;
    seen = h;  // a first sighting leaves only its hash behind
  }
  std::shared_ptr<const Entry> e = fresh(seen_before);
  if (seen_before) {
    std::lock_guard lock(s.mu);
    if (s.map.size() >= per_shard_) s.map.clear();
    s.map.find_or_insert(h, [&] { return e; }) = e;
  }
  return {e, &e->u};
}

}  // namespace ma::assist
