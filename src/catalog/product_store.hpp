#pragma once
// The products, one per volume of every series, with their JPY list price and stock, kept in
// SQLite (the embedded default) so that changes survive a restart.
//
// Derivation (docs/catalog.md), used for every product the database does not hold yet:
//   price     by demographic: Shounen ¥528, Shoujo ¥506, Seinen ¥748, Josei ¥770, else ¥693
//   stock     h = fnv1a(product id): 0 when h % 9 == 0, else 1 + h % 50
//
// Thread safety: const methods are safe from any thread (price and stock are atomics);
// update and on_change serialise on the store; open must finish before anything else runs.

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/series_table.hpp"
#include "catalog/string_map.hpp"
#include "core/result.hpp"

struct sqlite3;

namespace ma::catalog {

struct Product {
  std::string id;  // "<series id>-v<volume>"
  std::string series_id;
  int volume = 0;
  int price_jpy = 0;  // list price
  int stock = 0;
};

struct ProductChange {
  std::string product_id;
  std::string series_id;
  int old_price, new_price, old_stock, new_stock;
};

class ProductStore final {
 public:
  using Listener = std::function<void(const ProductChange&)>;

  // A product's list price and series, read without copying the product. `series_id` views
  // the series table's storage.
  struct ListPrice {
    int price_jpy;
    std::string_view series_id;
  };

  // REQUIRES: `series` is fully loaded before open and outlives the store.
  explicit ProductStore(const SeriesTable& series) : series_(series) {}
  ~ProductStore();
  ProductStore(const ProductStore&) = delete;
  ProductStore& operator=(const ProductStore&) = delete;

  // Derives every product, opens (or creates) the SQLite file at `db_path` (":memory:" for a
  // throwaway store), takes the price and stock of every product it holds, and inserts the
  // rest. Error: `store_unavailable`. REQUIRES: called once.
  core::Status open(const std::string& db_path);

  std::size_t size() const { return products_.size(); }
  // nullopt for an unknown id.
  std::optional<Product> product(std::string_view id) const;
  // Volume `volume` (1-based) of `s`; nullopt outside 1..s.volumes.
  // REQUIRES: `s` belongs to the series table this store was built from.
  std::optional<Product> volume(const Series& s, int volume) const;
  // nullopt for an unknown id.
  std::optional<ListPrice> list_price(std::string_view id) const;

  // Changes price and/or stock (nullopt keeps the current value), persists, then calls the
  // listeners, outside the lock, in the order they were added. Errors: `not_found`,
  // `invalid_price` (outside 1..1,000,000), `invalid_stock` (outside 0..1,000,000),
  // `store_unavailable` (nothing changed).
  core::Status update(std::string_view id, std::optional<int> price_jpy, std::optional<int> stock);
  void on_change(Listener listener);

 private:
  struct Row {
    std::string id;
    std::size_t series_index;
    int volume;
    std::atomic<int> price;
    std::atomic<int> stock;
  };

  Product to_product(const Row& r) const;

  const SeriesTable& series_;
  std::deque<Row> products_;  // in series order, then by volume
  StringMap<std::size_t> by_id_;

  mutable std::mutex mu_;  // serialises writes to db_ and listeners_
  sqlite3* db_ = nullptr;
  std::vector<Listener> listeners_;
};

}  // namespace ma::catalog
