#pragma once
// The demo store's user accounts and orders (data/demo.json).
//
// Thread safety: const methods are safe from any thread once load is done.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

namespace ma::catalog {

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

class Accounts final {
 public:
  Accounts() = default;
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // Adds the `users` and `orders` of the JSON file at `path` (a missing file adds none).
  // A user's tier is premium when its `tier` says so, else registered; users without an id
  // are skipped; of two orders or users with one id the first is kept. An order line
  // without a qty has 1. Error `catalog_invalid` for a file that is not a JSON object.
  core::Status load(const std::string& path);

  // nullopt for an unknown id. Knowing an order's id is not owning it: callers check
  // Order::user_id against the verified user.
  std::optional<Order> order(std::string_view id) const;
  // Every order of the user with this id, newest first (by `placed`, then id); empty for an
  // unknown or empty id. REQUIRES: `user_id` is a verified user's (server/identity.hpp).
  std::vector<Order> orders_of(std::string_view user_id) const;
  // The account with this id (the id a verified user token names; see server/identity.hpp).
  std::optional<User> user(std::string_view id) const;

 private:
  std::unordered_map<std::string, Order> orders_;
  std::unordered_map<std::string, User> users_;  // by id
};

}  // namespace ma::catalog
