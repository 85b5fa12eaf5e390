// The stale-price report over request-log lines: times and the window's edges, lines of other
// kinds and malformed ones counted and skipped, one row per (reply, product), the summary's
// arithmetic, CSV quoting, and the entry point's exit codes.
#include "observe/stale_price_report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "core/wall_time.hpp"
#include "observe/request_log.hpp"

namespace ma::observe {
namespace {

using namespace std::chrono;

core::WallTime at(std::string_view rfc3339) { return *core::parse_rfc3339(rfc3339); }

// A request-log line as the server writes it (observe::to_json_line).
std::string line(std::string_view time, std::string user, std::string trace,
                 std::vector<LoggedPrice> prices, std::string tier = "cache") {
  RequestLog l;
  l.time = at(time);
  l.user = std::move(user);
  l.trace_id = std::move(trace);
  l.tier = std::move(tier);
  l.intent = "pricing";
  l.prices = std::move(prices);
  return to_json_line(l);
}

// What a FILE* received.
std::string contents(std::FILE* f) {
  std::string out;
  std::rewind(f);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  return out;
}

TEST(ReportTimeTest, ReadsRfc3339AndBareDates) {
  EXPECT_EQ(parse_report_time("2026-11-30"), at("2026-11-30T00:00:00Z"));
  EXPECT_EQ(parse_report_time("2026-11-30T09:12:56Z"), at("2026-11-30T09:12:56Z"));
  EXPECT_EQ(parse_report_time("2026-11-30T09:12:56.123Z"), at("2026-11-30T09:12:56.123Z"));
  EXPECT_EQ(parse_report_time("2026-11-30t09:12:56z"), at("2026-11-30T09:12:56Z"));
  EXPECT_EQ(parse_report_time("2026-11-30 09:12:56Z"), at("2026-11-30T09:12:56Z"));
  // An offset says how far local time is ahead of UTC.
  EXPECT_EQ(parse_report_time("2026-11-30T18:12:56+09:00"), at("2026-11-30T09:12:56Z"));
  EXPECT_EQ(parse_report_time("2026-11-30T04:12:56.5-05:00"), at("2026-11-30T09:12:56.500Z"));
  EXPECT_EQ(parse_report_time("2026-12-01T08:00:00+09:00"), at("2026-11-30T23:00:00Z"));
  EXPECT_EQ(parse_report_time("2028-02-29"), at("2028-02-29T00:00:00Z"));  // a leap year
  // Nanoseconds are kept; digits past them add nothing.
  EXPECT_EQ(parse_report_time("2026-11-30T09:12:56.0000000019Z"),
            at("2026-11-30T09:12:56Z") + nanoseconds(1));
}

TEST(ReportTimeTest, RefusesWhatIsNotATime) {
  for (const char* bad :
       {"", "yesterday", "2026-11-31", "2026-02-29", "2026-13-01", "2026-11-3", "26-11-30",
        "2026/11/30", "2026-11-30T09:12:56",  // no offset
        "2026-11-30T09:12Z", "2026-11-30T24:00:00Z", "2026-11-30T09:60:00Z",
        "2026-11-30T09:12:56.Z", "2026-11-30T09:12:56+0900", "2026-11-30T09:12:56+24:00",
        "2026-11-30T09:12:56Zjunk", "2026-11-30 ", "2026-11-30Tnoon"}) {
    EXPECT_FALSE(parse_report_time(bad).has_value()) << bad;
  }
}

TEST(StalePriceReportTest, TheWindowIncludesSinceAndExcludesUntil) {
  StalePriceReport r(at("2026-11-30T10:00:00Z"), at("2026-11-30T11:00:00Z"));
  const std::vector<LoggedPrice> stale = {{"mg-0004-v4", 528, 600}};
  r.add_line(line("2026-11-30T09:59:59.999Z", "u_a", "t-before", stale));
  r.add_line(line("2026-11-30T10:00:00.000Z", "u_a", "t-since", stale));
  r.add_line(line("2026-11-30T10:59:59.999Z", "u_a", "t-last", stale));
  r.add_line(line("2026-11-30T11:00:00.000Z", "u_a", "t-until", stale));
  ASSERT_EQ(r.rows().size(), 2u);
  EXPECT_EQ(r.rows()[0].trace_id, "t-since");
  EXPECT_EQ(r.rows()[1].trace_id, "t-last");
  const StalePriceSummary s = r.summary();
  EXPECT_EQ(s.lines, 4u);
  EXPECT_EQ(s.judged, 2u);
  EXPECT_EQ(s.outside_window, 2u);

  // Open bounds: everything.
  StalePriceReport all;
  all.add_line(line("2001-01-01T00:00:00Z", "u_a", "t-old", stale));
  all.add_line(line("2099-01-01T00:00:00Z", "u_a", "t-new", stale));
  EXPECT_EQ(all.rows().size(), 2u);
}

TEST(StalePriceReportTest, LinesOfOtherKindsAndMalformedOnesAreCountedAndSkipped) {
  StalePriceReport r;
  r.add_line("not json at all");
  r.add_line("{\"time\":\"2026-11-30T10:00:00Z\",");                  // cut short
  r.add_line("[1,2,3]");                                              // JSON, not an object
  r.add_line(R"({"event":"sale_end","series":"mg-0004"})");           // another kind of line
  r.add_line(R"({"time":"2026-11-30T10:00:00Z","msg":"no trace"})");  // another kind
  r.add_line(R"({"time":"yesterday","trace_id":"t1","prices":[]})");  // unreadable time
  r.add_line(R"({"time":"2026-11-30T10:00:00Z","trace_id":"t2","prices":{}})");
  r.add_line(
      R"({"time":"2026-11-30T10:00:00Z","trace_id":"t3","prices":[{"product":"p","quoted_yen":1}]})");
  r.add_line(
      R"({"time":"2026-11-30T10:00:00Z","trace_id":"t4","prices":[{"product":"p","quoted_yen":"1","catalog_yen":2}]})");
  r.add_line(
      R"({"time":"2026-11-30T10:00:00Z","trace_id":"t5","prices":[{"product":"p","quoted_yen":1,"catalog_yen":2,"list_yen":null}]})");
  // A malformed entry spoils its line: its good entry before it is not reported either.
  r.add_line(
      R"({"time":"2026-11-30T10:00:00Z","trace_id":"t6","prices":[{"product":"p","quoted_yen":1,"catalog_yen":2},7]})");
  r.add_line(R"({"time":"2026-11-30T10:00:00Z","trace_id":"t7","user":"u_a"})");  // no prices
  r.add_line("");
  r.add_line("   \r\n");
  // ...and a good line among them still counts.
  r.add_line(line("2026-11-30T10:00:00Z", "u_a", "t-good", {{"mg-0004-v4", 528, 600}}) + "\r\n");

  ASSERT_EQ(r.rows().size(), 1u);
  EXPECT_EQ(r.rows()[0].trace_id, "t-good");
  const StalePriceSummary s = r.summary();
  EXPECT_EQ(s.lines, 13u);  // blank lines are not counted
  EXPECT_EQ(s.malformed, 9u);
  EXPECT_EQ(s.other_kinds, 2u);
  EXPECT_EQ(s.without_prices, 1u);
  EXPECT_EQ(s.judged, 1u);
  EXPECT_EQ(s.outside_window, 0u);
  EXPECT_EQ(s.lines, s.malformed + s.other_kinds + s.without_prices + s.judged + s.outside_window);
}

TEST(StalePriceReportTest, OneRowPerReplyAndProductAndTheSummaryAddsUp) {
  StalePriceReport r;
  // u_a: one stale product (quoted 528, now 600) and one right price in the same reply.
  r.add_line(line("2026-11-30T10:00:00Z", "u_a", "t1",
                  {{"mg-0004-v4", 528, 600}, {"mg-0014-v9", 528, 528}}));
  // u_b: quoted more than the price (a sale began): delta +220.
  r.add_line(line("2026-11-30T10:01:00Z", "u_b", "t2", {{"mg-0009-v1", 1100, 880}}));
  // u_a again, another reply: the same product twice with two stale amounts -> one row, the
  // lowest; and a list price during a sale, which is right.
  r.add_line(
      line("2026-11-30T10:02:00Z", "u_a", "t3",
           {{"mg-0004-v4", 560, 600}, {"mg-0004-v4", 500, 600}, {"mg-0008-v2", 1100, 880, 1100}}));
  // A reply whose prices are all right, and one that states none: no row.
  r.add_line(line("2026-11-30T10:03:00Z", "u_c", "t4", {{"mg-0004-v4", 600, 600}}));
  r.add_line(line("2026-11-30T10:04:00Z", "u_d", "t5", {}));
  // A stale quote with no user logged: a row, but no customer to count.
  r.add_line(line("2026-11-30T10:05:00Z", "", "t6", {{"mg-0004-v4", 528, 600}}));

  ASSERT_EQ(r.rows().size(), 4u);
  const StalePriceRow& first = r.rows()[0];
  EXPECT_EQ(first.time, "2026-11-30T10:00:00.000Z");
  EXPECT_EQ(first.user, "u_a");
  EXPECT_EQ(first.product_id, "mg-0004-v4");
  EXPECT_EQ(first.quoted_yen, 528);
  EXPECT_EQ(first.actual_yen, 600);
  EXPECT_EQ(first.delta_yen(), -72);
  EXPECT_EQ(first.tier, "cache");
  EXPECT_EQ(first.trace_id, "t1");
  EXPECT_EQ(r.rows()[1].delta_yen(), 220);
  EXPECT_EQ(r.rows()[2].trace_id, "t3");
  EXPECT_EQ(r.rows()[2].quoted_yen, 500);
  EXPECT_EQ(r.rows()[2].delta_yen(), -100);
  EXPECT_EQ(r.rows()[3].trace_id, "t6");

  const StalePriceSummary s = r.summary();
  EXPECT_EQ(s.customers, 2u);  // u_a, u_b
  EXPECT_EQ(s.replies, 4u);    // t1, t2, t3, t6
  EXPECT_EQ(s.rows, 4u);
  EXPECT_EQ(s.total_delta_yen, -72 + 220 - 100 - 72);
  EXPECT_EQ(s.underquoted_yen, 72 + 100 + 72);
  EXPECT_EQ(s.overquoted_yen, 220);
  EXPECT_EQ(s.judged, 6u);

  const std::string csv = r.csv();
  EXPECT_EQ(csv,
            "time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id\n"
            "2026-11-30T10:00:00.000Z,u_a,mg-0004-v4,528,600,-72,cache,t1\n"
            "2026-11-30T10:01:00.000Z,u_b,mg-0009-v1,1100,880,220,cache,t2\n"
            "2026-11-30T10:02:00.000Z,u_a,mg-0004-v4,500,600,-100,cache,t3\n"
            "2026-11-30T10:05:00.000Z,,mg-0004-v4,528,600,-72,cache,t6\n"
            "# customers=2 replies=4 rows=4 total_delta_yen=-24 underquoted_yen=244 "
            "overquoted_yen=220\n"
            "# lines=6 judged=6 outside_window=0 without_prices=0 other_kinds=0 malformed=0\n");
}

TEST(StalePriceReportTest, RowsComeInTimeOrderWhateverTheLogsOrder) {
  // The server writes its lines in batches per thread: a log is only roughly in time order.
  StalePriceReport r;
  const std::vector<LoggedPrice> stale = {{"mg-0004-v4", 528, 600}, {"mg-0014-v9", 1, 528}};
  r.add_line(line("2026-11-30T10:02:00Z", "u_a", "t3", stale));
  r.add_line(line("2026-11-30T10:00:00Z", "u_a", "t1", stale));
  r.add_line(line("2026-11-30T10:02:00Z", "u_a", "t4", stale));  // same time: after t3
  r.add_line(line("2026-11-30T10:01:00Z", "u_a", "t2", stale));
  std::vector<std::string> order;
  for (const auto& row : r.rows()) order.push_back(row.trace_id + "/" + row.product_id);
  EXPECT_EQ(order, (std::vector<std::string>{"t1/mg-0004-v4", "t1/mg-0014-v9", "t2/mg-0004-v4",
                                             "t2/mg-0014-v9", "t3/mg-0004-v4", "t3/mg-0014-v9",
                                             "t4/mg-0004-v4", "t4/mg-0014-v9"}));
}

TEST(StalePriceReportTest, FieldsAreCsvQuotedWhereNeeded) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
  EXPECT_EQ(csv_field("ワンピース"), "ワンピース");

