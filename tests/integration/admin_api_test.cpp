// The admin API as a route table (server/admin_api.hpp): every path answers as before
// (405 with each path's "use ..." message, 404 for unknown paths, the token checked first),
// and its blocking work -- the SQLite write behind PUT /admin/catalog/products/{id} -- runs
// on the admin pool, never on an io thread.
#include "server/admin_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "integration/test_server.hpp"

namespace ma::server {
namespace {

using testing::http_request;
using testing::HttpResult;
namespace json = boost::json;

constexpr const char* kAdmin = "admin-api-test-token";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ts_.create());
    // Before the server starts: which thread runs the catalog's listeners (the SQLite write's
    // thread), and which runs /metrics' collectors (a worker: /metrics answers inline).
    ts_.app().catalog().on_change(
        [this](const catalog::ProductChange&) { record(write_threads_); });
    ts_.app().metrics().add_collector([this] { record(render_threads_); });
    ASSERT_NO_FATAL_FAILURE(ts_.start());
    port_ = ts_.port();
  }

  HttpResult admin(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return ts_.admin(method, target, body);
  }
  void record(std::vector<std::thread::id>& into) {
    std::lock_guard lock(mu_);
    into.push_back(std::this_thread::get_id());
  }
  std::vector<std::thread::id> threads(const std::vector<std::thread::id>& of) {
    std::lock_guard lock(mu_);
    return of;
  }
  static void expect_error(const HttpResult& r, int status, std::string_view code,
                           std::string_view message) {
    EXPECT_EQ(r.status, status) << r.body;
    const auto v = json::parse(r.body);
    EXPECT_EQ(v.at("error").as_string(), code) << r.body;
    EXPECT_EQ(v.at("message").as_string(), message) << r.body;
  }

  std::mutex mu_;  // before ts_: the listeners and collectors use it until the server stops
  std::vector<std::thread::id> write_threads_;
  std::vector<std::thread::id> render_threads_;
  testing::TestServer ts_{kAdmin};
  std::uint16_t port_ = 0;
};

