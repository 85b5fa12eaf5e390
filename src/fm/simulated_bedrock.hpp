#pragma once
// A simulated Bedrock model, the embedded default for both "sonnet" and "haiku".
//
// - Latency: log-normal with the configured median and p99 (zero median = instant).
// - Capacity: a token bucket of `capacity_rps` (burst = one second of it); beyond it the
//   model answers 429 ThrottlingException, as Bedrock does under regional load.
// - Faults (POST /admin/chaos, scenarios): a throttle rate, a full outage (503), extra
//   latency, and an unknown new error format hitting a share of requests whose text has
//   kanji (seed scenario 4), each until an end time. Deterministic ones for the cascade:
//   a hung model (accepts, sends nothing), a stream that stalls or is cut after N chunks
//   (StreamTruncated, kTransient, the part delivered billed), wrong credentials (a fast 403
//   InvalidSignatureException, kClient).
// - Answers are written from the retrieved facts (the draft), so they are useful. With
//   continue_from a prefix of that text, only the rest is streamed and returned.
// - Budgets, exactly on the clock: a first chunk due after the request's
//   first_token_timeout ends the call at that instant with kTimeout "FirstTokenTimeout"; a
//   gap between chunks longer than idle_timeout ends it at the last chunk + idle_timeout
//   with "StreamStalled"; the deadline, when it comes first (or at the same time),
//   "DeadlineExceeded". An error answer counts as the first piece of the answer.
// - Cancellation (Asio terminal or any, e.g. a hedge's loser): a wait cancelled, or a
//   cancellation seen before the next wait, ends the call at once with kTransient
//   "Cancelled".
// - Usage: on success, about 3 bytes a token of the text (input: the draft plus 200); a
//   stream that fails after some chunks (cut, stall, deadline, cancel) bills the same
//   input and the output delivered, in ModelError::input_tokens/output_tokens.
//
// Thread safety: invoke() may run concurrently; decisions take a spin lock, waits do not.

#include <mutex>

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/spin_lock.hpp"
#include "fm/model_provider.hpp"
#include "resilience/token_bucket.hpp"

namespace ma::fm {

struct SimModelSpec {
  std::string name = "sonnet";
  core::Duration latency_median = std::chrono::milliseconds(900);
  core::Duration latency_p99 = std::chrono::milliseconds(2200);
  double capacity_rps = 5000;
  int chunks = 4;
};

struct FaultSpec {
  double throttle_rate = 0.0;
  bool outage = false;
  core::Duration extra_latency{};
  double unknown_error_rate = 0.0;
  // The model accepts the call and sends nothing (a hung endpoint).
  bool hang = false;
  // Streams this many chunks, then goes silent (stall) or fails the stream (cut:
  // StreamTruncated, the text so far billed). Negative: off.
  int stall_after_chunks = -1;
  int cut_after_chunks = -1;
  // Every call fails with 403 InvalidSignatureException (wrong credentials).
  bool auth_failure = false;
  core::TimePoint until = core::TimePoint::max();
  bool any() const {
    return throttle_rate > 0 || outage || extra_latency > core::Duration::zero() ||
           unknown_error_rate > 0 || hang || stall_after_chunks >= 0 || cut_after_chunks >= 0 ||
           auth_failure;
  }
};

class SimulatedBedrock final : public ModelProvider {
 public:
  SimulatedBedrock(SimModelSpec spec, core::Clock& clock, std::uint64_t seed);

  boost::asio::awaitable<ModelResult> invoke(const ModelRequest& req,
                                             const ChunkSink& on_chunk) override;
  std::string_view name() const override { return spec_.name; }

  void set_faults(const FaultSpec& f);
  void clear_faults() { set_faults(FaultSpec{}); }
  FaultSpec faults() const;
  // Changes the regional capacity (the simulator's capacity curve).
  void set_capacity(double rps);
  void set_latency(core::Duration median, core::Duration p99);

  // The text the model writes for a request (deterministic given the draft).
  static std::string compose(const ModelRequest& req, std::string_view model);

 private:
  struct Plan {
    core::Duration latency{};
    std::optional<ModelError> error;
    bool hang = false;
    int stall_after_chunks = -1;
    int cut_after_chunks = -1;
  };
  Plan plan(const ModelRequest& req);

  SimModelSpec spec_;
  core::Clock& clock_;
  mutable core::SpinLock mu_;
  core::Random rng_;
  resilience::TokenBucket capacity_;
  FaultSpec faults_;
};

}  // namespace ma::fm
