#pragma once
// The sale calendar (data/sales.json) and the price a customer pays: a product's list price
// less the largest discount among the sales active for its series.
//
// Thread safety: const methods are safe from any thread once load is done. A Quote's `sale`
// points into this object and lives as long as it does.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace ma::catalog {

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

class Pricing final {
 public:
  Pricing() = default;
  Pricing(const Pricing&) = delete;
  Pricing& operator=(const Pricing&) = delete;

  // Appends the sales of the JSON file at `path` (a missing file means no sales). Error
  // `catalog_invalid` for a file that is not a JSON object, or a sale without an RFC 3339
  // UTC start and end or with a discount outside 1..99 %. REQUIRES: called once, first.
  core::Status load(const std::string& path);
  // Appends one sale. REQUIRES: 0 < discount_pct < 100; not beside any other call.
  void add(Sale sale) {
    assert(sale.discount_pct > 0 && sale.discount_pct < 100);
    sales_.push_back(std::move(sale));
  }

  // In file order.
  const std::vector<Sale>& sales() const { return sales_; }
  // The active sale with the largest discount for the series (the earliest listed of equal
  // discounts); nullptr when none. A sale is active from its start, inclusive, to its end.
  const Sale* active_sale(std::string_view series_id, core::WallTime now) const;
  // What a product of `series_id` listed at `list_price` costs at `now`. Yen are whole: a
  // discount rounds down to the yen, in the customer's favour.
  Quote quote(int list_price, std::string_view series_id, core::WallTime now) const;

 private:
  std::vector<Sale> sales_;
};

// Parses "2026-11-20T00:00:00Z" (UTC only).
std::optional<core::WallTime> parse_rfc3339_utc(std::string_view s);

}  // namespace ma::catalog
