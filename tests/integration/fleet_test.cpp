// Fleet mode: three servers (real HTTP on loopback) and one real redis-server. One retry
// budget, one catalog (price changes reach every server, from every tier), one set of flags,
// one set of trace sampling rules; and when Redis dies mid-load, every request still gets its
// reply.
//
// Propagation is waited for as an event with a generous bound (kPropagation): on a loaded
// 2-core CI host a 1 s window fails for reasons that are not the fleet's. How long it took
// is recorded as a test property (typically tens of milliseconds).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
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
// The longest wait for a change to reach another server, or for the fleet to notice Redis
// going or coming back, before the test fails.
constexpr auto kPropagation = 10s;
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
  std::unique_ptr<Node> start(const std::string& id,
                              const std::function<void(AppConfig&)>& configure = {}) {
    AppConfig cfg = testing::test_config();
    cfg.redis_url = redis_.url();
    cfg.fleet_name = fleet_;
    cfg.server_id = id;
    cfg.server.admin_token = kAdmin;
    // One test client asks many times a second: keep it under its own limits.
    for (auto& plan : cfg.admission.plans) plan = {10'000, 10'000, 0};
    cfg.admission.per_source = {10'000, 10'000, 0};
    if (configure) configure(cfg);
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
  // The reply's text, then its tier in brackets ("... [cache]"), then " (disclaimer)" when
  // it carries the staleness disclaimer.
  static std::string ask(const Node& n) {
    auto r = testing::http_request(n.port, "POST", "/v1/chat", kQuestion);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return r.body;
    const auto v = r.json();
    return std::string(v.at("reply").as_string()) + " [" + std::string(v.at("tier").as_string()) +
           "]" + (v.as_object().contains("disclaimer") ? " (disclaimer)" : "");
  }
  static testing::HttpResult admin(const Node& n, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
    return testing::http_request(n.port, method, path, body,
                                 {{"Authorization", std::string("Bearer ") + kAdmin}});
  }
  // Polls `holds()` every 5 ms until it is true or `limit` passes; returns how long it took.
  // Looks at a server's state itself, so a loaded test machine's chat round trips do not
  // count against the wait.
  template <class Pred>
  static std::optional<Clock::duration> until(Pred holds, Clock::duration limit = kPropagation) {
    const auto t0 = Clock::now();
    for (;;) {
      const auto t = Clock::now() - t0;
      if (holds()) return t;
      if (t >= limit) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }
  // Records how long a propagation took, as a test property (milliseconds).
  static void record(const std::string& what, Clock::duration took) {
    RecordProperty(what, static_cast<int>(
                             std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
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

TEST_F(FleetTest, APriceChangeOnOneServerReachesEveryServerAndEveryTier) {
  auto a = start("a"), b = start("b"), c = start("c");
  // Warm B's cache with the old price.
  ASSERT_NE(ask(*b).find("528円"), std::string::npos);
  ASSERT_EQ(admin(*a, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":600})").status,
            200);
  for (Node* n : {b.get(), c.get()}) {
    const auto took =
        until([&] { return n->app->catalog().product("mg-0004-v105")->price_jpy == 600; });
    ASSERT_TRUE(took.has_value()) << "the price did not reach the server within 10 s";
    record("price_ms", *took);
    // Then every answer says it: model facts and the price guard.
    EXPECT_NE(ask(*n).find("600円"), std::string::npos) << ask(*n);
  }
  // A flag set on A reaches B and C: then the static tier (live data) says the new price too.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"static_only"})").status, 200);
  for (Node* n : {b.get(), c.get()}) {
    const auto took =
        until([&] { return n->app->flags().fm_mode() == assist::FmMode::kStaticOnly; });
    ASSERT_TRUE(took.has_value()) << "the flag did not reach the server within 10 s";
    record("flag_ms", *took);
    const std::string reply = ask(*n);
    EXPECT_NE(reply.find("[static]"), std::string::npos) << reply;
    EXPECT_NE(reply.find("600円"), std::string::npos) << reply;
  }
  // Without the models (cache_only), a price question is answered from live data before the
  // cache (the default tier order for prices): the new price, no disclaimer. This reads no
  // cached price; AnAnswerCachedOnOneServerIsServedByAnotherUntilItsPriceChanges does.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  ASSERT_TRUE(until([&] { return b->app->flags().fm_mode() == assist::FmMode::kCacheOnly; }));
  ASSERT_EQ(std::string(admin(*b, "GET", "/admin/flags").json().at("FM_MODE").as_string()),
            "cache_only");
  EXPECT_NE(ask(*b).find("600円"), std::string::npos) << ask(*b);
  EXPECT_NE(ask(*b).find("[static]"), std::string::npos) << ask(*b);
  // A server started after the change catches up from the stream.
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"normal"})").status, 200);
  auto d = start("d");
  ASSERT_TRUE(until([&] { return d->app->catalog().product("mg-0004-v105")->price_jpy == 600; }));
  EXPECT_NE(ask(*d).find("600円"), std::string::npos) << ask(*d);
}

TEST_F(FleetTest, AnAnswerCachedOnOneServerIsServedByAnotherUntilItsPriceChanges) {
  // The price guard off and the cache before live data for prices (seed incident 3's order):
  // what keeps an old price out of a cached answer here is the invalidation a catalog change
  // sends to every server's cache and to the shared one, and nothing else.
  const auto cache_first = [](AppConfig& c) {
    c.pipeline.price_guard = false;
    c.pipeline.tier_order[static_cast<int>(assist::Intent::kPricing)] = {
        assist::Tier::kPrimary, assist::Tier::kSecondary, assist::Tier::kCache,
        assist::Tier::kStatic, assist::Tier::kDegraded};
  };
  auto a = start("a", cache_first), b = start("b", cache_first);
  const std::string rec = R"({"message":"Can you recommend manga like Naruto?"})";
  auto first = testing::http_request(a->port, "POST", "/v1/chat", rec);
  ASSERT_EQ(first.json().at("tier").as_string(), "primary") << first.body;
  const std::string priced = ask(*a);  // a pricing answer, cached on A and in the L2 too
  ASSERT_NE(priced.find("528円"), std::string::npos) << priced;
  ASSERT_NE(priced.find("[primary]"), std::string::npos) << priced;
  a->app->shared_state().cache_tier()->sync();  // A's writes to the L2 are in the background
  ASSERT_EQ(admin(*a, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  ASSERT_TRUE(until([&] { return b->app->flags().fm_mode() == assist::FmMode::kCacheOnly; }));
  // B never answered either: the shared L2 has A's answers.
  auto hit = testing::http_request(b->port, "POST", "/v1/chat", rec);
  EXPECT_EQ(hit.json().at("tier").as_string(), "cache");
  EXPECT_EQ(hit.json().at("reply").as_string(), first.json().at("reply").as_string());
  const std::string cached = ask(*b);  // the cached price, from the cache, with the disclaimer
  EXPECT_NE(cached.find("528円"), std::string::npos) << cached;
  EXPECT_NE(cached.find("[cache] (disclaimer)"), std::string::npos) << cached;
  EXPECT_NE(ask(*a).find("[cache] (disclaimer)"), std::string::npos) << ask(*a);  // A's own L1
  // The price changes on B: the cached answers go with it on every server, from B's L1, the
  // shared L2 and A's L1 (A hears of it from the stream).
  ASSERT_EQ(admin(*b, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":610})").status,
            200);
  // A's fleet thread makes the new price visible, then runs the catalog's listeners (the
  // invalidation): wait for the second, not only the first.
  ASSERT_TRUE(until([&] {
    return a->app->catalog().product("mg-0004-v105")->price_jpy == 610 &&
           ask(*a).find("[cache]") == std::string::npos;
  }));
  for (const Node* n : {a.get(), b.get()}) {
    // The cache has nothing on it: the next tier answers from live data (no disclaimer).
    const std::string reply = ask(*n);
    EXPECT_EQ(reply.find("528円"), std::string::npos) << reply;
    EXPECT_NE(reply.find("610円"), std::string::npos) << reply;
    EXPECT_NE(reply.find("[static]"), std::string::npos) << reply;
  }
  // The recommendation, which names no price of that volume, is still served from the cache.
  auto still = testing::http_request(a->port, "POST", "/v1/chat", rec);
  EXPECT_EQ(still.json().at("tier").as_string(), "cache") << still.body;
}

TEST_F(FleetTest, ACacheFlushOnOneServerEmptiesEveryServersCache) {
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
  const auto took = until([&] { return b->app->cache().size() == 0; });
  ASSERT_TRUE(took.has_value()) << "B's cache was not emptied within 10 s";
  record("flush_ms", *took);
  ASSERT_EQ(admin(*b, "PATCH", "/admin/flags", R"({"FM_MODE":"cache_only"})").status, 200);
  auto r = testing::http_request(b->port, "POST", "/v1/chat", faq);
  EXPECT_NE(r.json().at("tier").as_string(), "cache") << r.body;  // not from L1, nor from L2
}

TEST_F(FleetTest, AFlagChangeReachesAllThree) {
  auto a = start("a"), b = start("b"), c = start("c");
  ASSERT_EQ(admin(*b, "PATCH", "/admin/flags", R"({"RETRY_MAX_ATTEMPTS":0})").status, 200);
  for (Node* n : {a.get(), b.get(), c.get()}) {
    const auto took = until([&] { return n->app->flags().retry_max_attempts() == 0; });
    ASSERT_TRUE(took.has_value()) << "the flag did not reach the server within 10 s";
    record("flag_ms", *took);
    EXPECT_EQ(admin(*n, "GET", "/admin/flags").json().at("RETRY_MAX_ATTEMPTS").as_int64(), 0);
  }
}

TEST_F(FleetTest, SamplingRulesSetOnOneServerApplyOnEveryServerAndExpireEverywhere) {
  // Every server's configured rules keep no successful request's trace.
  const std::string rules_file = ::testing::TempDir() + "ma_fleet_sampling_" + fleet_ + ".json";
  std::ofstream(rules_file) << R"({"version": 2, "default": {"fixed_target": 0, "rate": 0}})";
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::remove(path.c_str()); }
  } remove_file{rules_file};
  const auto configured = [&](AppConfig& c) { c.sampling_rules = rules_file; };
  auto a = start("a", configured), b = start("b", configured);
  const auto status = [](const Node& n) {
    return admin(n, "GET", "/status").json().at("sampling");
  };
  const auto source = [&](const Node& n) {
    return std::string(status(n).at("source").as_string());
  };
  const auto kept_sampled = [](const Node& n) {
    return n.app->metrics().render().find("mangaassist_traces_kept_total{reason=\"sampled\"} 1\n");
  };
  ASSERT_EQ(source(*b), "config");

  // 100% on A, for an hour: nothing below races the expiry, however slow the machine.
  const auto put =
      admin(*a, "PUT", "/admin/sampling", R"({"fixed_rate": 1.0, "expires_in_s": 3600})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json().at("fleet").as_string(), "published");
  const std::string reverts_at(put.json().at("reverts_at").as_string());
  const auto took = until([&] { return source(*b) == "runtime"; });
  ASSERT_TRUE(took.has_value()) << "the sampling change did not reach B within 10 s";
  record("sampling_ms", *took);
  const auto on_b = status(*b);
  EXPECT_EQ(on_b.at("reverts_at").as_string(), reverts_at);  // the same moment everywhere
  EXPECT_EQ(on_b.at("default_rate").as_double(), 1.0);
  EXPECT_EQ(admin(*b, "GET", "/admin/sampling").json().at("origin").as_string(), "a");
  // B keeps a successful request's trace, as the rules set on A say.
  const auto r = testing::http_request(b->port, "POST", "/v1/chat",
                                       R"({"message":"Can you recommend manga like Naruto?"})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(r.json().at("degraded").as_bool()) << r.body;
  EXPECT_NE(kept_sampled(*b), std::string::npos);
  // A server that starts now finds the rules in force, with the same expiry.
  auto c = start("c", configured);
  ASSERT_EQ(source(*c), "runtime");
  EXPECT_EQ(status(*c).at("reverts_at").as_string(), reverts_at);

  // The fleet-wide expiry: rules for one second, set on C in place of A's. Every server
  // reverts at their wall time by itself (its flusher, or /status asking). A server that hears
  // of them after that time reverts too (from A's rules: an expiry all the same).
  const auto brief =
      admin(*c, "PUT", "/admin/sampling", R"({"fixed_rate": 0.5, "expires_in_s": 1})");
  ASSERT_EQ(brief.status, 200) << brief.body;
  EXPECT_EQ(brief.json().at("fleet").as_string(), "published");
  const auto t0 = Clock::now();
  for (Node* n : {a.get(), b.get(), c.get()}) {
    // A's hour-long rules are in force until the brief ones arrive: "config" is their expiry.
    ASSERT_TRUE(until([&] { return source(*n) == "config"; }))
        << "the brief rules did not expire within 10 s on " << n->app->config().server_id;
    EXPECT_TRUE(status(*n).at("reverts_at").is_null());
    const auto counts = n->app->sampling().counts();
    EXPECT_EQ(counts.expired, 1u) << n->app->config().server_id;
    EXPECT_EQ(counts.reverted, 0u) << n->app->config().server_id;
  }
  record("sampling_expiry_ms", Clock::now() - t0);
  // A change stamped long before, published late (a server that was cut off), takes the place
  // of none: not of the fleet's latest change in Redis, not of the rules on any server.
  observe::SamplingChange stale;
  stale.rules = observe::SamplingRules::fixed(1.0, 0);
  stale.reverts_at = clock_.wall_now() + 1h;
  stale.origin = "a";
  stale.stamp_ms = 1;
  ASSERT_EQ(a->app->shared_state().publish_sampling(observe::SamplingSwitch::to_fleet_json(stale),
                                                    stale.order_key()),
            state::Delivery::kPublished);
  // And a server that starts after the expiry keeps its configured rules.
  auto d = start("d", configured);
  EXPECT_EQ(source(*d), "config");
  EXPECT_EQ(d->app->sampling().counts().runtime, 0u);
  for (Node* n : {a.get(), b.get(), c.get()})
    EXPECT_EQ(n->app->sampling().counts().runtime, 2u) << n->app->config().server_id;

  // A revert reaches every server too, and each counts each change once.
  ASSERT_EQ(admin(*b, "PUT", "/admin/sampling", R"({"fixed_rate": 0.25})").status, 200);
  for (Node* n : {a.get(), c.get(), d.get()})
    ASSERT_TRUE(until([&] { return source(*n) == "runtime"; })) << "the change did not arrive";
  const auto del = admin(*a, "DELETE", "/admin/sampling");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.json().at("fleet").as_string(), "published");
  for (Node* n : {b.get(), c.get(), d.get()})
    ASSERT_TRUE(until([&] { return source(*n) == "config"; })) << "the revert did not arrive";
  for (Node* n : {a.get(), b.get(), c.get(), d.get()})
    EXPECT_EQ(n->app->sampling().counts().reverted, 1u) << n->app->config().server_id;

  // With Redis gone, a change holds on the server that took it, and says so.
  redis_.kill();
  const auto failures = a->app->shared_state().fallbacks().publish_failures;
  const auto alone = admin(*a, "PUT", "/admin/sampling", R"({"fixed_rate": 1.0})");
  ASSERT_EQ(alone.status, 200) << alone.body;
  EXPECT_EQ(alone.json().at("fleet").as_string(), "not_published");
  EXPECT_EQ(alone.json().at("source").as_string(), "runtime");
  EXPECT_GT(a->app->shared_state().fallbacks().publish_failures, failures);
}

TEST_F(FleetTest, RedisDyingMidLoadFailsNoRequestAndTheFleetReconnects) {
  auto a = start("a"), b = start("b"), c = start("c");
  std::atomic<int> sent{0}, answered{0};
  // The load: one client thread per server, stopped and joined however the test ends.
  struct Load {
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    void stop() {
      done.store(true);
      for (auto& t : threads) t.join();
      threads.clear();
    }
    ~Load() { stop(); }
  } load;
  for (Node* n : {a.get(), b.get(), c.get()}) {
    load.threads.emplace_back([&, n] {
      while (!load.done.load()) {
        ++sent;
        auto r = testing::http_request(n->port, "POST", "/v1/chat",
                                       R"({"message":"NARUTOの1巻はいくら？"})");
        if (r.status == 200) ++answered;
      }
    });
  }
  ASSERT_TRUE(until([&] { return answered.load() >= 30; }, 20s))
      << "30 answers did not come within 20 s: " << answered.load() << " of " << sent.load();
  auto& budget = a->app->shared_state().retry_budget();
  redis_.kill();
  const int at_kill = answered.load();
  // Every server notices (its connection and its stream reader are gone)...
  ASSERT_TRUE(until([&] {
    return !a->app->shared_state().healthy() && !b->app->shared_state().healthy() &&
           !c->app->shared_state().healthy();
  })) << "a server still reports Redis healthy 10 s after it died";
  // ...and keeps answering.
  ASSERT_TRUE(until([&] { return answered.load() >= at_kill + 60; }, 20s))
      << "60 answers did not come within 20 s of the outage: " << answered.load() - at_kill;
  // The retry budget falls back to a local share (100/min over three servers): a retry is
  // still granted, decided locally.
  const auto fallbacks_before = a->app->shared_state().fallbacks().budget_fallbacks;
  EXPECT_TRUE(budget.try_spend(clock_.now()));
  EXPECT_GT(a->app->shared_state().fallbacks().budget_fallbacks, fallbacks_before);
  redis_.restart();
  load.stop();
  EXPECT_EQ(answered.load(), sent.load());  // every request got its reply

  // Back together: a price change on C reaches A again.
  ASSERT_TRUE(until(
      [&] { return a->app->shared_state().healthy() && c->app->shared_state().healthy(); }, 20s))
      << "the servers did not reconnect within 20 s";
  ASSERT_EQ(admin(*c, "PUT", "/admin/catalog/products/mg-0004-v105", R"({"price_jpy":640})").status,
            200);
  ASSERT_TRUE(until([&] { return a->app->catalog().product("mg-0004-v105")->price_jpy == 640; }));
  EXPECT_NE(ask(*a).find("640円"), std::string::npos) << ask(*a);
}

}  // namespace
}  // namespace ma::server