  StalePriceReport r;
  r.add_line(line("2026-11-30T10:00:00Z", "u,a", "t\"1", {{"odd,id", 1, 2}}, "ca\nche"));
  ASSERT_EQ(r.rows().size(), 1u);
  const std::string csv = r.csv();
  EXPECT_NE(
      csv.find("\n2026-11-30T10:00:00.000Z,\"u,a\",\"odd,id\",1,2,-1,\"ca\nche\",\"t\"\"1\"\n"),
      std::string::npos)
      << csv;
}

TEST(StalePriceReportTest, WhatTheLogWritesIsWhatTheReportReads) {
  // list_yen is written only when it differs from the price paid, and read back.
  const std::string during_sale =
      line("2026-11-30T10:00:00Z", "u_a", "t1", {{"mg-0009-v1", 1100, 880, 1100}});
  EXPECT_NE(
      during_sale.find(
          R"("prices":[{"product":"mg-0009-v1","quoted_yen":1100,"catalog_yen":880,"list_yen":1100}])"),
      std::string::npos)
      << during_sale;
  const std::string plain =
      line("2026-11-30T10:00:00Z", "u_a", "t2", {{"mg-0004-v4", 528, 600, 600}});
  EXPECT_NE(plain.find(R"("prices":[{"product":"mg-0004-v4","quoted_yen":528,"catalog_yen":600}])"),
            std::string::npos)
      << plain;
  StalePriceReport r;
  r.add_line(during_sale);  // the list price: right
  r.add_line(plain);
  ASSERT_EQ(r.rows().size(), 1u);
  EXPECT_EQ(r.rows()[0].trace_id, "t2");
}

class ReportMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = std::tmpfile();
    err_ = std::tmpfile();
    ASSERT_NE(out_, nullptr);
    ASSERT_NE(err_, nullptr);
    path_ = ::testing::TempDir() + "ma_stale_report_" + std::to_string(::getpid()) + ".log";
  }
  void TearDown() override {
    std::fclose(out_);
    std::fclose(err_);
    std::remove(path_.c_str());
  }
  void write_log(const std::string& text) {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  int run(const std::optional<std::string>& since, const std::optional<std::string>& until) {
    return report_stale_prices_main(path_, since, until, out_, err_);
  }
  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
  std::string path_;
};

