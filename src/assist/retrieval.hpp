#pragma once
// Retrieval: the live facts a reply may state (catalog prices and stock, the user's own
// order, FAQ entries, recommendations), the links a user can act on, and the static answer
// written from those facts alone (the cascade's fourth tier, and the models' grounding).

#include <optional>
#include <string>
#include <vector>

#include "assist/understanding.hpp"
#include "catalog/catalog.hpp"
#include "core/time.hpp"
#include "fm/model_provider.hpp"

namespace ma::assist {

struct Action {
  std::string label;
  std::string url;
};

struct Retrieved {
  const Understanding* u = nullptr;  // what retrieve() was given; it outlives the result
  std::optional<catalog::Product> product;
  std::optional<catalog::Quote> quote;
  std::optional<catalog::Order> order;  // only when the asking user owns it
  bool order_hidden = false;            // an order id was given that this user cannot see
  std::vector<const catalog::Series*> recommendations;
  std::vector<std::string> product_ids;  // products the facts mention
  std::vector<Action> actions;
  fm::Facts facts;
  // True when the facts answer the question (the static tier may answer).
  bool answerable = false;
};

// REQUIRES: `u` came from understand() over the same catalog, and outlives the result.
Retrieved retrieve(const Understanding& u, const std::optional<catalog::User>& user,
                   const catalog::Catalog& catalog, core::WallTime now);

// "¥528" / "528円".
std::string format_yen(int yen, fm::Language lang);

}  // namespace ma::assist
