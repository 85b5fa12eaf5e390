#include "catalog/pricing.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"

namespace ma::catalog {
namespace {

core::WallTime at(std::string_view rfc3339) { return *parse_rfc3339_utc(rfc3339); }

Sale make_sale(std::string id, int pct, std::string_view start, std::string_view end,
               std::vector<std::string> series) {
  Sale s;
  s.id = std::move(id);
  s.discount_pct = pct;
  s.start = at(start);
  s.end = at(end);
  s.series_ids = std::move(series);
  return s;
}

class PricingTest : public ::testing::Test {
 protected:
  TempFiles files_;
};

TEST_F(PricingTest, ASaleRunsFromItsStartInclusiveToItsEndExclusive) {
  Pricing p;
  p.add(make_sale("w", 20, "2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z", {"a"}));
  EXPECT_EQ(p.active_sale("a", at("2026-11-19T23:59:59Z")), nullptr);
  EXPECT_EQ(p.active_sale("a", at("2026-11-20T00:00:00Z")), &p.sales()[0]);
  EXPECT_EQ(p.active_sale("a", at("2026-11-21T23:59:59Z")), &p.sales()[0]);
  EXPECT_EQ(p.active_sale("a", at("2026-11-22T00:00:00Z")), nullptr);
  EXPECT_EQ(p.active_sale("b", at("2026-11-21T00:00:00Z")), nullptr);
}

TEST_F(PricingTest, TheLargestDiscountWinsAndTheFirstListedOfEqualOnes) {
  Pricing p;
  p.add(make_sale("small", 10, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", {"a", "b"}));
  p.add(make_sale("big", 30, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", {"a"}));
  p.add(make_sale("big-too", 30, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", {"a"}));
  p.add(make_sale("bigger-later", 50, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", {"a"}));
  const auto now = at("2026-06-01T00:00:00Z");
  EXPECT_EQ(p.active_sale("a", now)->id, "big");
  EXPECT_EQ(p.active_sale("b", now)->id, "small");
  EXPECT_EQ(p.active_sale("a", at("2026-12-01T00:00:00Z"))->id, "bigger-later");
}

TEST_F(PricingTest, QuotesRoundTheDiscountDownToTheYen) {
  Pricing p;
  p.add(make_sale("s", 15, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", {"a"}));
  const auto now = at("2026-06-01T00:00:00Z");
  const Quote q = p.quote(693, "a", now);  // 693 * 0.85 = 589.05
  EXPECT_EQ(q.list_price, 693);
  EXPECT_EQ(q.price, 589);
  EXPECT_EQ(q.sale, &p.sales()[0]);
  EXPECT_EQ(p.quote(99, "a", now).price, 84);  // 84.15
  const Quote none = p.quote(693, "b", now);
  EXPECT_EQ(none.price, 693);
  EXPECT_EQ(none.sale, nullptr);
}

TEST_F(PricingTest, LoadsTheCalendarInFileOrder) {
  Pricing p;
  ASSERT_TRUE(p.load(files_.write("sales.json", R"({"sales": [
      {"id": "one", "name": "One", "name_ja": "一", "discount_pct": 20,
       "start": "2026-11-20T00:00:00Z", "end": "2026-12-31T23:59:59Z", "series": ["a", 3, "b"]},
      "not a sale",
      {"id": "two", "discount_pct": 5, "start": "2026-01-01T00:00:00Z",
       "end": "2026-02-01T00:00:00Z"}]})"))
                  .ok());
  ASSERT_EQ(p.sales().size(), 2u);
  const Sale& one = p.sales()[0];
  EXPECT_EQ(one.name_ja, "一");
  EXPECT_EQ(one.series_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(one.start, at("2026-11-20T00:00:00Z"));
  EXPECT_EQ(p.sales()[1].id, "two");
  EXPECT_TRUE(p.sales()[1].series_ids.empty());
}

TEST_F(PricingTest, AMissingFileMeansNoSalesAndABadOneIsAnError) {
  Pricing none;
  EXPECT_TRUE(none.load(files_.missing()).ok());
  EXPECT_TRUE(none.sales().empty());
  auto code = [&](std::string_view content) {
    Pricing p;
    const auto st = p.load(files_.write("sales.json", content));
    return st.ok() ? std::string("ok") : st.error().code;
  };
  EXPECT_EQ(code("[]"), "catalog_invalid");
  EXPECT_EQ(code("{"), "catalog_invalid");
  EXPECT_EQ(code(R"({"other": 1})"), "ok");
  const std::string window = R"("start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z")";
  EXPECT_EQ(code(R"({"sales": [{"id": "x", "discount_pct": 0, )" + window + "}]}"),
            "catalog_invalid");
  EXPECT_EQ(code(R"({"sales": [{"id": "x", "discount_pct": 100, )" + window + "}]}"),
            "catalog_invalid");
  EXPECT_EQ(code(R"({"sales": [{"id": "x", "discount_pct": 99, )" + window + "}]}"), "ok");
  EXPECT_EQ(code(R"({"sales": [{"id": "x", "discount_pct": 10, "start": "2026-01-01",)"
                 R"( "end": "2026-02-01T00:00:00Z"}]})"),
            "catalog_invalid");
}

}  // namespace
}  // namespace ma::catalog
