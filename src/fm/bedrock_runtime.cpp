#include "fm/bedrock_runtime.hpp"

#include <boost/json.hpp>
#include <cctype>

#include "core/json_util.hpp"
#include "fm/eventstream.hpp"
#include "fm/provider_util.hpp"

namespace ma::fm {

namespace asio = boost::asio;
namespace json = boost::json;
using resilience::ErrorClass;

core::Result<std::unique_ptr<BedrockRuntime>> BedrockRuntime::create(BedrockConfig config,
                                                                     core::Clock& clock,
                                                                     const EnvLookup& env) {
  if (config.model_id.empty() || config.model_id.size() > 2048)
    return core::fail("invalid_config", "bedrock model_id must be 1..2048 characters");
  if (config.max_tokens < 1) return core::fail("invalid_config", "bedrock max_tokens must be >= 1");
  if (config.temperature < 0 || config.temperature > 1)
    return core::fail("invalid_config", "bedrock temperature must be within 0..1");
  config.region = resolve_region(env, config.region);
  const std::string endpoint = resolve_bedrock_endpoint(env, config.endpoint, config.region);
  auto url = Url::parse(endpoint);
  if (!url.ok()) return core::fail("invalid_config", "bedrock endpoint: " + url.error().message);
  auto auth = resolve_aws_auth(env, config.profile);
  if (!auth.ok()) return core::fail(std::move(auth).error());
  return std::unique_ptr<BedrockRuntime>(new BedrockRuntime(
      std::move(config), clock, std::move(url).value(), std::move(auth).value()));
}

std::string BedrockRuntime::request_path() const {
  return "/model/" + uri_encode(config_.model_id, false) +
         (config_.stream ? "/converse-stream" : "/converse");
}

std::string BedrockRuntime::request_body(const ModelRequest& req) const {
  // Bedrock wants user and assistant turns alternating, starting with the user: merge
  // neighbours with the same role, drop a leading assistant turn and empty ones.
  //
  // continue_from (an answer another lane began) is a final assistant turn, a prefill the
  // model continues; the stream then carries the continuation alone. Its trailing white
  // space is dropped: Bedrock refuses a final assistant turn that ends with any.
  std::vector<const Turn*> turns;
  turns.reserve(req.turns.size() + 1);
  for (const auto& t : req.turns) turns.push_back(&t);
  std::string_view prefill = req.continue_from;
  while (!prefill.empty() && std::isspace(static_cast<unsigned char>(prefill.back())))
    prefill.remove_suffix(1);
  const Turn prefill_turn{"assistant", std::string(prefill)};
  if (!prefill.empty()) turns.push_back(&prefill_turn);
  json::array messages;
  std::string last_role;
  for (const Turn* turn : turns) {
    const Turn& t = *turn;
    if (t.text.empty() || (t.role != "user" && t.role != "assistant")) continue;
    if (messages.empty() && t.role != "user") continue;
    if (t.role == last_role) {
      auto& content = messages.back().as_object()["content"].as_array();
      auto& text = content.back().as_object()["text"].as_string();
      text.append("\n");
      text.append(t.text);
      continue;
    }
    messages.push_back(
        json::object{{"role", t.role}, {"content", json::array{json::object{{"text", t.text}}}}});
    last_role = t.role;
  }
  return json::serialize(json::object{
      {"messages", std::move(messages)},
      {"system", json::array{json::object{{"text", system_prompt(req)}}}},
      {"inferenceConfig",
       json::object{{"maxTokens", config_.max_tokens}, {"temperature", config_.temperature}}}});
}

HttpHeaders BedrockRuntime::sign(const std::string& path, const std::string& body) const {
  HttpHeaders headers = {
      {"Host", url_.host_header()},
      {"Content-Type", "application/json"},
      {"Accept", config_.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  if (!auth_.bearer_token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + auth_.bearer_token);
    return headers;
  }
  SigV4Request sreq{"POST", url_.path + path, "", headers, body};
  SigV4Options opt{config_.region, "bedrock", clock_.wall_now(), true, false};
  SigV4Result signed_req = sigv4_sign(sreq, *auth_.sigv4, opt);
  for (auto& h : signed_req.added_headers) headers.push_back(std::move(h));
  headers.emplace_back("Authorization", std::move(signed_req.authorization));
  return headers;
}

namespace {

// "throttlingException" (an event-stream member name) -> "ThrottlingException".
std::string exception_code(std::string_view member) {
  std::string s(member);
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

struct StreamState {
  EventStreamDecoder decoder;
  std::vector<EventMessage> messages;
  std::string text;
  std::string stop_reason;
  int input_tokens = 0;
  int output_tokens = 0;
  bool stopped = false;  // messageStop seen
  std::optional<ModelError> error;
};

void on_event(StreamState& st, const EventMessage& m, const ChunkSink& on_chunk) {
  const std::string_view type = m.header(":message-type");
  if (type == "exception" || type == "error") {
    const std::string code = type == "exception" ? exception_code(m.header(":exception-type"))
                                                 : std::string(m.header(":error-code"));
    auto p = resilience::parse_error(0, code, m.payload);
    const std::string msg =
        type == "error" ? std::string(m.header(":error-message")) : std::move(p.message);
    ErrorClass kind = resilience::classify(0, code);
    st.error = model_error(kind, code.empty() ? "StreamException" : code, msg, 200);
    return;
  }
  if (type != "event") return;  // unknown message types are ignored, as the SDKs do
  const std::string_view event = m.header(":event-type");
  if (event != "contentBlockDelta" && event != "messageStop" && event != "metadata") return;
  auto v = core::parse_json(m.payload);
  if (!v.ok() || !v->is_object()) {
    st.error = model_error(ErrorClass::kUnknown, "MalformedStreamEvent",
                           "a " + std::string(event) + " event that is not a JSON object", 200);
    return;
  }
  const auto& o = v->get_object();
  if (event == "contentBlockDelta") {
    const auto* delta = o.if_contains("delta");
    if (delta == nullptr || !delta->is_object()) return;
    if (auto text = core::get_string(*delta, "text"); text && !text->empty()) {
      st.text += *text;
      if (on_chunk) on_chunk(*text);
    }
  } else if (event == "messageStop") {
    st.stopped = true;
    if (auto r = core::get_string(*v, "stopReason")) st.stop_reason = std::string(*r);
  } else if (const auto* usage = o.if_contains("usage"); usage && usage->is_object()) {
    const auto& u = usage->get_object();
    if (const auto* i = u.if_contains("inputTokens"); i && i->is_int64())
      st.input_tokens = static_cast<int>(i->get_int64());
    if (const auto* out = u.if_contains("outputTokens"); out && out->is_int64())
      st.output_tokens = static_cast<int>(out->get_int64());
  }
}

// The text of a Converse response: output.message.content[*].text.
std::optional<ModelReply> parse_converse(std::string_view body) {
  auto v = core::parse_json(body);
  if (!v.ok() || !v->is_object()) return std::nullopt;
  const auto* output = v->get_object().if_contains("output");
  if (output == nullptr || !output->is_object()) return std::nullopt;
  const auto* message = output->get_object().if_contains("message");
  if (message == nullptr || !message->is_object()) return std::nullopt;
  const auto* content = message->get_object().if_contains("content");
  if (content == nullptr || !content->is_array()) return std::nullopt;
  ModelReply r;
  for (const auto& block : content->get_array()) {
    if (auto t = core::get_string(block, "text")) r.text += *t;
  }
  if (const auto* usage = v->get_object().if_contains("usage"); usage && usage->is_object()) {
    if (const auto* i = usage->get_object().if_contains("inputTokens"); i && i->is_int64())
      r.input_tokens = static_cast<int>(i->get_int64());
    if (const auto* o = usage->get_object().if_contains("outputTokens"); o && o->is_int64())
      r.output_tokens = static_cast<int>(o->get_int64());
  }
  return r;
}

}  // namespace

asio::awaitable<ModelResult> BedrockRuntime::invoke(const ModelRequest& req,
                                                    const ChunkSink& on_chunk) {
  const std::string path = request_path();
  std::string body = request_body(req);
  HttpHeaders headers = sign(path, body);
  // What a failed stream billed, when Bedrock did not say (its usage comes in the metadata
  // event at the very end): the input estimated from the request body, the output from the
  // text streamed (provider_util's estimate_tokens).
  const int input_estimate = estimate_tokens(body);

  StreamState st;
  std::string plain;  // a Converse body, or a 200 that is not an event stream
  auto sink = [&](std::string_view bytes) {
    if (!config_.stream) {
      plain.append(bytes);
      return true;
    }
    st.messages.clear();
    if (auto s = st.decoder.feed(bytes, st.messages); !s.ok()) {
      st.error = model_error(ErrorClass::kUnknown, "CorruptEventStream", s.error().message, 200);
      return false;
    }
    for (const auto& m : st.messages) {
      on_event(st, m, on_chunk);
      if (st.error) return false;
    }
    return true;
  };
  // Usage billed for a stream that failed after some text: as reported, else estimated.
  auto billed = [&](ModelError e) {
    if (st.input_tokens > 0 || st.output_tokens > 0) {
      e.input_tokens = st.input_tokens;
      e.output_tokens = st.output_tokens;
    } else if (!st.text.empty()) {
      e.input_tokens = input_estimate;
      e.output_tokens = estimate_tokens(st.text);
    }
    return e;
  };
  auto res = co_await http_.request(url_, "POST", path, std::move(headers), std::move(body),
                                    req.deadline, sink, http_timeouts(req));
  if (!res.ok()) co_return core::fail(billed(transport_error(res.error())));
  const HttpResponse& r = *res;
  if (r.status != 200) {
    // botocore's order: x-amzn-ErrorType, then the body's code / __type, then the status.
    const auto type = r.headers.find("x-amzn-errortype");
    auto p = resilience::parse_error(r.status, type == r.headers.end() ? "" : type->second, r.body);
    ModelError e = model_error(p.kind, p.code.empty() ? "HTTP" + std::to_string(r.status) : p.code,
                               p.message, r.status);
    e.raw_code = p.raw_code.empty() ? e.code : p.raw_code;
    e.retry_after = retry_after(r.headers);
    if (auto id = r.headers.find("x-amzn-requestid"); id != r.headers.end())
      e.message += " (request " + id->second.substr(0, 64) + ")";
    co_return core::fail(std::move(e));
  }
  if (!config_.stream) {
    auto reply = parse_converse(plain);
    if (!reply) {
      co_return core::fail(model_error(ErrorClass::kUnknown,
                                       plain.empty() ? "EmptyResponse" : "UnrecognisedResponse",
                                       "a 200 without a Converse output", 200));
    }
    if (reply->text.empty())
      co_return core::fail(model_error(ErrorClass::kUnknown, "EmptyCompletion", "no text", 200));
    if (on_chunk) on_chunk(reply->text);
    reply->model_id = config_.lane;
    co_return std::move(*reply);
  }
  if (st.error) co_return core::fail(billed(std::move(*st.error)));
  if (!st.stopped) {
    // The body ended without messageStop: cut mid-answer (or never an event stream at all).
    const bool nothing = st.text.empty() && st.decoder.idle();
    co_return core::fail(billed(model_error(
        nothing ? ErrorClass::kUnknown : ErrorClass::kTransient,
        nothing ? "EmptyResponse" : "StreamTruncated",
        nothing ? "a 200 without events" : "the event stream ended before messageStop", 200)));
  }
  if (st.text.empty())
    co_return core::fail(model_error(ErrorClass::kUnknown, "EmptyCompletion",
                                     "no text (stop reason " + st.stop_reason + ")", 200));
  if (st.input_tokens == 0 && st.output_tokens == 0) {  // no metadata event: estimated
    st.input_tokens = input_estimate;
    st.output_tokens = estimate_tokens(st.text);
  }
  co_return ModelReply{std::move(st.text), config_.lane, st.input_tokens, st.output_tokens};
}

}  // namespace ma::fm
