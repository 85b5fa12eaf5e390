#include "server/admin_api.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "server/app.hpp"
#include "server/views.hpp"

namespace ma::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

AdminApi::AdminApi(App& app, std::string admin_token, asio::any_io_executor blocking)
    : app_(app), admin_token_(std::move(admin_token)), blocking_(std::move(blocking)) {
  using enum Runs;
  using V = http::verb;
  // Writes that reach SQLite (the catalog) or Redis (flags, cache flush, and the catalog's
  // listener that tells the fleet) run on the blocking pool; so does chaos, which reconfigures
  // the simulated models under their locks. Reads and the in-memory limits answer inline.
  routes_ = {
      {V::get, "/admin/flags", "use GET or PATCH", kInline, &AdminApi::get_flags},
      {V::patch, "/admin/flags", "use GET or PATCH", kBlocking, &AdminApi::patch_flags},
      {V::post, "/admin/chaos", "use POST", kBlocking, &AdminApi::chaos},
      {V::put, "/admin/catalog/products/*", "use PUT", kBlocking, &AdminApi::put_product},
      {V::post, "/admin/cache/flush", "use POST", kBlocking, &AdminApi::flush_cache},
      {V::get, "/admin/limits", "use GET or PUT", kInline, &AdminApi::get_limits},
      {V::put, "/admin/limits", "use GET or PUT", kInline, &AdminApi::put_limits},
      {V::patch, "/admin/limits", "use GET or PUT", kInline, &AdminApi::put_limits},
      {std::nullopt, "/admin/alarms", "", kInline, &AdminApi::alarms},
      {V::get, "/admin/ab", "use GET", kInline, &AdminApi::ab},
      // A change of the sampling rules is published to the fleet (Redis): off the io threads.
      {V::get, "/admin/sampling", "use GET, PUT or DELETE", kInline, &AdminApi::get_sampling},
      {V::put, "/admin/sampling", "use GET, PUT or DELETE", kBlocking, &AdminApi::put_sampling},
      {V::delete_, "/admin/sampling", "use GET, PUT or DELETE", kBlocking,
       &AdminApi::delete_sampling},
  };
}

std::optional<Response> AdminApi::refusal(const Request& req) const {
  if (admin_token_.empty()) {
    return error_response(
        http::status::forbidden, "admin_disabled",
        "the admin API is off: set MANGAASSIST_ADMIN_TOKEN or server.admin_token");
  }
  if (!core::constant_time_equals(bearer(req), admin_token_)) {
    return error_response(http::status::unauthorized, "unauthorized",
                          "a valid admin bearer token is required");
  }
  return std::nullopt;
}

namespace {

// An exact pattern, or a prefix ending in '*' (`tail`: what the '*' matched).
bool matches(std::string_view pattern, std::string_view path, std::string_view& tail) {
  if (pattern.ends_with('*')) {
    pattern.remove_suffix(1);
    if (!path.starts_with(pattern)) return false;
    tail = path.substr(pattern.size());
    return true;
  }
  tail = {};
  return path == pattern;
}

// The request's body as a JSON object; an empty body is {}.
core::Result<json::value> body_json(const Request& req) {
  if (req.body().empty()) return json::value(json::object{});
  if (!core::is_valid_utf8(req.body()))
    return core::fail("invalid_utf8", "the body is not valid UTF-8");
  auto v = core::parse_json(req.body());
  if (!v.ok()) return core::fail("invalid_json", v.error().message);
  if (!v->is_object()) return core::fail("invalid_json", "the body must be a JSON object");
  return v;
}

Response bad_body(const core::Error& e) {
  return error_response(http::status::bad_request, e.code, e.message);
}

}  // namespace

asio::awaitable<Response> AdminApi::handle(const Request& req, std::string_view path) {
  if (auto refused = refusal(req)) co_return std::move(*refused);
  const Route* same_path = nullptr;  // a route for this path, with another method
  for (const Route& route : routes_) {
    std::string_view tail;
    if (!matches(route.pattern, path, tail)) continue;
    if (route.method && *route.method != req.method()) {
      if (same_path == nullptr) same_path = &route;
      continue;
    }
    if (route.runs == Runs::kInline) co_return (this->*route.handler)(req, tail);
    co_return co_await run_blocking(route, req, tail);
  }
  if (same_path != nullptr) {
    co_return error_response(http::status::method_not_allowed, "method_not_allowed",
                             same_path->allow);
  }
  co_return error_response(http::status::not_found, "not_found", "there is no such admin route");
}

