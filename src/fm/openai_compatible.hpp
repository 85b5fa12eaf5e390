#pragma once
// A model behind any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, another
// gateway): POST {base}/chat/completions with SSE streaming, per
// shared/contracts/openai_contract.md. Streams `choices[0].delta.content` to the client as it
// arrives. Errors: the `{"error": {...}}` body, then the status, classified by
// resilience::parse_error; Retry-After and retry-after-ms become the retry hint. A stream that
// ends without `[DONE]`, an empty 200, HTML from a proxy: each is a classified error, never a
// raw message for the user. Usage: the request asks for it in the stream
// (`stream_options.include_usage`) and reads it from the last chunk; without one (a server
// that ignores the option, a stream cut short) it is estimated (provider_util's
// estimate_tokens). continue_from is sent as a final assistant message, which the model
// continues (vLLM needs its `continue_final_message` for that; servers that refuse a final
// assistant message answer 400). Memory per request is bounded: one stream event, or a 200 that is
// not a stream, over 1 MiB is an error (StreamEventTooLarge, ResponseTooLarge).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fm/http_client.hpp"
#include "fm/model_provider.hpp"

namespace ma::fm {

// Incremental parsing of a chat-completions event stream (public for tests). Events end at a
// blank line ("\n\n", "\r\n\r\n" or a mix); `data:` lines are joined; `[DONE]` ends the
// stream; `choices[0].delta.content` goes to the chunk sink; an `{"error": ...}` event or one
// that is not JSON is a classified error. A `usage` object (the last chunk, with
// stream_options.include_usage; some servers send one on every chunk) is kept: the last wins.
//
// Linear: each byte is looked at once for the end of its event, however the stream is split
// (the scan resumes where it stopped), and taking an event off the buffer never moves the
// bytes after it more than once. One event is at most `max_event_bytes` (its data lines and
// terminators): past that, a kUnknown "StreamEventTooLarge" error, and nothing more is kept.
// Not thread-safe (one per request).
class SseParser final {
 public:
  static constexpr std::size_t kMaxEventBytes = 1024 * 1024;
  explicit SseParser(std::size_t max_event_bytes = kMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Takes the next bytes of the stream. Returns false once the stream is done or failed
  // (what follows is ignored).
  bool feed(std::string_view bytes, const ChunkSink& on_chunk);

  bool done() const { return done_; }
  const std::optional<ModelError>& error() const { return error_; }
  const std::string& text() const { return text_; }
  std::string take_text() { return std::move(text_); }
  // The usage the stream reported (prompt_tokens, completion_tokens); has_usage() false: none.
  bool has_usage() const { return has_usage_; }
  int input_tokens() const { return input_tokens_; }
  int output_tokens() const { return output_tokens_; }
  // Bytes held for an event not yet complete.
  std::size_t buffered_bytes() const { return pending_.size(); }
  // Bytes examined for the end of an event, in all (a test hook: linear parsing examines
  // each byte once).
  std::uint64_t scanned_bytes() const { return scanned_; }

 private:
  void handle_event(std::string_view event, const ChunkSink& on_chunk);
  void fail(std::string code, std::string message);

  std::size_t max_event_bytes_;
  std::string pending_;         // [0, line_start_) whole lines of the current event, then more
  std::size_t line_start_ = 0;  // where the line being scanned starts (all before: scanned)
  std::size_t scan_ = 0;  // the next byte to look at (all before it: no '\n' after line_start_)
  std::uint64_t scanned_ = 0;
  std::string text_;
  bool has_usage_ = false;
  int input_tokens_ = 0;
  int output_tokens_ = 0;
  bool done_ = false;
  std::optional<ModelError> error_;
};

struct OpenAiConfig {
  std::string base_url = "http://127.0.0.1:8000/v1";  // OPENAI_BASE_URL
  std::string api_key;                                // OPENAI_API_KEY; empty: no header
  std::string model = "default";                      // the model name the server expects
  std::string lane = "sonnet";                        // the cascade lane it serves
  int max_tokens = 512;
  std::string ca_file;  // extra trusted CA (PEM) for a private endpoint
};

class OpenAiCompatible final : public ModelProvider {
 public:
  static core::Result<std::unique_ptr<OpenAiCompatible>> create(OpenAiConfig config);

  boost::asio::awaitable<ModelResult> invoke(const ModelRequest& req,
                                             const ChunkSink& on_chunk) override;
  std::string_view name() const override { return config_.lane; }

  // The request body for a model request (public for tests).
  std::string request_body(const ModelRequest& req) const;
  const HttpClient& http() const { return http_; }

 private:
  OpenAiCompatible(OpenAiConfig c, Url u)
      : config_(std::move(c)), url_(std::move(u)), http_(with_ca_file(config_.ca_file)) {}
  OpenAiConfig config_;
  Url url_;
  HttpClient http_;
};

}  // namespace ma::fm
