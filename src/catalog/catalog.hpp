#pragma once
// The store's catalog: series (from data/manga_series.jsonl), one product per volume with a
// JPY price and stock, the sale calendar, demo users and orders, the FAQ, and search that
// works for kanji, kana, romaji and English titles.
//
// A facade over its parts, each usable alone (docs/catalog.md has the derivations):
//   SeriesTable   the series, in popularity order               series_table.hpp
//   ProductStore  products, price and stock in SQLite, changes   product_store.hpp
//   Pricing       the sale calendar and quotes                   pricing.hpp
//   TitleIndex    series named in a message, search, similar     title_index.hpp
//   Accounts      demo users and orders                          accounts.hpp
//   Faq           the FAQ entries                                faq.hpp
// Price and stock live in SQLite (the embedded default) and survive a restart; the first
// open derives and inserts them (so ONE PIECE vol. 105, a Shounen volume, is ¥528).
//
// Thread safety: all const methods are safe from any thread; price and stock are atomics;
// update_product serialises on the store.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/accounts.hpp"
#include "catalog/faq.hpp"
#include "catalog/pricing.hpp"
#include "catalog/product_store.hpp"
#include "catalog/series_table.hpp"
#include "catalog/title_index.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

namespace ma::catalog {

struct CatalogOptions {
  std::string data_dir;  // holds manga_series.jsonl, sales.json, demo.json, faq.json, ...
  std::string db_path;   // SQLite file; ":memory:" for a throwaway catalog
};

class Catalog final {
 public:
  // Loads every part from options.data_dir and opens the store; the first error of, in
  // order, the series, aliases, sales, demo accounts, FAQ and store.
  static core::Result<std::unique_ptr<Catalog>> open(const CatalogOptions& options);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  const std::vector<Series>& all_series() const { return series_.all(); }
  const Series* series(std::string_view id) const { return series_.find(id); }
  std::optional<Product> product(std::string_view id) const { return store_.product(id); }
  std::optional<Product> volume(const Series& s, int volume) const {
    return store_.volume(s, volume);
  }
  std::size_t product_count() const { return store_.size(); }

  Quote quote(const Product& p, core::WallTime now) const {
    return pricing_.quote(p.price_jpy, p.series_id, now);
  }
  // The quote of a product by id, without copying the product; nullopt for an unknown id.
  std::optional<Quote> quote(std::string_view product_id, core::WallTime now) const;
  const Sale* active_sale(std::string_view series_id, core::WallTime now) const {
    return pricing_.active_sale(series_id, now);
  }
  const std::vector<Sale>& sales() const { return pricing_.sales(); }

  // Changes price and/or stock, persists, then tells the listeners.
  core::Status update_product(std::string_view id, std::optional<int> price_jpy,
                              std::optional<int> stock) {
    return store_.update(id, price_jpy, stock);
  }
  void on_change(std::function<void(const ProductChange&)> listener) {
    store_.on_change(std::move(listener));
  }

  // Series mentioned in a message, longest first (then most popular).
  std::vector<SeriesMatch> find_series(std::string_view text) const {
    return titles_.find_series(text);
  }
  // The same over text that is normalize_for_match's output already.
  std::vector<SeriesMatch> find_series_normalized(std::string_view norm) const {
    return titles_.find_series_normalized(norm);
  }
  // Fuzzy title search (character-bigram overlap on normalized titles).
  std::vector<const Series*> search(std::string_view query, std::size_t limit) const {
    return titles_.search(query, limit);
  }
  // Series sharing the most genres with `s`, most popular first.
  std::vector<const Series*> similar(const Series& s, std::size_t limit) const {
    return titles_.similar(s, limit);
  }
  std::vector<const Series*> popular_in_genre(std::string_view genre, std::size_t limit) const {
    return titles_.popular_in_genre(genre, limit);
  }

  std::optional<Order> order(std::string_view id) const { return accounts_.order(id); }
  // The account with this id (the id a verified user token names; see server/identity.hpp).
  std::optional<User> user(std::string_view id) const { return accounts_.user(id); }
  const std::vector<FaqEntry>& faq() const { return faq_.entries(); }

  // The parts, for code that needs only one of them. They live as long as the catalog.
  const TitleIndex& titles() const { return titles_; }
  const Pricing& pricing() const { return pricing_; }
  const Accounts& accounts() const { return accounts_; }

 private:
  Catalog() : titles_(series_), store_(series_) {}

  SeriesTable series_;  // first: titles_ and store_ refer to it
  TitleIndex titles_;
  Pricing pricing_;
  Accounts accounts_;
  Faq faq_;
  ProductStore store_;
};

}  // namespace ma::catalog
