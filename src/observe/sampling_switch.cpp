#include "observe/sampling_switch.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/enum_name.hpp"
#include "core/json_util.hpp"
#include "core/wall_time.hpp"

namespace ma::observe {

namespace json = boost::json;

namespace {

constexpr core::EnumName<SamplingSource> kSources[] = {{"default", SamplingSource::kDefault},
                                                       {"config", SamplingSource::kConfig},
                                                       {"runtime", SamplingSource::kRuntime}};
constexpr core::EnumName<SamplingEvent> kEvents[] = {{"runtime", SamplingEvent::kRuntime},
                                                     {"revert", SamplingEvent::kReverted},
                                                     {"expiry", SamplingEvent::kExpired}};

// Times travel in milliseconds (RFC 3339 with millis): cut to that here, so that the server
// that took a change and those that read it hold the same instant.
core::WallTime to_millis(core::WallTime t) {
  return core::WallTime(std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()));
}

// The largest stamp that order_key writes in its 15 digits (the year 33658).
constexpr std::int64_t kMaxStampMs = 999'999'999'999'999;

core::Unexpected<core::Error> invalid_field(std::string message) {
  return core::fail("invalid_field", std::move(message));
}

constexpr std::string_view kShapes =
    "give a rules document ({\"version\": 2, \"rules\": [...], \"default\": {...}}), "
    "{\"rules\": <document>, \"expires_in_s\": 3600}, {\"fixed_rate\": 1.0, \"expires_in_s\": "
    "1800} or {\"revert\": true}";

// A name for the log line and the state: printable, bounded.
bool valid_set_by(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(SamplingSource s) {
  return core::enum_name<SamplingSource>(kSources, s);
}
std::string_view to_string(SamplingEvent e) { return core::enum_name<SamplingEvent>(kEvents, e); }

SamplingSwitch::SamplingSwitch(Sampler& sampler, const core::Clock& clock, SamplingRules configured,
                               std::string config_file, Listener listener)
    : sampler_(sampler),
      clock_(clock),
      configured_(std::make_shared<const SamplingRules>(std::move(configured))),
      config_file_(std::move(config_file)),
      listener_(std::move(listener)),
      in_force_(configured_) {
  sampler_.replace(*configured_);
}

core::Result<SamplingChange> SamplingSwitch::parse_request(const json::value& body,
                                                           core::WallTime now) {
  if (!body.is_object())
    return invalid_field("the body must be a JSON object: " + std::string(kShapes));
  const json::object& o = body.get_object();
  SamplingChange change;
  change.set_at = to_millis(now);
  // A bare rules document, as the config file holds it.
  if (o.contains("version")) {
    auto rules = SamplingRules::from_local_document(body);
    if (!rules.ok()) return core::fail(std::move(rules).error());
    change.rules = std::move(rules).value();
    return change;
  }
  // The wrapped forms: every key known, so that a misspelt one ("expires_in") is not ignored.
  for (const auto& [key, value] : o) {
    if (key != "rules" && key != "fixed_rate" && key != "fixed_target" && key != "expires_in_s" &&
        key != "set_by" && key != "revert") {
      return invalid_field("unknown field '" + std::string(key) + "': " + std::string(kShapes));
    }
  }
  if (const auto* who = o.if_contains("set_by")) {
    if (!who->is_string() || !valid_set_by(who->get_string()))
      return invalid_field("set_by must be a string of 1 to 64 characters, no control characters");
    change.set_by = std::string(who->get_string());
  }
  const bool has_rules = o.contains("rules");
  const bool has_rate = o.contains("fixed_rate");
  if (const auto* revert = o.if_contains("revert")) {
    if (!revert->is_bool() || !revert->get_bool())
      return invalid_field("revert must be true (or leave it out)");
    if (has_rules || has_rate || o.contains("fixed_target") || o.contains("expires_in_s"))
      return invalid_field("revert takes no rules, fixed_rate, fixed_target or expires_in_s");
    return change;  // no rules: back to the configured ones
  }
  if (has_rules == has_rate) {
    return invalid_field(has_rules ? "give rules or fixed_rate, not both"
                                   : "no rules given: " + std::string(kShapes));
  }
  if (has_rules) {
    if (o.contains("fixed_target"))
      return invalid_field(
          "fixed_target goes inside the rules document's rules, or with fixed_rate");
    const json::value& doc = o.at("rules");
    if (!doc.is_object()) {
      return core::fail("invalid_sampling_rules",
                        "rules must be a rules document: {\"version\": 2, \"rules\": [...], "
                        "\"default\": {\"fixed_target\": 1, \"rate\": 0.05}}");
    }
    auto rules = SamplingRules::from_local_document(doc);
    if (!rules.ok()) return core::fail(std::move(rules).error());
    change.rules = std::move(rules).value();
  } else {
    const auto rate = core::get_number(body, "fixed_rate");
    if (!rate || !(*rate >= 0 && *rate <= 1))
      return invalid_field("fixed_rate must be a number, 0 to 1");
    std::int64_t target = 0;
    if (o.contains("fixed_target")) {
      const auto t = core::get_number(body, "fixed_target");
      if (!t || !(*t >= 0 && *t <= 1e9) || *t != std::floor(*t))
        return invalid_field("fixed_target must be a whole number, 0 to 1000000000");
      target = static_cast<std::int64_t>(*t);
    }
    change.rules = SamplingRules::fixed(*rate, target);
  }
  if (o.contains("expires_in_s")) {
    const auto s = core::get_number(body, "expires_in_s");
    const double max_s = static_cast<double>(kMaxExpiry.count());
    if (!s || !(*s > 0 && *s <= max_s)) {
      return invalid_field("expires_in_s must be a number of seconds, more than 0 and at most " +
                           std::to_string(kMaxExpiry.count()) + " (7 days)");
    }
    change.reverts_at = change.set_at + std::chrono::milliseconds(std::max<std::int64_t>(
                                            1, static_cast<std::int64_t>(std::llround(*s * 1000))));
  }
  return change;
}

std::string SamplingChange::order_key() const {
  // Fixed widths, so that comparing the strings compares the numbers first.
  char head[32];
  std::snprintf(head, sizeof head, "%015lld.%010u.",
                static_cast<long long>(std::clamp<std::int64_t>(stamp_ms, 0, kMaxStampMs)),
                static_cast<unsigned>(stamp_seq));
  return head + origin;
}

SamplingSwitch::Applied SamplingSwitch::apply_new(SamplingChange change) {
  std::optional<SamplingEvent> event;
  SamplingState st;
  {
    std::lock_guard lock(mu_);
    // A hybrid logical clock: the wall time, unless this server has applied a change stamped
    // later (another server's clock is ahead); then just after that change.
    const std::int64_t now_ms =
        std::chrono::floor<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch()).count();
    change.stamp_ms = std::max(now_ms, last_ms_);
    change.stamp_seq = change.stamp_ms == last_ms_ && !last_key_.empty() ? last_seq_ + 1 : 0;
    std::string key = change.order_key();
    assert(key > last_key_);
    event = apply_locked(change, std::move(key));
    st = state_locked();
  }
  if (event) notify(*event, st);
  return {std::move(change), std::move(st)};
}

SamplingState SamplingSwitch::apply(const SamplingChange& change) {
  std::optional<SamplingEvent> event;
  SamplingState st;
  {
    std::lock_guard lock(mu_);
    std::string key = change.order_key();
    // Last writer wins: the fleet's echo of a change applied here, or one that a later change
    // applied here superseded, changes nothing.
    if (key <= last_key_) return state_locked();
    event = apply_locked(change, std::move(key));
    st = state_locked();
  }
  if (event) notify(*event, st);
  return st;
}

std::optional<SamplingEvent> SamplingSwitch::apply_locked(const SamplingChange& change,
                                                          std::string key) {
  last_key_ = std::move(key);
  last_ms_ = change.stamp_ms;
  last_seq_ = change.stamp_seq;
  const bool lapsed = change.reverts_at && *change.reverts_at <= clock_.wall_now();
  if (!change.rules || lapsed) {
    if (!runtime_) return std::nullopt;  // the configured rules are in force already
    const SamplingEvent why = change.rules ? SamplingEvent::kExpired : SamplingEvent::kReverted;
    revert_locked(why);
    return why;
  }
  in_force_ = std::make_shared<const SamplingRules>(*change.rules);
  runtime_ = change;
  runtime_->rules.reset();  // held once, in in_force_
  sampler_.replace(*in_force_);
  ++counts_.runtime;
  return SamplingEvent::kRuntime;
}

bool SamplingSwitch::expire() {
  SamplingState st;
  {
    std::lock_guard lock(mu_);
    if (!runtime_ || !runtime_->reverts_at || clock_.wall_now() < *runtime_->reverts_at)
      return false;
    revert_locked(SamplingEvent::kExpired);
    st = state_locked();
  }
  notify(SamplingEvent::kExpired, st);
  return true;
}

void SamplingSwitch::revert_locked(SamplingEvent why) {
  in_force_ = configured_;
  runtime_.reset();
  sampler_.replace(*configured_);
  ++(why == SamplingEvent::kExpired ? counts_.expired : counts_.reverted);
}

SamplingState SamplingSwitch::state() {
  (void)expire();
  std::lock_guard lock(mu_);
  return state_locked();
}

SamplingState SamplingSwitch::state_locked() const {
  SamplingState st;
  st.rules = in_force_;
  if (runtime_) {
    st.source = SamplingSource::kRuntime;
    st.set_by = runtime_->set_by;
    st.origin = runtime_->origin;
    st.set_at = runtime_->set_at;
    st.reverts_at = runtime_->reverts_at;
  } else {
    st.source = config_file_.empty() ? SamplingSource::kDefault : SamplingSource::kConfig;
  }
  return st;
}

SamplingSwitch::Counts SamplingSwitch::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void SamplingSwitch::notify(SamplingEvent e, const SamplingState& st) const {
  if (listener_) listener_(e, st);
}

std::string SamplingSwitch::to_fleet_json(const SamplingChange& c) {
  json::object o;
  o["rules"] = c.rules ? json::value(c.rules->to_local_document()) : json::value(nullptr);
  o["set_by"] = c.set_by;
  o["origin"] = c.origin;
  o["set_at"] = core::format_rfc3339(c.set_at);
  o["reverts_at"] =
      c.reverts_at ? json::value(core::format_rfc3339(*c.reverts_at)) : json::value(nullptr);
  o["stamp_ms"] = c.stamp_ms;
  o["stamp_seq"] = c.stamp_seq;
  return json::serialize(o);
}

core::Result<SamplingChange> SamplingSwitch::from_fleet_json(std::string_view text) {
  auto v = core::parse_json(text);
  if (!v.ok() || !v->is_object()) return core::fail("invalid_sampling_change", "not a JSON object");
  const json::object& o = v->get_object();
  SamplingChange c;
  const auto* rules = o.if_contains("rules");
  if (rules == nullptr) return core::fail("invalid_sampling_change", "rules is missing");
  if (!rules->is_null()) {
    auto r = SamplingRules::from_local_document(*rules);
    if (!r.ok()) return core::fail(std::move(r).error());
    c.rules = std::move(r).value();
  }
  c.set_by = std::string(core::get_string(*v, "set_by").value_or(""));
  c.origin = std::string(core::get_string(*v, "origin").value_or(""));
  const auto set_at = core::parse_rfc3339(core::get_string(*v, "set_at").value_or(""));
  if (!set_at) return core::fail("invalid_sampling_change", "set_at is not an RFC 3339 time");
  c.set_at = *set_at;
  if (const auto* r = o.if_contains("reverts_at"); r != nullptr && !r->is_null()) {
    const auto at = r->is_string() ? core::parse_rfc3339(r->get_string()) : std::nullopt;
    if (!at) return core::fail("invalid_sampling_change", "reverts_at is not an RFC 3339 time");
    c.reverts_at = *at;
  }
  // Without its stamp a change has no place in the order: refused, not put first.
  const auto ms = core::get_int(*v, "stamp_ms");
  const auto seq = core::get_int(*v, "stamp_seq");
  if (!ms || *ms < 0 || *ms > kMaxStampMs || !seq || *seq < 0 ||
      *seq > std::numeric_limits<std::uint32_t>::max())
    return core::fail("invalid_sampling_change", "stamp_ms and stamp_seq must be whole numbers");
  c.stamp_ms = *ms;
  c.stamp_seq = static_cast<std::uint32_t>(*seq);
  return c;
}

json::object SamplingSwitch::to_json(const SamplingState& st) const {
  json::object o;
  o["source"] = to_string(st.source);
  o["description"] = st.rules->summary();
  o["rules"] = st.rules->to_local_document();
  if (st.source == SamplingSource::kRuntime) {
    o["set_by"] = st.set_by;
    o["origin"] = st.origin.empty() ? json::value(nullptr) : json::value(st.origin);
    o["set_at"] = st.set_at ? json::value(core::format_rfc3339(*st.set_at)) : json::value(nullptr);
    if (st.reverts_at) {
      o["reverts_at"] = core::format_rfc3339(*st.reverts_at);
      const auto left = *st.reverts_at - clock_.wall_now();
      o["reverts_in_s"] =
          std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::seconds>(left).count());
    } else {
      o["reverts_at"] = nullptr;
      o["reverts_in_s"] = nullptr;
    }
  }
  o["configured"] = json::object{
      {"source",
       to_string(config_file_.empty() ? SamplingSource::kDefault : SamplingSource::kConfig)},
      {"file", config_file_.empty() ? json::value(nullptr) : json::value(config_file_)},
      {"description", configured_->summary()}};
  return o;
}

json::object SamplingSwitch::status_json(const SamplingState& st) {
  const SamplingRule& d = st.rules->default_rule();
  return json::object{
      {"source", to_string(st.source)},
      {"description", st.rules->summary()},
      {"default_rate", d.rate},
      {"default_fixed_target", d.fixed_target},
      {"other_rules", st.rules->rules().size() - 1},
      {"reverts_at",
       st.reverts_at ? json::value(core::format_rfc3339(*st.reverts_at)) : json::value(nullptr)}};
}

}  // namespace ma::observe
