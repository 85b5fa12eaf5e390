#include "fm/openai_compatible.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>

#include "core/json_util.hpp"
#include "fm/provider_util.hpp"

namespace ma::fm {

namespace asio = boost::asio;
namespace json = boost::json;
using resilience::ErrorClass;

core::Result<std::unique_ptr<OpenAiCompatible>> OpenAiCompatible::create(OpenAiConfig config) {
  auto url = Url::parse(config.base_url);
  if (!url.ok()) return core::fail("invalid_config", "OPENAI_BASE_URL: " + url.error().message);
  return std::unique_ptr<OpenAiCompatible>(
      new OpenAiCompatible(std::move(config), std::move(url).value()));
}

std::string OpenAiCompatible::request_body(const ModelRequest& req) const {
  json::array messages;
  messages.push_back(json::object{{"role", "system"}, {"content", system_prompt(req)}});
  for (const auto& t : req.turns)
    messages.push_back(json::object{{"role", t.role}, {"content", t.text}});
  // An answer another lane began: a final assistant message (a prefill) the model continues.
  if (!req.continue_from.empty())
    messages.push_back(json::object{{"role", "assistant"}, {"content", req.continue_from}});
  return json::serialize(json::object{{"model", config_.model},
                                      {"messages", std::move(messages)},
                                      {"stream", true},
                                      {"stream_options", json::object{{"include_usage", true}}},
                                      {"max_tokens", config_.max_tokens}});
}

bool SseParser::feed(std::string_view bytes, const ChunkSink& on_chunk) {
  if (done_ || error_) return false;
  pending_.append(bytes);
  // Events are taken off the front only once per call (one move of what is left), not once
  // per event: a read holding many small events stays linear.
  std::size_t event_start = 0;
  while (!done_ && !error_) {
    const char* base = pending_.data();
    const void* nl = std::memchr(base + scan_, '\n', pending_.size() - scan_);
    if (nl == nullptr) {
      scanned_ += pending_.size() - scan_;
      scan_ = pending_.size();
      break;
    }
    const auto i = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    scanned_ += i + 1 - scan_;
    std::size_t line_end = i;
    if (line_end > line_start_ && pending_[line_end - 1] == '\r') --line_end;
    if (line_end == line_start_) {  // a blank line: the event is every line before it
      if (line_start_ - event_start > max_event_bytes_) {
        fail("StreamEventTooLarge",
             "a stream event over " + std::to_string(max_event_bytes_) + " bytes");
        break;
      }
      if (line_start_ > event_start) {
        handle_event(std::string_view(pending_).substr(event_start, line_start_ - event_start),
                     on_chunk);
      }
      event_start = i + 1;
    }
    line_start_ = scan_ = i + 1;
  }
  // The unfinished event so far, measured as the blank-line check above measures a whole one:
  // a '\r' at the very end may be the start of the line's "\r\n" and does not count (else
  // the result would depend on where the stream was split; found by tests/fuzz/sse_fuzz).
  std::size_t partial = pending_.size() - line_start_;
  if (partial > 0 && pending_.back() == '\r') --partial;
  if (!done_ && !error_ && line_start_ - event_start + partial > max_event_bytes_) {
    fail("StreamEventTooLarge",
         "a stream event over " + std::to_string(max_event_bytes_) + " bytes");
  }
  if (done_ || error_) {
    std::string().swap(pending_);
    line_start_ = scan_ = 0;
    return false;
  }
  pending_.erase(0, event_start);
  line_start_ -= event_start;
  scan_ -= event_start;
  return true;
}

void SseParser::fail(std::string code, std::string message) {
  error_ = model_error(ErrorClass::kUnknown, std::move(code), std::move(message), 200);
}

void SseParser::handle_event(std::string_view event, const ChunkSink& on_chunk) {
  std::string data;
  std::size_t pos = 0;
  while (pos < event.size()) {
    std::size_t nl = event.find('\n', pos);
    if (nl == std::string_view::npos) nl = event.size();
    std::string_view line = event.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!data.empty()) data += '\n';
      data += line;
    }
    pos = nl + 1;
  }
  if (data.empty()) return;
  if (data.starts_with("[DONE]")) {
    done_ = true;
    return;
  }
  auto v = core::parse_json(data);
  if (!v.ok() || !v->is_object()) {
    error_ = model_error(ErrorClass::kUnknown, "MalformedStreamEvent", "an event that is not JSON");
    return;
  }
  if (v->get_object().contains("error")) {
    auto p = resilience::parse_error(200, "", data);
    error_ = model_error(p.kind == ErrorClass::kClient ? ErrorClass::kUnknown : p.kind,
                         p.code.empty() ? "StreamError" : p.code, p.message);
    return;
  }
  if (const auto* usage = v->get_object().if_contains("usage"); usage && usage->is_object()) {
    const auto& u = usage->get_object();
    const auto* in = u.if_contains("prompt_tokens");
    const auto* out = u.if_contains("completion_tokens");
    if (in != nullptr && in->is_int64() && out != nullptr && out->is_int64()) {
      has_usage_ = true;
      input_tokens_ = static_cast<int>(std::clamp<std::int64_t>(in->get_int64(), 0, 1 << 30));
      output_tokens_ = static_cast<int>(std::clamp<std::int64_t>(out->get_int64(), 0, 1 << 30));
    }
  }
  const auto* choices = v->get_object().if_contains("choices");
  if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) return;
  const auto& c0 = choices->get_array()[0];
  const json::value* delta = c0.is_object() ? c0.get_object().if_contains("delta") : nullptr;
  const auto content = delta != nullptr ? core::get_string(*delta, "content") : std::nullopt;
  if (content && !content->empty()) {
    text_ += *content;
    if (on_chunk) on_chunk(*content);
  }
}

