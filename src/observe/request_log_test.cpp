// The request log's privacy contract: redaction after NFKC (full-width forms, any case of
// "bearer", inputs without an '@'), text cut at code points, a keyed user hash, and log files
// that only their owner and group can read.
#include "observe/request_log.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "observe/log_query.hpp"
#include "observe/trace.hpp"

namespace ma::observe {
namespace {

bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

TEST(RedactTest, FullWidthEmailAndPhoneAreRedacted) {
  const std::string r =
      redact("メールはｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ、電話は０９０－１２３４－５６７８です");
  EXPECT_FALSE(contains(r, "taro")) << r;
  EXPECT_FALSE(contains(r, "ｔａｒｏ")) << r;
  EXPECT_FALSE(contains(r, "1234")) << r;
  EXPECT_FALSE(contains(r, "１２３４")) << r;
  EXPECT_TRUE(contains(r, "メールは[redacted]")) << r;
  EXPECT_TRUE(contains(r, "電話は[redacted]です")) << r;
}

TEST(RedactTest, JapaneseTextAroundAsciiDataIsRedactedToo) {
  // Kana, kanji and ！？ are matched without NFKC: what they surround must still be found.
  const std::string r = redact(
      "鬼滅の刃！電話090-1234-5678、メールtaro@example.jp、キーsk-abcdefghij0123456789XYですか？");
  EXPECT_FALSE(contains(r, "5678")) << r;
  EXPECT_FALSE(contains(r, "taro")) << r;
  EXPECT_FALSE(contains(r, "sk-abc")) << r;
  EXPECT_EQ(r, "鬼滅の刃！電話[redacted]、メール[redacted]、キー[redacted]ですか？");
}

TEST(RedactTest, BearerTokensInAnyCaseWithoutAnAt) {
  for (const char* in :
       {"Authorization: Bearer abc.def-ghi", "BEARER abc.def-ghi", "bearer abc.def-ghi",
        "BeArEr abc.def-ghi", "token=bearer\tabc.def-ghi", "ｂｅａｒｅｒ　abc.def-ghi"}) {
    const std::string r = redact(in);
    EXPECT_FALSE(contains(r, "abc.def")) << in << " -> " << r;
    EXPECT_TRUE(contains(r, "[redacted]")) << in << " -> " << r;
  }
  // A word that merely starts with the letters is left alone.
  EXPECT_EQ(redact("the bearers of the ring"), "the bearers of the ring");
}

TEST(RedactTest, PhoneNumbersWithoutAnAt) {
  for (const char* in :
       {"call 090-1234-5678 please", "call +81 90 1234 5678 please", "call (03) 1234-5678 please",
        "call 09012345678 please", "call ０９０－１２３４－５６７８ please",
        "call 090ー1234ー5678 please", "call 090‐1234‐5678 please", "call 090−1234−5678 please",
        "call ＋８１　９０　１２３４　５６７８ please", "call TEL09012345678 please"}) {
    const std::string r = redact(in);
    EXPECT_FALSE(contains(r, "5678")) << in << " -> " << r;
    EXPECT_TRUE(contains(r, "call ")) << in << " -> " << r;
    EXPECT_TRUE(contains(r, " please")) << in << " -> " << r;
  }
}

TEST(RedactTest, ApiKeysAndLongSecretsWithoutAnAt) {
  const std::string r = redact(
      "keys sk-abcdefghij0123456789XY and sk-proj-Abc_def-0123456789abcdefghijkl, aws "
      "AKIAIOSFODNN7EXAMPLE, hex 0123456789abcdef0123456789abcdef, done");
  EXPECT_FALSE(contains(r, "sk-abc")) << r;
  EXPECT_FALSE(contains(r, "sk-proj")) << r;
  EXPECT_FALSE(contains(r, "AKIA")) << r;
  EXPECT_FALSE(contains(r, "0123456789abcdef")) << r;
  EXPECT_TRUE(contains(r, "keys [redacted] and [redacted], aws [redacted], hex [redacted], done"))
      << r;
  // Short look-alikes stay.
  EXPECT_EQ(redact("sk-short and AKIA123"), "sk-short and AKIA123");
}

TEST(RedactTest, OrdinaryQuestionsAreUnchanged) {
  for (const char* in :
       {"order #12345 volume 105", "ONE PIECEの105巻", "鬼滅の刃の２３巻はいくら？",
        "Is Bleach volume 3 in stock?", "Spy x Family vol 1-12 set", "price 1,980円",
        "email me? no: @mention only"}) {
    EXPECT_EQ(redact(in), in);  // as given, not even NFKC'd when there is nothing to redact
  }
}

TEST(RedactTest, OutputIsValidUtf8WhateverTheInput) {
  const std::string bad = std::string("abc\xE9\xAC") + " \xFF 090-1234-5678 \xC0\xAF end";
  const std::string r = redact(bad);
  EXPECT_TRUE(core::is_valid_utf8(r)) << r;
  EXPECT_FALSE(contains(r, "5678")) << r;
  EXPECT_TRUE(contains(r, " end")) << r;
  EXPECT_TRUE(core::is_valid_utf8(redact("\xE3\x81")));
}

TEST(RedactTest, ManyAtSignsStayLinear) {
  // Each '@' looks back only to the one before: no quadratic rescans.
  std::string s;
  for (int i = 0; i < 20000; ++i) s += "ab@";
  EXPECT_EQ(redact(s).size(), s.size());
  std::string digits(200000, '1');
  EXPECT_EQ(redact(digits), "[redacted]");
}

TEST(RequestLogLineTest, LongJapaneseQuestionIsCutAtACodePoint) {
  // One ASCII byte first: 600 bytes then fall in the middle of a three-byte character.
  std::string q = "Q";
  for (int i = 0; i < 300; ++i) q += "鬼";
  RequestLog l;
  l.question = q;
  l.error_message = "x" + q;
  const std::string line = to_json_line(l);
  ASSERT_TRUE(core::is_valid_utf8(line));
  auto v = core::parse_json(line);
  ASSERT_TRUE(v.ok()) << line;
  const std::string logged(*core::get_string(*v, "question"));
  EXPECT_TRUE(core::is_valid_utf8(logged));
  EXPECT_LE(logged.size(), kMaxLoggedTextBytes);
  EXPECT_GE(logged.size(), kMaxLoggedTextBytes - 3);
  EXPECT_EQ(q.compare(0, logged.size(), logged), 0);
  const std::string message(*core::get_string(*v, "error_message"));
  EXPECT_TRUE(core::is_valid_utf8(message));
  EXPECT_LE(message.size(), kMaxLoggedTextBytes);
}

TEST(RequestLogLineTest, RedactionComesBeforeTheCut) {
  // A phone number across the 600-byte mark: cut first, only "090-12" would be left, too
  // short to be recognised.
  std::string q;
  for (int i = 0; i < 198; ++i) q += "あ";  // 594 bytes
  q += " 090-1234-5678";
  RequestLog l;
  l.question = q;
  auto v = core::parse_json(to_json_line(l));
  ASSERT_TRUE(v.ok());
  const std::string logged(*core::get_string(*v, "question"));
  EXPECT_FALSE(contains(logged, "090")) << logged.substr(590);
}

TEST(RequestLogLineTest, CodesThatAreNotUtf8StillMakeAValidLine) {
  RequestLog l;
  l.error_code = "BAD\xFF\xFE";
  l.models = "sonnet:BAD\xFF\xFE";
  const std::string line = to_json_line(l);
  EXPECT_TRUE(core::is_valid_utf8(line));
  EXPECT_TRUE(core::parse_json(line).ok()) << line;
}

TEST(UserHashTest, KeyedStableAndShort) {
  set_user_hash_key("key-one");
  const std::string a1 = hash_user("u-1001");
  EXPECT_EQ(hash_user("u-1001"), a1);  // stable under one key
  EXPECT_NE(hash_user("u-1002"), a1);
  set_user_hash_key("key-two");
  const std::string a2 = hash_user("u-1001");
  EXPECT_NE(a2, a1);  // another key, another hash: nobody without the key can recompute it
  set_user_hash_key("key-one");
  EXPECT_EQ(hash_user("u-1001"), a1);
  ASSERT_EQ(a1.size(), 14u);
  EXPECT_EQ(a1.rfind("u_", 0), 0u);
  EXPECT_EQ(a1.find_first_not_of("0123456789abcdef", 2), std::string::npos) << a1;
  EXPECT_EQ(hash_user(""), "");
}

// RFC 2104 HMAC-SHA256 as OpenSSL's one-shot computes it: the first 6 bytes in hex.
std::string reference_hash(std::string_view key, std::string_view id) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), md, &n);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4],
                md[5]);
  return "u_" + std::string(buf);
}

