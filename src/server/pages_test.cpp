// The pure parts of the pages (server/pages.hpp): escaping, the page language, the links a
// reply carries, and when GET /status answers the public page. The pages themselves are
// tested through the real server (tests/integration/pages_test.cpp).
#include "server/pages.hpp"

#include <gtest/gtest.h>

namespace ma::server {
namespace {

using fm::Language;
namespace http = boost::beast::http;

Request get(std::string target, std::initializer_list<std::pair<http::field, std::string>> h = {}) {
  Request r{http::verb::get, target, 11};
  for (const auto& [f, v] : h) r.set(f, v);
  return r;
}

TEST(PagesTest, EscapesEverythingHtmlGivesMeaningTo) {
  EXPECT_EQ(html_escape(R"(<a href="x">'&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("ワンピース 105巻"), "ワンピース 105巻");
}

TEST(PagesTest, TheLangParameterWinsThenAcceptLanguageThenEnglish) {
  EXPECT_EQ(page_language(get("/help?lang=ja")), Language::kJa);
  EXPECT_EQ(page_language(get("/help?x=1&lang=en", {{http::field::accept_language, "ja"}})),
            Language::kEn);
  EXPECT_EQ(page_language(get("/help", {{http::field::accept_language, "ja-JP,ja;q=0.9"}})),
            Language::kJa);
  EXPECT_EQ(page_language(get("/help", {{http::field::accept_language, "en;q=0.5, ja;q=0.8"}})),
            Language::kJa);
  EXPECT_EQ(page_language(get("/help", {{http::field::accept_language, "fr, en-GB;q=0.7"}})),
            Language::kEn);
  EXPECT_EQ(page_language(get("/help", {{http::field::accept_language, "java"}})), Language::kEn);
  EXPECT_EQ(page_language(get("/help?lang=fr")), Language::kEn);
  EXPECT_EQ(page_language(get("/help")), Language::kEn);
}

TEST(PagesTest, ActionLinksCarryTheLanguageAndGoUnderTheStoreBaseUrl) {
  EXPECT_EQ(action_link("/series/mg-0004", Language::kJa, ""), "/series/mg-0004?lang=ja");
  EXPECT_EQ(action_link("/orders?x=1", Language::kEn, ""), "/orders?x=1&lang=en");
  EXPECT_EQ(action_link("/help#shipping", Language::kEn, ""), "/help?lang=en#shipping");
  EXPECT_EQ(action_link("/help?lang=ja", Language::kEn, ""), "/help?lang=ja");  // kept
  EXPECT_EQ(action_link("/status", Language::kJa, "https://store.example.jp/"),
            "https://store.example.jp/status?lang=ja");
  EXPECT_EQ(action_link("/status", Language::kEn, "https://store.example.jp/shop"),
            "https://store.example.jp/shop/status?lang=en");
  // Not site-relative: left as it is.
  EXPECT_EQ(action_link("https://other.example/x", Language::kJa, ""), "https://other.example/x");
  // What would lead a browser to another site, or run script on the chat page: dropped.
  for (const char* bad : {"//other.example/x", "/\\other.example/x", "javascript:alert(1)",
                          "data:text/html,x", "help", ""}) {
    EXPECT_EQ(action_link(bad, Language::kJa, ""), "") << bad;
  }
  std::vector<assist::Action> actions{
      {"a", "/help"}, {"evil", "javascript:alert(1)"}, {"b", "/status"}};
  rewrite_actions(actions, Language::kJa, "");
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].url, "/help?lang=ja");
  EXPECT_EQ(actions[1].url, "/status?lang=ja");
}

TEST(PagesTest, OnlyABrowserWithoutATokenGetsThePublicStatusPage) {
  const std::string browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
  EXPECT_TRUE(wants_status_page(get("/status", {{http::field::accept, browser}}), false));
  EXPECT_TRUE(wants_status_page(get("/status", {{http::field::accept, "TEXT/HTML"}}), false));
  // The admin port, any token, no Accept, JSON or anything-goes: the operators' JSON.
  EXPECT_FALSE(wants_status_page(get("/status", {{http::field::accept, browser}}), true));
  EXPECT_FALSE(wants_status_page(
      get("/status", {{http::field::accept, browser}, {http::field::authorization, "Bearer x"}}),
      false));
  EXPECT_FALSE(wants_status_page(get("/status"), false));
  EXPECT_FALSE(wants_status_page(get("/status", {{http::field::accept, "*/*"}}), false));
  EXPECT_FALSE(wants_status_page(
      get("/status", {{http::field::accept, "application/json, text/html;q=0.5"}}), false));
}

}  // namespace
}  // namespace ma::server
