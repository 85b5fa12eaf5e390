// Feedback on replies and the A/B experiment of degradation messages, through the real
// server (issue 22): with [degradation] ab = { v2 = 50, v3 = 50 } and every model down, each
// user reads the version their user key is assigned, named in the reply, the request log and
// the trace; POST /v1/feedback takes a click only on the caller's own recent reply (404
// unknown_trace for another user's or an unknown one, the same bytes); a resend within 60 s
// and the feedback show in GET /admin/ab. (The 60 s and 600 s windows themselves are
// AbStatsTest's, on simulated time.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "assist/degradation_split.hpp"
#include "integration/test_server.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
using testing::http_request;
using testing::HttpResult;
namespace json = boost::json;

constexpr const char* kAdmin = "feedback-test-token";

assist::DegradationSplit half_and_half() {
  auto s = assist::DegradationSplit::make({{"v2", 50}, {"v3", 50}});
  return s.ok() ? std::move(s).value() : assist::DegradationSplit{};
}

class FeedbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ma_feedback_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    log_path_ = (dir_ / "requests.log").string();
    trace_path_ = (dir_ / "traces.jsonl").string();
    ts_ = std::make_unique<testing::TestServer>(kAdmin, [this](AppConfig& c) {
      c.degradation_ab = half_and_half();
      c.log_file = log_path_;
      c.trace_file = trace_path_;
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

  std::string token_for(const std::string& user_id) {
    return ts_->app().identity().issue_user_token(user_id, std::chrono::system_clock::now() + 1h);
  }
  HttpResult post(const std::string& path, const std::string& body, const std::string& token) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return http_request(ts_->port(), "POST", path, body, h);
  }
  HttpResult chat(const std::string& message, const std::string& token) {
    return post("/v1/chat", json::serialize(json::object{{"message", message}}), token);
  }
  HttpResult feedback(const json::object& body, const std::string& token) {
    return post("/v1/feedback", json::serialize(body), token);
  }
  json::object ab() {
    const auto r = ts_->admin("GET", "/admin/ab");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().as_object();
  }
  static json::object version_of(const json::object& ab, std::string_view v) {
    for (const auto& e : ab.at("versions").as_array()) {
      if (e.at("version").as_string() == v) return e.as_object();
    }
    ADD_FAILURE() << "no version " << v << " in " << json::serialize(ab);
    return {};
  }
  // The lines of `path` once one of them contains `needle` (the server writes the log and
  // the traces out every second); fails after 10 s.
  std::string line_with(const std::string& path, const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
      std::ifstream in(path);
      for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) return line;
      }
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "no line with " << needle << " in " << path << " after 10 s";
    return {};
  }

  std::filesystem::path dir_;
  std::string log_path_, trace_path_;
  std::unique_ptr<testing::TestServer> ts_;
};

