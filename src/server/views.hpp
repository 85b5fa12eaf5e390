#pragma once
// Views: every body and status line the server writes, as pure functions of what they show
// -- the JSON error and reply bodies, the 429 wording, the WebSocket frames, /status,
// /metrics, /admin/limits and /admin/alarms, the chat page. The bytes are part of the public
// contract (docs/api.md); nothing here reads a request or does I/O beyond what the
// arguments' accessors do. Thread-safe wherever the arguments are.

#include <boost/beast/http.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "admission/admission.hpp"
#include "assist/pipeline.hpp"
#include "core/time.hpp"
#include "server/http_fields.hpp"

namespace ma::server {

class App;

// A JSON response with the server's headers (Server, Content-Type, Cache-Control: no-store).
Response json_response(boost::beast::http::status status, std::string body, unsigned version = 11);
// {"error": code, "message": message}.
std::string error_body(std::string_view code, std::string_view message);
Response error_response(boost::beast::http::status status, std::string_view code,
                        std::string_view message);

// Whole seconds, rounded up, at least 1 (Retry-After, retry_after_s, eta_s).
int ceil_seconds(core::Duration d);

// The service status as /status starts it and as every reply carries it: state, eta_s,
// models (name -> breaker state). reply_json writes the same shape without a JSON DOM
// (ViewsTest compares the two).
boost::json::object status_json(const assist::ServiceStatus& st);

// One model of /status's "model_details": name, availability ("available" |
// "misconfigured"), misconfigured_code (null while available), breaker, probe_in_ms,
// client_limiter (the rate, null while not engaged), limiter_rate, limiter_floor, skip_rate,
// first_token_budget_ms, ttft_p95_ms (null until measured), retry_quota.
boost::json::object model_details_json(const assist::ModelStatus& m);

// A chat reply: POST /v1/chat's body (`type` and `request_id` empty), or the WebSocket
// "reply" frame. Written directly, not through a JSON DOM: the same bytes
// boost::json::serialize gives the same fields, in this order. "model" is the model that
// wrote the text (Reply::model), null when the reply came from below the models.
// "degradation_version" ("v2" | "v3"; "v1" only in an incident replay) is present only on a
// reply that is the degradation message (Reply::degradation_version).
// NOTE: the status it carries stays state, eta_s and breakers: the per-model details and the
// spend are for operators (/status), not for every visitor.
std::string reply_json(const assist::Reply& r, const assist::ServiceStatus& st,
                       std::string_view type, std::string_view request_id,
                       std::string_view session_id = {});

// The 429 a user (or a source) over their own limit receives: the truth, and when they can
// send again, in Japanese when the message was.
// Its links (a spent token budget's) are pages.hpp action_link's: with the language and under
// `store_base_url` when one is set.
std::string rate_limited_body(const admission::AdmissionResult& r, bool japanese,
                              std::string_view store_base_url = {});

// WebSocket frames: {"type":"error",...}, {"type":"queued",...}, {"type":"chunk",...}.
std::string ws_error(std::string_view code, std::string_view message, std::string_view request_id);
std::string ws_queued(std::string_view request_id, std::size_t position, core::Duration eta);
std::string ws_chunk(std::string_view request_id, const assist::StreamChunk& chunk);

// GET /admin/limits (and the "admission" part of /status).
boost::json::object limits_json(admission::Admission& a);
// The alarms, all or only the firing ones.
boost::json::array alarms_json(App& app, bool firing_only);
// GET /status: state, models, model_details, spend_today_usd, flags, `in_flight`, alarms,
// admission, cache, fleet.
// Refreshes the alarms' breaker inputs first.
Response status_response(App& app, std::size_t in_flight);
// GET /metrics: the registry in Prometheus text format (runs its collectors).
Response metrics_response(App& app);
// GET /: the chat page `html` with its security headers; 404 when it is not installed.
Response chat_page_response(const std::string& html, unsigned version);

}  // namespace ma::server