TEST(UserHashTest, IsHmacSha256OfTheId) {
  for (const std::string& key :
       {std::string("k"), std::string(64, 'x'), std::string(65, 'y'), std::string(200, 'z')}) {
    set_user_hash_key(key);
    for (const char* id : {"u-1001", "203.0.113.7", "s:セッション"})
      EXPECT_EQ(hash_user(id), reference_hash(key, id)) << key.size() << " " << id;
  }
}

TEST(UserHashTest, NotTheUnkeyedFnvAnyoneCanRecompute) {
  set_user_hash_key("");  // a fresh random key, as when nobody sets one
  for (const char* id : {"u-1001", "203.0.113.7", "s:session-1"}) {
    const std::uint64_t h = core::fnv1a("mangaassist-user:" + std::string(id));
    char unkeyed[20];
    std::snprintf(unkeyed, sizeof unkeyed, "u_%012llx",
                  static_cast<unsigned long long>(h & 0xffffffffffffULL));
    EXPECT_NE(hash_user(id), unkeyed) << id;
  }
  // Two random keys (two processes that set none) disagree.
  const std::string first = hash_user("u-1001");
  set_user_hash_key("");
  EXPECT_NE(hash_user("u-1001"), first);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(LogFileTest, CreatedWithMode0640WhateverTheUmask) {
  const std::string dir = ::testing::TempDir() + "ma_logmode_" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  for (const mode_t mask : {mode_t{022}, mode_t{0}, mode_t{077}}) {
    const mode_t old = ::umask(mask);
    const std::string log = dir + "/requests-" + std::to_string(mask) + ".log";
    const std::string traces = dir + "/traces-" + std::to_string(mask) + ".jsonl";
    {
      LogSink sink(log, false);
      ASSERT_TRUE(sink.ok());
      RequestLog l;
      l.question = "hello";
      sink.write(l);
      TraceSink t(traces);
      ASSERT_TRUE(t.ok());
    }
    ::umask(old);
    EXPECT_EQ(mode_of(log), 0640u) << "umask " << mask;
    EXPECT_EQ(mode_of(traces), 0640u) << "umask " << mask;
    std::remove(log.c_str());
    std::remove(traces.c_str());
  }
  // A file that was there, readable by anyone, is narrowed; its lines are appended to.
  const std::string existing = dir + "/existing.log";
  { std::ofstream(existing) << "old line\n"; }
  ASSERT_EQ(::chmod(existing.c_str(), 0666), 0);
  {
    LogSink sink(existing, false);
    ASSERT_TRUE(sink.ok());
    sink.write_line("new line");
  }
  EXPECT_EQ(mode_of(existing), 0640u);
  std::ifstream in(existing);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_EQ(first, "old line");
  EXPECT_EQ(second, "new line");
  std::remove(existing.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace ma::observe

namespace ma::observe {
namespace {

TEST(RequestLogLineTest, TokensCostAndHedgeAreLoggedAndQueryable) {
  RequestLog l;
  l.tier = "secondary";
  l.models = "sonnet:StreamStalled,haiku:ok";
  l.model = "haiku";
  l.model_tokens = "sonnet:420/37,haiku:431/120";
  l.tokens_in = 851;
  l.tokens_out = 157;
  l.cost_usd = 0.0020398;
  l.hedged = true;
  const std::string line = to_json_line(l);
  auto v = core::parse_json(line);
  ASSERT_TRUE(v.ok()) << line;
  EXPECT_EQ(*core::get_string(*v, "model"), "haiku");
  EXPECT_EQ(*core::get_string(*v, "model_tokens"), "sonnet:420/37,haiku:431/120");
  EXPECT_EQ(*core::get_int(*v, "tokens_in"), 851);
  EXPECT_EQ(*core::get_int(*v, "tokens_out"), 157);
  EXPECT_EQ(*core::get_bool(*v, "hedged"), true);
  EXPECT_NE(line.find("\"cost_usd\":0.002040"), std::string::npos) << line;

  // The runbook's queries work on the new fields.
  RequestLog cheap = l;
  cheap.hedged = false;
  cheap.cost_usd = 0.000125;
  cheap.model = "sonnet";
  const std::vector<std::string> lines = {line, to_json_line(cheap)};
  auto q = parse_log_query("filter cost_usd > 0.001 | stats count by model");
  ASSERT_TRUE(q.ok()) << q.error().message;
  Table t = run_log_query(*q, lines);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][0], "haiku");
  q = parse_log_query("filter hedged = \"true\" | fields trace_id, tokens_out");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(run_log_query(*q, lines).rows.size(), 1u);
}

}  // namespace
}  // namespace ma::observe

namespace ma::observe {
namespace {

TEST(RequestLogLineTest, EveryPriceShownIsLoggedWithTheCatalogsPrice) {
  RequestLog l;
  l.tier = "cache";
  l.price_guard_product = "";
  // None stated: an empty array, so that "no price" and "not logged" differ.
  EXPECT_NE(to_json_line(l).find(R"("price_guard_product":"","prices":[],"degraded")"),
            std::string::npos)
      << to_json_line(l);

  l.prices = {{"mg-0004-v4", 528, 600, 600}, {"mg-0009-v1", 1100, 880, 1100}, {"mg-\xff", 1, 1}};
  const std::string line = to_json_line(l);
  // list_yen only when it differs from the price paid; a product id that is not UTF-8 still
  // makes a valid line.
  EXPECT_NE(
      line.find(R"("prices":[{"product":"mg-0004-v4","quoted_yen":528,"catalog_yen":600},)"
                R"({"product":"mg-0009-v1","quoted_yen":1100,"catalog_yen":880,"list_yen":1100},)"
                "{\"product\":\"mg-\xEF\xBF\xBD\",\"quoted_yen\":1,\"catalog_yen\":1}]"),
      std::string::npos)
      << line;
  auto v = core::parse_json(line);
  ASSERT_TRUE(v.ok()) << line;
  EXPECT_EQ(v->at("prices").as_array().size(), 3u);
}

}  // namespace
}  // namespace ma::observe
