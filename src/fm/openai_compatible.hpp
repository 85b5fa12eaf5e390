#pragma once
// A model behind any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, another
// gateway): POST {base}/chat/completions with SSE streaming, per
// shared/contracts/openai_contract.md. Streams `choices[0].delta.content` to the client as it
// arrives. Errors: the `{"error": {...}}` body, then the status, classified by
// resilience::parse_error; Retry-After and retry-after-ms become the retry hint. A stream that
// ends without `[DONE]`, an empty 200, HTML from a proxy: each is a classified error, never a
// raw message for the user.

#include "fm/http_client.hpp"
#include "fm/model_provider.hpp"

namespace ma::fm {

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
