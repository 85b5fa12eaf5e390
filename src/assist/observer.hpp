#pragma once
// RequestObserver: what the pipeline's replies tell operators. For every final reply it
// records metrics, writes one complete JSON log line (never sampled), decides at the end of
// the request whether to keep the trace (errors, throttles and degraded replies always), and
// feeds the alarms. The server and the simulator use the same observer.
//
// Metric labels and alarm subjects fed by outside input are bounded: error codes by
// observe::ErrorCodeLabels (known codes and the first few others by name, the rest "other";
// the raw code stays in the log line), models to kMaxModels names, refusal scopes, error
// classes and price-guard outcomes to their known values (else "other").
// The logged question is cut at a code point, redacted, then cut to kMaxLoggedTextBytes.
//
// Thread safety: on_reply may be called concurrently; the parts are thread-safe.

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "assist/pipeline.hpp"
#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/slot_random.hpp"
#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"
#include "observe/alarms.hpp"
#include "observe/error_code_labels.hpp"
#include "observe/metrics.hpp"
#include "observe/otlp_exporter.hpp"
#include "observe/request_log.hpp"
#include "observe/sampling.hpp"
#include "observe/trace.hpp"

namespace ma::assist {

// What admission did to a message.
enum class AdmissionOutcome : std::uint8_t {
  kAdmitted,       // at once
  kQueued,         // after a wait in the queue
  kLimitedUser,    // over the sender's own limit (429)
  kLimitedSource,  // over its source address's limit (429)
  kQueueTimeout,   // waited past the queue's limit: the high-demand reply
};
// "admitted", "queued", "limited_user", "limited_source", "queue_timeout".
std::string_view to_string(AdmissionOutcome o);

// What admission did to the message, for the log and the trace.
struct AdmissionNote {
  AdmissionOutcome outcome = AdmissionOutcome::kAdmitted;
  core::Duration waited{};
};

class RequestObserver final {
 public:
  // Models with series of their own; a model met after these is counted as "other".
  static constexpr std::size_t kMaxModels = 16;
  // The most of a question handed to the request log (which redacts it and keeps at most
  // observe::kMaxLoggedTextBytes); the server's own limit is 2,000 characters.
  static constexpr std::size_t kMaxQuestionBytes = 8 * 1024;

  // `log` and `traces` may be null (not written). Not owned; must outlive the observer.
  RequestObserver(core::Clock& clock, observe::MetricsRegistry& metrics,
                  observe::AlarmEngine& alarms, observe::Sampler& sampler, observe::LogSink* log,
                  observe::TraceSink* traces, std::uint64_t seed);

  struct TraceDecision {
    bool went_wrong = false;  // an error, throttle, degraded reply, price correction, timeout
    bool kept = false;
  };
  TraceDecision on_reply(const Reply& r, std::string_view question, std::string_view user_id,
                         const AdmissionNote& admission, std::string_view path = "/v1/chat");
  // A message refused before the pipeline (429): logged and counted, no trace.
  void on_refused(std::string_view scope, std::string_view question, std::string_view user_id,
                  std::string_view trace_id);

  // Also send kept traces to an OTLP collector (not owned; may be null).
  void set_exporter(observe::OtlpExporter* exporter) { otlp_ = exporter; }
  // Tail sampling (the default): every request that went wrong keeps its trace. Off, only
  // the head decision counts (uniform sampling, as in seed incident 4).
  void set_keep_errors(bool on) { keep_errors_ = on; }
  std::uint64_t traces_kept() const { return kept_.load(); }
  // Whether replies are logged (the question text is only needed then).
  bool logs() const { return log_ != nullptr; }
  std::uint64_t log_lines() const { return lines_.load(); }

 private:
  core::Clock& clock_;
  observe::MetricsRegistry& metrics_;
  observe::AlarmEngine& alarms_;
  observe::Sampler& sampler_;
  observe::LogSink* log_;
  observe::TraceSink* traces_;
  observe::OtlpExporter* otlp_ = nullptr;
  core::SlotRandom rng_;            // sampling draws, one generator per worker
  core::StatCounter kept_, lines_;  // per thread slot
  bool keep_errors_ = true;

  // Series with fixed labels, resolved once: recording is then an atomic add, no lookup.
  std::array<std::array<observe::Counter*, kIntentCount>, 5> replies_{};  // [tier][intent]
  std::array<observe::Counter*, kIntentCount> degraded_{};                // [intent]
  std::array<observe::Histogram*, 5> duration_{};                         // [tier]
  observe::Family<observe::Histogram>& queue_wait_;
  observe::Family<observe::Counter>& model_attempts_;
  observe::Family<observe::Counter>& model_errors_;
  observe::Family<observe::Counter>& retries_;
  observe::Family<observe::Counter>& traces_kept_;
  observe::Family<observe::Counter>& refused_;
  observe::Family<observe::Counter>& guard_;
  observe::Histogram* queue_wait_series_;
  std::array<observe::Counter*, 2> kept_series_{};  // [error, sampled]
  // By GuardOutcome (kNotChecked has none).
  std::array<observe::Counter*, 5> guard_series_{};
  // Per model (a handful, met at runtime): attempts ok / error, and retries.
  struct ModelSeries {
    std::string model;
    observe::Counter* ok;
    observe::Counter* error;
    observe::Counter* retry;
  };
  const ModelSeries& model_series(std::string_view model);
  core::SpinLock model_series_mu_;
  std::vector<std::unique_ptr<ModelSeries>> model_series_;  // at most kMaxModels + "other"
  observe::ErrorCodeLabels error_codes_;                    // the error_code label
};

}  // namespace ma::assist
