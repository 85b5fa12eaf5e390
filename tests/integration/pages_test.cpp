// The pages behind a reply's links (server/pages.hpp, issue 22), through the real server:
// each page from the live catalog, orders for their owner only, the public status page
// beside the operators' JSON, the links' language and store_base_url -- and every link a
// reply carries opens a page.
#include "server/pages.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "assist/retrieval.hpp"
#include "integration/test_server.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
using testing::http_request;
using testing::HttpResult;
namespace json = boost::json;

constexpr const char* kAdmin = "pages-test-admin-token";
constexpr const char* kBrowserAccept =
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

bool has(const std::string& body, const std::string& what) {
  return body.find(what) != std::string::npos;
}

class PagesTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(std::string store_base_url = "") {
    ts_ = std::make_unique<testing::TestServer>(kAdmin, [&](AppConfig& c) {
      c.server.web_dir = std::string(MA_SOURCE_DIR) + "/web";
      c.server.store_base_url = store_base_url;
    });
    ts_->create();
    ts_->start();
  }

  // What a browser sends when it follows a link.
  HttpResult browse(const std::string& target, std::map<std::string, std::string> headers = {}) {
    headers.emplace("Accept", kBrowserAccept);
    return http_request(ts_->port(), "GET", target, "", headers);
  }
  HttpResult chat(const std::string& message, const std::string& token = "") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return http_request(ts_->port(), "POST", "/v1/chat",
                        json::serialize(json::object{{"message", message}}), h);
  }
  std::vector<std::string> action_urls(const HttpResult& r) {
    std::vector<std::string> urls;
    if (r.status != 200) return urls;
    const json::value v = r.json();  // kept: the loop below walks into it
    for (const auto& a : v.at("actions").as_array()) urls.emplace_back(a.at("url").as_string());
    return urls;
  }
  std::string token_for(const std::string& user_id) {
    return ts_->app().identity().issue_user_token(user_id, std::chrono::system_clock::now() + 1h);
  }
  static void expect_html_page(const HttpResult& r, const std::string& what) {
    EXPECT_TRUE(r.headers.at("Content-Type").starts_with("text/html; charset=utf-8")) << what;
    EXPECT_TRUE(r.body.starts_with("<!doctype html>")) << what;
    EXPECT_TRUE(has(r.body, "<link rel=\"stylesheet\" href=\"/pages.css\">")) << what;
    EXPECT_TRUE(has(r.body, "name=\"viewport\"")) << what;
    EXPECT_TRUE(has(r.headers.at("Content-Security-Policy"), "default-src 'none'")) << what;
    // Live prices and orders are never cached; a token in the URL is never passed on; the page
    // is never framed.
    EXPECT_EQ(r.headers.at("Cache-Control"), "no-store") << what;
    EXPECT_EQ(r.headers.at("Referrer-Policy"), "no-referrer") << what;
    EXPECT_EQ(r.headers.at("X-Frame-Options"), "DENY") << what;
    EXPECT_TRUE(has(r.headers.at("Content-Security-Policy"), "frame-ancestors 'none'")) << what;
  }

  std::unique_ptr<testing::TestServer> ts_;
};

