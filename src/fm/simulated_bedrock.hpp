#pragma once
// A simulated Bedrock model, the embedded default for both "sonnet" and "haiku".
//
// - Latency: log-normal with the configured median and p99 (zero median = instant).
// - Capacity: a token bucket of `capacity_rps` (burst = one second of it); beyond it the
//   model answers 429 ThrottlingException, as Bedrock does under regional load.
// - Faults (POST /admin/chaos, scenarios): a throttle rate, a full outage (503), extra
//   latency, and an unknown new error format hitting a share of requests whose text has
//   kanji (seed scenario 4), each until an end time.
// - Answers are written from the retrieved facts (the draft), so they are useful.
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
