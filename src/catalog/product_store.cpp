#include "catalog/product_store.hpp"

#include <sqlite3.h>

#include <cassert>
#include <unordered_map>

#include "core/text.hpp"

namespace ma::catalog {

using core::fail;

namespace {

int price_for(std::string_view demographic) {
  if (demographic == "Shounen") return 528;
  if (demographic == "Shoujo") return 506;
  if (demographic == "Seinen") return 748;
  if (demographic == "Josei") return 770;
  return 693;
}

int stock_for(std::string_view product_id) {
  const std::uint64_t h = core::fnv1a(product_id);
  return h % 9 == 0 ? 0 : static_cast<int>(1 + h % 50);
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() { return s_; }
  bool ok() const { return s_ != nullptr; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace

ProductStore::~ProductStore() {
  if (db_ != nullptr) sqlite3_close(db_);
}

core::Status ProductStore::open(const std::string& db_path) {
  assert(db_ == nullptr && products_.empty());
  if (sqlite3_open(db_path.c_str(), &db_) != SQLITE_OK) {
    return fail("store_unavailable",
                "cannot open SQLite database " + db_path + ": " + sqlite3_errmsg(db_));
  }
  sqlite3_busy_timeout(db_, 2000);
  char* err = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS products ("
      "  id TEXT PRIMARY KEY, series_id TEXT NOT NULL, volume INTEGER NOT NULL,"
      "  price_jpy INTEGER NOT NULL, stock INTEGER NOT NULL);";
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return fail("store_unavailable", "cannot create schema: " + msg);
  }
  // Derive every product.
  for (std::size_t si = 0; si < series_.size(); ++si) {
    const Series& s = series_[si];
    assert(s.first_product == products_.size());
    for (int v = 1; v <= s.volumes; ++v) {
      auto& row = products_.emplace_back();
      row.id = s.id + "-v" + std::to_string(v);
      row.series_index = si;
      row.volume = v;
      row.price.store(price_for(s.demographic));
      row.stock.store(stock_for(row.id));
      by_id_.emplace(row.id, products_.size() - 1);
    }
  }
  // Stored values win over derived ones; missing rows are inserted.
  std::unordered_map<std::string, bool> stored;
  {
    Stmt q(db_, "SELECT id, price_jpy, stock FROM products");
    while (q.ok() && sqlite3_step(q.get()) == SQLITE_ROW) {
      const std::string id(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)));
      if (auto it = by_id_.find(id); it != by_id_.end()) {
        products_[it->second].price.store(sqlite3_column_int(q.get(), 1));
        products_[it->second].stock.store(sqlite3_column_int(q.get(), 2));
        stored[id] = true;
      }
    }
  }
  if (stored.size() < products_.size()) {
    sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
    Stmt ins(db_,
             "INSERT OR IGNORE INTO products(id, series_id, volume, price_jpy, stock) "
             "VALUES (?, ?, ?, ?, ?)");
    for (const auto& row : products_) {
      if (stored.contains(row.id)) continue;
      sqlite3_reset(ins.get());
      sqlite3_bind_text(ins.get(), 1, row.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins.get(), 2, series_[row.series_index].id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(ins.get(), 3, row.volume);
      sqlite3_bind_int(ins.get(), 4, row.price.load());
      sqlite3_bind_int(ins.get(), 5, row.stock.load());
      if (sqlite3_step(ins.get()) != SQLITE_DONE) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return fail("store_unavailable",
                    std::string("cannot seed products: ") + sqlite3_errmsg(db_));
      }
    }
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  return core::Ok{};
}

Product ProductStore::to_product(const Row& r) const {
  return Product{r.id, series_[r.series_index].id, r.volume,
                 r.price.load(std::memory_order_relaxed), r.stock.load(std::memory_order_relaxed)};
}

std::optional<Product> ProductStore::product(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return to_product(products_[it->second]);
}

std::optional<Product> ProductStore::volume(const Series& s, int volume) const {
  if (volume < 1 || volume > s.volumes) return std::nullopt;
  return to_product(products_[s.first_product + static_cast<std::size_t>(volume - 1)]);
}

std::optional<ProductStore::ListPrice> ProductStore::list_price(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  const Row& row = products_[it->second];
  return ListPrice{row.price.load(std::memory_order_relaxed), series_[row.series_index].id};
}

core::Status ProductStore::update(std::string_view id, std::optional<int> price_jpy,
                                  std::optional<int> stock) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return fail("not_found", "no product " + std::string(id));
  if (price_jpy && (*price_jpy <= 0 || *price_jpy > 1'000'000)) {
    return fail("invalid_price", "price_jpy must be between 1 and 1000000");
  }
  if (stock && (*stock < 0 || *stock > 1'000'000)) {
    return fail("invalid_stock", "stock must be between 0 and 1000000");
  }
  Row& row = products_[it->second];
  ProductChange change;
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(mu_);
    change = {row.id,           series_[row.series_index].id,
              row.price.load(), price_jpy.value_or(row.price.load()),
              row.stock.load(), stock.value_or(row.stock.load())};
    Stmt up(db_, "UPDATE products SET price_jpy = ?, stock = ? WHERE id = ?");
    sqlite3_bind_int(up.get(), 1, change.new_price);
    sqlite3_bind_int(up.get(), 2, change.new_stock);
    sqlite3_bind_text(up.get(), 3, row.id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(up.get()) != SQLITE_DONE) {
      return fail("store_unavailable", std::string("cannot update: ") + sqlite3_errmsg(db_));
    }
    row.price.store(change.new_price);
    row.stock.store(change.new_stock);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(change);
  return core::Ok{};
}

void ProductStore::on_change(Listener listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

}  // namespace ma::catalog
