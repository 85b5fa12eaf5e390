// Fleet mode: three servers (real HTTP on loopback) and one real redis-server. One retry
// budget, one catalog (price changes reach every server within a second, from every tier),
// one set of flags; and when Redis dies mid-load, every request still gets its reply.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "core/real_clock.hpp"
#include "integration/redis_server.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr const char* kAdmin = "fleet-admin";
const std::string kQuestion = R"({"message":"ONE PIECEの105巻はいくら？"})";

struct Node {
  std::unique_ptr<App> app;
  std::unique_ptr<Server> srv;
  std::uint16_t port = 0;
  ~Node() {
    if (srv) {
      srv->shutdown();
      srv->join();
    }
  }
};

class FleetTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> start(const std::string& id) {
    AppConfig cfg = testing::test_config();
    cfg.redis_url = redis_.url();
    cfg.fleet_name = fleet_;
    cfg.server_id = id;
    cfg.server.admin_token = kAdmin;
    // One test client asks many times a second: keep it under its own limits.
    for (auto& plan : cfg.admission.plans) plan = {10'000, 10'000, 0};
    cfg.admission.per_source = {10'000, 10'000, 0};
    auto app = App::create(cfg, clock_);
    EXPECT_TRUE(app.ok()) << (app.ok() ? "" : app.error().message);
    auto n = std::make_unique<Node>();
    n->app = std::move(app).value();
    n->srv = std::make_unique<Server>(*n->app, cfg.server);
    auto port = n->srv->listen();
    EXPECT_TRUE(port.ok());
    n->port = *port;
    n->srv->start();
    return n;
  }
  static std::string ask(const Node& n) {
    auto r = testing::http_request(n.port, "POST", "/v1/chat", kQuestion);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? std::string(r.json().at("reply").as_string()) + " [" +
                                 std::string(r.json().at("tier").as_string()) + "]"
                           : r.body;
  }
  static testing::HttpResult admin(const Node& n, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
    return testing::http_request(n.port, method, path, body,
                                 {{"Authorization", std::string("Bearer ") + kAdmin}});
  }
  // Polls `holds()` until it is true or `limit` passes; returns how long it took. Times a
  // server's state itself, so a loaded test machine's chat round trips do not count against
  // the propagation window.
  template <class Pred>
  static std::optional<Clock::duration> until(Pred holds, Clock::duration limit) {
    const auto t0 = Clock::now();
    for (;;) {
      const auto t = Clock::now() - t0;
      if (holds()) return t;
      if (t >= limit) return std::nullopt;
      std::this_thread::yield();
    }
  }

  testing::RedisServer redis_;
  std::string fleet_ = "test-" + std::to_string(::getpid());
  core::RealClock clock_;
};

TEST_F(FleetTest, OneHundredRetriesAMinuteAcrossAllThreeServers) {
  auto a = start("a"), b = start("b"), c = start("c");
  int granted = 0;
  for (int i = 0; i < 60; ++i) {
    for (Node* n : {a.get(), b.get(), c.get()}) {
      granted += n->app->shared_state().retry_budget().try_spend(clock_.now()) ? 1 : 0;
    }
  }
  EXPECT_EQ(granted, 100);
  EXPECT_EQ(a->app->shared_state().kind(), "redis");
  EXPECT_LE(a->app->shared_state().retry_budget().available(clock_.now()), 0.0);
}

TEST_F(FleetTest, APriceChangeOnOneServerReachesEveryServerAndEveryTierWithinASecond) {
  auto a = start("a"), b = start("b"), c = start("c");
  // Warm B's cache with the old price.
  ASSERT_NE(ask(*b).find("528円"), std::string::npos);
  ASSERT_EQ(admin(*a, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":600})").status,
            200);
  for (Node* n : {b.get(), c.get()}) {
    const auto took =
        until([&] { return n->app->catalog().product("mg-0004-v105")->price_jpy == 600; }, 1s);
    ASSERT_TRUE(took.has_value()) << "the price did not reach the server within a second";
    // Then every answer says it: model facts and the price guard.
    EXPECT_NE(ask(*n).find("600円"), std::string::npos) << ask(*n);
  }
  // A flag set on A reaches B and C: then the static tier (live data) says the new price too.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"static_only"})").status, 200);
  for (Node* n : {b.get(), c.get()}) {
    const auto took =
        until([&] { return n->app->flags().fm_mode() == assist::FmMode::kStaticOnly; }, 1s);
    ASSERT_TRUE(took.has_value()) << "the flag did not reach the server within a second";
    const std::string reply = ask(*n);
    EXPECT_NE(reply.find("[static]"), std::string::npos) << reply;
    EXPECT_NE(reply.find("600円"), std::string::npos) << reply;
  }
  // The cache tier: B's cached 528 answer was invalidated by the change, never served again.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  ASSERT_TRUE(until([&] { return b->app->flags().fm_mode() == assist::FmMode::kCacheOnly; }, 1s));
  ASSERT_EQ(std::string(admin(*b, "GET", "/admin/flags").json().at("FM_MODE").as_string()),
            "cache_only");
  EXPECT_EQ(ask(*b).find("528円"), std::string::npos);
  // A server started after the change catches up from the stream.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"normal"})").status, 200);
  auto d = start("d");
  ASSERT_TRUE(
      until([&] { return d->app->catalog().product("mg-0004-v105")->price_jpy == 600; }, 1s));
  EXPECT_NE(ask(*d).find("600円"), std::string::npos) << ask(*d);
}

