#pragma once
// The store's catalog: series (from data/manga_series.jsonl), one product per volume with a
// JPY price and stock, the sale calendar, demo users and orders, the FAQ, and search that
// works for kanji, kana, romaji and English titles.
//
// Derivation (deterministic, documented in docs/catalog.md):
//   volumes   the row's `volumes`, or 5 + fnv1a(series id) % 26 when unknown
//   price     by demographic genre: Shounen ¥528, Shoujo ¥506, Seinen ¥748, Josei ¥770,
//             anything else ¥693 (so ONE PIECE vol. 105, a Shounen volume, is ¥528)
//   stock     h = fnv1a(product id): 0 when h % 9 == 0, else 1 + h % 50
// Price and stock live in SQLite (the embedded default) and survive a restart; the first
// open derives and inserts them.
//
// Thread safety: all const methods are safe from any thread; price and stock are atomics;
// update_product serialises on the store.

#include <sqlite3.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "core/spin_lock.hpp"
#include "core/time.hpp"

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

struct Product {
  std::string id;  // "<series id>-v<volume>"
  std::string series_id;
  int volume = 0;
  int price_jpy = 0;  // list price
  int stock = 0;
};

struct Sale {
  std::string id, name, name_ja;
  int discount_pct = 0;
  core::WallTime start, end;
  std::vector<std::string> series_ids;
  bool active(core::WallTime t) const { return t >= start && t < end; }
};

// The price a customer pays right now.
struct Quote {
  int list_price = 0;
  int price = 0;
  const Sale* sale = nullptr;  // the sale applied, if any
};

struct OrderLine {
  std::string product_id;
  int qty = 0;
};
struct Order {
  std::string id, user_id, status, placed, carrier, tracking, eta;
  std::vector<OrderLine> lines;
};

enum class UserTier : std::uint8_t { kAnonymous, kRegistered, kPremium };
std::string_view to_string(UserTier t);
struct User {
  std::string id, name;
  UserTier tier = UserTier::kAnonymous;
};

struct FaqEntry {
  std::string id, en, ja, url;
  std::vector<std::string> keywords;  // normalized
};

struct SeriesMatch {
  const Series* series;
  std::size_t begin, end;  // byte range in the normalized text
};

struct ProductChange {
  std::string product_id;
  std::string series_id;
  int old_price, new_price, old_stock, new_stock;
};

struct CatalogOptions {
  std::string data_dir;  // holds manga_series.jsonl, sales.json, demo.json, faq.json, ...
  std::string db_path;   // SQLite file; ":memory:" for a throwaway catalog
};

class Catalog final {
 public:
  static core::Result<std::unique_ptr<Catalog>> open(const CatalogOptions& options);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  const std::vector<Series>& all_series() const { return series_; }
  const Series* series(std::string_view id) const;
  std::optional<Product> product(std::string_view id) const;
  std::optional<Product> volume(const Series& s, int volume) const;
  std::size_t product_count() const { return products_.size(); }

  Quote quote(const Product& p, core::WallTime now) const;
  // The quote of a product by id, without copying the product; nullopt for an unknown id.
  std::optional<Quote> quote(std::string_view product_id, core::WallTime now) const;
  const Sale* active_sale(std::string_view series_id, core::WallTime now) const;
  const std::vector<Sale>& sales() const { return sales_; }

  // Changes price and/or stock, persists, then tells the listeners.
  core::Status update_product(std::string_view id, std::optional<int> price_jpy,
                              std::optional<int> stock);
  void on_change(std::function<void(const ProductChange&)> listener);

  // Series mentioned in a message, longest first (then most popular).
  std::vector<SeriesMatch> find_series(std::string_view text) const;
  // The same over text that is normalize_for_match's output already.
  std::vector<SeriesMatch> find_series_normalized(std::string_view norm) const;
  // Fuzzy title search (character-bigram overlap on normalized titles).
  std::vector<const Series*> search(std::string_view query, std::size_t limit) const;
  // Series sharing the most genres with `s`, most popular first.
  std::vector<const Series*> similar(const Series& s, std::size_t limit) const;
  std::vector<const Series*> popular_in_genre(std::string_view genre, std::size_t limit) const;

  std::optional<Order> order(std::string_view id) const;
  // The account with this id (the id a verified user token names; see server/identity.hpp).
  std::optional<User> user(std::string_view id) const;
  const std::vector<FaqEntry>& faq() const { return faq_; }

 private:
  // What a product of `series_id` listed at `list_price` costs at `now` (its best sale).
  Quote quote_list_price(int list_price, std::string_view series_id, core::WallTime now) const;
  struct ProductRow {
    std::string id;
    std::size_t series_index;
    int volume;
    std::atomic<int> price;
    std::atomic<int> stock;
  };
  struct Key {
    std::string text;  // normalized title or alias
    std::size_t series_index;
    bool ascii;
  };

  Catalog() = default;
  core::Status load_series(const std::string& path);
  core::Status load_aliases(const std::string& path);
  core::Status load_sales(const std::string& path);
  core::Status load_demo(const std::string& path);
  core::Status load_faq(const std::string& path);
  core::Status open_store(const std::string& db_path);
  void add_key(std::string_view raw, std::size_t series_index);
  Product to_product(const ProductRow& r) const;

  std::vector<Series> series_;
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::size_t, KeyHash, std::equal_to<>> series_by_id_;
  std::deque<ProductRow> products_;
  std::unordered_map<std::string, std::size_t, KeyHash, std::equal_to<>> product_by_id_;
  std::vector<Sale> sales_;
  std::unordered_map<std::string, Order> orders_;
  std::unordered_map<std::string, User> users_;  // by id
  std::vector<FaqEntry> faq_;

  // Title keys, indexed by their first word (ASCII) or first two code points (CJK).
  std::vector<Key> keys_;
  std::unordered_map<std::string, std::vector<std::size_t>, KeyHash, std::equal_to<>> key_index_;
  // Character bigram -> series indexes, for fuzzy search.
  std::unordered_map<std::string, std::vector<std::size_t>> bigram_index_;

  // similar() scans every series (~70 us); its answer never changes, so it is memoised.
  mutable core::SpinLock similar_mu_;
  mutable std::unordered_map<std::size_t, std::vector<const Series*>> similar_memo_;

  mutable std::mutex store_mu_;
  sqlite3* db_ = nullptr;
  std::vector<std::function<void(const ProductChange&)>> listeners_;
};

// Parses "2026-11-20T00:00:00Z" (UTC only).
std::optional<core::WallTime> parse_rfc3339_utc(std::string_view s);

}  // namespace ma::catalog
