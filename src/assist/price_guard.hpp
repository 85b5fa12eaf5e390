#pragma once
// The price guard (seed incident 3): no answer, from any tier, states a price for a product
// that differs from the catalog's current price. Amounts are read from the text ("¥1,234",
// "1,234円", "JPY 528", "528 yen"); an amount is right when it equals the price paid now or
// the list price (a reply may mention "usually ¥528" next to a sale price).

#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "core/time.hpp"

namespace ma::assist {

// Every yen amount stated in the text, in order.
std::vector<int> extract_yen(std::string_view text);

struct PriceCheck {
  bool checked = false;   // the text stated at least one price
  bool mismatch = false;  // some stated price is not the product's current one
  std::vector<int> wrong;
};

// Checks the amounts in `text` against the current quote of the product (read live from the
// catalog; only the id of `product` is used). Unchecked when the catalog no longer has it.
PriceCheck check_prices(std::string_view text, std::string_view product_id,
                        const catalog::Catalog& catalog, core::WallTime now);
inline PriceCheck check_prices(std::string_view text, const catalog::Product& product,
                               const catalog::Catalog& catalog, core::WallTime now) {
  return check_prices(text, product.id, catalog, now);
}

// Checks recorded (product id, yen) statements, as cache entries keep them.
PriceCheck check_stated(const std::vector<std::pair<std::string, int>>& stated,
                        const catalog::Catalog& catalog, core::WallTime now);

}  // namespace ma::assist