TEST_F(FleetTest, AnAnswerCachedOnOneServerIsServedByAnotherUntilItsPriceChanges) {
  auto a = start("a"), b = start("b");
  const std::string rec = R"({"message":"Can you recommend manga like Naruto?"})";
  auto first = testing::http_request(a->port, "POST", "/v1/chat", rec);
  ASSERT_EQ(first.json().at("tier").as_string(), "primary") << first.body;
  ASSERT_NE(ask(*a).find("528円"), std::string::npos);  // a pricing answer, cached on A too
  a->app->shared_state().cache_tier()->sync();  // A's writes to the L2 are in the background
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  ASSERT_TRUE(until([&] { return b->app->flags().fm_mode() == assist::FmMode::kCacheOnly; }, 1s));
  // B never answered it: the shared L2 has A's answer.
  auto hit = testing::http_request(b->port, "POST", "/v1/chat", rec);
  EXPECT_EQ(hit.json().at("tier").as_string(), "cache");
  EXPECT_EQ(hit.json().at("reply").as_string(), first.json().at("reply").as_string());
  EXPECT_NE(ask(*b).find("528円"), std::string::npos);  // the cached price, with disclaimer
  // The price changes on B: the shared entry goes with it on every server.
  ASSERT_EQ(admin(*b, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":610})").status,
            200);
  ASSERT_TRUE(
      until([&] { return a->app->catalog().product("mg-0004-v105")->price_jpy == 610; }, 1s));
  EXPECT_EQ(ask(*a).find("528円"), std::string::npos);
  EXPECT_EQ(ask(*b).find("528円"), std::string::npos);
}

TEST_F(FleetTest, ACacheFlushOnOneServerEmptiesEveryServersCacheWithinASecond) {
  auto a = start("a"), b = start("b");
  // Both answer the FAQ question from a model and keep the answer (7 days for an FAQ).
  const std::string faq = R"({"message":"How much is shipping?"})";
  for (const Node* n : {a.get(), b.get()}) {
    auto r = testing::http_request(n->port, "POST", "/v1/chat", faq);
    ASSERT_EQ(r.json().at("tier").as_string(), "primary") << r.body;
  }
  ASSERT_GT(b->app->cache().size(), 0u);
  // The FAQ changed: the operator flushes it on A. B's own copy must go too, not live on.
  const auto flushed = admin(*a, "POST", "/admin/cache/flush", R"({"category":"faq"})");
  ASSERT_EQ(flushed.status, 200) << flushed.body;
  ASSERT_TRUE(until([&] { return b->app->cache().size() == 0; }, 1s));
  ASSERT_EQ(admin(*b, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  auto r = testing::http_request(b->port, "POST", "/v1/chat", faq);
  EXPECT_NE(r.json().at("tier").as_string(), "cache") << r.body;  // not from L1, nor from L2
}

TEST_F(FleetTest, AFlagChangeReachesAllThreeWithinASecond) {
  auto a = start("a"), b = start("b"), c = start("c");
  const auto t0 = Clock::now();
  ASSERT_EQ(admin(*b, "PATCH", "/admin/flags", R"({"RETRY_MAX_ATTEMPTS":0})").status, 200);
  for (Node* n : {a.get(), b.get(), c.get()}) {
    while (n->app->flags().retry_max_attempts() != 0 && Clock::now() - t0 < 1s) {
      (void)admin(*n, "GET", "/admin/flags");  // each look is a real request
    }
    EXPECT_EQ(n->app->flags().retry_max_attempts(), 0);
  }
  EXPECT_LT(Clock::now() - t0, 1s);
}

TEST_F(FleetTest, RedisDyingMidLoadFailsNoRequestAndTheFleetReconnects) {
  auto a = start("a"), b = start("b"), c = start("c");
  std::atomic<int> sent{0}, answered{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> load;
  for (Node* n : {a.get(), b.get(), c.get()}) {
    load.emplace_back([&, n] {
      while (!done.load()) {
        ++sent;
        auto r = testing::http_request(n->port, "POST", "/v1/chat",
                                       R"({"message":"NARUTOの1巻はいくら？"})");
        if (r.status == 200) ++answered;
      }
    });
  }
  while (answered.load() < 30) std::this_thread::yield();
  redis_.kill();
  const int at_kill = answered.load();
  while (answered.load() < at_kill + 60) std::this_thread::yield();
  // The retry budget falls back to a local share; nothing throws, nothing hangs.
  EXPECT_FALSE(a->app->shared_state().healthy() && b->app->shared_state().healthy() &&
               c->app->shared_state().healthy());
  (void)a->app->shared_state().retry_budget().try_spend(clock_.now());
  redis_.restart();
  done.store(true);
  for (auto& t : load) t.join();
  EXPECT_EQ(answered.load(), sent.load());  // every request got its reply

  // Back together: a price change on C reaches A again.
  const auto t0 = Clock::now();
  while (!(a->app->shared_state().healthy() && c->app->shared_state().healthy()) &&
         Clock::now() - t0 < 10s) {
    (void)testing::http_request(a->port, "GET", "/healthz");
  }
  ASSERT_TRUE(a->app->shared_state().healthy());
  ASSERT_EQ(admin(*c, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":640})").status,
            200);
  ASSERT_TRUE(
      until([&] { return a->app->catalog().product("mg-0004-v105")->price_jpy == 640; }, 2s));
  EXPECT_NE(ask(*a).find("640円"), std::string::npos) << ask(*a);
}

}  // namespace
}  // namespace ma::server
