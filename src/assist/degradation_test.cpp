#include "assist/degradation.hpp"

#include <gtest/gtest.h>

#include "core/text.hpp"

namespace ma::assist {
namespace {

using namespace std::chrono_literals;

constexpr DegradationVersion kSafeVersions[] = {DegradationVersion::kV2, DegradationVersion::kV3};

// Every intent (an order with and without its id), in both languages, with and without an
// ETA (short and long).
template <class F>
void for_every_case(F f) {
  for (int i = 0; i < kIntentCount; ++i) {
    for (bool with_order_id : {false, true}) {
      for (fm::Language lang : {fm::Language::kEn, fm::Language::kJa}) {
        for (std::optional<core::Duration> eta :
             {std::optional<core::Duration>{}, std::optional<core::Duration>{40s},
              std::optional<core::Duration>{5min}}) {
          Understanding u;
          u.intent = static_cast<Intent>(i);
          u.lang = lang;
          if (with_order_id) u.order_id = "A-1001";
          Retrieved r;
          r.u = &u;
          f(r, eta);
        }
      }
    }
  }
}

TEST(DegradationTest, NoSafeVersionEverContainsABannedPhrase) {
  for (DegradationVersion v : kSafeVersions) {
    for_every_case([&](const Retrieved& r, std::optional<core::Duration> eta) {
      const Degraded d = degraded_reply(r, eta, v);
      const std::string lower = core::nfkc_casefold(d.text);
      for (auto banned : kBannedPhrases) {
        EXPECT_EQ(lower.find(banned), std::string::npos)
            << to_string(v) << " says \"" << banned << "\": " << d.text;
      }
      ASSERT_FALSE(d.actions.empty()) << to_string(v) << ": " << d.text;
      EXPECT_EQ(d.actions.back().url, "/status");
      EXPECT_GT(d.retry_after_s, 0);
    });
  }
}

TEST(DegradationTest, V1IsTheSeedsBannedTextForReplaysOnly) {
  Understanding u;
  Retrieved r;
  r.u = &u;
  const std::string lower =
      core::nfkc_casefold(degraded_reply(r, std::nullopt, DegradationVersion::kV1).text);
  EXPECT_NE(lower.find("try again"), std::string::npos);
}

TEST(DegradationTest, V3IsStatusFirstShorterAndKeepsTheLinksAndTheEta) {
  for_every_case([&](const Retrieved& r, std::optional<core::Duration> eta) {
    const Degraded v2 = degraded_reply(r, eta, DegradationVersion::kV2);
    const Degraded v3 = degraded_reply(r, eta, DegradationVersion::kV3);
    EXPECT_LT(core::utf8_length(v3.text), core::utf8_length(v2.text)) << v3.text;
    // The same links and the same hint to come back: only the words change.
    EXPECT_EQ(v3.actions.size(), v2.actions.size());
    for (std::size_t i = 0; i < std::min(v2.actions.size(), v3.actions.size()); ++i)
      EXPECT_EQ(v3.actions[i].url, v2.actions[i].url);
    EXPECT_EQ(v3.retry_after_s, v2.retry_after_s);
    const bool ja = r.u->lang == fm::Language::kJa;
    // What is happening comes first.
    EXPECT_TRUE(v3.text.starts_with(ja ? "アシスタントは機能制限中"
                                       : "Our assistant is running in a limited mode"))
        << v3.text;
    const std::string said = !eta          ? (ja ? "ステータスページ" : "status page")
                             : *eta == 40s ? (ja ? "約40秒" : "about 40 seconds")
                                           : (ja ? "約5分" : "about 5 minutes");
    EXPECT_NE(v3.text.find(said), std::string::npos) << v3.text;
  });
}

TEST(DegradationTest, TheFlagsV1WinsOverTheExperimentAndOtherwiseTheAssignmentDoes) {
  using V = DegradationVersion;
  EXPECT_EQ(shown_version(V::kV1, V::kV3), V::kV1);
  EXPECT_EQ(shown_version(V::kV2, V::kV3), V::kV3);
  EXPECT_EQ(shown_version(V::kV3, V::kV2), V::kV2);
  EXPECT_EQ(shown_version(V::kV3, std::nullopt), V::kV3);
  for (V v : {V::kV1, V::kV2, V::kV3}) EXPECT_EQ(parse_degradation_version(to_string(v)), v);
  EXPECT_FALSE(parse_degradation_version("v4"));
  EXPECT_FALSE(parse_degradation_version("V2"));
}

}  // namespace
}  // namespace ma::assist
