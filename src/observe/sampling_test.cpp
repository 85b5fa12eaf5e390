#include "observe/sampling.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <thread>

#include "core/json_util.hpp"

namespace ma::observe {
namespace {

namespace json = boost::json;

json::value vectors() {
  auto text = core::read_file(std::string(MA_TEST_DATA_DIR) + "/xray_sampling.json");
  return json::parse(*text);
}

std::optional<std::string> opt(const json::value& v) {
  if (v.is_null()) return std::nullopt;
  return std::string(v.as_string());
}

TEST(SamplingTest, WildcardsMatchLikeXRay) {
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("/api/move/*", "/api/move/left"));
  EXPECT_TRUE(wildcard_match("*mydomain*", "www.MyDomain.com"));
  EXPECT_TRUE(wildcard_match("GE?", "get"));
  EXPECT_FALSE(wildcard_match("/api/move/*", "/root"));
  EXPECT_FALSE(wildcard_match("a*b", "acbx"));
}

TEST(SamplingTest, LocalDefaultRulesFile) {
  const auto v = vectors();
  auto s =
      Sampler::from_local_json(json::serialize(v.at("local_default_rules_file").at("content")));
  ASSERT_TRUE(s.ok()) << s.error().message;
  // 1 per second, then 5%.
  EXPECT_TRUE((*s)->should_sample({}, 100, 0.99));
  EXPECT_FALSE((*s)->should_sample({}, 100, 0.99));
  EXPECT_TRUE((*s)->should_sample({}, 100, 0.01));
  EXPECT_TRUE((*s)->should_sample({}, 101, 0.99));  // a new second refills the reservoir
}

TEST(SamplingTest, LocalSamplerShouldTraceCases) {
  const auto v = vectors().at("local_sampler_tests");
  auto s = Sampler::from_local_json(json::serialize(v.at("RULE_MANIFEST")));
  ASSERT_TRUE(s.ok()) << s.error().message;
  int cases = 0;
  for (const auto& c : v.at("should_trace").as_array()) {
    SampleRequest r;
    r.absent = c.at("request").is_null();
    if (!r.absent) {
      const auto& req = c.at("request").as_object();
      if (req.contains("host")) r.host = std::string(req.at("host").as_string());
      r.method = std::string(req.at("method").as_string());
      r.path = std::string(req.at("path").as_string());
    }
    EXPECT_EQ((*s)->should_sample(r, 1000 + cases, 0.5), c.at("expect").as_bool())
        << c.at("why").as_string();
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

TEST(SamplingTest, RuleAppliesWithMissingAttributesMatchingAnything) {
  const auto v = vectors().at("local_sampler_tests");
  json::object manifest{{"version", 2},
                        {"rules", json::array{v.at("RULE")}},
                        {"default", json::object{{"fixed_target", 1}, {"rate", 0.05}}}};
  auto s = Sampler::from_local_json(json::serialize(manifest));
  ASSERT_TRUE(s.ok()) << s.error().message;
  const SamplingRule& rule = (*s)->rules().front();
  int cases = 0;
  for (const auto& c : v.at("applies(host, method, path)").as_array()) {
    const auto& args = c.as_array()[0].as_array();
    SampleRequest r{opt(args[0]), opt(args[1]), opt(args[2]), std::nullopt, std::nullopt};
    EXPECT_EQ(rule.applies(r), c.as_array()[1].as_bool()) << json::serialize(c);
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

TEST(SamplingTest, InvalidManifestsAreRefused) {
  const char* bad[] = {
      R"({"rules": [], "default": {"fixed_target": 1, "rate": 0.05}})",   // missing version
      R"({"version": 2, "default": {"fixed_target": 1, "rate": -1}})",    // rate -1
      R"({"version": 2, "default": {"fixed_target": -1, "rate": 0.1}})",  // fixed_target -1
      R"({"version": 2, "default": {"host": "*", "http_method": "*", "url_path": "/a", "fixed_target": 1, "rate": 0.1}})",
      R"({"version": 2, "rules": [{"host": "*", "http_method": "*", "fixed_target": 1, "rate": 0.1}], "default": {"fixed_target": 1, "rate": 0.1}})",
      R"({"version": 3, "default": {"fixed_target": 1, "rate": 0.1}})"};
  for (const char* m : bad) EXPECT_FALSE(Sampler::from_local_json(m).ok()) << m;
  // Version 1 names the host "service_name".
  EXPECT_TRUE(
      Sampler::from_local_json(
          R"({"version": 1, "rules": [{"service_name": "*", "http_method": "*", "url_path": "/x", "fixed_target": 0, "rate": 0}], "default": {"fixed_target": 1, "rate": 0.1}})")
          .ok());
}

TEST(SamplingTest, CentralizedRulesSortByPriorityAndMatch) {
  const auto v = vectors().at("rule_cache_tests");
  auto s = Sampler::from_centralized_json(json::serialize(v.at("rules")));
  ASSERT_TRUE(s.ok());
  std::vector<std::string> order;
  for (const auto& r : (*s)->rules()) order.push_back(r.name);
  std::vector<std::string> want;
  for (const auto& n : v.at("sorted_order").as_array()) want.emplace_back(n.as_string());
  EXPECT_EQ(order, want);
  int cases = 0;
  for (const auto& c : v.at("matching").as_array()) {
    const auto& req = c.as_array()[0].as_object();
    auto get = [&](const char* k) -> std::optional<std::string> {
      return req.contains(k) ? std::optional<std::string>(std::string(req.at(k).as_string()))
                             : std::nullopt;
    };
    // Unlike the local rules, an attribute the request does not give must match "*"
    // (the SDK fills missing attributes with None and then compares); the vectors give only
    // the attribute that decides.
    SampleRequest r{get("host"), get("method"), get("path"), get("service"), get("service_type")};
    EXPECT_EQ((*s)->match(r).name, c.as_array()[1].as_string()) << json::serialize(c);
    ++cases;
  }
  EXPECT_EQ(cases, 6);
}

TEST(SamplingTest, ErrorsAreAlwaysKept) {
  EXPECT_TRUE(Sampler::keep(false, true));
  EXPECT_TRUE(Sampler::keep(true, false));
  EXPECT_FALSE(Sampler::keep(false, false));
}

}  // namespace
}  // namespace ma::observe

namespace ma::observe {
namespace {

// From tests/fuzz/corpus/xray_rules/crash-*: numbers a cast could not hold were undefined
// behaviour; now they are refused (local rules) or clamped (centralized rules).
TEST(SamplingTest, AbsurdNumbersAreRefusedOrClampedNotCast) {
  EXPECT_FALSE(Sampler::from_local_json(
                   R"({"version":2,"default":{"fixed_target":1e88,"rate":0.05},"rules":[]})")
                   .ok());
  EXPECT_FALSE(
      Sampler::from_local_json(R"({"version":2,"default":{"fixed_target":1,"rate":7},"rules":[]})")
          .ok());
  auto s = Sampler::from_centralized_json(
      R"([{"RuleName":"x","Priority":1e10,"FixedRate":0.5,"ReservoirSize":1e30,"Host":"*","HTTPMethod":"*","URLPath":"*","ServiceName":"*","ServiceType":"*"}])");
  EXPECT_TRUE(s.ok());
}

}  // namespace
}  // namespace ma::observe

namespace ma::observe {
namespace {

const SampleRequest kChat{std::string("mangaassist"), std::string("POST"), std::string("/v1/chat"),
                          std::string("mangaassist"), std::nullopt};

SamplingRules local(std::string_view json) {
  auto r = SamplingRules::from_local_json(json);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : SamplingRules();
}

TEST(SamplerReplaceTest, TheNextDecisionUsesTheNewRules) {
  Sampler s(SamplingRules::fixed(0.0));
  EXPECT_FALSE(s.should_sample(kChat, 100, 0.5));
  s.replace(SamplingRules::fixed(1.0));
  EXPECT_TRUE(s.should_sample(kChat, 100, 0.999));
  s.replace(SamplingRules::fixed(0.0));
  EXPECT_FALSE(s.should_sample(kChat, 100, 0.0));
}

TEST(SamplerReplaceTest, NewRulesStartWithFullReservoirs) {
  const auto one_a_second = SamplingRules::fixed(0.0, 1);
  Sampler s(one_a_second);
  EXPECT_TRUE(s.should_sample(kChat, 100, 0.5));
  EXPECT_FALSE(s.should_sample(kChat, 100, 0.5));  // this second's one is taken
  s.replace(one_a_second);
  EXPECT_TRUE(s.should_sample(kChat, 100, 0.5));
}

TEST(SamplerReplaceTest, ASnapshotKeepsTheRulesItWasTakenWith) {
  Sampler s(SamplingRules::fixed(0.25, 3));
  const auto before = s.snapshot();
  s.replace(SamplingRules::fixed(1.0));
  EXPECT_EQ(before->default_rule().rate, 0.25);
  EXPECT_EQ(before->default_rule().fixed_target, 3);
  EXPECT_EQ(s.snapshot()->default_rule().rate, 1.0);
  EXPECT_EQ(s.rules().back().rate, 1.0);
}

TEST(SamplerReplaceTest, TwoSamplersOnOneThreadEachKeepTheirOwnRules) {
  // One thread's cache serves every sampler: it must never hand one sampler's rules to
  // another.
  Sampler none(SamplingRules::fixed(0.0)), all(SamplingRules::fixed(1.0));
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(none.should_sample(kChat, 100 + i, 0.5)) << i;
    EXPECT_TRUE(all.should_sample(kChat, 100 + i, 0.5)) << i;
  }
  none.replace(SamplingRules::fixed(1.0));
  EXPECT_TRUE(none.should_sample(kChat, 200, 0.5));
  EXPECT_TRUE(all.should_sample(kChat, 200, 0.5));
}

TEST(SamplerReplaceTest, AnotherThreadSeesTheNewRulesOnceReplaceReturned) {
  // The other thread decides (and caches the rules), then the rules change here, then it
  // decides again: the change must reach it though its cache holds the old rules.
  Sampler s(SamplingRules::fixed(0.0));
  std::promise<void> replaced;
  std::promise<bool> first_done;
  std::promise<bool> second;
  std::thread other([&] {
    first_done.set_value(s.should_sample(kChat, 100, 0.5));
    replaced.get_future().wait();
    second.set_value(s.should_sample(kChat, 100, 0.5));
  });
  EXPECT_FALSE(first_done.get_future().get());
  s.replace(SamplingRules::fixed(1.0));
  replaced.set_value();
  EXPECT_TRUE(second.get_future().get());
  other.join();
}

TEST(SamplingRulesTest, ALocalDocumentRoundTrips) {
  const auto rules = local(
      R"({"version": 2, "rules": [{"description": "admin", "host": "*", "http_method": "GET",
          "url_path": "/admin/*", "fixed_target": 0, "rate": 0.5}],
          "default": {"fixed_target": 2, "rate": 0.1}})");
  const auto again = SamplingRules::from_local_document(rules.to_local_document());
  ASSERT_TRUE(again.ok()) << again.error().message;
  ASSERT_EQ(again->rules().size(), 2u);
  EXPECT_EQ(again->rules()[0].name, "admin");
  EXPECT_EQ(again->rules()[0].method, "GET");
  EXPECT_EQ(again->rules()[0].path, "/admin/*");
  EXPECT_EQ(again->rules()[0].rate, 0.5);
  EXPECT_EQ(again->default_rule().fixed_target, 2);
  EXPECT_EQ(again->default_rule().rate, 0.1);
  EXPECT_EQ(boost::json::serialize(again->to_local_document()),
            boost::json::serialize(rules.to_local_document()));
}

TEST(SamplingRulesTest, TheSummarySaysTheDefaultRuleAndHowManyOthers) {
  EXPECT_EQ(SamplingRules().summary(), "1/s then 5% by default; no other rule");
  EXPECT_EQ(SamplingRules::fixed(1.0).summary(), "0/s then 100% by default; no other rule");
  EXPECT_EQ(SamplingRules::fixed(0.005, 10).summary(), "10/s then 0.5% by default; no other rule");
  EXPECT_EQ(
      local(
          R"({"version": 2, "rules": [{"host": "*", "http_method": "*", "url_path": "/a", "fixed_target": 0, "rate": 1},
             {"host": "*", "http_method": "*", "url_path": "/b", "fixed_target": 0, "rate": 1}],
             "default": {"fixed_target": 1, "rate": 0.05}})")
          .summary(),
      "1/s then 5% by default; 2 other rules");
}