TEST_F(FeedbackTest, DegradedRepliesNameTheirVersionAndFeedbackAndRetriesShowInTheAb) {
  const std::string aiko = token_for("u-1001"), ben = token_for("u-1002");
  const assist::DegradationSplit split = half_and_half();
  const std::string aiko_version(assist::to_string(*split.assign("u:u-1001")));
  const std::string ben_version(assist::to_string(*split.assign("u:u-1002")));

  // No experiment traffic yet: the split, and each version listed with zeros.
  json::object before = ab();
  EXPECT_EQ(before.at("split"), (json::object{{"v2", 50}, {"v3", 50}}));
  EXPECT_EQ(before.at("retry_window_s"), 60);
  EXPECT_EQ(before.at("abandon_after_s"), 600);
  EXPECT_EQ(version_of(before, "v2").at("degraded_replies"), 0);
  EXPECT_EQ(version_of(before, "v3").at("degraded_replies"), 0);

  // A reply while the models are up names no version.
  const auto fine = chat("Can you recommend manga like Naruto?", aiko);
  ASSERT_EQ(fine.status, 200) << fine.body;
  ASSERT_FALSE(fine.json().at("degraded").as_bool()) << fine.body;
  EXPECT_FALSE(fine.json().as_object().contains("degradation_version"));

  ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"model":"all","outage":true})").status, 200);
  const auto deg = chat("Tell me something fun", aiko);
  ASSERT_EQ(deg.status, 200) << deg.body;
  const json::object reply = deg.json().as_object();
  ASSERT_EQ(reply.at("tier").as_string(), "degraded") << deg.body;
  EXPECT_EQ(reply.at("degradation_version").as_string(), aiko_version);
  const std::string trace(reply.at("trace_id").as_string());
  const auto ben_deg = chat("Tell me something fun", ben);
  ASSERT_EQ(ben_deg.status, 200) << ben_deg.body;
  EXPECT_EQ(ben_deg.json().at("degradation_version").as_string(), ben_version);

  // The version in the request log and the trace of that reply.
  const json::value logged = json::parse(line_with(log_path_, trace));
  EXPECT_EQ(logged.at("degradation_version").as_string(), aiko_version);
  const std::string traced = line_with(trace_path_, trace);
  EXPECT_NE(traced.find("degradation_version"), std::string::npos) << traced;
  EXPECT_NE(traced.find("\"" + aiko_version + "\""), std::string::npos) << traced;

  // Feedback: the caller's own trace is taken; another user's and an unknown one read the same.
  const auto ok = feedback({{"trace_id", trace}, {"helpful", false}, {"understood", true}}, aiko);
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(ok.body, R"({"recorded":true})");
  const auto foreign = feedback({{"trace_id", trace}, {"helpful", true}}, ben);
  const auto unknown =
      feedback({{"trace_id", "1-00000000-000000000000000000000000"}, {"helpful", true}}, aiko);
  const auto anonymous = feedback({{"trace_id", trace}, {"helpful", true}}, "");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.json().at("error").as_string(), "unknown_trace");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(anonymous.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);
  EXPECT_EQ(foreign.body, anonymous.body);

  // A resend within 60 s of the degraded reply: Aiko asks something else at once.
  ASSERT_EQ(chat("What is new this week?", aiko).status, 200);

  json::object after = ab();
  json::object v = version_of(after, aiko_version);
  EXPECT_GE(v.at("users").as_int64(), 1);
  EXPECT_GE(v.at("degraded_replies").as_int64(), 1);
  EXPECT_GE(v.at("retried_within_60s").as_int64(), 1);
  EXPECT_GT(v.at("retry_rate").as_double(), 0.0);
  EXPECT_EQ(v.at("abandoned"), 0);
  EXPECT_EQ(
      v.at("feedback"),
      (json::object{{"helpful", 0}, {"not_helpful", 1}, {"understood", 1}, {"not_understood", 0}}));

  // A second click on the same reply replaces the first: counts move, nothing doubles.
  ASSERT_EQ(feedback({{"trace_id", trace}, {"helpful", true}}, aiko).status, 202);
  v = version_of(ab(), aiko_version);
  EXPECT_EQ(
      v.at("feedback"),
      (json::object{{"helpful", 1}, {"not_helpful", 0}, {"understood", 1}, {"not_understood", 0}}));
  const auto metrics = ts_->admin("GET", "/metrics").body;
  EXPECT_NE(metrics.find("mangaassist_feedback_total{version=\"" + aiko_version +
                         "\",kind=\"helpful\"} 1"),
            std::string::npos);
}

TEST_F(FeedbackTest, AnAnonymousVisitorRatesTheirOwnReplyBySessionAndBadBodiesNameTheField) {
  ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"model":"all","outage":true})").status, 200);
  const auto deg = chat("Tell me something fun", "");
  ASSERT_EQ(deg.status, 200) << deg.body;
  const json::object reply = deg.json().as_object();
  const std::string session(reply.at("session_id").as_string());
  const std::string trace(reply.at("trace_id").as_string());
  EXPECT_EQ(reply.at("degradation_version").as_string(),
            assist::to_string(*half_and_half().assign("s:" + session)));

  // By the session in the body, or by its cookie.
  EXPECT_EQ(
      feedback({{"trace_id", trace}, {"understood", false}, {"session_id", session}}, "").status,
      202);
  const auto by_cookie =
      http_request(ts_->port(), "POST", "/v1/feedback",
                   json::serialize(json::object{{"trace_id", trace}, {"helpful", true}}),
                   {{"Cookie", "ma_session=" + session}});
  EXPECT_EQ(by_cookie.status, 202) << by_cookie.body;
  // A session the server did not sign is no one's.
  EXPECT_EQ(feedback({{"trace_id", trace}, {"helpful", true}, {"session_id", "forged"}}, "").status,
            404);

  auto bad = [&](const std::string& body, std::string_view code, std::string_view field) {
    const auto r = post("/v1/feedback", body, "");
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    if (r.status != 400) return;
    EXPECT_EQ(r.json().at("error").as_string(), code) << r.body;
    EXPECT_NE(std::string(r.json().at("message").as_string()).find(field), std::string::npos)
        << r.body;
  };
  bad(R"({"helpful":true})", "missing_field", "trace_id");
  bad(R"({"trace_id":"1-a-b"})", "missing_field", "helpful");
  bad(R"({"trace_id":"1-a-b","helpful":"yes"})", "invalid_field", "helpful");
  bad(R"({"trace_id":"1-a-b","understood":1})", "invalid_field", "understood");
  bad(R"({"trace_id":"<script>","helpful":true})", "invalid_field", "trace_id");
  bad(R"({"trace_id":"1-a-b","helpful":true,"rating":5})", "unknown_field", "rating");
  bad(R"([1,2])", "invalid_json", "object");
  bad("{", "invalid_json", "JSON");
  EXPECT_EQ(http_request(ts_->port(), "GET", "/v1/feedback").status, 405);

  const json::object v = version_of(ab(), std::string(reply.at("degradation_version").as_string()));
  EXPECT_EQ(
      v.at("feedback"),
      (json::object{{"helpful", 1}, {"not_helpful", 0}, {"understood", 0}, {"not_understood", 1}}));
}

}  // namespace
}  // namespace ma::server
