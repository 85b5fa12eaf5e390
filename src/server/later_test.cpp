#include "server/later.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/sim_clock.hpp"
#include "server/pages.hpp"
#include "server/views.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

assist::ServiceStatus status(std::string state, std::optional<core::Duration> eta) {
  assist::ServiceStatus st;
  st.state = std::move(state);
  st.eta = eta;
  return st;
}

TEST(StatusWatchTest, ReportsTheFirstStatusThenOnlyChangesOfStateOrEta) {
  boost::asio::io_context io;
  core::SimClock clock(io);
  StatusWatch watch;
  EXPECT_TRUE(watch.changed(public_status(status("normal", std::nullopt))));
  EXPECT_FALSE(watch.changed(public_status(status("normal", std::nullopt))));
  // An outage: the breakers open, the ETA counts down to their probe, 2.5 s from now.
  const core::TimePoint probe = clock.now() + 2500ms;
  int pushed = 0;
  std::vector<std::int64_t> etas;
  while (clock.now() < probe) {
    const PublicStatus now = public_status(status("down", probe - clock.now()));
    if (watch.changed(now)) {
      ++pushed;
      etas.push_back(now.eta_s.value_or(-1));
    }
    clock.advance_by(250ms);  // the watcher's period
  }
  // Sampled every 250 ms over 2.5 s: pushed when "down" came (eta 3), then at 2 and 1.
  EXPECT_EQ(etas, (std::vector<std::int64_t>{3, 2, 1}));
  EXPECT_EQ(pushed, 3);
  // The state alone changes, the ETA stays unknown.
  EXPECT_TRUE(watch.changed(public_status(status("degraded", std::nullopt))));
  EXPECT_FALSE(watch.changed(public_status(status("degraded", std::nullopt))));
  EXPECT_TRUE(watch.changed(public_status(status("normal", std::nullopt))));
}

TEST(StatusFrameTest, CarriesStateEtaAndThePublicPagesNotes) {
  auto v = json::parse(ws_status(public_status(status("down", 1500ms)))).as_object();
  EXPECT_EQ(v.at("type"), "status");
  EXPECT_EQ(v.at("state"), "down");
  EXPECT_EQ(v.at("eta_s").to_number<std::int64_t>(), 2);
  EXPECT_EQ(v.at("note").as_string(), public_status_words("down", fm::Language::kEn).note);
  EXPECT_EQ(v.at("note_ja").as_string(), public_status_words("down", fm::Language::kJa).note);
  EXPECT_NE(v.at("note").as_string(), v.at("note_ja").as_string());
  auto n = json::parse(ws_status(public_status(status("normal", std::nullopt)))).as_object();
  EXPECT_TRUE(n.at("eta_s").is_null());
  EXPECT_EQ(n.at("note"), "");
}

TEST(LaterFieldTest, AddsTheTicketToAReplyBody) {
  assist::Reply r;
  r.text = "Your question needs our assistant.";
  r.degraded = true;
  offer_later(r);
  EXPECT_EQ(r.text,
            "Your question needs our assistant. Leave your question and we'll answer it here as "
            "soon as we're back.");
  std::string body = reply_json(r, status("down", std::nullopt), "reply", "r1");
  add_later_field(body, "lt1.123.abc.mac", 600);
  auto v = json::parse(body).as_object();
  EXPECT_EQ(v.at("later").at("ticket"), "lt1.123.abc.mac");
  EXPECT_EQ(v.at("later").at("expires_in_s").to_number<std::int64_t>(), 600);
  EXPECT_EQ(v.at("request_id"), "r1");
  std::string plain = reply_json(r, status("down", std::nullopt), "", "");
  const std::string before = plain;
  add_later_field(plain, "", 600);
  EXPECT_EQ(plain, before);
}

TEST(LaterFieldTest, TheLaterAnswerFrameIsAReplyFrameWithItsQuestion) {
  assist::Reply r;
  r.text = "ONE PIECE 105 is in stock.";
  r.tier = assist::Tier::kPrimary;
  r.model = "sonnet";
  r.trace_id = "1-abc";
  auto v =
      json::parse(later_answer_frame("in stock?", r, status("normal", std::nullopt))).as_object();
  auto reply = json::parse(reply_json(r, status("normal", std::nullopt), "", "")).as_object();
  EXPECT_EQ(v.at("type"), "later_answer");
  EXPECT_EQ(v.at("question"), "in stock?");
  for (const auto& [k, val] : reply) EXPECT_EQ(v.at(k), val) << k;
  EXPECT_EQ(v.size(), reply.size() + 2);
}

}  // namespace
}  // namespace ma::server