asio::awaitable<Response> AdminApi::run_blocking(const Route& route, const Request& req,
                                                 std::string_view tail) {
  // Named, not a temporary in the co_await expression (g++ 12 mishandles those). `route`
  // lives in routes_, `req` in the suspended caller's frame.
  auto work = [this, &route, &req, tail]() -> asio::awaitable<Response> {
    co_return (this->*route.handler)(req, tail);
  };
  // Resumes on this coroutine's executor (its worker) with the handler's response.
  co_return co_await asio::co_spawn(blocking_, work, asio::use_awaitable);
}

Response AdminApi::get_flags(const Request&, std::string_view) {
  return json_response(http::status::ok, json::serialize(app_.flags().to_json()));
}

Response AdminApi::patch_flags(const Request& req, std::string_view) {
  auto body = body_json(req);
  if (!body.ok()) return bad_body(body.error());
  if (auto st = app_.flags().patch(*body); !st.ok()) return bad_body(st.error());
  // The whole set, so every server ends up with the same flags.
  app_.shared_state().publish_flags(json::serialize(app_.flags().to_json()));
  return json_response(http::status::ok, json::serialize(app_.flags().to_json()));
}

Response AdminApi::chaos(const Request& req, std::string_view) {
  auto body = body_json(req);
  if (!body.ok()) return bad_body(body.error());
  std::vector<fm::SimulatedBedrock*> targets;
  const std::string model(core::get_string(*body, "model").value_or("all"));
  const std::vector<std::string>& lanes = app_.flags().models();  // the lanes, in order
  if (model == "all") {
    for (const std::string& lane : lanes) targets.push_back(app_.simulated(lane));
  } else if (std::find(lanes.begin(), lanes.end(), model) != lanes.end()) {
    targets = {app_.simulated(model)};
  } else {
    std::vector<std::string_view> names(lanes.begin(), lanes.end());
    names.emplace_back("all");
    return error_response(http::status::bad_request, "invalid_model",
                          "model must be " + core::join_names(names));
  }
  if (std::find(targets.begin(), targets.end(), nullptr) != targets.end()) {
    return error_response(http::status::conflict, "not_simulated",
                          "chaos applies to simulated models only");
  }
  if (core::get_bool(*body, "clear").value_or(false)) {
    for (auto* t : targets) t->clear_faults();
    return json_response(http::status::ok, R"({"cleared":true})");
  }
  fm::FaultSpec f;
  const double throttle = core::get_number(*body, "throttle_rate").value_or(0);
  const double unknown = core::get_number(*body, "unknown_error_rate").value_or(0);
  const double latency_ms = core::get_number(*body, "latency_ms").value_or(0);
  const double duration_s = core::get_number(*body, "duration_s").value_or(45);
  if (throttle < 0 || throttle > 1 || unknown < 0 || unknown > 1) {
    return error_response(http::status::bad_request, "invalid_rate",
                          "rates must be between 0 and 1");
  }
  if (latency_ms < 0 || latency_ms > 600'000 || duration_s <= 0 || duration_s > 86'400) {
    return error_response(http::status::bad_request, "invalid_duration",
                          "latency_ms must be 0-600000 and duration_s 0-86400");
  }
  // The failure modes of real models: a hung call, a stream that stalls or is cut after N
  // chunks, wrong credentials. A key given with the wrong type is refused, not ignored.
  const json::object& fields = body->get_object();
  auto flag = [&](std::string_view key, bool& out) {
    if (!fields.contains(key)) return true;
    const auto v = core::get_bool(*body, key);
    if (v) out = *v;
    return v.has_value();
  };
  auto chunks = [&](std::string_view key, int& out) {
    if (!fields.contains(key)) return true;
    const auto v = core::get_int(*body, key);
    if (!v || *v < 0 || *v > 100'000) return false;
    out = static_cast<int>(*v);
    return true;
  };
  if (!flag("hang", f.hang) || !flag("auth_failure", f.auth_failure) || !flag("outage", f.outage)) {
    return error_response(http::status::bad_request, "invalid_field",
                          "hang, auth_failure and outage must be true or false");
  }
  if (!chunks("stall_after_chunks", f.stall_after_chunks) ||
      !chunks("cut_after_chunks", f.cut_after_chunks)) {
    return error_response(http::status::bad_request, "invalid_field",
                          "stall_after_chunks and cut_after_chunks must be whole numbers, "
                          "0 to 100000");
  }
  if (f.stall_after_chunks >= 0 && f.cut_after_chunks >= 0) {
    return error_response(http::status::bad_request, "invalid_field",
                          "a stream either stalls or is cut: give stall_after_chunks or "
                          "cut_after_chunks, not both");
  }
  f.throttle_rate = throttle;
  f.unknown_error_rate = unknown;
  f.extra_latency = core::from_seconds(latency_ms / 1000.0);
  f.until = app_.clock().now() + core::from_seconds(duration_s);
  for (auto* t : targets) t->set_faults(f);
  json::object o;
  o["applied"] = model;
  o["duration_s"] = duration_s;
  return json_response(http::status::ok, json::serialize(o));
}

Response AdminApi::put_product(const Request& req, std::string_view id_view) {
  const std::string id(id_view);
  auto body = body_json(req);
  if (!body.ok()) return bad_body(body.error());
  const auto price = core::get_int(*body, "price_jpy");
  const auto stock = core::get_int(*body, "stock");
  const bool has_price = body->get_object().contains("price_jpy");
  const bool has_stock = body->get_object().contains("stock");
  if ((has_price && !price) || (has_stock && !stock) || (!has_price && !has_stock)) {
    return error_response(http::status::bad_request, "invalid_field",
                          "give price_jpy and/or stock as integers");
  }
  auto clamp = [](std::optional<std::int64_t> v) {
    return v ? std::optional<int>(static_cast<int>(std::clamp<std::int64_t>(*v, -1, 2'000'000)))
             : std::nullopt;
  };
  // A SQLite write, then the catalog's listeners (cache invalidation, the fleet's publish).
  auto st = app_.catalog().update_product(id, clamp(price), clamp(stock));
  if (!st.ok()) {
    const auto status =
        st.error().code == "not_found" ? http::status::not_found : http::status::bad_request;
    return error_response(status, st.error().code, st.error().message);
  }
  const auto p = app_.catalog().product(id);
  json::object o{{"id", p->id}, {"price_jpy", p->price_jpy}, {"stock", p->stock}};
  return json_response(http::status::ok, json::serialize(o));
}

Response AdminApi::flush_cache(const Request& req, std::string_view) {
  auto body = body_json(req);
  if (!body.ok()) return bad_body(body.error());
  const std::string category(core::get_string(*body, "category").value_or(""));
  if (!category.empty() && !assist::parse_intent(category)) {
    return error_response(http::status::bad_request, "invalid_category",
                          "category must be one of the intents (pricing, availability, ...)");
  }
  json::object o{{"flushed", app_.flush_cache(category)}};
  return json_response(http::status::ok, json::serialize(o));
}

Response AdminApi::get_limits(const Request&, std::string_view) {
  return json_response(http::status::ok, json::serialize(limits_json(app_.admission())));
}

Response AdminApi::put_limits(const Request& req, std::string_view) {
  auto& a = app_.admission();
  auto v = core::parse_json(req.body());
  if (!v.ok() || !v->is_object())
    return error_response(http::status::bad_request, "invalid_json", "expected a JSON object");
  // Validate everything first, then apply: all or nothing.
  std::vector<std::pair<admission::Priority, admission::UsagePlan>> plan_changes;
  const auto cfg = a.config();
  if (const auto* plans = v->get_object().if_contains("plans")) {
    if (!plans->is_object())
      return error_response(http::status::bad_request, "invalid_field", "plans must be an object");
    for (const auto& [name, body] : plans->get_object()) {
      int idx = -1;
      for (int i = 0; i < admission::kPriorities; ++i) {
        if (admission::to_string(static_cast<admission::Priority>(i)) == name) idx = i;
      }
      if (idx < 0)
        return error_response(http::status::bad_request, "invalid_field",
                              "unknown plan " + std::string(name));
      admission::UsagePlan p = cfg.plans[static_cast<std::size_t>(idx)];
      p.rate = core::get_number(body, "rate").value_or(p.rate);
      p.burst = core::get_number(body, "burst").value_or(p.burst);
      p.quota = core::get_int(body, "quota_per_day").value_or(p.quota);
      p.daily_tokens = core::get_int(body, "tokens_per_day").value_or(p.daily_tokens);
      if (p.rate <= 0 || p.burst < 1 || p.quota < 0 || p.daily_tokens < 0 ||
          (p.daily_tokens > 0 && p.daily_tokens < cfg.token_estimate)) {
        return error_response(http::status::bad_request, "invalid_field",
                              "rate > 0, burst >= 1, quota_per_day >= 0, tokens_per_day 0 or >= "
                              "the token estimate (" +
                                  std::to_string(cfg.token_estimate) + ")");
      }
      plan_changes.emplace_back(static_cast<admission::Priority>(idx), p);
    }
  }
  std::optional<std::tuple<double, double, bool>> global;
  if (const auto* g = v->get_object().if_contains("global")) {
    const double rate = core::get_number(*g, "rate").value_or(cfg.global_rate);
    const double burst = core::get_number(*g, "burst").value_or(cfg.global_burst);
    const bool dynamic = core::get_bool(*g, "dynamic").value_or(cfg.dynamic);
    if (rate <= 0 || burst < 1)
      return error_response(http::status::bad_request, "invalid_field",
                            "global rate > 0, burst >= 1");
    global = {rate, burst, dynamic};
  }
  for (const auto& [p, plan] : plan_changes) a.set_plan(p, plan);
  if (global) a.set_global(std::get<0>(*global), std::get<1>(*global), std::get<2>(*global));
  return json_response(http::status::ok, json::serialize(limits_json(a)));
}

Response AdminApi::alarms(const Request&, std::string_view) {
  app_.refresh_alarm_inputs();
  return json_response(http::status::ok,
                       json::serialize(json::object{{"alarms", alarms_json(app_, false)}}));
}

Response AdminApi::ab(const Request&, std::string_view) {
  gateway::Gateway& g = app_.gateway();
  const assist::DegradationSplit& split = g.degradation_split();
  json::object o;
  json::object weights;
  std::vector<assist::DegradationVersion> listed;
  for (const auto& [v, w] : split.weights()) {
    weights[assist::to_string(v)] = w;
    listed.push_back(v);
  }
  const assist::DegradationVersion flag = app_.flags().degradation_version();
  // Without an experiment every user is shown the flag's version: listed even before anyone was.
  if (split.empty()) listed.push_back(flag);
  o["split"] = std::move(weights);
  o["flag"] = assist::to_string(flag);
  json::array versions;
  if (assist::AbStats* ab = g.ab_stats()) {
    o["retry_window_s"] =
        std::chrono::duration_cast<std::chrono::seconds>(ab->limits().retry_window).count();
    o["abandon_after_s"] =
        std::chrono::duration_cast<std::chrono::seconds>(ab->limits().abandon_after).count();
    auto rate = [](std::uint64_t n, std::uint64_t of) {
      return of == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(of);
    };
    for (const assist::AbVersionStats& s : ab->snapshot(listed)) {
      versions.push_back(
          json::object{{"version", assist::to_string(s.version)},
                       {"users", s.users},
                       {"degraded_replies", s.degraded_replies},
                       {"retried_within_60s", s.retried},
                       {"retry_rate", rate(s.retried, s.degraded_replies)},
                       {"abandoned", s.abandoned},
                       {"abandonment_rate", rate(s.abandoned, s.degraded_replies)},
                       {"left_question", s.left_question},
                       {"feedback", json::object{{"helpful", s.helpful},
                                                 {"not_helpful", s.not_helpful},
                                                 {"understood", s.understood},
                                                 {"not_understood", s.not_understood}}}});
    }
    o["untracked"] = ab->untracked();
    o["users_capped"] = ab->users_capped();
  }
  o["versions"] = std::move(versions);
  return json_response(http::status::ok, json::serialize(o));
}

namespace {
// PUT and DELETE /admin/sampling: the state in force, and "fleet": whether the other servers
// were told ("published"), could not be ("not_published": Redis did not answer, the change
// holds on this server only) or there are none ("local").
Response sampling_changed(App& app, observe::SamplingChange change) {
  const auto changed = app.change_sampling(std::move(change));
  json::object o = app.sampling().to_json(changed.state);
  o["fleet"] = state::to_string(changed.fleet);
  return json_response(http::status::ok, json::serialize(o));
}
}  // namespace

Response AdminApi::get_sampling(const Request&, std::string_view) {
  auto& sampling = app_.sampling();
  return json_response(http::status::ok, json::serialize(sampling.to_json(sampling.state())));
}

Response AdminApi::put_sampling(const Request& req, std::string_view) {
  auto body = body_json(req);
  if (!body.ok()) return bad_body(body.error());
  // Read whole before anything changes: a refused body leaves the rules in force as they are.
  auto change = observe::SamplingSwitch::parse_request(*body, app_.clock().wall_now());
  if (!change.ok()) return bad_body(change.error());
  return sampling_changed(app_, std::move(change).value());
}

Response AdminApi::delete_sampling(const Request&, std::string_view) {
  auto revert = observe::SamplingSwitch::parse_request(json::object{{"revert", true}},
                                                       app_.clock().wall_now());
  return sampling_changed(app_, std::move(revert).value());
}

}  // namespace ma::server