TEST_F(ReportMainTest, WritesTheCsvOfTheWindow) {
  write_log(line("2026-11-29T23:59:59Z", "u_a", "t0", {{"mg-0004-v4", 528, 600}}) + "\n" +
            "garbage\n" + line("2026-11-30T10:00:00Z", "u_b", "t1", {{"mg-0004-v4", 528, 600}}) +
            "\n" + line("2026-12-01T00:00:00Z", "u_c", "t2", {{"mg-0004-v4", 528, 600}}) + "\n");
  ASSERT_EQ(run("2026-11-30", "2026-12-01"), 0) << contents(err_);
  EXPECT_EQ(contents(out_),
            "time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id\n"
            "2026-11-30T10:00:00.000Z,u_b,mg-0004-v4,528,600,-72,cache,t1\n"
            "# customers=1 replies=1 rows=1 total_delta_yen=-72 underquoted_yen=72 "
            "overquoted_yen=0\n"
            "# lines=4 judged=1 outside_window=2 without_prices=0 other_kinds=0 malformed=1\n");
  EXPECT_EQ(contents(err_), "");
}

TEST_F(ReportMainTest, PointsOutLinesWrittenBeforeThePricesWereLogged) {
  write_log(R"({"time":"2026-11-30T10:00:00Z","trace_id":"t7","user":"u_a","tier":"cache"})"
            "\n");
  ASSERT_EQ(run(std::nullopt, std::nullopt), 0);
  EXPECT_NE(contents(out_).find("without_prices=1"), std::string::npos);
  EXPECT_NE(contents(err_).find("1 request line(s) in the window carry no \"prices\""),
            std::string::npos)
      << contents(err_);
}

