// The admin API as a route table (server/admin_api.hpp): every path answers as before
// (405 with each path's "use ..." message, 404 for unknown paths, the token checked first),
// and its blocking work -- the SQLite write behind PUT /admin/catalog/products/{id} -- runs
// on the admin pool, never on an io thread. And the trace sampling rules as a runtime switch
// (PUT/GET/DELETE /admin/sampling), witnessed by the request log's trace_kept.
#include "server/admin_api.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
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

namespace ma::server {
namespace {

using testing::HttpResult;
namespace json = boost::json;
using namespace std::chrono_literals;

// The configured rules of these tests keep no successful request's trace (no reservoir, rate
// 0): what a runtime rate of 1.0 changes shows in every request's log line.
constexpr const char* kNoHeadSampling =
    R"({"version": 2, "default": {"fixed_target": 0, "rate": 0}})";

// PUT/GET/DELETE /admin/sampling through the real server, the request log as the witness.
class AdminSamplingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ma_sampling_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    rules_path_ = (dir_ / "sampling.json").string();
    log_path_ = (dir_ / "requests.log").string();
    std::ofstream(rules_path_) << kNoHeadSampling;
    ts_ = std::make_unique<testing::TestServer>(kAdmin, [this](AppConfig& c) {
      c.sampling_rules = rules_path_;
      c.log_file = log_path_;
      // One test client asks many times: keep it under its own limits.
      for (auto& plan : c.admission.plans) plan = {10'000, 10'000, 0};
      c.admission.per_source = {10'000, 10'000, 0};
    });
    ASSERT_NO_FATAL_FAILURE(ts_->create());
    ASSERT_NO_FATAL_FAILURE(ts_->start());
  }
  void TearDown() override {
    ts_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  HttpResult admin(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return ts_->admin(method, target, body);
  }
  json::value sampling_status() { return admin("GET", "/status").json().at("sampling"); }
  // Asks one question that a model answers (no error, nothing degraded: only head sampling
  // decides whether its trace is kept).
  void ask() {
    const auto r = testing::http_request(ts_->port(), "POST", "/v1/chat",
                                         R"({"message":"Can you recommend manga like Naruto?"})");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_FALSE(r.json().at("degraded").as_bool()) << r.body;
  }
  // The request log's lines once it holds `n` (the server writes them out every second);
  // fails after 10 s.
  std::vector<json::value> log_lines(std::size_t n) {
    std::vector<json::value> lines;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
      lines.clear();
      std::ifstream in(log_path_);
      for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
      if (lines.size() >= n) return lines;
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "the request log has " << lines.size() << " lines after 10 s, not " << n;
    return lines;
  }

  std::filesystem::path dir_;
  std::string rules_path_, log_path_;
  std::unique_ptr<testing::TestServer> ts_;
};

TEST_F(AdminSamplingTest, ARuntimeRateOfOneKeepsEveryTraceUntilReverted) {
  // The configured rules, from the file.
  auto got = admin("GET", "/admin/sampling");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json().at("source").as_string(), "config");
  EXPECT_EQ(got.json().at("configured").at("file").as_string(), rules_path_);
  EXPECT_EQ(sampling_status().at("source").as_string(), "config");
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(ask());
  for (const auto& line : log_lines(3))
    EXPECT_FALSE(line.at("trace_kept").as_bool()) << json::serialize(line);