TEST(SamplingRulesTest, AnErrorNamesTheRuleAndWhatIsWrong) {
  auto message = [](std::string_view json) {
    auto r = SamplingRules::from_local_json(json);
    return r.ok() ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(message(R"({"version": 2, "rules": [{"host": "*", "http_method": "*", "url_path": "/a",
                        "fixed_target": 0, "rate": 1}, {"host": "*", "http_method": "*",
                        "url_path": "/b", "fixed_target": 0, "rate": 2}],
                        "default": {"fixed_target": 1, "rate": 0.05}})"),
            "rules[1]: rate must be a number, 0 to 1");
  EXPECT_EQ(message(R"({"version": 2, "default": {"fixed_target": 1.5, "rate": 0.05}})"),
            "default: fixed_target must be a whole number, 0 to 1000000000");
  EXPECT_EQ(message(R"({"version": 2, "rules": [{"http_method": "*", "url_path": "/a",
                        "fixed_target": 0, "rate": 1}], "default": {"fixed_target": 1, "rate": 0.05}})"),
            "rules[0]: a rule needs host, http_method and url_path (strings; \"*\" matches "
            "anything)");
  EXPECT_EQ(
      message(R"({"version": 2, "rules": [7], "default": {"fixed_target": 1, "rate": 0.05}})"),
      "rules[0] must be an object");
  EXPECT_EQ(message(R"({"version": 3, "default": {"fixed_target": 1, "rate": 0.05}})"),
            "version must be 1 or 2");
}

TEST(SamplingRulesTest, ADocumentTakesAtMostTheBoundOfRules) {
  auto doc = [](std::size_t n) {
    boost::json::array rules;
    for (std::size_t i = 0; i < n; ++i) {
      rules.push_back(boost::json::object{{"host", "*"},
                                          {"http_method", "*"},
                                          {"url_path", "/x" + std::to_string(i)},
                                          {"fixed_target", 0},
                                          {"rate", 0}});
    }
    return boost::json::value(
        boost::json::object{{"version", 2},
                            {"rules", std::move(rules)},
                            {"default", boost::json::object{{"fixed_target", 1}, {"rate", 0.05}}}});
  };
  EXPECT_TRUE(SamplingRules::from_local_document(doc(SamplingRules::kMaxRules)).ok());
  const auto over = SamplingRules::from_local_document(doc(SamplingRules::kMaxRules + 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().message, "at most 1000 rules besides the default");
}

}  // namespace
}  // namespace ma::observe
