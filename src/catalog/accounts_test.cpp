#include "catalog/accounts.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"

namespace ma::catalog {
namespace {

class AccountsTest : public ::testing::Test {
 protected:
  TempFiles files_;
};

TEST_F(AccountsTest, LoadsUsersWithTheirTier) {
  Accounts a;
  ASSERT_TRUE(a.load(files_.write("demo.json", R"({"users": [
      {"id": "u-1", "name": "Aiko", "tier": "registered"},
      {"id": "u-2", "name": "Ben", "tier": "premium"},
      {"id": "u-3", "name": "Chika"},
      {"id": "u-1", "name": "Impostor", "tier": "premium"},
      {"name": "No id", "tier": "premium"},
      "not a user"]})"))
                  .ok());
  EXPECT_EQ(a.user("u-1")->name, "Aiko");  // the first of one id is kept
  EXPECT_EQ(a.user("u-1")->tier, UserTier::kRegistered);
  EXPECT_EQ(a.user("u-2")->tier, UserTier::kPremium);
  EXPECT_EQ(a.user("u-3")->tier, UserTier::kRegistered);
  EXPECT_FALSE(a.user("").has_value());
  EXPECT_FALSE(a.user("u-4").has_value());
}

TEST_F(AccountsTest, LoadsOrdersWithTheirLines) {
  Accounts a;
  ASSERT_TRUE(a.load(files_.write("demo.json", R"({"orders": [
      {"id": "7", "user_id": "u-1", "status": "shipped", "placed": "2026-11-20",
       "carrier": "Yamato", "tracking": "1234", "eta": "2026-11-22",
       "lines": [{"product_id": "mg-0004-v105", "qty": 2}, {"product_id": "mg-0004-v104"}]}]})"))
                  .ok());
  const auto o = a.order("7");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_id, "u-1");
  EXPECT_EQ(o->status, "shipped");
  EXPECT_EQ(o->carrier, "Yamato");
  EXPECT_EQ(o->eta, "2026-11-22");
  ASSERT_EQ(o->lines.size(), 2u);
  EXPECT_EQ(o->lines[0].product_id, "mg-0004-v105");
  EXPECT_EQ(o->lines[0].qty, 2);
  EXPECT_EQ(o->lines[1].qty, 1);  // no qty: one
  EXPECT_FALSE(a.order("8").has_value());
}

TEST_F(AccountsTest, OrdersOfAUserAreTheirsAloneNewestFirst) {
  Accounts a;
  ASSERT_TRUE(a.load(files_.write("demo.json", R"({"orders": [
      {"id": "1", "user_id": "u-1", "placed": "2026-10-02"},
      {"id": "2", "user_id": "u-2", "placed": "2026-11-25"},
      {"id": "3", "user_id": "u-1", "placed": "2026-11-20"}]})"))
                  .ok());
  const auto mine = a.orders_of("u-1");
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].id, "3");
  EXPECT_EQ(mine[1].id, "1");
  EXPECT_EQ(a.orders_of("u-2").size(), 1u);
  EXPECT_TRUE(a.orders_of("u-3").empty());
  EXPECT_TRUE(a.orders_of("").empty());
}

TEST_F(AccountsTest, AMissingFileHasNoAccountsAndABadOneIsAnError) {
  Accounts a;
  EXPECT_TRUE(a.load(files_.missing()).ok());
  EXPECT_FALSE(a.user("u-1").has_value());
  EXPECT_EQ(a.load(files_.write("demo.json", "[]")).error().code, "catalog_invalid");
}

TEST(UserTierTest, NamesEveryTier) {
  EXPECT_EQ(to_string(UserTier::kAnonymous), "anonymous");
  EXPECT_EQ(to_string(UserTier::kRegistered), "registered");
  EXPECT_EQ(to_string(UserTier::kPremium), "premium");
}

}  // namespace
}  // namespace ma::catalog