  // 100% for half an hour, as incident 4's runbook asks.
  const auto put = admin("PUT", "/admin/sampling",
                         R"({"fixed_rate": 1.0, "expires_in_s": 1800, "set_by": "oncall"})");
  ASSERT_EQ(put.status, 200) << put.body;
  const auto now = put.json();
  EXPECT_EQ(now.at("source").as_string(), "runtime");
  EXPECT_EQ(now.at("fleet").as_string(), "local");  // in-process: no other server to tell
  EXPECT_EQ(now.at("set_by").as_string(), "oncall");
  EXPECT_EQ(now.at("rules").at("default").at("rate").as_double(), 1.0);
  EXPECT_EQ(now.at("description").as_string(), "0/s then 100% by default; no other rule");
  EXPECT_GE(now.at("reverts_in_s").as_int64(), 1790);
  EXPECT_LE(now.at("reverts_in_s").as_int64(), 1800);
  const std::string reverts_at(now.at("reverts_at").as_string());
  const auto status = sampling_status();
  EXPECT_EQ(status.at("source").as_string(), "runtime");
  EXPECT_EQ(status.at("default_rate").as_double(), 1.0);
  EXPECT_EQ(status.at("reverts_at").as_string(), reverts_at);
  EXPECT_EQ(admin("GET", "/admin/sampling").json().at("reverts_at").as_string(), reverts_at);

  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(ask());
  auto lines = log_lines(6);
  ASSERT_EQ(lines.size(), 6u);
  for (std::size_t i = 3; i < 6; ++i)
    EXPECT_TRUE(lines[i].at("trace_kept").as_bool()) << json::serialize(lines[i]);
  const std::string metrics = admin("GET", "/metrics").body;
  EXPECT_NE(metrics.find("mangaassist_sampling_runtime 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("mangaassist_sampling_changes_total{what=\"runtime\"} 1\n"),
            std::string::npos);

  // Back to the file's rules at once.
  const auto del = admin("DELETE", "/admin/sampling");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.json().at("source").as_string(), "config");
  EXPECT_EQ(del.json().at("fleet").as_string(), "local");
  EXPECT_FALSE(del.json().as_object().contains("reverts_at"));
  EXPECT_FALSE(admin("GET", "/admin/sampling").json().as_object().contains("fleet"));
  EXPECT_EQ(sampling_status().at("source").as_string(), "config");
  EXPECT_TRUE(sampling_status().at("reverts_at").is_null());
  ASSERT_NO_FATAL_FAILURE(ask());
  lines = log_lines(7);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_FALSE(lines[6].at("trace_kept").as_bool()) << json::serialize(lines[6]);
}

TEST_F(AdminSamplingTest, ABadBodyIsRefusedAndChangesNothing) {
  ASSERT_EQ(admin("PUT", "/admin/sampling", R"({"fixed_rate": 0.5})").status, 200);
  const std::string before = admin("GET", "/admin/sampling").body;
  struct Case {
    const char* body;
    const char* code;
    const char* message;
  };
  const Case cases[] = {
      {"{not json", "invalid_json", ""},
      {R"({"fixed_rate": 2})", "invalid_field", "fixed_rate must be a number, 0 to 1"},
      {R"({"fixed_rate": 1, "expires_in": 60})", "invalid_field", "unknown field 'expires_in'"},
      {R"({"fixed_rate": 1, "expires_in_s": -5})", "invalid_field",
       "expires_in_s must be a number of seconds, more than 0 and at most 604800 (7 days)"},
      {R"({"rules": {"version": 2, "rules": [{"host": "*", "http_method": "*", "url_path": "/a",
           "fixed_target": 0, "rate": 1.5}], "default": {"fixed_target": 1, "rate": 0.05}}})",
       "invalid_sampling_rules", "rules[0]: rate must be a number, 0 to 1"},
      {R"({"version": 2, "rules": []})", "invalid_sampling_rules", "'default' is required"},
      {"", "invalid_field", "no rules given"},
  };
  for (const Case& c : cases) {
    const auto r = admin("PUT", "/admin/sampling", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    const auto v = json::parse(r.body);
    EXPECT_EQ(v.at("error").as_string(), c.code) << r.body;
    EXPECT_NE(std::string(v.at("message").as_string()).find(c.message), std::string::npos)
        << r.body;
  }
  EXPECT_EQ(admin("GET", "/admin/sampling").body, before);
  EXPECT_EQ(sampling_status().at("default_rate").as_double(), 0.5);
  const auto post = admin("POST", "/admin/sampling", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.json().at("message").as_string(), "use GET, PUT or DELETE");
  EXPECT_EQ(
      testing::http_request(ts_->port(), "PUT", "/admin/sampling", R"({"fixed_rate": 1})").status,
      401);
  EXPECT_EQ(sampling_status().at("default_rate").as_double(), 0.5);
}

}  // namespace
}  // namespace ma::server
