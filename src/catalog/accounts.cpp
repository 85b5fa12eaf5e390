#include "catalog/accounts.hpp"

#include <algorithm>

#include "catalog/json_fields.hpp"
#include "core/json_util.hpp"

namespace ma::catalog {

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

core::Status Accounts::load(const std::string& path) {
  auto file = read_optional_json_object(path);
  if (!file.ok()) return core::fail(std::move(file).error());
  for (const auto* x : objects_in(*file, "users")) {
    const auto& o = x->get_object();
    User user;
    user.id = str_or_empty(o, "id");
    user.name = str_or_empty(o, "name");
    user.tier = str_or_empty(o, "tier") == "premium" ? UserTier::kPremium : UserTier::kRegistered;
    if (!user.id.empty()) users_.emplace(user.id, std::move(user));
  }
  for (const auto* x : objects_in(*file, "orders")) {
    const auto& o = x->get_object();
    Order ord;
    ord.id = str_or_empty(o, "id");
    ord.user_id = str_or_empty(o, "user_id");
    ord.status = str_or_empty(o, "status");
    ord.placed = str_or_empty(o, "placed");
    ord.carrier = str_or_empty(o, "carrier");
    ord.tracking = str_or_empty(o, "tracking");
    ord.eta = str_or_empty(o, "eta");
    if (const auto* lines = o.if_contains("lines"); lines && lines->is_array()) {
      for (const auto& l : lines->get_array()) {
        ord.lines.push_back({std::string(core::get_string(l, "product_id").value_or("")),
                             static_cast<int>(core::get_int(l, "qty").value_or(1))});
      }
    }
    orders_.emplace(ord.id, std::move(ord));
  }
  return core::Ok{};
}

std::optional<Order> Accounts::order(std::string_view id) const {
  auto it = orders_.find(std::string(id));
  if (it == orders_.end()) return std::nullopt;
  return it->second;
}

std::vector<Order> Accounts::orders_of(std::string_view user_id) const {
  std::vector<Order> out;
  if (user_id.empty()) return out;
  // A scan: the demo store has a handful of orders, and the orders page is not a hot path.
  for (const auto& [id, o] : orders_) {
    if (o.user_id == user_id) out.push_back(o);
  }
  std::sort(out.begin(), out.end(), [](const Order& a, const Order& b) {
    return a.placed != b.placed ? a.placed > b.placed : a.id > b.id;
  });
  return out;
}

std::optional<User> Accounts::user(std::string_view id) const {
  auto it = users_.find(std::string(id));
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ma::catalog
