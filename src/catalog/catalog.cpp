#include "catalog/catalog.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "core/wall_time.hpp"

namespace ma::catalog {

namespace json = boost::json;
using core::fail;

std::string_view to_string(UserTier t) {
  switch (t) {
    case UserTier::kAnonymous:
      return "anonymous";
    case UserTier::kRegistered:
      return "registered";
    case UserTier::kPremium:
      return "premium";
  }
  return "anonymous";
}

const std::string& Series::display_title(bool japanese) const {
  if (japanese && !title_ja.empty()) return title_ja;
  if (!title_en.empty()) return title_en;
  if (!title_romaji.empty()) return title_romaji;
  return title_ja;
}

std::optional<core::WallTime> parse_rfc3339_utc(std::string_view s) {
  return core::parse_rfc3339(s);
}

namespace {

std::string str_or_empty(const json::object& o, std::string_view key) {
  if (auto it = o.find(key); it != o.end() && it->value().is_string()) {
    return std::string(it->value().get_string());
  }
  return {};
}

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

Catalog::~Catalog() {
  if (db_ != nullptr) sqlite3_close(db_);
}

core::Result<std::unique_ptr<Catalog>> Catalog::open(const CatalogOptions& options) {
  std::unique_ptr<Catalog> c(new Catalog());
  const std::string& dir = options.data_dir;
  for (auto st :
       {c->load_series(dir + "/manga_series.jsonl"), c->load_aliases(dir + "/series_aliases.json"),
        c->load_sales(dir + "/sales.json"), c->load_demo(dir + "/demo.json"),
        c->load_faq(dir + "/faq.json"), c->open_store(options.db_path)}) {
    if (!st.ok()) return fail(std::move(st).error());
  }
  return c;
}

void Catalog::add_key(std::string_view raw, std::size_t series_index) {
  std::string norm = core::normalize_for_match(raw);
  if (norm.empty()) return;
  const bool ascii = is_ascii(norm);
  // Very short keys ("k", "b") would match inside ordinary words.
  if (ascii ? norm.size() < 3 : core::utf8_length(norm) < 2) return;
  const std::string k = index_key(norm, ascii);
  auto& bucket = key_index_[k];
  for (std::size_t i : bucket) {
    if (keys_[i].text == norm) return;  // the more popular series keeps the name
  }
  bucket.push_back(keys_.size());
  keys_.push_back(Key{std::move(norm), series_index, ascii});
}

core::Status Catalog::load_series(const std::string& path) {
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
    if (const auto* a = o.if_contains("authors"); a != nullptr && a->is_array()) {
      for (const auto& x : a->get_array()) {
        if (x.is_string()) s.authors.emplace_back(x.get_string());
      }
    }
    if (const auto* g = o.if_contains("genres"); g != nullptr && g->is_array()) {
      for (const auto& x : g->get_array()) {
        if (!x.is_string()) continue;
        std::string genre(x.get_string());
        if (genre == "Shounen" || genre == "Shoujo" || genre == "Seinen" || genre == "Josei") {
          s.demographic = genre;
        }
        s.genres.push_back(std::move(genre));
      }
    }
    const auto vols = core::get_int(*v, "volumes");
    s.volumes =
        vols && *vols > 0 ? static_cast<int>(*vols) : static_cast<int>(5 + core::fnv1a(s.id) % 26);
    s.year = static_cast<int>(core::get_int(*v, "year").value_or(0));
    s.popularity_rank = static_cast<int>(series_.size() + 1);
    if (s.id.empty() || series_by_id_.contains(s.id)) {
      return fail("catalog_invalid", "missing or duplicate id in " + path);
    }
    series_by_id_.emplace(s.id, series_.size());
    series_.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    for (const auto* t : {&s.title_en, &s.title_ja, &s.title_romaji}) {
      if (t->empty()) continue;
      add_key(*t, i);
      // "Demon Slayer: Kimetsu no Yaiba" is also "Demon Slayer".
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
  return core::Ok{};
}

core::Status Catalog::load_aliases(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::Ok{};  // optional
  auto v = core::parse_json(*text);
  if (!v.ok()) return fail("catalog_invalid", "bad JSON in " + path);
  if (const auto* a = v->as_object().if_contains("aliases"); a && a->is_object()) {
    for (const auto& [id, names] : a->get_object()) {
      auto it = series_by_id_.find(id);
      if (it == series_by_id_.end() || !names.is_array()) continue;
      for (const auto& n : names.get_array()) {
        if (n.is_string()) add_key(n.get_string(), it->second);
      }
    }
  }
  return core::Ok{};
}

core::Status Catalog::load_sales(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::Ok{};
  auto v = core::parse_json(*text);
  if (!v.ok() || !v->is_object()) return fail("catalog_invalid", "bad JSON in " + path);
  const auto* arr = v->get_object().if_contains("sales");
  if (arr == nullptr || !arr->is_array()) return core::Ok{};
  for (const auto& x : arr->get_array()) {
    if (!x.is_object()) continue;
    const auto& o = x.get_object();
    Sale s;
    s.id = str_or_empty(o, "id");
    s.name = str_or_empty(o, "name");
    s.name_ja = str_or_empty(o, "name_ja");
    s.discount_pct = static_cast<int>(core::get_int(x, "discount_pct").value_or(0));
    auto start = parse_rfc3339_utc(str_or_empty(o, "start"));
    auto end = parse_rfc3339_utc(str_or_empty(o, "end"));
    if (!start || !end || s.discount_pct <= 0 || s.discount_pct >= 100) {
      return fail("catalog_invalid", "bad sale '" + s.id + "' in " + path);
    }
    s.start = *start;
    s.end = *end;
    if (const auto* ser = o.if_contains("series"); ser && ser->is_array()) {
      for (const auto& id : ser->get_array()) {
        if (id.is_string()) s.series_ids.emplace_back(id.get_string());
      }
    }
    sales_.push_back(std::move(s));
  }
  return core::Ok{};
}

core::Status Catalog::load_demo(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::Ok{};
  auto v = core::parse_json(*text);
  if (!v.ok() || !v->is_object()) return fail("catalog_invalid", "bad JSON in " + path);
  const auto& o = v->get_object();
  if (const auto* users = o.if_contains("users"); users && users->is_array()) {
    for (const auto& u : users->get_array()) {
      if (!u.is_object()) continue;
      User user;
      user.id = str_or_empty(u.get_object(), "id");
      user.name = str_or_empty(u.get_object(), "name");
      const std::string tier = str_or_empty(u.get_object(), "tier");
      user.tier = tier == "premium" ? UserTier::kPremium : UserTier::kRegistered;
      if (!user.id.empty()) users_.emplace(user.id, std::move(user));
    }
  }
  if (const auto* orders = o.if_contains("orders"); orders && orders->is_array()) {
    for (const auto& x : orders->get_array()) {
      if (!x.is_object()) continue;
      const auto& oo = x.get_object();
      Order ord;
      ord.id = str_or_empty(oo, "id");
      ord.user_id = str_or_empty(oo, "user_id");
      ord.status = str_or_empty(oo, "status");
      ord.placed = str_or_empty(oo, "placed");
      ord.carrier = str_or_empty(oo, "carrier");
      ord.tracking = str_or_empty(oo, "tracking");
      ord.eta = str_or_empty(oo, "eta");
      if (const auto* lines = oo.if_contains("lines"); lines && lines->is_array()) {
        for (const auto& l : lines->get_array()) {
          ord.lines.push_back({std::string(core::get_string(l, "product_id").value_or("")),
                               static_cast<int>(core::get_int(l, "qty").value_or(1))});
        }
      }
      orders_.emplace(ord.id, std::move(ord));
    }
  }
  return core::Ok{};
}

core::Status Catalog::load_faq(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::Ok{};
  auto v = core::parse_json(*text);
  if (!v.ok() || !v->is_object()) return fail("catalog_invalid", "bad JSON in " + path);
  const auto* arr = v->get_object().if_contains("entries");
  if (arr == nullptr || !arr->is_array()) return core::Ok{};
  for (const auto& x : arr->get_array()) {
    if (!x.is_object()) continue;
    const auto& o = x.get_object();
    FaqEntry e{str_or_empty(o, "id"),
               str_or_empty(o, "en"),
               str_or_empty(o, "ja"),
               str_or_empty(o, "url"),
               {}};
    if (const auto* k = o.if_contains("keywords"); k && k->is_array()) {
      for (const auto& kw : k->get_array()) {
        if (kw.is_string()) e.keywords.push_back(core::normalize_for_match(kw.get_string()));
      }
    }
    faq_.push_back(std::move(e));
  }
  return core::Ok{};
}

core::Status Catalog::open_store(const std::string& db_path) {
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
    Series& s = series_[si];
    s.first_product = products_.size();
    for (int v = 1; v <= s.volumes; ++v) {
      auto& row = products_.emplace_back();
      row.id = s.id + "-v" + std::to_string(v);
      row.series_index = si;
      row.volume = v;
      row.price.store(price_for(s.demographic));
      row.stock.store(stock_for(row.id));
      product_by_id_.emplace(row.id, products_.size() - 1);
    }
  }
  // Stored values win over derived ones; missing rows are inserted.
  std::unordered_map<std::string, bool> stored;
  {
    Stmt q(db_, "SELECT id, price_jpy, stock FROM products");
    while (q.ok() && sqlite3_step(q.get()) == SQLITE_ROW) {
      const std::string id(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)));
      if (auto it = product_by_id_.find(id); it != product_by_id_.end()) {
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

const Series* Catalog::series(std::string_view id) const {
  auto it = series_by_id_.find(id);
  return it == series_by_id_.end() ? nullptr : &series_[it->second];
}

Product Catalog::to_product(const ProductRow& r) const {
  return Product{r.id, series_[r.series_index].id, r.volume,
                 r.price.load(std::memory_order_relaxed), r.stock.load(std::memory_order_relaxed)};
}

std::optional<Product> Catalog::product(std::string_view id) const {
  auto it = product_by_id_.find(id);
  if (it == product_by_id_.end()) return std::nullopt;
  return to_product(products_[it->second]);
}

std::optional<Product> Catalog::volume(const Series& s, int volume) const {
  if (volume < 1 || volume > s.volumes) return std::nullopt;
  return to_product(products_[s.first_product + static_cast<std::size_t>(volume - 1)]);
}

const Sale* Catalog::active_sale(std::string_view series_id, core::WallTime now) const {
  const Sale* best = nullptr;
  for (const auto& sale : sales_) {
    if (!sale.active(now)) continue;
    if (std::find(sale.series_ids.begin(), sale.series_ids.end(), series_id) ==
        sale.series_ids.end()) {
      continue;
    }
    if (best == nullptr || sale.discount_pct > best->discount_pct) best = &sale;
  }
  return best;
}

Quote Catalog::quote_list_price(int list_price, std::string_view series_id,
                                core::WallTime now) const {
  Quote q{list_price, list_price, active_sale(series_id, now)};
  if (q.sale != nullptr) {
    // Yen are whole; a discount rounds down to the yen, in the customer's favour.
    q.price = list_price * (100 - q.sale->discount_pct) / 100;
  }
  return q;
}

Quote Catalog::quote(const Product& p, core::WallTime now) const {
  return quote_list_price(p.price_jpy, p.series_id, now);
}

std::optional<Quote> Catalog::quote(std::string_view product_id, core::WallTime now) const {
  auto it = product_by_id_.find(product_id);
  if (it == product_by_id_.end()) return std::nullopt;
  const ProductRow& row = products_[it->second];
  return quote_list_price(row.price.load(std::memory_order_relaxed), series_[row.series_index].id,
                          now);
}

core::Status Catalog::update_product(std::string_view id, std::optional<int> price_jpy,
                                     std::optional<int> stock) {
  auto it = product_by_id_.find(id);
  if (it == product_by_id_.end()) return fail("not_found", "no product " + std::string(id));
  if (price_jpy && (*price_jpy <= 0 || *price_jpy > 1'000'000)) {
    return fail("invalid_price", "price_jpy must be between 1 and 1000000");
  }
  if (stock && (*stock < 0 || *stock > 1'000'000)) {
    return fail("invalid_stock", "stock must be between 0 and 1000000");
  }
  ProductRow& row = products_[it->second];
  ProductChange change;
  std::vector<std::function<void(const ProductChange&)>> listeners;
  {
    std::lock_guard lock(store_mu_);
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

void Catalog::on_change(std::function<void(const ProductChange&)> listener) {
  std::lock_guard lock(store_mu_);
  listeners_.push_back(std::move(listener));
}

std::vector<SeriesMatch> Catalog::find_series(std::string_view text) const {
  return find_series_normalized(core::normalize_for_match(text));
}

std::vector<SeriesMatch> Catalog::find_series_normalized(std::string_view norm) const {
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
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (c < 0x80) {
      const bool word_start = c != ' ' && (i == 0 || norm[i - 1] == ' ' ||
                                           static_cast<unsigned char>(norm[i - 1]) >= 0x80);
      if (word_start) {
        std::size_t j = i;
        while (j < norm.size() && norm[j] != ' ' && static_cast<unsigned char>(norm[j]) < 0x80) ++j;
        try_keys(norm.substr(i, j - i), i);
      }
    } else if (i + len < norm.size()) {
      const auto c2 = static_cast<unsigned char>(norm[i + len]);
      const std::size_t len2 = c2 < 0x80             ? 1
                               : (c2 & 0xE0) == 0xC0 ? 2
                               : (c2 & 0xF0) == 0xE0 ? 3
                                                     : 4;
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

std::vector<const Series*> Catalog::search(std::string_view query, std::size_t limit) const {
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

std::vector<const Series*> Catalog::similar(const Series& s, std::size_t limit) const {
  constexpr std::size_t kMemo = 10;
  const std::size_t self = series_by_id_.at(s.id);
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
    // Sequels and spin-offs of the same authors are not recommendations.
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

std::vector<const Series*> Catalog::popular_in_genre(std::string_view genre,
                                                     std::size_t limit) const {
  std::vector<const Series*> out;
  for (const auto& s : series_) {
    if (out.size() >= limit) break;
    if (genre.empty() || std::find(s.genres.begin(), s.genres.end(), genre) != s.genres.end()) {
      out.push_back(&s);
    }
  }
  return out;
}

std::optional<Order> Catalog::order(std::string_view id) const {
  auto it = orders_.find(std::string(id));
  if (it == orders_.end()) return std::nullopt;
  return it->second;
}

std::optional<User> Catalog::user(std::string_view id) const {
  auto it = users_.find(std::string(id));
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ma::catalog
