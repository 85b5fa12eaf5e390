#include "observe/sampling_switch.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <vector>

#include "core/sim_clock.hpp"
#include "core/wall_time.hpp"

namespace ma::observe {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const SampleRequest kChat{std::string("mangaassist"), std::string("POST"), std::string("/v1/chat"),
                          std::string("mangaassist"), std::nullopt};

// The configured rules of these tests: nothing is head-sampled, so a runtime rate of 1.0
// shows in every decision.
constexpr const char* kConfigured = R"({"version": 2, "default": {"fixed_target": 0, "rate": 0}})";

class SamplingSwitchTest : public ::testing::Test {
 protected:
  SamplingSwitchTest()
      : switch_(sampler_, clock_, *SamplingRules::from_local_json(kConfigured),
                "/etc/mangaassist/sampling.json",
                [this](SamplingEvent e, const SamplingState&) { events_.push_back(e); }) {}

  // PUT /admin/sampling's body, read at the clock's wall time.
  SamplingChange request(std::string_view body) {
    auto c = SamplingSwitch::parse_request(json::parse(body), clock_.wall_now());
    EXPECT_TRUE(c.ok()) << body << ": " << c.error().message;
    return c.ok() ? std::move(c).value() : SamplingChange{};
  }
  core::Error refusal(std::string_view body) {
    auto c = SamplingSwitch::parse_request(json::parse(body), clock_.wall_now());
    EXPECT_FALSE(c.ok()) << body;
    return c.ok() ? core::Error{} : c.error();
  }
  // Does the sampler keep a successful chat request now?
  bool head_sampled() {
    return sampler_.should_sample(kChat, ++second_, 0.999);  // a fresh second each time
  }
  // A change as the fleet delivers it: through its wire form.
  static SamplingChange wire(const SamplingChange& c) {
    auto back = SamplingSwitch::from_fleet_json(SamplingSwitch::to_fleet_json(c));
    EXPECT_TRUE(back.ok()) << back.error().message;
    return back.ok() ? std::move(back).value() : SamplingChange{};
  }
  // A change asked for on this server ("a"), stamped by its switch: what it publishes.
  SamplingChange here(std::string_view body) {
    auto c = request(body);
    c.origin = "a";
    return switch_.apply_new(std::move(c)).change;
  }

