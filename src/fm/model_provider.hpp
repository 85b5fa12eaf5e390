#pragma once
// The ModelProvider seam: one foundation-model endpoint (a Bedrock model, an
// OpenAI-compatible server, or the built-in simulation). Async and streaming.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/deadline.hpp"
#include "core/result.hpp"
#include "resilience/error_class.hpp"

namespace ma::fm {

enum class Language : std::uint8_t { kEn, kJa };
inline std::string_view to_string(Language l) { return l == Language::kJa ? "ja" : "en"; }

struct Turn {
  std::string role;  // "user" or "assistant"
  std::string text;
};

// What retrieval found, handed to the model as grounding.
struct Facts {
  std::vector<std::string> lines;  // one fact per line, in the reply language
  // An answer written from live data alone (the static tier's text). A real model gets it
  // as a reference; the simulated model rephrases it.
  std::string draft;
};

struct ModelRequest {
  std::string model_id;  // "sonnet", "haiku" or a provider model id
  Language lang = Language::kEn;
  std::string_view system;  // the instructions: static text, or text that outlives the call
  std::vector<Turn> turns;
  const Facts* facts = nullptr;  // the grounding (not owned; outlives the call); null: none
  core::Deadline deadline;
  // The attempt's own budgets, inside `deadline` (zero: the deadline alone bounds it). Past
  // either, the call ends with a kTimeout error: "FirstTokenTimeout" when no piece of the
  // answer came within `first_token_timeout` of the call (over HTTP: no byte of the
  // response), "StreamStalled" when a streamed answer went silent for `idle_timeout`.
  core::Duration first_token_timeout{};
  core::Duration idle_timeout{};
  // An answer another lane began and could not finish (a lane's continue_on_fallback): this
  // model continues it rather than starting over; on_chunk receives the continuation only,
  // and ModelReply::text is the continuation only. Empty: a fresh answer.
  std::string_view continue_from;
};

struct ModelReply {
  std::string text;
  std::string model_id;
  int input_tokens = 0;
  int output_tokens = 0;
};

struct ModelError {
  resilience::ErrorClass kind = resilience::ErrorClass::kUnknown;
  std::string code;      // normalised error code ("ThrottlingException")
  std::string raw_code;  // as received, for logs
  std::string message;   // sanitised provider message: for logs, never for users
  int http_status = 0;
  std::optional<core::Duration> retry_after;
  // What the provider billed before the failure (a stream cut after some text): as it
  // reported, or estimated from the text when it reported nothing.
  int input_tokens = 0;
  int output_tokens = 0;
};

using ChunkSink = std::function<void(std::string_view)>;
using ModelResult = core::Result<ModelReply, ModelError>;

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  // Streams text to `on_chunk` as it arrives and returns the whole reply or an error. Never
  // throws; returns a kTimeout error rather than run past `req.deadline` (or the attempt's
  // budgets). Honours Asio terminal cancellation (a hedge's loser): it returns promptly with
  // a "Cancelled" error, its connection closed rather than pooled. Safe to call concurrently
  // from several coroutines and threads.
  virtual boost::asio::awaitable<ModelResult> invoke(const ModelRequest& req,
                                                     const ChunkSink& on_chunk) = 0;
  virtual std::string_view name() const = 0;
};

}  // namespace ma::fm
