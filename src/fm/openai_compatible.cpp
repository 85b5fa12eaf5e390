#include "fm/openai_compatible.hpp"

#include <boost/json.hpp>
#include <cmath>

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
  return json::serialize(json::object{{"model", config_.model},
                                      {"messages", std::move(messages)},
                                      {"stream", true},
                                      {"max_tokens", config_.max_tokens}});
}

namespace {

// Incremental SSE: complete events ("...\n\n") are taken off the front of `pending`.
struct SseState {
  std::string pending;
  std::string text;
  bool done = false;
  std::optional<ModelError> error;
};

void feed_sse(SseState& st, std::string_view bytes, const ChunkSink& on_chunk) {
  st.pending.append(bytes);
  for (;;) {
    std::size_t end = st.pending.find("\n\n");
    std::size_t sep = 2;
    if (const auto crlf = st.pending.find("\r\n\r\n"); crlf != std::string::npos && crlf < end) {
      end = crlf;
      sep = 4;
    }
    if (end == std::string::npos || st.done || st.error) return;
    const std::string event = st.pending.substr(0, end);
    st.pending.erase(0, end + sep);
    std::string data;
    std::size_t pos = 0;
    while (pos <= event.size()) {
      std::size_t nl = event.find('\n', pos);
      if (nl == std::string::npos) nl = event.size();
      std::string_view line(event.data() + pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind("data:", 0) == 0) {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (!data.empty()) data += '\n';
        data += line;
      }
      pos = nl + 1;
    }
    if (data.empty()) continue;
    if (data.rfind("[DONE]", 0) == 0) {
      st.done = true;
      return;
    }
    auto v = core::parse_json(data);
    if (!v.ok() || !v->is_object()) {
      st.error =
          model_error(ErrorClass::kUnknown, "MalformedStreamEvent", "an event that is not JSON");
      return;
    }
    if (v->get_object().contains("error")) {
      auto p = resilience::parse_error(200, "", data);
      st.error = model_error(p.kind == ErrorClass::kClient ? ErrorClass::kUnknown : p.kind,
                             p.code.empty() ? "StreamError" : p.code, p.message);
      return;
    }
    const auto* choices = v->get_object().if_contains("choices");
    if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) continue;
    const auto& c0 = choices->get_array()[0];
    const json::value* delta = c0.is_object() ? c0.get_object().if_contains("delta") : nullptr;
    const auto content = delta != nullptr ? core::get_string(*delta, "content") : std::nullopt;
    if (content && !content->empty()) {
      st.text += *content;
      if (on_chunk) on_chunk(*content);
    }
  }
}

}  // namespace

asio::awaitable<ModelResult> OpenAiCompatible::invoke(const ModelRequest& req,
                                                      const ChunkSink& on_chunk) {
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"},
                                                              {"Accept", "text/event-stream"}};
  if (!config_.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + config_.api_key);
  SseState st;
  // The first bytes tell an event stream ("data:" or an SSE comment) from a JSON body (an
  // error, or a server that ignored "stream": true), which is kept whole in st.pending.
  std::optional<bool> streaming;
  auto sink = [&](std::string_view bytes) {
    if (!streaming) streaming = bytes.rfind("data:", 0) == 0 || bytes.rfind(":", 0) == 0;
    if (!*streaming) {
      st.pending.append(bytes);
      return true;
    }
    feed_sse(st, bytes, on_chunk);
    return !st.done && !st.error;
  };
  auto res = co_await http_.request(url_, "POST", "/chat/completions", std::move(headers),
                                    request_body(req), req.deadline, sink);
  if (!res.ok()) {
    co_return core::fail(transport_error(res.error()));
  }
  const HttpResponse& r = *res;
  if (r.status != 200) {
    auto p = resilience::parse_error(r.status, "", r.body);
    ModelError e = model_error(p.kind, p.code.empty() ? "HTTP" + std::to_string(r.status) : p.code,
                               p.message, r.status);
    e.raw_code = p.raw_code.empty() ? e.code : p.raw_code;
    e.retry_after = retry_after(r.headers);
    co_return core::fail(std::move(e));
  }
  if (st.error) co_return core::fail(*st.error);
  if (!streaming.value_or(false)) {
    // A non-streaming JSON completion (some servers ignore "stream": true).
    auto v = core::parse_json(st.pending);
    if (v.ok() && v->is_object()) {
      if (const auto* ch = v->get_object().if_contains("choices");
          ch && ch->is_array() && !ch->get_array().empty()) {
        const auto& msg = ch->get_array()[0];
        if (msg.is_object() && msg.get_object().contains("message")) {
          if (auto content = core::get_string(msg.at("message"), "content");
              content && !content->empty()) {
            if (on_chunk) on_chunk(*content);
            co_return ModelReply{std::string(*content), config_.lane, 0, 0};
          }
        }
      }
    }
    co_return core::fail(model_error(ErrorClass::kUnknown,
                                     st.pending.empty() ? "EmptyResponse" : "UnrecognisedResponse",
                                     "a 200 without a completion", 200));
  }
  if (!st.done) {
    co_return core::fail(model_error(ErrorClass::kTransient, "StreamTruncated",
                                     "the stream ended before [DONE]", 200));
  }
  if (st.text.empty())
    co_return core::fail(model_error(ErrorClass::kUnknown, "EmptyCompletion", "no text", 200));
  co_return ModelReply{std::move(st.text), config_.lane, 0, 0};
}

}  // namespace ma::fm