TEST_F(AdminApiTest, TheCatalogWriteRunsOffTheIoThreads) {
  // The control: /metrics renders on the worker that serves the request, and the server
  // knows that thread as one of its workers.
  ASSERT_EQ(admin("GET", "/metrics").status, 200);
  const auto rendered = threads(render_threads_);
  ASSERT_FALSE(rendered.empty());
  EXPECT_TRUE(ts_.server().is_worker_thread(rendered.back()));

  const auto put = admin("PUT", "/admin/catalog/products/mg-0014-v5", R"({"price_jpy":600})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json().at("price_jpy").to_number<int>(), 600);
  // The listener ran before the response was written: no wait needed.
  const auto writes = threads(write_threads_);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_FALSE(ts_.server().is_worker_thread(writes.front()))
      << "the SQLite write (and the catalog's listeners) ran on an io thread";
  EXPECT_NE(writes.front(), std::this_thread::get_id());
}

TEST_F(AdminApiTest, EveryPathAnswersWithItsMethodsAndMessages) {
  expect_error(admin("DELETE", "/admin/flags"), 405, "method_not_allowed", "use GET or PATCH");
  expect_error(admin("GET", "/admin/chaos"), 405, "method_not_allowed", "use POST");
  expect_error(admin("POST", "/admin/catalog/products/mg-0014-v5"), 405, "method_not_allowed",
               "use PUT");
  expect_error(admin("GET", "/admin/cache/flush"), 405, "method_not_allowed", "use POST");
  expect_error(admin("POST", "/admin/limits"), 405, "method_not_allowed", "use GET or PUT");
  expect_error(admin("GET", "/admin/nothing"), 404, "not_found", "there is no such admin route");
  expect_error(admin("GET", "/admin/flags/extra"), 404, "not_found",
               "there is no such admin route");
  // The token is checked before the route: an unknown path does not reveal itself.
  expect_error(http_request(port_, "GET", "/admin/nothing"), 401, "unauthorized",
               "a valid admin bearer token is required");
  // The alarms answer any method; the limits take PATCH as PUT.
  EXPECT_EQ(admin("POST", "/admin/alarms").status, 200);
  EXPECT_TRUE(admin("GET", "/admin/alarms").json().at("alarms").is_array());
  EXPECT_EQ(admin("PATCH", "/admin/limits", R"({"global":{"rate":50}})").status, 200);
  EXPECT_EQ(admin("GET", "/admin/limits").json().at("global").at("rate").to_number<double>(), 50);
  // Bodies are read after the route and method: an unknown product id is the catalog's 404.
  EXPECT_EQ(admin("PUT", "/admin/catalog/products/", R"({"price_jpy":1})").status, 404);
  expect_error(admin("PATCH", "/admin/flags", "[1]"), 400, "invalid_json",
               "the body must be a JSON object");
  // The blocking routes answer as before.
  EXPECT_EQ(admin("PATCH", "/admin/flags", R"({"RETRY_MAX_ATTEMPTS":2})")
                .json()
                .at("RETRY_MAX_ATTEMPTS")
                .to_number<int>(),
            2);
  EXPECT_EQ(admin("POST", "/admin/chaos", R"({"clear":true})").body, R"({"cleared":true})");
  EXPECT_TRUE(admin("POST", "/admin/cache/flush", "{}").json().at("flushed").is_number());
}

TEST_F(AdminApiTest, ChaosTakesTheFailureModesOfRealModels) {
  auto* sonnet = ts_.app().simulated("sonnet");
  auto* haiku = ts_.app().simulated("haiku");
  ASSERT_NE(sonnet, nullptr);
  ASSERT_NE(haiku, nullptr);
  auto r = admin("POST", "/admin/chaos", R"({"model":"sonnet","hang":true,"duration_s":30})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(sonnet->faults().hang);
  EXPECT_FALSE(haiku->faults().any());
  r = admin("POST", "/admin/chaos", R"({"model":"haiku","stall_after_chunks":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(haiku->faults().stall_after_chunks, 2);
  EXPECT_EQ(haiku->faults().cut_after_chunks, -1);
  r = admin("POST", "/admin/chaos", R"({"model":"all","cut_after_chunks":0,"auth_failure":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  for (auto* m : {sonnet, haiku}) {
    EXPECT_EQ(m->faults().cut_after_chunks, 0);
    EXPECT_TRUE(m->faults().auth_failure);
    EXPECT_FALSE(m->faults().hang);  // each POST sets the whole fault set
  }
  const std::string both =
      "a stream either stalls or is cut: give stall_after_chunks or "
      "cut_after_chunks, not both";
  const std::string whole =
      "stall_after_chunks and cut_after_chunks must be whole numbers, 0 to 100000";
  const std::string flags = "hang, auth_failure and outage must be true or false";
  expect_error(admin("POST", "/admin/chaos", R"({"stall_after_chunks":1,"cut_after_chunks":2})"),
               400, "invalid_field", both);
  expect_error(admin("POST", "/admin/chaos", R"({"cut_after_chunks":-1})"), 400, "invalid_field",
               whole);
  expect_error(admin("POST", "/admin/chaos", R"({"stall_after_chunks":1.5})"), 400, "invalid_field",
               whole);
  expect_error(admin("POST", "/admin/chaos", R"({"hang":"yes"})"), 400, "invalid_field", flags);
  expect_error(admin("POST", "/admin/chaos", R"({"auth_failure":1})"), 400, "invalid_field", flags);
  // A refused body changed nothing.
  EXPECT_TRUE(sonnet->faults().auth_failure);
  ASSERT_EQ(admin("POST", "/admin/chaos", R"({"clear":true})").status, 200);
  EXPECT_FALSE(sonnet->faults().any());
  EXPECT_FALSE(haiku->faults().any());
}

}  // namespace
}  // namespace ma::server
