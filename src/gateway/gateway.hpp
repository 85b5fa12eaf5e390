#pragma once
// The gateway without a transport: everything a chat message passes through, wired once for
// both drivers -- the server (one task, real time, real or simulated models) and the incident
// simulator (a fleet of tasks on virtual time, simulated models). Built from a config and a
// provider factory; the driver brings the clock, the catalog, where shared state lives and
// where logs go, and keeps the transport, the fleet wiring and its own reporting.
//
// Built here, the same way for both: the catalog -> cache invalidation, the model lanes and
// their seeds, one understanding memo, the pipelines (one per task) and their seeds, the
// admission capacity feed (each task's share of what the models can take), the sampler and
// the observer, the cache maintenance (sale watcher, validation) and one ChatFlow per task.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "admission/admission.hpp"
#include "assist/ab_stats.hpp"
#include "assist/cache_maintenance.hpp"
#include "assist/degradation_split.hpp"
#include "assist/flags.hpp"
#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "assist/recent_replies.hpp"
#include "assist/understanding.hpp"
#include "cache/response_cache.hpp"
#include "catalog/catalog.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "fm/model_provider.hpp"
#include "gateway/chat_flow.hpp"
#include "observe/alarms.hpp"
#include "observe/metrics.hpp"
#include "observe/sampling.hpp"

namespace ma::gateway {

// Makes the provider of lane `lane` (an index into GatewayConfig::lanes). `seed` is the
// lane's own (simulated models draw from it).
using ProviderFactory = std::function<core::Result<std::unique_ptr<fm::ModelProvider>>(
    std::size_t lane, std::uint64_t seed)>;

// List prices of a model, US dollars per million tokens.
struct ModelPrices {
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
};
// By a lane's name or a model id containing (in any case) "sonnet": $3 / $15, "haiku":
// $0.25 / $1.25 (the seed's Claude prices); anything else 0 / 0 (configure its prices).
ModelPrices default_model_prices(std::string_view model);

// One model lane, in cascade order.
struct LaneConfig {
  // What admission may pass on to this lane in all, messages/s: the account's quota
  // (server) or the region's capacity (simulator). Each task feeds its share, or its
  // adaptive limiter's rate once that has seen throttles.
  double feed_rps = 0;
};

struct GatewayConfig {
  assist::PipelineConfig pipeline;
  admission::AdmissionConfig admission;
  cache::CacheLimits cache;
  assist::MaintenanceConfig maintenance;
  // A price or stock change drops every cached answer that mentions the product (incident
  // 3's fix; the simulator's incident variant turns it off).
  bool invalidate_on_change = true;
  // Pipelines sharing the catalog, cache, flags, budget and admission: the simulator's tasks
  // of one fleet; the server runs one.
  int tasks = 1;
  // The model lanes in cascade order, at least one: by default Sonnet, then Haiku. Each is
  // named by its provider (ModelProvider::name(), unique), which PRIMARY_MODEL, /status and
  // the metrics use. The pipeline's own quotas per lane are pipeline.quota_rps.
  std::vector<LaneConfig> lanes = {LaneConfig{}, LaneConfig{}};
  // Every seed below derives from this one. 0: drawn from the system's entropy.
  std::uint64_t seed = 0;
  // Keep every error trace whatever the sampler says (incident 4's fix).
  bool keep_error_traces = true;
  // The degradation-message experiment ([degradation] ab); empty: none, the flag decides.
  assist::DegradationSplit degradation_ab{};
  // Track what users do after degraded replies (assist::AbStats) and which user got which
  // reply (assist::RecentReplies, for feedback). The server does; the simulator does not.
  bool track_replies = false;
  assist::AbLimits ab_limits{};
  observe::AlarmConfig alarms{};
};

struct GatewayDeps {
  core::Clock& clock;
  std::unique_ptr<catalog::Catalog> catalog;  // REQUIRES: not null
  ProviderFactory providers = {};
  // The fleet's retry budget and shared cache tier (state::SharedState, owned by the
  // driver and outliving the gateway); null: none.
  resilience::RetryBudget* fleet_budget = nullptr;
  cache::SharedCacheTier* shared_cache = nullptr;
  // Where calls that wait on the network outside a coroutine run (Pipeline::Deps::blocking).
  std::optional<boost::asio::any_io_executor> blocking = std::nullopt;
  std::unique_ptr<observe::Sampler> sampler = {};  // null: the default rules
  observe::LogSink* log = nullptr;                 // both optional; they outlive the gateway
  observe::TraceSink* traces = nullptr;
};

class Gateway final {
 public:
  static core::Result<std::unique_ptr<Gateway>> build(GatewayConfig config, GatewayDeps deps);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Spawns the background work on `executor`: the sale watcher and the validation job.
  void start(const boost::asio::any_io_executor& executor);