asio::awaitable<ModelResult> OpenAiCompatible::invoke(const ModelRequest& req,
                                                      const ChunkSink& on_chunk) {
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"},
                                                              {"Accept", "text/event-stream"}};
  if (!config_.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + config_.api_key);
  SseParser sse;
  // The first bytes tell an event stream ("data:" or an SSE comment) from a JSON body (an
  // error, or a server that ignored "stream": true), which is kept whole in `body` (up to
  // the same bound as one event).
  std::optional<bool> streaming;
  std::string body;
  bool body_too_large = false;
  auto sink = [&](std::string_view bytes) {
    if (!streaming) streaming = bytes.starts_with("data:") || bytes.starts_with(":");
    if (!*streaming) {
      if (body.size() + bytes.size() > SseParser::kMaxEventBytes) {
        body_too_large = true;
        return false;
      }
      body.append(bytes);
      return true;
    }
    return sse.feed(bytes, on_chunk);
  };
  std::string request = request_body(req);
  const int input_estimate = estimate_tokens(request);
  // What a failed stream billed: as the stream reported, else estimated once text came.
  auto billed = [&](ModelError e) {
    if (sse.has_usage()) {
      e.input_tokens = sse.input_tokens();
      e.output_tokens = sse.output_tokens();
    } else if (!sse.text().empty()) {
      e.input_tokens = input_estimate;
      e.output_tokens = estimate_tokens(sse.text());
    }
    return e;
  };
  auto res = co_await http_.request(url_, "POST", "/chat/completions", std::move(headers),
                                    std::move(request), req.deadline, sink, http_timeouts(req));
  if (!res.ok()) co_return core::fail(billed(transport_error(res.error())));
  const HttpResponse& r = *res;
  if (r.status != 200) {
    auto p = resilience::parse_error(r.status, "", r.body);
    ModelError e = model_error(p.kind, p.code.empty() ? "HTTP" + std::to_string(r.status) : p.code,
                               p.message, r.status);
    e.raw_code = p.raw_code.empty() ? e.code : p.raw_code;
    e.retry_after = retry_after(r.headers);
    co_return core::fail(std::move(e));
  }
  if (sse.error()) co_return core::fail(billed(*sse.error()));
  if (body_too_large) {
    co_return core::fail(model_error(
        ErrorClass::kUnknown, "ResponseTooLarge",
        "a 200 body over " + std::to_string(SseParser::kMaxEventBytes) + " bytes", 200));
  }
  if (!streaming.value_or(false)) {
    // A non-streaming JSON completion (some servers ignore "stream": true).
    auto v = core::parse_json(body);
    if (v.ok() && v->is_object()) {
      if (const auto* ch = v->get_object().if_contains("choices");
          ch && ch->is_array() && !ch->get_array().empty()) {
        const auto& msg = ch->get_array()[0];
        if (msg.is_object() && msg.get_object().contains("message")) {
          if (auto content = core::get_string(msg.at("message"), "content");
              content && !content->empty()) {
            if (on_chunk) on_chunk(*content);
            ModelReply reply{std::string(*content), config_.lane, input_estimate,
                             estimate_tokens(*content)};
            if (const auto* u = v->get_object().if_contains("usage"); u && u->is_object()) {
              const auto* in = u->get_object().if_contains("prompt_tokens");
              const auto* out = u->get_object().if_contains("completion_tokens");
              if (in != nullptr && in->is_int64() && out != nullptr && out->is_int64()) {
                reply.input_tokens = static_cast<int>(in->get_int64());
                reply.output_tokens = static_cast<int>(out->get_int64());
              }
            }
            co_return reply;
          }
        }
      }
    }
    co_return core::fail(model_error(ErrorClass::kUnknown,
                                     body.empty() ? "EmptyResponse" : "UnrecognisedResponse",
                                     "a 200 without a completion", 200));
  }
  if (!sse.done()) {
    co_return core::fail(billed(model_error(ErrorClass::kTransient, "StreamTruncated",
                                            "the stream ended before [DONE]", 200)));
  }
  if (sse.text().empty())
    co_return core::fail(model_error(ErrorClass::kUnknown, "EmptyCompletion", "no text", 200));
  const int input_tokens = sse.has_usage() ? sse.input_tokens() : input_estimate;
  const int output_tokens = sse.has_usage() ? sse.output_tokens() : estimate_tokens(sse.text());
  co_return ModelReply{sse.take_text(), config_.lane, input_tokens, output_tokens};
}

}  // namespace ma::fm