TEST_F(PagesTest, TheSeriesPageShowsEveryVolumeWithTheCatalogsLivePriceAndStock) {
  const catalog::Catalog& cat = ts_->app().catalog();
  const catalog::Series* s = cat.series("mg-0004");
  ASSERT_NE(s, nullptr);
  auto r = browse("/series/mg-0004?lang=en");
  ASSERT_EQ(r.status, 200) << r.body;
  expect_html_page(r, "series");
  EXPECT_TRUE(has(r.body, "<html lang=\"en\">"));
  EXPECT_TRUE(has(r.body, server::html_escape(s->display_title(false))));
  for (const auto& a : s->authors) EXPECT_TRUE(has(r.body, server::html_escape(a))) << a;
  for (int v : {1, 105, s->volumes}) {
    auto p = cat.volume(*s, v);
    ASSERT_TRUE(p.has_value());
    const auto q = cat.quote(*p, std::chrono::system_clock::now());
    const auto row_at = r.body.find("<tr id=\"" + p->id + "\">");
    ASSERT_NE(row_at, std::string::npos) << p->id;
    const std::string row = r.body.substr(row_at, r.body.find("</tr>", row_at) - row_at);
    EXPECT_TRUE(has(row, assist::format_yen(q.price, fm::Language::kEn))) << row;
    if (q.sale != nullptr) {
      EXPECT_TRUE(has(row, "<s>" + assist::format_yen(q.list_price, fm::Language::kEn))) << row;
    }
    EXPECT_TRUE(has(row, p->stock > 0 ? "In stock (" + std::to_string(p->stock) + ")"
                                      : std::string("Out of stock")))
        << row;
  }
  // Live: a price change shows at once, in Japanese too.
  ASSERT_EQ(ts_->admin("PUT", "/admin/catalog/products/mg-0004-v105",
                       R"({"price_jpy": 1234, "stock": 0})")
                .status,
            200);
  const auto q = cat.quote(*cat.volume(*s, 105), std::chrono::system_clock::now());
  auto ja = browse("/series/mg-0004?lang=ja");
  ASSERT_EQ(ja.status, 200);
  EXPECT_TRUE(has(ja.body, "<html lang=\"ja\">"));
  const auto row_at = ja.body.find("<tr id=\"mg-0004-v105\">");
  ASSERT_NE(row_at, std::string::npos);
  const std::string row = ja.body.substr(row_at, ja.body.find("</tr>", row_at) - row_at);
  EXPECT_TRUE(has(row, assist::format_yen(q.price, fm::Language::kJa))) << row;
  EXPECT_TRUE(has(row, "在庫切れ")) << row;
}

TEST_F(PagesTest, AnUnknownSeriesIsA404PageThatSaysSoAndLinksToHelp) {
  auto r = browse("/series/mg-9999%3Cscript%3E?lang=en");
  EXPECT_EQ(r.status, 404);
  expect_html_page(r, "404");
  EXPECT_TRUE(has(r.body, "no series with this id"));
  EXPECT_TRUE(has(r.body, "href=\"/help?lang=en\""));
  EXPECT_FALSE(has(r.body, "<script"));
  auto raw = browse("/series/<b>x</b>");
  EXPECT_EQ(raw.status, 404);
  EXPECT_FALSE(has(raw.body, "<b>x</b>"));
}

TEST_F(PagesTest, OrdersAreOnlyTheSignedInUsersOwn) {
  const std::string aiko = token_for("u-1001");  // orders 12345 and 12347
  // The bearer token, or the same token in the link (what the chat page adds).
  for (const auto& r : {browse("/orders?lang=en", {{"Authorization", "Bearer " + aiko}}),
                        browse("/orders?lang=en&token=" + aiko),
                        // A user id in the query string selects nobody else's orders.
                        browse("/orders?lang=en&user_id=u-1002&user=u-1002&token=" + aiko)}) {
    ASSERT_EQ(r.status, 200) << r.body;
    expect_html_page(r, "orders");
    EXPECT_TRUE(has(r.body, "Aiko"));
    EXPECT_TRUE(has(r.body, "12345"));
    EXPECT_TRUE(has(r.body, "4512-3456-7890"));
    EXPECT_TRUE(has(r.body, "12347"));
    EXPECT_FALSE(has(r.body, "12346"));  // Ben's
    EXPECT_FALSE(has(r.body, "Ben"));
  }
  // One order: the owner's only; anyone else's reads like one that does not exist.
  auto one = browse("/orders/12345?lang=ja&token=" + aiko);
  EXPECT_EQ(one.status, 200);
  EXPECT_TRUE(has(one.body, "発送済み"));
  EXPECT_TRUE(has(one.body, "Yamato Transport"));
  auto other = browse("/orders/12346?lang=en&token=" + aiko);
  EXPECT_EQ(other.status, 404);
  EXPECT_FALSE(has(other.body, "12346</h2>"));
  EXPECT_FALSE(has(other.body, "processing"));
  expect_html_page(other, "another user's order");
  // Byte for byte what an order that does not exist gives.
  auto missing = browse("/orders/99999?lang=en&token=" + aiko);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(other.body, missing.body);
  // Not signed in: a page that says to sign in, and no one's orders, whatever the query says.
  for (const std::string target :
       {"/orders?lang=en", "/orders?user_id=u-1001&user=u-1001", "/orders/12345?user_id=u-1001"}) {
    auto anon = browse(target);
    EXPECT_EQ(anon.status, 200) << target;
    EXPECT_TRUE(has(anon.body, "sign in")) << target;
    EXPECT_FALSE(has(anon.body, "4512")) << target;
    EXPECT_FALSE(has(anon.body, "Aiko")) << target;
  }
  // A token that is not valid: 401, as for POST /v1/chat.
  auto bad = browse("/orders?token=stolen-token");
  EXPECT_EQ(bad.status, 401);
  EXPECT_FALSE(has(bad.body, "4512"));
  expect_html_page(bad, "the 401 page");
}