  const GatewayConfig& config() const { return config_; }
  std::uint64_t seed() const { return config_.seed; }
  core::Clock& clock() { return clock_; }
  catalog::Catalog& catalog() { return *catalog_; }
  cache::ResponseCache& cache() { return *cache_; }
  assist::RuntimeFlags& flags() { return flags_; }
  std::size_t lane_count() const { return lanes_.size(); }
  fm::ModelProvider& provider(std::size_t lane) { return *lanes_[lane]; }
  std::size_t tasks() const { return pipelines_.size(); }
  assist::Pipeline& pipeline(std::size_t task = 0) { return *pipelines_[task]; }
  ChatFlow& flow(std::size_t task = 0) { return flows_[task]; }
  admission::Admission& admission() { return *admission_; }
  assist::CacheMaintenance& maintenance() { return *maintenance_; }
  observe::MetricsRegistry& metrics() { return metrics_; }
  observe::AlarmEngine& alarms() { return alarms_; }
  // What the models can take now, messages/s, summed over the tasks: admission's capacity
  // feed (each task's share of the feeds, or its adaptive limiters' rates once engaged).
  double model_capacity() const;
  // Each lane's running totals (calls, hedges, skips, tokens, cost) summed over the tasks'
  // pipelines, in lane order.
  std::vector<assist::LaneCounters> lane_counters() const;
  observe::Sampler& sampler() { return *sampler_; }
  assist::RequestObserver& observer() { return *observer_; }
  const assist::DegradationSplit& degradation_split() const { return config_.degradation_ab; }
  // Null unless GatewayConfig::track_replies.
  assist::AbStats* ab_stats() { return ab_.get(); }
  assist::RecentReplies* recent_replies() { return recent_.get(); }
  // Feedback on one of `user_key`'s recent replies (POST /v1/feedback): each answer given
  // replaces the reply's earlier one, moves the A/B tracker's counts for the version the reply
  // showed, and is counted in mangaassist_feedback_total{version,kind} (version "none" for a
  // reply that was not the degradation message). False, and nothing recorded: the trace is
  // not one of the user's recent replies (unknown, expired, another user's), or replies are
  // not tracked.
  bool record_feedback(std::string_view trace_id, std::string_view user_key,
                       const assist::Feedback& feedback);

 private:
  Gateway(GatewayConfig config, core::Clock& clock, std::unique_ptr<catalog::Catalog> catalog);
  // Declared so that what a member uses is destroyed after it.
  GatewayConfig config_;
  core::Clock& clock_;
  // The cache before the catalog: the catalog's change listener calls into the cache.
  std::unique_ptr<cache::ResponseCache> cache_;
  std::unique_ptr<catalog::Catalog> catalog_;
  assist::RuntimeFlags flags_;
  std::vector<std::unique_ptr<fm::ModelProvider>> lanes_;  // by GatewayConfig::lanes index
  std::vector<double> feeds_;                              // each task's share, by lane
  assist::UnderstandingMemo understanding_;
  std::vector<std::unique_ptr<assist::Pipeline>> pipelines_;
  std::unique_ptr<assist::CacheMaintenance> maintenance_;
  std::unique_ptr<admission::Admission> admission_;
  observe::MetricsRegistry metrics_;
  observe::AlarmEngine alarms_;
  std::unique_ptr<observe::Sampler> sampler_;
  std::unique_ptr<assist::RequestObserver> observer_;
  std::unique_ptr<assist::AbStats> ab_;
  std::unique_ptr<assist::RecentReplies> recent_;
  observe::Family<observe::Counter>* feedback_total_ = nullptr;  // {version, kind}
  std::vector<ChatFlow> flows_;
};

}  // namespace ma::gateway
