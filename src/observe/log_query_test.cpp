#include "observe/log_query.hpp"

#include <gtest/gtest.h>

#include "core/json_util.hpp"
#include "observe/request_log.hpp"

namespace ma::observe {
namespace {

std::vector<std::string> sample_lines() {
  std::vector<std::string> lines;
  const core::WallTime t0{std::chrono::seconds(1795694400)};  // 2026-11-26T12:00:00Z
  auto add = [&](int sec, std::string level, std::string code, double latency, std::string q) {
    RequestLog l;
    l.time = t0 + std::chrono::seconds(sec);
    l.level = std::move(level);
    l.error_code = std::move(code);
    l.latency_ms = latency;
    l.question = std::move(q);
    l.tier = "primary";
    lines.push_back(to_json_line(l));
  };
  add(10, "INFO", "", 120, "ONE PIECEの値段");
  add(20, "ERROR", "TOKENIZER_FAULT", 35, "鬼滅の刃の在庫");
  add(400, "ERROR", "TOKENIZER_FAULT", 31, "呪術廻戦の新刊");
  add(410, "WARN", "ThrottlingException", 900, "how much is bleach");
  add(420, "ERROR", "ThrottlingException", 1500, "price of naruto");
  add(430, "ERROR", "TOKENIZER_FAULT", 40, "進撃の巨人");
  lines.push_back("not json at all");
  return lines;
}

Table run(std::string_view q, std::size_t* skipped = nullptr) {
  auto parsed = parse_log_query(q);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return run_log_query(*parsed, sample_lines(), skipped);
}

TEST(LogQueryTest, TheRunbookQueryNamesTheErrorCodes) {
  std::size_t skipped = 0;
  const Table t =
      run(R"(filter level = "ERROR" | stats count by error_code | sort count desc)", &skipped);
  EXPECT_EQ(skipped, 1u);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"TOKENIZER_FAULT", "3"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"ThrottlingException", "1"}));
  EXPECT_NE(t.format().find("TOKENIZER_FAULT"), std::string::npos);
}

TEST(LogQueryTest, BinsByTime) {
  const Table t = run(R"(filter error_code != "" | stats count by bin(5m))");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"2026-11-26T12:00:00Z", "1"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2026-11-26T12:05:00Z", "4"}));
}

TEST(LogQueryTest, NumericFiltersLikeFieldsAndLimit) {
  EXPECT_EQ(run("filter latency_ms > 800").rows.size(), 2u);
  const Table t = run(R"(filter question like "鬼滅" | fields time, error_code | limit 5)");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.header, (std::vector<std::string>{"time", "error_code"}));
  EXPECT_EQ(t.rows[0][1], "TOKENIZER_FAULT");
  EXPECT_EQ(run("filter latency_ms >= 0 | sort latency_ms desc | limit 1").rows[0][6], "1500");
}

TEST(LogQueryTest, BadQueriesAreClearErrors) {
  EXPECT_FALSE(parse_log_query("grep foo").ok());
  EXPECT_FALSE(parse_log_query("filter level ~ x").ok());
  EXPECT_FALSE(parse_log_query("filter level = ERROR").ok());  // strings need quotes
  EXPECT_FALSE(parse_log_query("stats sum by x").ok());
  EXPECT_FALSE(parse_log_query("stats count by bin(5y)").ok());
  EXPECT_FALSE(parse_log_query("limit zero").ok());
}

TEST(RequestLogTest, RedactsPersonalData) {
  const std::string r = redact(
      "mail me at aiko.tanaka+manga@example.co.jp or call 090-1234-5678, "
      "token Bearer abc.def.ghi and key sk_live_0123456789abcdefghijklmnopqrstuv ok");
  EXPECT_EQ(r.find("aiko"), std::string::npos) << r;
  EXPECT_EQ(r.find("1234-5678"), std::string::npos) << r;
  EXPECT_EQ(r.find("abc.def"), std::string::npos) << r;
  EXPECT_EQ(r.find("sk_live"), std::string::npos) << r;
  EXPECT_NE(r.find("mail me at"), std::string::npos);
  EXPECT_NE(r.find(" ok"), std::string::npos);
  EXPECT_EQ(redact("order #12345 volume 105"), "order #12345 volume 105");
  EXPECT_EQ(redact("ONE PIECEの105巻"), "ONE PIECEの105巻");
}

TEST(RequestLogTest, Rfc3339WithoutTheCLibrary) {
  EXPECT_EQ(rfc3339(core::WallTime{std::chrono::milliseconds(1709210096123)}),
            "2024-02-29T12:34:56.123Z");
  EXPECT_EQ(rfc3339(core::WallTime{std::chrono::seconds(1795694400)}), "2026-11-26T12:00:00.000Z");
  EXPECT_EQ(rfc3339(core::WallTime{}), "1970-01-01T00:00:00.000Z");
}

TEST(RequestLogTest, OneCompleteJsonLine) {
  RequestLog l;
  l.trace_id = "1-abc";
  l.user = hash_user("u-1001");
  l.error_message = "contact x@y.com";
  const std::string line = to_json_line(l);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto v = core::parse_json(line);
  ASSERT_TRUE(v.ok()) << line;
  EXPECT_EQ(core::get_string(*v, "trace_id"), "1-abc");
  EXPECT_EQ(core::get_string(*v, "error_message"), "contact [redacted]");
  EXPECT_NE(l.user, "u-1001");
  EXPECT_EQ(l.user, hash_user("u-1001"));
}

}  // namespace
}  // namespace ma::observe
