#include "catalog/pricing.hpp"

#include <algorithm>

#include "catalog/json_fields.hpp"
#include "core/json_util.hpp"
#include "core/wall_time.hpp"

namespace ma::catalog {

using core::fail;

std::optional<core::WallTime> parse_rfc3339_utc(std::string_view s) {
  return core::parse_rfc3339(s);
}

core::Status Pricing::load(const std::string& path) {
  auto file = read_optional_json_object(path);
  if (!file.ok()) return fail(std::move(file).error());
  for (const auto* x : objects_in(*file, "sales")) {
    const auto& o = x->get_object();
    Sale s;
    s.id = str_or_empty(o, "id");
    s.name = str_or_empty(o, "name");
    s.name_ja = str_or_empty(o, "name_ja");
    s.discount_pct = static_cast<int>(core::get_int(*x, "discount_pct").value_or(0));
    auto start = parse_rfc3339_utc(str_or_empty(o, "start"));
    auto end = parse_rfc3339_utc(str_or_empty(o, "end"));
    if (!start || !end || s.discount_pct <= 0 || s.discount_pct >= 100) {
      return fail("catalog_invalid", "bad sale '" + s.id + "' in " + path);
    }
    s.start = *start;
    s.end = *end;
    s.series_ids = strings_in(o, "series");
    add(std::move(s));
  }
  return core::Ok{};
}

const Sale* Pricing::active_sale(std::string_view series_id, core::WallTime now) const {
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

Quote Pricing::quote(int list_price, std::string_view series_id, core::WallTime now) const {
  Quote q{list_price, list_price, active_sale(series_id, now)};
  if (q.sale != nullptr) q.price = list_price * (100 - q.sale->discount_pct) / 100;
  return q;
}

}  // namespace ma::catalog
