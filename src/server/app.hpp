#pragma once
// One MangaAssist server process: the transport-free gateway (gateway/gateway.hpp, the same
// assembly the simulator runs) built from an AppConfig, plus what only a server has -- the
// identity keys, the shared state (memory, or Redis in fleet mode) and the fleet's handlers,
// the request log and trace files, the OTLP exporter and the /metrics collectors. Shared by
// `mangaassist serve` and the integration tests so both run the same assembly.

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fm/simulated_bedrock.hpp"
#include "gateway/gateway.hpp"
#include "observe/otlp_exporter.hpp"
#include "observe/request_log.hpp"
#include "observe/sampling_switch.hpp"
#include "observe/trace.hpp"
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
  gateway::Gateway& gateway() { return *gateway_; }
  catalog::Catalog& catalog() { return gateway_->catalog(); }
  // Signs and verifies user tokens and anonymous sessions (server.auth_secret).
  const Identity& identity() const { return *identity_; }
  cache::ResponseCache& cache() { return gateway_->cache(); }
  // Flushes one category (empty: everything) here, in the shared tier, and on every other
  // server of the fleet. Returns the entries this server dropped.
  std::size_t flush_cache(const std::string& category);
  assist::RuntimeFlags& flags() { return gateway_->flags(); }
  assist::Pipeline& pipeline() { return gateway_->pipeline(); }
  gateway::ChatFlow& flow() { return gateway_->flow(); }
  assist::CacheMaintenance& maintenance() { return gateway_->maintenance(); }
  admission::Admission& admission() { return gateway_->admission(); }
  observe::MetricsRegistry& metrics() { return gateway_->metrics(); }
  observe::AlarmEngine& alarms() { return gateway_->alarms(); }
  state::SharedState& shared_state() { return *state_; }
  assist::RequestObserver& observer() { return gateway_->observer(); }
  // The trace sampling rules in force: the configured ones, or runtime ones
  // (PUT /admin/sampling, here or on another server of the fleet).
  observe::SamplingSwitch& sampling() { return *sampling_; }
  // Puts `change` in force here and tells the rest of the fleet (a Redis write in fleet mode:
  // call it off the io threads). Fills in the change's origin (this server) and its place in
  // the fleet's order. Returns the state now in force, and whether the fleet was told: kLocal
  // in memory mode, kNotPublished when Redis did not answer (the change holds here only).
  struct SamplingChanged {
    observe::SamplingState state;
    state::Delivery fleet = state::Delivery::kLocal;
  };
  SamplingChanged change_sampling(observe::SamplingChange change);
  // The OTLP exporter, when an endpoint is configured (the server runs it).
  observe::OtlpExporter* otlp() { return otlp_.get(); }
  // Flushes the request log and traces every second, so that a quiet server's lines are
  // readable at once, samples the alarms' inputs (refresh_alarm_inputs) and reverts runtime
  // sampling rules whose time is up; runs until cancelled (spawned by the server).
  boost::asio::awaitable<void> run_flusher();
  // Copies the breaker states, the misconfigured marks and the lanes' totals (calls, skips,
  // cost) into the alarms (done every second by run_flusher, and on every /metrics,
  // /status, /admin/alarms).
  void refresh_alarm_inputs();
  // Waits for the work on the blocking pool (shared-cache reads, fleet budget spends) to
  // finish, so that none completes into an io_context that is gone. Called by ~Server after
  // its workers stopped; REQUIRES: nothing serves this App afterwards.
  void finish_blocking_work();
  // Fleet mode: who hears "an answer left for later is ready for <owner>" (the server, to
  // hand it to the owner's open WebSocket connections); empty: nobody. Called from the
  // fleet's thread under a lock, so that clearing it waits for a call in progress.
  void set_later_listener(std::function<void(const std::string& owner)> listener);
  // The simulated model of that name, or null (real providers take no chaos).
  fm::SimulatedBedrock* simulated(std::string_view name);

 private:
  App(AppConfig config, core::Clock& clock) : config_(std::move(config)), clock_(clock) {}
  // Collectors that copy state owned elsewhere into the registry before /metrics renders.
  void register_collectors();
  void start_fleet();
  std::map<std::string, bool> fleet_breakers_;  // as last published (fleet thread only)
  std::mutex later_listener_mu_;
  std::function<void(const std::string&)> later_listener_;
  int fleet_live_ = 1;

  AppConfig config_;
  core::Clock& clock_;
  std::unique_ptr<Identity> identity_;
  // Declared before the gateway, so that what the gateway's pipelines, cache and observer
  // use outlives them: the shared state (fleet budget, shared cache tier), the pool their
  // blocking reads run on, the sinks the observer writes to.
  std::unique_ptr<state::SharedState> state_;  // memory, or Redis in fleet mode
  // Fleet mode: where the pipeline's blocking Redis reads run (the shared cache tier), off
  // the io threads. Joined (in ~App) before the gateway whose pipeline calls into it goes.
  std::unique_ptr<boost::asio::thread_pool> blocking_;
  std::unique_ptr<observe::LogSink> log_;
  std::unique_ptr<observe::TraceSink> traces_;
  std::unique_ptr<observe::OtlpExporter> otlp_;
  std::unique_ptr<gateway::Gateway> gateway_;
  // Swaps the rules of the gateway's sampler: after the gateway, so destroyed before it.
  std::unique_ptr<observe::SamplingSwitch> sampling_;
  std::vector<fm::SimulatedBedrock*> simulated_;  // the gateway's simulated lanes
};

}  // namespace ma::server