  boost::asio::io_context io_;
  core::SimClock clock_{io_};
  Sampler sampler_;
  std::vector<SamplingEvent> events_;
  SamplingSwitch switch_;
  std::int64_t second_ = 1'000;
};

// Another server of the fleet: its own switch, and a clock of its own (not in step with the
// fixture's, as real servers' clocks are not).
struct OtherServer {
  OtherServer(boost::asio::io_context& io, std::string name, std::chrono::milliseconds ahead)
      : clock(io, core::TimePoint{std::chrono::hours(24)},
              core::WallTime{std::chrono::seconds(1'798'761'600)} + ahead),
        sampling(sampler, clock, *SamplingRules::from_local_json(kConfigured), "rules.json",
                 [this](SamplingEvent e, const SamplingState&) { events.push_back(e); }),
        name(std::move(name)) {}
  // A change asked for here, as published.
  SamplingChange make(std::string_view body) {
    auto c = SamplingSwitch::parse_request(json::parse(body), clock.wall_now());
    EXPECT_TRUE(c.ok()) << body;
    c->origin = name;
    return sampling.apply_new(std::move(c).value()).change;
  }
  double rate() { return sampling.state().rules->default_rule().rate; }

  core::SimClock clock;
  Sampler sampler;
  std::vector<SamplingEvent> events;
  SamplingSwitch sampling;
  std::string name;
};

TEST_F(SamplingSwitchTest, TheConfiguredRulesAreInForceAtFirst) {
  const auto st = switch_.state();
  EXPECT_EQ(st.source, SamplingSource::kConfig);
  EXPECT_EQ(st.rules->default_rule().rate, 0);
  EXPECT_FALSE(st.reverts_at.has_value());
  EXPECT_FALSE(head_sampled());
  const auto o = switch_.to_json(st);
  EXPECT_EQ(o.at("source").as_string(), "config");
  EXPECT_EQ(o.at("configured").at("file").as_string(), "/etc/mangaassist/sampling.json");
  EXPECT_FALSE(o.contains("reverts_at"));
  EXPECT_TRUE(events_.empty());
  // Without a file: the X-Ray default, named so.
  Sampler other;
  SamplingSwitch by_default(other, clock_, SamplingRules(), "");
  EXPECT_EQ(by_default.state().source, SamplingSource::kDefault);
  EXPECT_TRUE(by_default.to_json(by_default.state()).at("configured").at("file").is_null());
}

TEST_F(SamplingSwitchTest, TheRequestTakesADocumentAWrappedDocumentOrAFixedRate) {
  const auto bare = request(
      R"({"version": 1, "rules": [{"service_name": "*", "http_method": "POST", "url_path": "/v1/*",
          "fixed_target": 0, "rate": 1}], "default": {"fixed_target": 1, "rate": 0.05}})");
  ASSERT_TRUE(bare.rules.has_value());
  EXPECT_EQ(bare.rules->rules().size(), 2u);
  EXPECT_FALSE(bare.reverts_at.has_value());
  EXPECT_EQ(bare.set_by, "admin");

  const auto wrapped = request(
      R"({"rules": {"version": 2, "default": {"fixed_target": 0, "rate": 0.5}},
          "expires_in_s": 3600, "set_by": "oncall-aiko"})");
  ASSERT_TRUE(wrapped.rules.has_value());
  EXPECT_EQ(wrapped.rules->default_rule().rate, 0.5);
  ASSERT_TRUE(wrapped.reverts_at.has_value());
  EXPECT_EQ(*wrapped.reverts_at - wrapped.set_at, 3600s);
  EXPECT_EQ(wrapped.set_by, "oncall-aiko");

  const auto fixed = request(R"({"fixed_rate": 1.0, "expires_in_s": 1800})");
  ASSERT_TRUE(fixed.rules.has_value());
  EXPECT_EQ(fixed.rules->rules().size(), 1u);
  EXPECT_EQ(fixed.rules->default_rule().rate, 1.0);
  EXPECT_EQ(fixed.rules->default_rule().fixed_target, 0);
  EXPECT_EQ(*fixed.reverts_at - fixed.set_at, 1800s);
  EXPECT_EQ(request(R"({"fixed_rate": 0.2, "fixed_target": 3})").rules->default_rule().fixed_target,
            3);

  EXPECT_FALSE(request(R"({"revert": true})").rules.has_value());
}

TEST_F(SamplingSwitchTest, ABadRequestIsRefusedNamingWhatIsWrong) {
  struct Case {
    const char* body;
    const char* code;
    const char* message;
  };
  const Case cases[] = {
      {R"({})", "invalid_field", "no rules given: give a rules document"},
      {R"({"fixed_rate": 1.5})", "invalid_field", "fixed_rate must be a number, 0 to 1"},
      {R"({"fixed_rate": "all"})", "invalid_field", "fixed_rate must be a number, 0 to 1"},
      {R"({"fixed_rate": 1, "fixed_target": -1})", "invalid_field",
       "fixed_target must be a whole number, 0 to 1000000000"},
      {R"({"fixed_rate": 1, "expires_in_s": 0})", "invalid_field",
       "expires_in_s must be a number of seconds, more than 0 and at most 604800 (7 days)"},
      {R"({"fixed_rate": 1, "expires_in_s": 604801})", "invalid_field",
       "expires_in_s must be a number of seconds"},
      {R"({"fixed_rate": 1, "expires_in": 60})", "invalid_field", "unknown field 'expires_in'"},
      {R"({"fixed_rate": 1, "rules": {"version": 2, "default": {"fixed_target": 0, "rate": 1}}})",
       "invalid_field", "give rules or fixed_rate, not both"},
      {R"({"fixed_rate": 1, "set_by": ""})", "invalid_field",
       "set_by must be a string of 1 to 64 characters"},
      {R"({"revert": true, "fixed_rate": 1})", "invalid_field", "revert takes no rules"},
      {R"({"revert": false})", "invalid_field", "revert must be true"},
      {R"({"rules": [{"host": "*"}]})", "invalid_sampling_rules", "rules must be a rules document"},
      {R"({"rules": {"version": 2, "default": {"fixed_target": 0, "rate": 7}}})",
       "invalid_sampling_rules", "default: rate must be a number, 0 to 1"},
      {R"({"version": 2, "rules": [{"host": "*", "http_method": "*", "fixed_target": 0, "rate": 1}],
           "default": {"fixed_target": 0, "rate": 1}})",
       "invalid_sampling_rules", "rules[0]: a rule needs host, http_method and url_path"},
      {R"([1])", "invalid_field", "the body must be a JSON object"},
  };
  for (const Case& c : cases) {
    const core::Error e = refusal(c.body);
    EXPECT_EQ(e.code, c.code) << c.body;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.body << " -> " << e.message;
  }
}

TEST_F(SamplingSwitchTest, RuntimeRulesApplyAtOnceAndARevertPutsTheConfiguredOnesBack) {
  ASSERT_FALSE(head_sampled());
  auto change = request(R"({"fixed_rate": 1.0, "set_by": "oncall"})");
  change.origin = "server-a";
  const auto st = switch_.apply_new(change).state;
  EXPECT_EQ(st.source, SamplingSource::kRuntime);
  EXPECT_EQ(st.set_by, "oncall");
  EXPECT_EQ(st.origin, "server-a");
  EXPECT_FALSE(st.reverts_at.has_value());  // until reverted
  EXPECT_TRUE(head_sampled());
  EXPECT_TRUE(head_sampled());
  // Time passing does nothing to rules without an expiry.
  clock_.advance_by(48h);
  EXPECT_FALSE(switch_.expire());
  EXPECT_TRUE(head_sampled());

  const auto back = switch_.apply_new(request(R"({"revert": true})")).state;
  EXPECT_EQ(back.source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  EXPECT_EQ(events_, (std::vector{SamplingEvent::kRuntime, SamplingEvent::kReverted}));
  // A revert with the configured rules in force changes nothing (and says nothing).
  clock_.advance_by(1s);
  EXPECT_EQ(switch_.apply_new(request(R"({"revert": true})")).state.source,
            SamplingSource::kConfig);
  EXPECT_EQ(events_.size(), 2u);
  const auto n = switch_.counts();
  EXPECT_EQ(n.runtime, 1u);
  EXPECT_EQ(n.reverted, 1u);
  EXPECT_EQ(n.expired, 0u);
}

TEST_F(SamplingSwitchTest, RuntimeRulesRevertByThemselvesWhenTheirTimeIsUp) {
  switch_.apply_new(request(R"({"fixed_rate": 1.0, "expires_in_s": 1800})"));
  const auto reverts_at = clock_.wall_now() + 1800s;
  EXPECT_EQ(switch_.state().reverts_at, reverts_at);
  EXPECT_EQ(switch_.to_json(switch_.state()).at("reverts_in_s").as_int64(), 1800);
  EXPECT_EQ(SamplingSwitch::status_json(switch_.state()).at("reverts_at").as_string(),
            core::format_rfc3339(reverts_at));

  clock_.advance_by(1799s);
  EXPECT_FALSE(switch_.expire());
  EXPECT_EQ(switch_.state().source, SamplingSource::kRuntime);
  EXPECT_EQ(switch_.to_json(switch_.state()).at("reverts_in_s").as_int64(), 1);
  EXPECT_TRUE(head_sampled());

  clock_.advance_by(1s);
  EXPECT_TRUE(switch_.expire());
  EXPECT_FALSE(switch_.expire());  // once
  EXPECT_EQ(switch_.state().source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  EXPECT_EQ(events_, (std::vector{SamplingEvent::kRuntime, SamplingEvent::kExpired}));
  EXPECT_EQ(switch_.counts().expired, 1u);
}

TEST_F(SamplingSwitchTest, ReadingTheStateRevertsLapsedRulesWithoutWaitingForTheTick) {
  switch_.apply_new(request(R"({"fixed_rate": 1.0, "expires_in_s": 60})"));
  clock_.advance_by(61s);
  EXPECT_EQ(switch_.state().source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  EXPECT_EQ(events_.back(), SamplingEvent::kExpired);
}

TEST_F(SamplingSwitchTest, AChangeWhoseTimeHasPassedIsNotPutInForce) {
  // A server that hears of a change late (it started after it, or its reader caught up):
  // the change's expiry is a wall time, so it is over here too.
  OtherServer b(io_, "b", 0ms);
  const auto change = b.make(R"({"fixed_rate": 1.0, "expires_in_s": 30})");
  clock_.advance_by(31s);
  b.clock.advance_by(31s);
  EXPECT_EQ(switch_.apply(wire(change)).source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  EXPECT_TRUE(events_.empty());
  // And while runtime rules are in force, a lapsed change that comes after them ends them.
  (void)here(R"({"fixed_rate": 1.0})");
  b.clock.advance_by(1s);
  const auto lapsed = b.make(R"({"fixed_rate": 0.5, "expires_in_s": 1})");
  clock_.advance_by(3s);
  EXPECT_EQ(switch_.apply(wire(lapsed)).source, SamplingSource::kConfig);
  EXPECT_EQ(events_, (std::vector{SamplingEvent::kRuntime, SamplingEvent::kExpired}));
}

TEST_F(SamplingSwitchTest, TheSameChangeAppliedTwiceChangesNothingTheSecondTime) {
  // The fleet's stream brings a server's own change back to it.
  const auto change = here(R"({"fixed_rate": 0.0, "fixed_target": 1})");
  EXPECT_TRUE(head_sampled());
  const std::int64_t second = ++second_;
  EXPECT_TRUE(sampler_.should_sample(kChat, second, 0.999));
  EXPECT_FALSE(sampler_.should_sample(kChat, second, 0.999));  // the reservoir's one is taken
  switch_.apply(wire(change));
  EXPECT_FALSE(sampler_.should_sample(kChat, second, 0.999));  // not replaced: still taken
  EXPECT_EQ(events_.size(), 1u);
  EXPECT_EQ(switch_.counts().runtime, 1u);
}

TEST_F(SamplingSwitchTest, AServersOwnChangeComingBackAfterALaterOneChangesNothing) {
  // PUT then DELETE on this server before the PUT's echo is back from the fleet's stream.
  const auto x = here(R"({"fixed_rate": 1.0, "set_by": "oncall"})");
  EXPECT_TRUE(head_sampled());
  const auto r = here(R"({"revert": true})");
  EXPECT_EQ(switch_.state().source, SamplingSource::kConfig);
  EXPECT_LT(x.order_key(), r.order_key());  // the same millisecond: the sequence orders them
  // The echoes, in the stream's order: the configured rules stay in force throughout.
  EXPECT_EQ(switch_.apply(wire(x)).source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  EXPECT_EQ(switch_.apply(wire(r)).source, SamplingSource::kConfig);
  EXPECT_FALSE(head_sampled());
  // Counted once each (the stderr line and mangaassist_sampling_changes_total follow these).
  EXPECT_EQ(events_, (std::vector{SamplingEvent::kRuntime, SamplingEvent::kReverted}));
  const auto n = switch_.counts();
  EXPECT_EQ(n.runtime, 1u);
  EXPECT_EQ(n.reverted, 1u);
  // Two runtime changes alike: the first's echo does not put its rules back.
  const auto half = here(R"({"fixed_rate": 0.5})");
  const auto full = here(R"({"fixed_rate": 1.0})");
  switch_.apply(wire(half));
  EXPECT_EQ(switch_.state().rules->default_rule().rate, 1.0);
  switch_.apply(wire(full));
  EXPECT_EQ(switch_.state().rules->default_rule().rate, 1.0);
  EXPECT_EQ(switch_.counts().runtime, 3u);
}

TEST_F(SamplingSwitchTest, EveryServerEndsOnTheSameChangeWhateverOrderItHearsThem) {
  // A (the fixture) and B change the rules at once, neither having heard of the other; B's
  // clock is 2 s ahead of A's. C and D hear of both changes, in the two orders.
  OtherServer b(io_, "b", 2000ms), c(io_, "c", 0ms), d(io_, "d", 0ms);
  const auto from_a = here(R"({"fixed_rate": 0.5})");
  const auto from_b = b.make(R"({"fixed_rate": 1.0})");
  switch_.apply(wire(from_b));
  b.sampling.apply(wire(from_a));
  c.sampling.apply(wire(from_a));
  c.sampling.apply(wire(from_b));
  d.sampling.apply(wire(from_b));
  d.sampling.apply(wire(from_a));
  // The later stamp wins everywhere (B's, by its clock).
  EXPECT_EQ(switch_.state().rules->default_rule().rate, 1.0);
  for (OtherServer* s : {&b, &c, &d}) EXPECT_EQ(s->rate(), 1.0) << s->name;
  EXPECT_EQ(d.events, (std::vector{SamplingEvent::kRuntime}));  // A's came too late to count

  // A reverts, having heard of B's change: the revert comes after it in the order although
  // A's clock is behind the stamp of B's change. It is a change like any other: a server
  // that hears of it before B's change ignores B's change when that comes.
  const auto revert = here(R"({"revert": true})");
  EXPECT_EQ(revert.stamp_ms, from_b.stamp_ms);
  EXPECT_EQ(revert.stamp_seq, from_b.stamp_seq + 1);
  OtherServer e(io_, "e", 0ms);
  for (OtherServer* s : {&b, &c, &d}) s->sampling.apply(wire(revert));
  e.sampling.apply(wire(revert));
  e.sampling.apply(wire(from_b));
  e.sampling.apply(wire(from_a));
  EXPECT_EQ(switch_.state().source, SamplingSource::kConfig);
  for (OtherServer* s : {&b, &c, &d, &e})
    EXPECT_EQ(s->sampling.state().source, SamplingSource::kConfig) << s->name;
  EXPECT_TRUE(e.events.empty());  // nothing was ever in force there
  // A change B makes next comes after A's revert, on every server.
  const auto again = b.make(R"({"fixed_rate": 0.25})");
  switch_.apply(wire(again));
  EXPECT_EQ(switch_.state().rules->default_rule().rate, 0.25);
}

TEST_F(SamplingSwitchTest, AChangeTravelsAsJsonAndArrivesTheSame) {
  auto change = request(
      R"({"rules": {"version": 2, "rules": [{"description": "chat", "host": "*",
          "http_method": "POST", "url_path": "/v1/chat", "fixed_target": 5, "rate": 0.25}],
          "default": {"fixed_target": 1, "rate": 0.05}}, "expires_in_s": 90.5, "set_by": "ops"})");
  change.origin = "server-b";
  change = switch_.apply_new(change).change;
  EXPECT_EQ(
      change.stamp_ms,
      std::chrono::floor<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch()).count());
  const std::string wire = SamplingSwitch::to_fleet_json(change);
  const auto back = SamplingSwitch::from_fleet_json(wire);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(SamplingSwitch::to_fleet_json(*back), wire);
  EXPECT_EQ(back->set_at, change.set_at);
  EXPECT_EQ(back->reverts_at, change.reverts_at);
  EXPECT_EQ(*back->reverts_at - back->set_at, 90500ms);
  EXPECT_EQ(back->origin, "server-b");
  EXPECT_EQ(back->set_by, "ops");
  EXPECT_EQ(back->stamp_ms, change.stamp_ms);
  EXPECT_EQ(back->stamp_seq, change.stamp_seq);
  EXPECT_EQ(back->order_key(), change.order_key());
  ASSERT_TRUE(back->rules.has_value());
  EXPECT_EQ(back->rules->rules()[0].rate, 0.25);
  // A revert, and what is refused.
  const auto revert = SamplingSwitch::from_fleet_json(
      SamplingSwitch::to_fleet_json(request(R"({"revert": true})")));
  ASSERT_TRUE(revert.ok());
  EXPECT_FALSE(revert->rules.has_value());
  EXPECT_FALSE(SamplingSwitch::from_fleet_json("nonsense").ok());
  EXPECT_FALSE(SamplingSwitch::from_fleet_json(R"({"rules": null, "set_at": "yesterday"})").ok());
  // Without its place in the order, a change is refused (not put before every other).
  const auto unstamped = SamplingSwitch::from_fleet_json(
      R"({"rules": null, "set_at": "2026-01-01T00:00:00.000Z", "reverts_at": null})");
  ASSERT_FALSE(unstamped.ok());
  EXPECT_NE(unstamped.error().message.find("stamp_ms"), std::string::npos);
  EXPECT_FALSE(SamplingSwitch::from_fleet_json(
                   R"({"rules": {"version": 9}, "set_at": "2026-01-01T00:00:00.000Z"})")
                   .ok());
}

TEST_F(SamplingSwitchTest, TheStatusSaysSourceDescriptionAndRevertTime) {
  auto s = SamplingSwitch::status_json(switch_.state());
  EXPECT_EQ(s.at("source").as_string(), "config");
  EXPECT_EQ(s.at("description").as_string(), "0/s then 0% by default; no other rule");
  EXPECT_TRUE(s.at("reverts_at").is_null());
  switch_.apply_new(request(R"({"fixed_rate": 1, "expires_in_s": 600})"));
  s = SamplingSwitch::status_json(switch_.state());
  EXPECT_EQ(s.at("source").as_string(), "runtime");
  EXPECT_EQ(s.at("description").as_string(), "0/s then 100% by default; no other rule");
  EXPECT_EQ(s.at("default_rate").as_double(), 1.0);
  EXPECT_EQ(s.at("default_fixed_target").as_int64(), 0);
  EXPECT_EQ(s.at("other_rules").to_number<int>(), 0);
  EXPECT_EQ(s.at("reverts_at").as_string(), core::format_rfc3339(clock_.wall_now() + 600s));
  const auto full = switch_.to_json(switch_.state());
  EXPECT_EQ(full.at("rules").at("default").at("rate").as_double(), 1.0);
  EXPECT_EQ(full.at("set_by").as_string(), "admin");
  EXPECT_EQ(full.at("configured").at("description").as_string(),
            "0/s then 0% by default; no other rule");
}

}  // namespace
}  // namespace ma::observe
