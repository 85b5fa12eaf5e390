#include "server/app.hpp"

#include <cstdio>
#include <filesystem>
#include <random>

#include "core/json_util.hpp"
#include "core/wall_time.hpp"
#include "observe/request_log.hpp"
#include "state/redis/redis_state.hpp"

namespace ma::server {

App::~App() {
  // The fleet thread calls into the catalog, flags and admission: it stops first.
  if (state_) state_->stop();
  if (blocking_) blocking_->join();  // a read in flight finishes (bounded by Redis' timeout)
}

namespace {
// Set while this thread applies a change that came from another server, so the catalog
// listener does not publish it back.
thread_local bool applying_remote = false;

// One line on stderr per change of the sampling rules in force, as the fleet's refused flags
// get: what is in force now, and who put it there.
void log_sampling(observe::SamplingEvent e, const observe::SamplingState& st) {
  std::string line = "mangaassist: sampling: ";
  if (e == observe::SamplingEvent::kRuntime) {
    line += "runtime rules in force (" + st.rules->summary() + "), set by " + st.set_by;
    if (!st.origin.empty()) line += " on " + st.origin;
    line += st.reverts_at ? ", reverting at " + core::format_rfc3339(*st.reverts_at)
                          : std::string(", until reverted");
  } else {
    line += std::string(e == observe::SamplingEvent::kExpired ? "the runtime rules expired"
                                                              : "the runtime rules were reverted") +
            "; back to the " + std::string(observe::to_string(st.source)) + " rules (" +
            st.rules->summary() + ")";
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

void create_parent_directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!path.empty() && !parent.empty()) std::filesystem::create_directories(parent, ec);
}
}  // namespace

core::Result<std::unique_ptr<App>> App::create(AppConfig config, core::Clock& clock) {
  std::unique_ptr<App> app(new App(std::move(config), clock));
  AppConfig& c = app->config_;

  if (c.db_path != ":memory:") create_parent_directory(c.db_path);
  auto secret = resolve_auth_secret(c.server.auth_secret, c.server.auth_secret_file);
  if (!secret.ok()) return core::fail(std::move(secret).error());
  // The log's user hashes are keyed by the same secret (another domain), so that every
  // server of a fleet writes the same hash for a user and nobody else can recompute it.
  observe::set_user_hash_key("user-hash\n" + *secret);
  app->identity_ = std::make_unique<Identity>(std::move(secret).value());

  auto cat = catalog::Catalog::open({c.data_dir, c.db_path});
  if (!cat.ok()) return core::fail(std::move(cat).error());

  if (c.redis_url.empty()) {
    app->state_ = std::make_unique<state::MemoryState>(c.retry_budget_per_minute);
  } else {
    auto url = state::RedisUrl::parse(c.redis_url);
    if (!url.ok()) return core::fail("invalid_config", "redis: " + url.error().message);
    state::RedisStateConfig rc;
    rc.redis.url = std::move(url).value();
    rc.fleet = c.fleet_name;
    rc.server_id = c.server_id;
    rc.retries_per_minute = c.retry_budget_per_minute;
    app->state_ = std::make_unique<state::RedisState>(std::move(rc), clock);
  }
  if (!c.events_file.empty()) {
    auto events = load_events(c.events_file);
    if (!events.ok()) return core::fail(std::move(events).error());
    c.admission.events = std::move(events).value();
  }

  // Observability: where the observer writes.
  gateway::GatewayDeps deps{.clock = clock, .catalog = std::move(cat).value()};
  // The configured sampling rules: what the sampler starts with and what a runtime change
  // reverts to (the sampling switch, below, owns that; the gateway owns the sampler).
  observe::SamplingRules configured_rules;
  if (!c.sampling_rules.empty()) {
    auto text = core::read_file(c.sampling_rules);
    if (!text.ok()) return core::fail(std::move(text).error());
    auto rules = observe::SamplingRules::from_local_json(*text);
    if (!rules.ok()) {
      return core::fail(rules.error().code, "observe.sampling_rules: " + c.sampling_rules + ": " +
                                                rules.error().message);
    }
    configured_rules = std::move(rules).value();
  }
  deps.sampler = std::make_unique<observe::Sampler>(configured_rules);
  create_parent_directory(c.log_file);
  create_parent_directory(c.trace_file);
  if (!c.log_file.empty() || c.log_stdout) {
    app->log_ = std::make_unique<observe::LogSink>(c.log_file, c.log_stdout);
    if (!c.log_file.empty() && !app->log_->ok()) {
      return core::fail("io_error", "cannot open the request log " + c.log_file);
    }
  }
  if (!c.trace_file.empty()) {
    app->traces_ = std::make_unique<observe::TraceSink>(c.trace_file);
    if (!app->traces_->ok())
      return core::fail("io_error", "cannot open the trace file " + c.trace_file);
  }
  deps.log = app->log_.get();
  deps.traces = app->traces_.get();

  deps.fleet_budget = &app->state_->retry_budget();
  // In fleet mode the in-process cache is the L1 of the fleet's shared cache.
  deps.shared_cache = app->state_->cache_tier();
  if (deps.shared_cache != nullptr) {
    // As many as the Redis client has connections: more would only wait for one.
    app->blocking_ = std::make_unique<boost::asio::thread_pool>(4);
    deps.blocking = app->blocking_->get_executor();
  }
  const std::vector<LaneSpec> lanes = model_lanes(c);
  deps.providers = [&lanes, &clock, a = app.get()](
                       std::size_t lane,
                       std::uint64_t seed) -> core::Result<std::unique_ptr<fm::ModelProvider>> {
    const LaneSpec& l = lanes[lane];
    if (l.provider == "openai") {
      auto p = fm::OpenAiCompatible::create(l.openai);
      if (!p.ok()) return core::fail(std::move(p).error());
      return std::unique_ptr<fm::ModelProvider>(std::move(p).value());
    }
    if (l.provider == "bedrock") {
      auto p = fm::BedrockRuntime::create(l.bedrock, clock, fm::process_env());
      if (!p.ok()) return core::fail(std::move(p).error());
      return std::unique_ptr<fm::ModelProvider>(std::move(p).value());
    }
    auto sim = std::make_unique<fm::SimulatedBedrock>(l.simulated, clock, seed);
    a->simulated_.push_back(sim.get());
    return std::unique_ptr<fm::ModelProvider>(std::move(sim));
  };

  gateway::GatewayConfig gc;
  gc.pipeline = c.pipeline;
  gc.lanes.clear();
  gc.pipeline.quota_rps.clear();
  gc.pipeline.lanes.clear();
  for (const LaneSpec& l : lanes) {
    // The pipeline sends each model at most its quota; admission feeds as much.
    gc.pipeline.quota_rps.push_back(l.quota_rps);
    gc.pipeline.lanes.push_back(l.policy());
    gc.lanes.push_back({.feed_rps = l.quota_rps});
  }
  gc.alarms = c.alarms;
  gc.degradation_ab = c.degradation_ab;
  gc.track_replies = true;  // feedback (POST /v1/feedback) and GET /admin/ab
  gc.admission = c.admission;
  gc.cache = cache::CacheLimits{.max_entries = c.cache_max_entries};
  gc.maintenance = c.maintenance;
  gc.seed = c.seed;
  gc.invalidate_on_change = !c.replay_incident3_keep_cache_on_price_change;  // tests only
  auto gw = gateway::Gateway::build(std::move(gc), std::move(deps));
  if (!gw.ok()) return core::fail(std::move(gw).error());
  app->gateway_ = std::move(gw).value();
  c.seed = app->gateway_->seed();
  // The environment's flags (resolve_environment) win over the file's retry.max_attempts.
  if (!c.flag_overrides.empty()) {
    if (auto st = app->flags().patch(c.flag_overrides); !st.ok())
      return core::fail(std::move(st).error());
  }

  // A change made here goes to the rest of the fleet (a no-op in memory); after the
  // gateway's own listener has dropped the cached answers.
  app->catalog().on_change([a = app.get()](const catalog::ProductChange& ch) {
    if (!applying_remote) a->state_->publish_product(ch.product_id, ch.new_price, ch.new_stock);
  });

  if (!c.otlp_endpoint.empty()) {
    auto ep = observe::OtlpEndpoint::parse(c.otlp_endpoint);
    if (!ep.ok()) return core::fail(std::move(ep).error());
    app->otlp_ = std::make_unique<observe::OtlpExporter>(clock, *ep, "mangaassist");
    app->observer().set_exporter(app->otlp_.get());
  }
  app->sampling_ = std::make_unique<observe::SamplingSwitch>(
      app->gateway().sampler(), clock, std::move(configured_rules), c.sampling_rules,
      [](observe::SamplingEvent e, const observe::SamplingState& st) { log_sampling(e, st); });
  app->register_collectors();
  app->start_fleet();
  return app;
}

App::SamplingChanged App::change_sampling(observe::SamplingChange change) {
  change.origin = state_->server_id();
  if (change.origin.empty()) change.origin = config_.server_id;
  auto applied = sampling_->apply_new(std::move(change));
  // Published after it is in force here: its echo from the stream is then not after it.
  const state::Delivery fleet = state_->publish_sampling(
      observe::SamplingSwitch::to_fleet_json(applied.change), applied.change.order_key());
  return {std::move(applied.state), fleet};
}

std::size_t App::flush_cache(const std::string& category) {
  const std::size_t n = cache().flush(category);
  state_->publish_cache_flush(category);
  return n;
}

void App::set_later_listener(std::function<void(const std::string&)> listener) {
  std::lock_guard lock(later_listener_mu_);
  later_listener_ = std::move(listener);
}

void App::start_fleet() {
  state::FleetHandlers h;
  h.on_product = [this](const std::string& product, int price, int stock) {
    applying_remote = true;
    (void)catalog().update_product(product, price, stock);  // listeners invalidate the cache
    applying_remote = false;
  };
  h.on_flags = [this](const std::string& body) {
    auto v = core::parse_json(body);
    if (!v.ok() || !v->is_object()) return;
    // One by one: a flag this server cannot take (a PRIMARY_MODEL naming a lane it does not
    // have, mid-way through a rolling config change) must not block the others -- an
    // emergency FM_MODE above all.
    for (const auto& [name, value] : v->get_object()) {
      auto st = flags().patch(boost::json::object{{name, value}});
      if (!st.ok()) {
        std::fprintf(stderr, "mangaassist: the fleet's flag %s is refused here: %s\n",
                     std::string(name).c_str(), st.error().message.c_str());
      }
    }
  };
  h.on_sampling = [this](const std::string& body) {
    auto change = observe::SamplingSwitch::from_fleet_json(body);
    if (!change.ok()) {
      std::fprintf(stderr, "mangaassist: the fleet's sampling change is refused here: %s\n",
                   change.error().message.c_str());
      return;
    }
    (void)sampling_->apply(*change);
  };
  h.on_cache_flush = [this](const std::string& category) {
    (void)cache().flush(category, /*local_only=*/true);  // the shared tier is flushed already
  };
  h.on_breaker = [this](const std::string& server, const std::string& model, bool open) {
    alarms().set_condition(
        "fleet_breaker_open", server + "/" + model, open,
        "the " + model + " breaker is " + (open ? "open" : "closed") + " on " + server);
  };
  h.on_later_ready = [this](const std::string& owner) {
    std::lock_guard lock(later_listener_mu_);
    if (later_listener_) later_listener_(owner);
  };
  h.on_tick = [this](int live) {
    // This server's share of the global limit: the fleet's limit over the live servers.
    if (live != fleet_live_) {
      fleet_live_ = live;
      const auto& a = config_.admission;
      admission().set_global(a.global_rate / live, a.global_burst / live, a.dynamic);
    }
    // Tell the others when one of our breakers opens or closes.
    for (const auto& m : pipeline().status().models) {
      const bool open = m.breaker == resilience::BreakerState::kOpen;
      auto [it, inserted] = fleet_breakers_.try_emplace(m.name, false);
      if (it->second != open) {
        it->second = open;
        state_->publish_breaker(m.name, open);
      }
    }
    alarms().set_condition("redis_down", "", !state_->healthy(),
                           state_->healthy() ? "Redis answers"
                                             : "Redis is unreachable: servers run on local "
                                               "fallbacks (cache, limits, budget)");
  };
  state_->start(std::move(h));
}

void App::register_collectors() {
  auto& breaker =
      metrics().gauge("mangaassist_breaker_state",
                      "Circuit breaker state (0 closed, 1 open, 2 half-open).", {"model"});
  auto& rate = metrics().gauge(
      "mangaassist_adaptive_rate",
      "Adaptive client limiter rate after throttles (requests/s; 0 while not engaged).", {"model"});
  auto& quota =
      metrics().gauge("mangaassist_retry_quota_available", "Retry quota tokens left.", {"model"});
  auto& refusals = metrics().counter("mangaassist_retry_refusals_total",
                                     "Retries refused, by reason.", {"reason"});
  auto& hits = metrics().counter("mangaassist_cache_hits_total", "Cache tier hits, by category.",
                                 {"category"});
  auto& misses = metrics().counter("mangaassist_cache_misses_total",
                                   "Cache tier misses, by category.", {"category"});
  auto& stale =
      metrics().counter("mangaassist_cache_stale_serves_total",
                        "Cached answers served as a fallback, by category.", {"category"});
  auto& entries = metrics().gauge("mangaassist_cache_entries", "Entries in the response cache.");
  auto& mismatches = metrics().counter("mangaassist_price_guard_mismatches_total",
                                       "Answers that stated a price other than the catalog's.");
  auto& dedupe = metrics().counter(
      "mangaassist_dedupe_total",
      "Degraded replies replayed to the same asker, or not remembered (the bound was reached).",
      {"what"});
  auto& throttles = metrics().counter("mangaassist_ratelimit_throttles_total",
                                      "Messages over their own limit (429), by scope.", {"scope"});
  auto& queued = metrics().counter("mangaassist_queue_enqueued_total",
                                   "Messages that waited in the admission queue.");
  auto& timeouts = metrics().counter("mangaassist_queue_timeouts_total",
                                     "Messages given the high-demand reply.");
  auto& depth =
      metrics().gauge("mangaassist_queue_depth", "Messages waiting in the admission queue.");
  auto& global =
      metrics().gauge("mangaassist_ratelimit_global_rate", "Global limit in force (messages/s).");
  auto& util = metrics().gauge("mangaassist_ratelimit_utilization",
                               "Traffic over the global limit in force.");
  auto& alarm =
      metrics().gauge("mangaassist_alarm_firing", "1 while an alarm fires.", {"alarm", "subject"});
  auto& shared_up = metrics().gauge(
      "mangaassist_shared_state_up",
      "1 while the shared state answers (always 1 in memory; Redis in fleet mode).", {"kind"});
  auto& servers = metrics().gauge("mangaassist_fleet_servers", "Live servers in the fleet.");
  // The cascade's lanes (assist::LaneCounters, ModelStatus).
  auto& floor = metrics().gauge(
      "mangaassist_adaptive_rate_floor",
      "The rate the adaptive client limiter never goes below (requests/s).", {"model"});
  auto& skips = metrics().counter(
      "mangaassist_model_skips_total",
      "Messages for which a model lane was not called, by reason (client_rate_limited, "
      "over_quota, breaker_open, misconfigured).",
      {"model", "reason"});
  auto& skip_ratio =
      metrics().gauge("mangaassist_model_skip_ratio",
                      "Share of a lane's calls skipped over the last 10 to 20 seconds.", {"model"});
  auto& tokens = metrics().counter("mangaassist_model_tokens_total",
                                   "Tokens billed by the model, by direction (input, output).",
                                   {"model", "direction"});
  auto& cost =
      metrics().total("mangaassist_model_cost_usd_total",
                      "What the billed tokens cost at the lane's prices (US dollars).", {"model"});
  auto& hedges = metrics().counter(
      "mangaassist_model_hedges_total",
      "Hedged calls to a lane (made), and those that answered first (won).", {"model", "outcome"});
  auto& misconfigured = metrics().gauge(
      "mangaassist_model_misconfigured",
      "1 while a lane is marked misconfigured (not called; probed in the background).", {"model"});
  auto& marks = metrics().counter("mangaassist_model_misconfigured_marks_total",
                                  "Times a lane was marked misconfigured.", {"model"});
  auto& fallbacks = metrics().counter(
      "mangaassist_shared_state_fallbacks_total",
      "Work done locally because Redis did not answer or could not keep up (publish, budget, "
      "cache_write).",
      {"what"});
  auto& sampling_runtime = metrics().gauge(
      "mangaassist_sampling_runtime",
      "1 while runtime trace sampling rules (PUT /admin/sampling) are in force, 0 while the "
      "configured ones are.");
  auto& sampling_rate = metrics().gauge("mangaassist_sampling_default_rate",
                                        "The default trace sampling rule's rate in force (0-1).");
  auto& sampling_changes = metrics().counter(
      "mangaassist_sampling_changes_total",
      "Changes of the trace sampling rules in force, by kind (runtime, revert, expiry).", {"what"});
  metrics().add_collector([this, &sampling_runtime, &sampling_rate, &sampling_changes] {
    const auto st = sampling_->state();
    sampling_runtime.get().set(st.source == observe::SamplingSource::kRuntime ? 1 : 0);
    sampling_rate.get().set(st.rules->default_rule().rate);
    const auto n = sampling_->counts();
    sampling_changes.with({"runtime"}).set_total(n.runtime);
    sampling_changes.with({"revert"}).set_total(n.reverted);
    sampling_changes.with({"expiry"}).set_total(n.expired);
  });
  metrics().add_collector([this, &breaker, &rate, &quota, &refusals, &hits, &misses, &stale,
                           &entries, &mismatches, &dedupe, &throttles, &queued, &timeouts, &depth,
                           &global, &util, &alarm, &shared_up, &servers, &fallbacks, &floor, &skips,
                           &skip_ratio, &tokens, &cost, &hedges, &misconfigured, &marks] {
    shared_up.with({std::string(state_->kind())}).set(state_->healthy() ? 1 : 0);
    const auto fb = state_->fallbacks();
    fallbacks.with({"publish"}).set_total(fb.publish_failures);
    fallbacks.with({"budget"}).set_total(fb.budget_fallbacks);
    if (auto* tier = state_->cache_tier())
      fallbacks.with({"cache_write"}).set_total(tier->dropped_writes());
    servers.get().set(state_->live_servers());
    for (const auto& m : pipeline().status().models) {
      breaker.with({m.name}).set(static_cast<double>(m.breaker));
      rate.with({m.name}).set(m.limiter_enabled ? m.limiter_rate : 0);
      floor.with({m.name}).set(m.limiter_floor);
      quota.with({m.name}).set(m.retry_quota);
      skip_ratio.with({m.name}).set(m.skip_rate);
      misconfigured.with({m.name}).set(m.misconfigured ? 1 : 0);
    }
    for (const auto& l : gateway().lane_counters()) {
      for (int r = 0; r < assist::kSkipReasonCount; ++r) {
        skips.with({l.name, std::string(assist::to_string(static_cast<assist::SkipReason>(r)))})
            .set_total(l.skips[static_cast<std::size_t>(r)]);
      }
      tokens.with({l.name, "input"}).set_total(l.input_tokens);
      tokens.with({l.name, "output"}).set_total(l.output_tokens);
      cost.with({l.name}).set(l.cost_usd);
      hedges.with({l.name, "made"}).set_total(l.hedges);
      hedges.with({l.name, "won"}).set_total(l.hedge_wins);
      marks.with({l.name}).set_total(l.misconfigured_marks);
    }
    refresh_alarm_inputs();
    const auto& ps = pipeline().stats();
    refusals.with({"quota"}).set_total(ps.quota_refusals.load());
    refusals.with({"budget"}).set_total(ps.budget_refusals.load());
    for (int i = 0; i < assist::kIntentCount; ++i) {
      const std::string cat(assist::to_string(static_cast<assist::Intent>(i)));
      hits.with({cat}).set_total(ps.cache_hits[i].load());
      misses.with({cat}).set_total(ps.cache_misses[i].load());
      stale.with({cat}).set_total(ps.stale_serves[i].load());
    }
    entries.get().set(static_cast<double>(cache().size()));
    mismatches.get().set_total(ps.price_mismatches.load());
    dedupe.with({"replayed"}).set_total(ps.deduplicated.load());
    dedupe.with({"not_kept"}).set_total(ps.dedupe_not_kept.load());
    const auto& as = admission().stats();
    throttles.with({"user"}).set_total(as.limited_user.load());
    throttles.with({"source"}).set_total(as.limited_source.load());
    throttles.with({"tokens"}).set_total(as.limited_tokens.load());
    queued.get().set_total(as.queued.load());
    timeouts.get().set_total(as.queue_timeouts.load());
    depth.get().set(static_cast<double>(admission().queue_depth()));
    const double g = admission().global_rate();
    global.get().set(g);
    util.get().set(g > 0 ? admission().traffic().rate / g : 0);
    for (const auto& a : alarms().evaluate(clock_.now()))
      alarm.with({a.name, a.subject}).set(a.firing ? 1 : 0);
  });
}

boost::asio::awaitable<void> App::run_flusher() {
  bool running = true;
  while (running) {
    running = co_await clock_.wait_for(std::chrono::seconds(1));
    // Never waits for the disk on this io thread: the writer threads write it.
    if (log_) log_->hand_over();
    if (traces_) traces_->hand_over();
    // The windowed alarms (skips, spend) sample the lanes' totals once a second, whether or
    // not anybody scrapes /metrics.
    refresh_alarm_inputs();
    // Runtime sampling rules go back to the configured ones within a second of their expiry
    // (every server of a fleet by its own clock; /status and GET /admin/sampling check too).
    (void)sampling_->expire();
  }
}

void App::refresh_alarm_inputs() {
  for (const auto& m : pipeline().status().models) {
    alarms().set_breaker_open(m.name, m.breaker == resilience::BreakerState::kOpen);
    alarms().set_lane_misconfigured(m.name, m.misconfigured, m.misconfigured_code);
  }
  const core::TimePoint now = clock_.now();
  for (const auto& l : gateway().lane_counters()) {
    std::uint64_t skipped = 0;
    for (std::uint64_t n : l.skips) skipped += n;
    alarms().record_lane_totals(now, l.name, l.calls, skipped, l.cost_usd);
  }
}

void App::finish_blocking_work() {
  if (blocking_) blocking_->join();
}

fm::SimulatedBedrock* App::simulated(std::string_view name) {
  for (fm::SimulatedBedrock* m : simulated_) {
    if (m->name() == name) return m;
  }
  return nullptr;
}

}  // namespace ma::server
