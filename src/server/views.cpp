#include "server/views.hpp"

#include <boost/json.hpp>
#include <cmath>

#include "core/json_util.hpp"
#include "core/wall_time.hpp"
#include "server/app.hpp"
#include "server/pages.hpp"

namespace ma::server {

namespace http = boost::beast::http;
namespace json = boost::json;

Response json_response(http::status status, std::string body, unsigned version) {
  Response res{status, version};
  res.set(http::field::server, "mangaassist");
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string error_body(std::string_view code, std::string_view message) {
  json::object o;
  o["error"] = code;
  o["message"] = message;
  return json::serialize(o);
}

Response error_response(http::status status, std::string_view code, std::string_view message) {
  return json_response(status, error_body(code, message));
}

int ceil_seconds(core::Duration d) {
  return std::max(1, static_cast<int>(std::ceil(core::to_seconds(d))));
}

json::object status_json(const assist::ServiceStatus& st) {
  json::object o;
  o["state"] = st.state;
  if (st.eta) {
    o["eta_s"] = static_cast<std::int64_t>(std::ceil(core::to_seconds(*st.eta)));
  } else {
    o["eta_s"] = nullptr;
  }
  json::object models;
  for (const auto& m : st.models) models[m.name] = resilience::to_string(m.breaker);
  o["models"] = std::move(models);
  return o;
}

std::string reply_json(const assist::Reply& r, const assist::ServiceStatus& st,
                       std::string_view type, std::string_view request_id,
                       std::string_view session_id) {
  std::string o;
  o.reserve(384 + r.text.size() + 96 * r.actions.size());
  auto key = [&](std::string_view k) { core::append_json_key(o, k); };
  auto text = [&](std::string_view k, std::string_view v) {
    key(k);
    core::append_json_string(o, v);
  };
  if (!type.empty()) text("type", type);
  if (!request_id.empty()) text("request_id", request_id);
  if (!session_id.empty()) text("session_id", session_id);
  text("reply", r.text);
  text("tier", assist::to_string(r.tier));
  key("model");  // the model that wrote the text; null below the models
  if (r.model.empty()) {
    o += "null";
  } else {
    core::append_json_string(o, r.model);
  }
  text("intent", assist::to_string(r.intent));
  text("language", fm::to_string(r.lang));
  key("degraded");
  o += r.degraded ? "true" : "false";
  key("actions");
  o += '[';
  for (std::size_t i = 0; i < r.actions.size(); ++i) {
    o += i == 0 ? "{\"label\":" : ",{\"label\":";
    core::append_json_string(o, r.actions[i].label);
    o += ",\"url\":";
    core::append_json_string(o, r.actions[i].url);
    o += '}';
  }
  o += ']';
  key("status");
  o += "{\"state\":";
  core::append_json_string(o, st.state);
  o += ",\"eta_s\":";
  o += st.eta ? std::to_string(static_cast<std::int64_t>(std::ceil(core::to_seconds(*st.eta))))
              : std::string("null");
  o += ",\"models\":{";
  for (std::size_t i = 0; i < st.models.size(); ++i) {
    if (i > 0) o += ',';
    core::append_json_string(o, st.models[i].name);
    o += ':';
    core::append_json_string(o, resilience::to_string(st.models[i].breaker));
  }
  o += "}}";
  if (r.degraded) {
    key("retry_after_s");
    o += std::to_string(r.retry_after_s);
  }
  // The degradation message version this user was shown (the A/B experiment's, or the
  // flag's): only on a reply that is the degradation message.
  if (r.degradation_version) text("degradation_version", assist::to_string(*r.degradation_version));
  if (r.disclaimer) {
    key("disclaimer");
    o += "true";
  }
  text("trace_id", r.trace_id);
  o += '}';
  return o;
}

namespace {
// The token budget's refusal: what happened (the allowance is used, not "too fast"), when it
// resets, and where to go meanwhile. Never "try again".
void token_budget_message(json::object& o, const admission::AdmissionResult& r, bool japanese,
                          std::string_view store_base_url) {
  const std::int64_t minutes = std::max<std::int64_t>(1, (ceil_seconds(r.retry_after) + 59) / 60);
  const std::int64_t hours = (minutes + 59) / 60;
  const std::string n = std::to_string(minutes < 60 ? minutes : hours);
  if (japanese) {
    o["message"] =
        "本日のこのアカウントのアシスタントご利用枠を使い切りました。" +
        (minutes < 60 ? n + "分後" : n + "時間以内") +
        "にリセットされます。それまでの間も、注文履歴とヘルプセンターはご利用いただけます。";
  } else {
    o["message"] = "Today's assistant allowance for this account has been used up. It resets " +
                   (minutes < 60 ? "in " + n + (minutes == 1 ? " minute" : " minutes")
                                 : "within " + n + (hours == 1 ? " hour" : " hours")) +
                   ". Your orders and the help center remain available in the meantime.";
  }
  o["resets_at"] = core::format_rfc3339(r.resets_at, false);
  const fm::Language lang = japanese ? fm::Language::kJa : fm::Language::kEn;
  o["actions"] = json::array{json::object{{"label", japanese ? "注文履歴" : "Your orders"},
                                          {"url", action_link("/orders", lang, store_base_url)}},
                             json::object{{"label", japanese ? "ヘルプセンター" : "Help center"},
                                          {"url", action_link("/help", lang, store_base_url)}}};
}
}  // namespace

std::string rate_limited_body(const admission::AdmissionResult& r, bool japanese,
                              std::string_view store_base_url) {
  json::object o;
  o["error"] = "rate_limited";
  o["scope"] = r.scope;
  const int s = ceil_seconds(r.retry_after);
  if (r.scope == "tokens") {
    token_budget_message(o, r, japanese, store_base_url);
  } else if (r.scope == "user") {
    o["message"] =
        japanese
            ? "短い間に多くのメッセージが送信されました。" + std::to_string(s) +
                  "秒後に次のメッセージを送信できます。"
            : "You have sent several messages in a short time. You can send your next one in " +
                  std::to_string(s) + (s == 1 ? " second." : " seconds.");
  } else {
    o["message"] =
        japanese ? "お使いのネットワークから多くのメッセージが届いています。" + std::to_string(s) +
                       "秒後に送信できます。"
                 : "Many messages are arriving from your network address. You can send again in " +
                       std::to_string(s) + (s == 1 ? " second." : " seconds.");
  }
  o["retry_after_s"] = s;
  return json::serialize(o);
}

std::string ws_error(std::string_view code, std::string_view message, std::string_view request_id) {
  json::object o;
  o["type"] = "error";
  o["error"] = code;
  o["message"] = message;
  if (!request_id.empty()) o["request_id"] = request_id;
  return json::serialize(o);
}

std::string ws_queued(std::string_view request_id, std::size_t position, core::Duration eta) {
  json::object o;
  o["type"] = "queued";
  if (!request_id.empty()) o["request_id"] = request_id;
  o["position"] = position;
  o["eta_s"] = ceil_seconds(eta);
  return json::serialize(o);
}

std::string ws_chunk(std::string_view request_id, const assist::StreamChunk& chunk) {
  json::object o;
  o["type"] = "chunk";
  if (!request_id.empty()) o["request_id"] = request_id;
  o["tier"] = assist::to_string(chunk.tier);
  o["attempt"] = chunk.attempt;
  o["model"] = chunk.model;
  o["text"] = chunk.text;
  return json::serialize(o);
}

namespace {
json::object plan_json(const admission::UsagePlan& p, bool per_user) {
  json::object o{{"rate", p.rate}, {"burst", p.burst}, {"quota_per_day", p.quota}};
  if (per_user) o["tokens_per_day"] = p.daily_tokens;  // 0: no budget
  return o;
}
}  // namespace

json::object limits_json(admission::Admission& a) {
  const auto cfg = a.config();
  json::object plans;
  for (int i = 0; i < admission::kPriorities; ++i) {
    plans[admission::to_string(static_cast<admission::Priority>(i))] =
        plan_json(cfg.plans[static_cast<std::size_t>(i)], true);
  }
  plans["per_source"] = plan_json(cfg.per_source, false);
  const auto traffic = a.traffic();
  const auto spike = a.spike();
  return json::object{{"plans", std::move(plans)},
                      {"global", json::object{{"rate", cfg.global_rate},
                                              {"burst", cfg.global_burst},
                                              {"dynamic", cfg.dynamic},
                                              {"rate_in_force", a.global_rate()}}},
                      {"token_estimate", cfg.token_estimate},
                      {"queue_depth", a.queue_depth()},
                      {"tracked_buckets", a.tracked_buckets()},
                      {"tracked_token_days", a.tracked_token_days()},
                      {"traffic_rps", traffic.rate},
                      {"spike", spike == admission::SpikeKind::kOrganic   ? "organic"
                                : spike == admission::SpikeKind::kAbusive ? "abusive"
                                                                          : "none"}};
}

json::array alarms_json(App& app, bool firing_only) {
  json::array out;
  for (const auto& a : app.alarms().evaluate(app.clock().now())) {
    if (firing_only && !a.firing) continue;
    out.push_back(json::object{{"name", a.name},
                               {"subject", a.subject},
                               {"firing", a.firing},
                               {"value", a.value},
                               {"threshold", a.threshold},
                               {"message", a.message}});
  }
  return out;
}

namespace {
std::int64_t whole_ms(core::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
}  // namespace

json::object model_details_json(const assist::ModelStatus& m) {
  return json::object{
      {"name", m.name},
      {"availability", m.misconfigured ? "misconfigured" : "available"},
      {"misconfigured_code", m.misconfigured ? json::value(m.misconfigured_code) : nullptr},
      {"breaker", resilience::to_string(m.breaker)},
      {"probe_in_ms", whole_ms(m.time_until_probe)},
      {"client_limiter", m.limiter_enabled ? json::value(m.limiter_rate) : json::value(nullptr)},
      {"limiter_rate", m.limiter_rate},
      {"limiter_floor", m.limiter_floor},
      {"skip_rate", m.skip_rate},
      {"first_token_budget_ms", whole_ms(m.first_token_budget)},
      {"ttft_p95_ms", m.ttft_p95 > core::Duration::zero() ? json::value(whole_ms(m.ttft_p95))
                                                          : json::value(nullptr)},
      {"retry_quota", m.retry_quota}};
}

Response status_response(App& app, std::size_t in_flight) {
  const auto st = app.pipeline().status();
  json::object o = status_json(st);
  json::array models;
  for (const auto& m : st.models) models.push_back(model_details_json(m));
  o["model_details"] = std::move(models);
  // Operators only (/status needs the admin token or the admin listener): never in the
  // status every reply carries.
  o["spend_today_usd"] = st.spend_today_usd;
  o["flags"] = app.flags().to_json();
  o["in_flight"] = in_flight;
  app.refresh_alarm_inputs();
  o["alarms_firing"] = alarms_json(app, true);
  o["admission"] = limits_json(app.admission());
  o["cache_entries"] = app.cache().size();
  // The trace sampling in force: configured or runtime (PUT /admin/sampling), and when
  // runtime rules revert.
  o["sampling"] = observe::SamplingSwitch::status_json(app.sampling().state());
  o["fleet"] = json::object{{"state", app.shared_state().kind()},
                            {"healthy", app.shared_state().healthy()},
                            {"servers", app.shared_state().live_servers()}};
  return json_response(http::status::ok, json::serialize(o));
}

Response metrics_response(App& app) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = app.metrics().render();
  res.prepare_payload();
  return res;
}

Response chat_page_response(const std::string& html, unsigned version) {
  if (html.empty()) {
    return error_response(http::status::not_found, "not_found", "the chat page is not installed");
  }
  Response res{http::status::ok, version};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // The page's own script and style only, its WebSocket, and never inside another site's
  // frame (clickjacking).
  res.set("Content-Security-Policy",
          "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
          "'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "same-origin");
  res.body() = html;
  res.prepare_payload();
  return res;
}

}  // namespace ma::server
