#pragma once
// The wiring of one MangaAssist process: catalog, model providers, cache, flags, retry
// budget and the pipeline, built from an AppConfig. Shared by `mangaassist serve` and the
// integration tests so both run the same assembly.

#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <vector>

#include "admission/admission.hpp"
#include "assist/cache_maintenance.hpp"
#include "assist/flags.hpp"
#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "cache/response_cache.hpp"
#include "catalog/catalog.hpp"
#include "core/clock.hpp"
#include "fm/simulated_bedrock.hpp"
#include "observe/alarms.hpp"
#include "observe/metrics.hpp"
#include "resilience/retry_policy.hpp"
#include "server/config.hpp"
#include "server/identity.hpp"
#include "state/shared_state.hpp"

namespace ma::server {

class App final {
 public:
  // REQUIRES: `clock` outlives the App.
  static core::Result<std::unique_ptr<App>> create(AppConfig config, core::Clock& clock);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  const AppConfig& config() const { return config_; }
  core::Clock& clock() { return clock_; }
  catalog::Catalog& catalog() { return *catalog_; }
  // Signs and verifies user tokens and anonymous sessions (server.auth_secret).
  const Identity& identity() const { return *identity_; }
  cache::ResponseCache& cache() { return *cache_; }
  // Flushes one category (empty: everything) here, in the shared tier, and on every other
  // server of the fleet. Returns the entries this server dropped.
  std::size_t flush_cache(const std::string& category);
  assist::RuntimeFlags& flags() { return flags_; }
  assist::Pipeline& pipeline() { return *pipeline_; }
  assist::CacheMaintenance& maintenance() { return *maintenance_; }
  admission::Admission& admission() { return *admission_; }
  observe::MetricsRegistry& metrics() { return metrics_; }
  observe::AlarmEngine& alarms() { return alarms_; }
  state::SharedState& shared_state() { return *state_; }
  assist::RequestObserver& observer() { return *observer_; }
  // The OTLP exporter, when an endpoint is configured (the server runs it).
  observe::OtlpExporter* otlp() { return otlp_.get(); }
  // Flushes the request log and traces every second, so that a quiet server's lines are
  // readable at once; runs until cancelled (spawned by the server).
  boost::asio::awaitable<void> run_flusher();
  // Copies the breaker states into the alarms (done on every /metrics, /status, /admin/alarms).
  void refresh_alarm_inputs();
  // The simulated model of that name, or null (real providers take no chaos).
  fm::SimulatedBedrock* simulated(std::string_view name);

 private:
  App(AppConfig config, core::Clock& clock) : config_(std::move(config)), clock_(clock) {}
  // Collectors that copy state owned elsewhere into the registry before /metrics renders.
  void register_collectors();
  void start_fleet();
  std::map<std::string, bool> fleet_breakers_;  // as last published (fleet thread only)
  int fleet_live_ = 1;

  AppConfig config_;
  core::Clock& clock_;
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<cache::ResponseCache> cache_;
  assist::RuntimeFlags flags_;
  std::unique_ptr<state::SharedState> state_;   // memory, or Redis in fleet mode
  std::unique_ptr<fm::ModelProvider> sonnet_;   // the primary lane ("sonnet")
  std::unique_ptr<fm::ModelProvider> haiku_;    // the secondary lane ("haiku")
  fm::SimulatedBedrock* sim_sonnet_ = nullptr;  // set when the lanes are simulated
  fm::SimulatedBedrock* sim_haiku_ = nullptr;
  // Fleet mode: where the pipeline's blocking Redis reads run (the shared cache tier), off
  // the io threads. Joined before the pipeline, cache and state it calls into go.
  std::unique_ptr<boost::asio::thread_pool> blocking_;
  std::unique_ptr<assist::Pipeline> pipeline_;
  std::unique_ptr<assist::CacheMaintenance> maintenance_;
  std::unique_ptr<admission::Admission> admission_;
  observe::MetricsRegistry metrics_;
  observe::AlarmEngine alarms_;
  std::unique_ptr<observe::Sampler> sampler_;
  std::unique_ptr<observe::LogSink> log_;
  std::unique_ptr<observe::TraceSink> traces_;
  std::unique_ptr<observe::OtlpExporter> otlp_;
  std::unique_ptr<assist::RequestObserver> observer_;
};

}  // namespace ma::server