// The chat page signs a visitor in once (POST /v1/signin) and forgets the token: the server
// keeps it in an HttpOnly cookie that the pages, the chat and the WebSocket read, so no URL
// carries it. Only this site's pages may sign anyone in or out; a cookie that no longer
// verifies signs nobody in (the visitor is anonymous, not locked out with 401s).
TEST_F(PagesTest, SigningInKeepsTheTokenInAnHttpOnlyCookieNotInUrls) {
  const std::string aiko = token_for("u-1001");
  const auto post = [&](const std::string& path, const std::string& body,
                        std::map<std::string, std::string> h = {}) {
    return http_request(ts_->port(), "POST", path, body, h);
  };
  auto in = post("/v1/signin", json::serialize(json::object{{"token", aiko}}));
  ASSERT_EQ(in.status, 200) << in.body;
  EXPECT_EQ(in.json().at("user_id"), "u-1001");
  const std::string set = in.headers.at("Set-Cookie");
  EXPECT_EQ(set, "ma_user=" + aiko + "; Path=/; HttpOnly; SameSite=Lax");
  const std::map<std::string, std::string> cookie{{"Cookie", "ma_user=" + aiko}};

  // The cookie alone: her orders, her order status in the chat.
  auto orders = browse("/orders?lang=en", cookie);
  ASSERT_EQ(orders.status, 200);
  EXPECT_TRUE(has(orders.body, "12345")) << orders.body;
  auto chat = http_request(ts_->port(), "POST", "/v1/chat",
                           R"({"message":"Where is my order #12345?"})", cookie);
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_TRUE(has(chat.json().at("reply").as_string().c_str(), "Yamato")) << chat.body;
  // ...and the reply's "your orders" link carries no token.
  for (const auto& url : action_urls(chat)) EXPECT_FALSE(has(url, "token")) << url;

  // Another site's page may not sign anyone in or out, nor post anything a cookie signs.
  auto forged = post("/v1/signin", json::serialize(json::object{{"token", aiko}}),
                     {{"Origin", "https://evil.example"}});
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(forged.headers.count("Set-Cookie"), 0u);
  EXPECT_EQ(post("/v1/signout", "", {{"Origin", "https://evil.example"}}).status, 403);
  std::map<std::string, std::string> sibling = cookie;
  sibling["Origin"] = "https://shop.localhost";  // "same site" to SameSite=Lax, not this origin
  EXPECT_EQ(post("/v1/chat", R"({"message":"Where is my order #12345?"})", sibling).status, 403);
  EXPECT_EQ(post("/v1/later/answers", "", sibling).status, 403);
  // This server's own page (its Origin names the Host) may; over https the cookie is Secure.
  auto own = post("/v1/signin", json::serialize(json::object{{"token", aiko}}),
                  {{"Origin", "https://localhost"}});
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(own.headers.at("Set-Cookie"), set + "; Secure");

  // A link carrying someone else's token does not replace the visitor's own sign-in.
  const std::string mallory = token_for("u-1002");
  std::map<std::string, std::string> signed_in = cookie;
  auto swap = post("/v1/signin", json::serialize(json::object{{"token", mallory}}), signed_in);
  EXPECT_EQ(swap.status, 409) << swap.body;
  EXPECT_EQ(swap.json().at("error"), "signed_in_as_another_user");
  EXPECT_EQ(swap.headers.count("Set-Cookie"), 0u);
  EXPECT_EQ(post("/v1/signin", json::serialize(json::object{{"token", aiko}}), signed_in).status,
            200);

  // A bad token: 401, and any cookie is removed. Bad bodies are named.
  auto bad = post("/v1/signin", R"({"token":"stolen-token"})");
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(has(bad.headers.at("Set-Cookie"), "ma_user=; Path=/; Max-Age=0")) << bad.body;
  for (const std::string body : {"", "[]", R"({"token":7})", R"({"token":""})"}) {
    EXPECT_EQ(post("/v1/signin", body).status, 400) << body;
  }
  EXPECT_EQ(http_request(ts_->port(), "GET", "/v1/signin", "").status, 405);

  // A stale cookie (another secret, expired): anonymous, not 401 -- the chat goes on.
  const std::map<std::string, std::string> stale{{"Cookie", "ma_user=stale-token"}};
  auto anon = browse("/orders?lang=en", stale);
  EXPECT_EQ(anon.status, 200);
  EXPECT_TRUE(has(anon.body, "sign in"));
  EXPECT_FALSE(has(anon.body, "12345"));
  EXPECT_EQ(http_request(ts_->port(), "POST", "/v1/chat", R"({"message":"hello"})", stale).status,
            200);
  // But a bad token given explicitly is still refused.
  EXPECT_EQ(browse("/orders?token=stolen-token").status, 401);

  // Signing out removes the cookie.
  auto out = post("/v1/signout", "");
  EXPECT_EQ(out.status, 200);
  EXPECT_TRUE(has(out.headers.at("Set-Cookie"), "ma_user=; Path=/; Max-Age=0"));
}

TEST_F(PagesTest, TheHelpCenterIsTheFaq) {
  const auto& faq = ts_->app().catalog().faq();
  ASSERT_FALSE(faq.empty());
  auto en = browse("/help?lang=en");
  ASSERT_EQ(en.status, 200);
  expect_html_page(en, "help");
  auto ja = browse("/help", {{"Accept-Language", "ja-JP,ja;q=0.9,en;q=0.8"}});
  ASSERT_EQ(ja.status, 200);
  EXPECT_TRUE(has(ja.body, "<html lang=\"ja\">"));
  for (const auto& e : faq) {
    EXPECT_TRUE(has(en.body, server::html_escape(e.en))) << e.id;
    EXPECT_TRUE(has(ja.body, server::html_escape(e.ja))) << e.id;
    // The FAQ's own links (a reply's "Help page" action) open its entry.
    auto topic = browse(e.url + "?lang=en");
    EXPECT_EQ(topic.status, 200) << e.url;
    EXPECT_TRUE(has(topic.body, server::html_escape(e.en))) << e.url;
  }
  EXPECT_EQ(browse("/help/no-such-topic").status, 404);
}

TEST_F(PagesTest, ThePublicStatusPageShowsTheStateAndNothingForOperators) {
  auto page = browse("/status?lang=en");
  ASSERT_EQ(page.status, 200) << page.body;
  expect_html_page(page, "status");
  EXPECT_TRUE(has(page.body, "data-state=\"normal\""));
  // The JSON for operators is as it was: a token, or 401 without one.
  auto refused = http_request(ts_->port(), "GET", "/status");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(
      http_request(ts_->port(), "GET", "/status", "", {{"Accept", "application/json"}}).status,
      401);
  auto op = http_request(
      ts_->port(), "GET", "/status", "",
      {{"Accept", kBrowserAccept}, {"Authorization", std::string("Bearer ") + kAdmin}});
  ASSERT_EQ(op.status, 200);
  EXPECT_TRUE(op.headers.at("Content-Type").starts_with("application/json"));
  EXPECT_EQ(op.json().at("state").as_string(), "normal");
  EXPECT_TRUE(op.json().as_object().contains("spend_today_usd"));

  // Both models down: the page says so, with the ETA, and still no internals.
  ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"model":"all","outage":true})").status, 200);
  std::string state;
  for (int i = 0; i < 40 && state != "down"; ++i) {
    (void)chat("Tell me something fun #" + std::to_string(i));
    state = std::string(ts_->admin("GET", "/status").json().at("state").as_string());
  }
  ASSERT_EQ(state, "down");
  for (const auto& lang : {"en", "ja"}) {
    auto down = browse(std::string("/status?lang=") + lang);
    ASSERT_EQ(down.status, 200);
    EXPECT_TRUE(has(down.body, "data-state=\"down\"")) << lang;
    EXPECT_TRUE(has(down.body, "class=\"eta\"")) << lang;
    EXPECT_TRUE(has(down.body, "class=\"note\"")) << lang;
    for (const auto& secret : {"sonnet", "haiku", "breaker", "spend", "flags", "RETRY_MAX",
                               "FM_MODE", "admission", "quota", "in_flight", "alarm"}) {
      EXPECT_FALSE(has(down.body, secret)) << lang << ": " << secret;
    }
  }
}

TEST_F(PagesTest, LinksCarryTheRepliesLanguage) {
  for (const auto& [question, lang] : {std::pair{"ONE PIECEの105巻はいくら？", "ja"},
                                       std::pair{"How much is ONE PIECE volume 105?", "en"}}) {
    auto urls = action_urls(chat(question));
    ASSERT_FALSE(urls.empty()) << question;
    for (const auto& u : urls) {
      EXPECT_TRUE(u.starts_with("/")) << u;
      EXPECT_TRUE(u.ends_with(std::string("lang=") + lang)) << u;
      auto page = browse(u);
      EXPECT_EQ(page.status, 200) << u;
      EXPECT_TRUE(has(page.body, std::string("<html lang=\"") + lang + "\">")) << u;
    }
  }
}

TEST_F(PagesTest, TheStoreBaseUrlMakesEveryLinkAbsoluteUnderTheStoresSite) {
  ts_.reset();
  start("https://store.example.jp/");
  for (const auto& question :
       {"ONE PIECEの105巻はいくら？", "How much is shipping?", "Where is my order?"}) {
    auto urls = action_urls(chat(question));
    ASSERT_FALSE(urls.empty()) << question;
    for (const auto& u : urls) {
      EXPECT_TRUE(u.starts_with("https://store.example.jp/")) << u;
      EXPECT_FALSE(u.starts_with("https://store.example.jp//")) << u;
      EXPECT_TRUE(has(u, "lang=")) << u;
    }
  }
}

// Every kind of action a reply carries -- series, orders (with and without a user), the
// FAQ, the store and rankings, and a degraded reply's help, support and status -- opens a
// page (200, HTML); "your orders" without a user is the sign-in page.
TEST_F(PagesTest, EveryLinkInAReplyOpensAPage) {
  const std::string aiko = token_for("u-1001");
  std::set<std::string> paths;
  auto follow = [&](const HttpResult& reply, const std::string& token, const std::string& what) {
    ASSERT_EQ(reply.status, 200) << what << ": " << reply.body;
    auto urls = action_urls(reply);
    EXPECT_FALSE(urls.empty()) << what;
    for (const auto& u : urls) {
      // As the chat page does: a signed-in visitor's orders link carries their token.
      const std::string target =
          token.empty() || !u.starts_with("/orders") ? u : u + "&token=" + token;
      auto page = browse(target);
      EXPECT_EQ(page.status, 200) << what << ": " << u << "\n" << page.body;
      expect_html_page(page, u);
      paths.insert(u.substr(0, u.find_first_of("?/", 1)));
    }
  };
  follow(chat("ONE PIECEの105巻はいくら？"), "", "pricing");
  follow(chat("Recommend something like Frieren"), "", "recommendation");
  follow(chat("Where is my order #12345?", aiko), aiko, "order, signed in");
  follow(chat("Where is my order?"), "", "order, anonymous");
  follow(chat("How much is shipping?"), "", "faq");
  // The models down: degraded replies carry help, support and status.
  ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"model":"all","outage":true})").status, 200);
  follow(chat("Tell me something fun"), "", "degraded, general");
  follow(chat("How much does a manga cost in your store?"), "", "degraded, pricing");
  for (const auto& p : {"/series", "/orders", "/help", "/support", "/status"})
    EXPECT_TRUE(paths.contains(p)) << p;
}

}  // namespace
}  // namespace ma::server