TEST_F(ReportMainTest, BadTimesAreRefusedNamingTheOptionAndTheForms) {
  write_log("");
  EXPECT_EQ(run("yesterday", std::nullopt), 2);
  std::string e = contents(err_);
  EXPECT_NE(e.find("--since \"yesterday\""), std::string::npos) << e;
  EXPECT_NE(e.find("2026-11-30T09:00:00Z"), std::string::npos) << e;
  EXPECT_NE(e.find("2026-11-30 (midnight UTC)"), std::string::npos) << e;

  EXPECT_EQ(run(std::nullopt, "2026-11-30T10:00"), 2);
  e = contents(err_);
  EXPECT_NE(e.find("--until \"2026-11-30T10:00\""), std::string::npos) << e;

  EXPECT_EQ(run("2026-12-01", "2026-11-30"), 2);
  EXPECT_NE(contents(err_).find("is not before --until"), std::string::npos);
  EXPECT_EQ(run("2026-11-30", "2026-11-30"), 2);  // an empty window
  EXPECT_EQ(contents(out_), "");                  // nothing was written
}

TEST_F(ReportMainTest, AnUnreadableLogIsNamed) {
  const std::string missing = path_ + ".missing";
  EXPECT_EQ(report_stale_prices_main(missing, std::nullopt, std::nullopt, out_, err_), 1);
  EXPECT_NE(contents(err_).find("cannot read the log " + missing), std::string::npos)
      << contents(err_);
  // A directory opens, and fails on the first read.
  const std::string dir = ::testing::TempDir();
  EXPECT_EQ(report_stale_prices_main(dir, std::nullopt, std::nullopt, out_, err_), 1);
  EXPECT_NE(contents(err_).find("cannot read the log " + dir), std::string::npos) << contents(err_);
  EXPECT_EQ(contents(out_), "");
}

}  // namespace
}  // namespace ma::observe
