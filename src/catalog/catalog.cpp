#include "catalog/catalog.hpp"

namespace ma::catalog {

Catalog::~Catalog() = default;

core::Result<std::unique_ptr<Catalog>> Catalog::open(const CatalogOptions& options) {
  std::unique_ptr<Catalog> c(new Catalog());
  const std::string& dir = options.data_dir;
  auto load_series = [&]() -> core::Status {
    auto st = c->series_.load(dir + "/manga_series.jsonl");
    if (st.ok()) c->titles_.add_titles();
    return st;
  };
  // Every part loads even after one failed (as the catalog always has); the first error wins.
  for (auto st : {load_series(), c->titles_.load_aliases(dir + "/series_aliases.json"),
                  c->pricing_.load(dir + "/sales.json"), c->accounts_.load(dir + "/demo.json"),
                  c->faq_.load(dir + "/faq.json"), c->store_.open(options.db_path)}) {
    if (!st.ok()) return core::fail(std::move(st).error());
  }
  return c;
}

std::optional<Quote> Catalog::quote(std::string_view product_id, core::WallTime now) const {
  const auto listed = store_.list_price(product_id);
  if (!listed) return std::nullopt;
  return pricing_.quote(listed->price_jpy, listed->series_id, now);
}

}  // namespace ma::catalog
