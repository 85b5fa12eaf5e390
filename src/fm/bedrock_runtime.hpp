#pragma once
// A model on AWS Bedrock Runtime: POST /model/{modelId}/converse-stream (or /converse) per
// shared/contracts/bedrock_contract.md. SigV4 (signing name "bedrock", the model id encoded
// as one path segment and encoded again in the canonical URI) or a Bedrock API key (bearer).
//
// Streaming: the body is AWS event-stream; `contentBlockDelta` text goes to the client as it
// arrives. The stream must end with `messageStop`: a stream cut before it, a frame with a
// bad CRC or an oversized one, an in-stream exception, an error body of any shape (JSON,
// HTML from a proxy, nothing), a 200 without text -- each is a classified ModelError, so the
// cascade moves to the next tier within the deadline; no raw provider text reaches a user.

#include "core/clock.hpp"
#include "fm/aws_auth.hpp"
#include "fm/http_client.hpp"
#include "fm/model_provider.hpp"

namespace ma::fm {

struct BedrockConfig {
  std::string region = "us-east-1";  // AWS_REGION / AWS_DEFAULT_REGION override
  std::string endpoint{};            // empty: https://bedrock-runtime.{region}.amazonaws.com
  std::string profile{};             // shared credentials profile (AWS_PROFILE overrides)
  std::string model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  std::string lane = "sonnet";  // the cascade lane it serves
  bool stream = true;           // ConverseStream; false: Converse
  int max_tokens = 512;
  double temperature = 0.2;
  std::string ca_file{};  // extra trusted CA (PEM), e.g. for a VPC endpoint behind a proxy
};

class BedrockRuntime final : public ModelProvider {
 public:
  // Resolves the region, endpoint and credentials (see aws_auth.hpp) from `env`.
  static core::Result<std::unique_ptr<BedrockRuntime>> create(BedrockConfig config,
                                                              core::Clock& clock,
                                                              const EnvLookup& env);

  boost::asio::awaitable<ModelResult> invoke(const ModelRequest& req,
                                             const ChunkSink& on_chunk) override;
  std::string_view name() const override { return config_.lane; }

  // Public for tests and logs.
  std::string request_body(const ModelRequest& req) const;
  std::string request_path() const;  // "/model/anthropic.claude...-v1%3A0/converse-stream"
  const AwsAuth& auth() const { return auth_; }
  const Url& endpoint() const { return url_; }
  const HttpClient& http() const { return http_; }

 private:
  BedrockRuntime(BedrockConfig c, core::Clock& clock, Url url, AwsAuth auth)
      : config_(std::move(c)),
        clock_(clock),
        url_(std::move(url)),
        auth_(std::move(auth)),
        http_(with_ca_file(config_.ca_file)) {}
  HttpHeaders sign(const std::string& path, const std::string& body) const;

  BedrockConfig config_;
  core::Clock& clock_;
  Url url_;
  AwsAuth auth_;
  HttpClient http_;
};

}  // namespace ma::fm
