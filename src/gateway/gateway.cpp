#include "gateway/gateway.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <string>

#include "core/supervised.hpp"

namespace ma::gateway {

namespace {

// Each seed derived from the gateway's, so one number replays a run. The lanes' and the
// observer's constants predate the builder (the server and the simulator each had them).
std::uint64_t lane_seed(std::uint64_t seed, std::size_t lane) {
  return seed ^ (lane == 0 ? 0x50 : lane == 1 ? 0x48 : 0x100 + lane);
}
std::uint64_t pipeline_seed(std::uint64_t seed, std::size_t task) {
  return seed ^ (0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(task + 1));
}
constexpr std::uint64_t kObserverSeed = 0x0b;

}  // namespace

ModelPrices default_model_prices(std::string_view model) {
  std::string lower(model);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("sonnet") != std::string::npos) return {3.0, 15.0};
  if (lower.find("haiku") != std::string::npos) return {0.25, 1.25};
  return {};
}

Gateway::Gateway(GatewayConfig config, core::Clock& clock, std::unique_ptr<catalog::Catalog> cat)
    : config_(std::move(config)),
      clock_(clock),
      catalog_(std::move(cat)),
      alarms_(config_.alarms) {}

Gateway::~Gateway() = default;

core::Result<std::unique_ptr<Gateway>> Gateway::build(GatewayConfig config, GatewayDeps deps) {
  if (config.seed == 0) {
    config.seed = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
  }
  config.tasks = std::max(1, config.tasks);
  std::unique_ptr<Gateway> g(new Gateway(std::move(config), deps.clock, std::move(deps.catalog)));
  const GatewayConfig& c = g->config_;

  g->cache_ = std::make_unique<cache::ResponseCache>(c.cache);
  g->cache_->set_shared_tier(deps.shared_cache);
  if (c.invalidate_on_change) {
    g->catalog_->on_change([cache = g->cache_.get()](const catalog::ProductChange& ch) {
      cache->invalidate_product(ch.product_id);
    });
  }
  g->flags_.set_retry_max_attempts(c.pipeline.retry.max_attempts);

  if (c.lanes.empty()) return core::fail("invalid_config", "no model lane configured");
  if (!deps.providers) return core::fail("invalid_config", "no provider factory");
  // Each task feeds its share of every lane's feed (the same product the simulator always
  // computed: the share first).
  const double share = 1.0 / static_cast<double>(c.tasks);
  std::vector<std::string> names;
  std::vector<std::reference_wrapper<fm::ModelProvider>> models;
  for (std::size_t lane = 0; lane < c.lanes.size(); ++lane) {
    auto p = deps.providers(lane, lane_seed(c.seed, lane));
    if (!p.ok()) return core::fail(std::move(p).error());
    if (*p == nullptr) return core::fail("invalid_config", "no provider for a model lane");
    std::string name((*p)->name());
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return core::fail("invalid_config", "two model lanes are named " + name);
    }
    names.push_back(std::move(name));
    g->lanes_.push_back(std::move(p).value());
    models.emplace_back(*g->lanes_.back());
    g->feeds_.push_back(share * c.lanes[lane].feed_rps);
  }
  // Lanes without a policy of their own: the defaults, priced by their provider's name (the
  // simulator's Sonnet and Haiku; a server resolves every lane's policy from its config).
  std::vector<assist::LanePolicy>& policies = g->config_.pipeline.lanes;
  for (std::size_t lane = policies.size(); lane < names.size(); ++lane) {
    const ModelPrices list = default_model_prices(names[lane]);
    assist::LanePolicy p;
    p.input_usd_per_mtok = list.input_usd_per_mtok;
    p.output_usd_per_mtok = list.output_usd_per_mtok;
    policies.push_back(p);
  }
  g->flags_.set_models(std::move(names));
  for (std::size_t i = 0; i < static_cast<std::size_t>(c.tasks); ++i) {
    assist::Pipeline::Deps pd{g->clock_,          *g->catalog_, models,
                              *g->cache_,         g->flags_,    deps.fleet_budget,
                              &g->understanding_, deps.blocking};
    g->pipelines_.push_back(
        std::make_unique<assist::Pipeline>(pd, c.pipeline, pipeline_seed(c.seed, i)));
  }
  g->maintenance_ = std::make_unique<assist::CacheMaintenance>(g->clock_, *g->catalog_, *g->cache_,
                                                               c.maintenance);
  g->admission_ = std::make_unique<admission::Admission>(
      g->clock_, c.admission, [gw = g.get()] { return gw->model_capacity(); });

  g->sampler_ = deps.sampler ? std::move(deps.sampler) : std::make_unique<observe::Sampler>();
  g->observer_ =
      std::make_unique<assist::RequestObserver>(g->clock_, g->metrics_, g->alarms_, *g->sampler_,
                                                deps.log, deps.traces, c.seed ^ kObserverSeed);
  g->observer_->set_keep_errors(c.keep_error_traces);
  if (c.track_replies) {
    g->ab_ = std::make_unique<assist::AbStats>(g->clock_, c.ab_limits);
    g->recent_ = std::make_unique<assist::RecentReplies>(g->clock_);
    g->feedback_total_ = &g->metrics_.counter(
        "mangaassist_feedback_total",
        "Feedback answers received (POST /v1/feedback; a replaced answer counts again), by the "
        "degradation message version of the reply (none: not the degradation message) and kind "
        "(helpful, not_helpful, understood, not_understood).",
        {"version", "kind"});
  }
  const assist::DegradationSplit* split = c.degradation_ab.empty() ? nullptr : &c.degradation_ab;
  for (auto& p : g->pipelines_) {
    g->flows_.push_back(
        {g->clock_, *g->admission_, *p, *g->observer_, split, g->ab_.get(), g->recent_.get()});
  }
  return g;
}

bool Gateway::record_feedback(std::string_view trace_id, std::string_view user_key,
                              const assist::Feedback& feedback) {
  if (recent_ == nullptr) return false;
  const auto change = recent_->give_feedback(trace_id, user_key, feedback);
  if (!change) return false;
  if (change->version && ab_ != nullptr) {
    ab_->on_feedback(*change->version, change->before, change->after);
  }
  const std::string version(change->version ? assist::to_string(*change->version) : "none");
  if (feedback.helpful)
    feedback_total_->with({version, *feedback.helpful ? "helpful" : "not_helpful"}).inc();
  if (feedback.understood)
    feedback_total_->with({version, *feedback.understood ? "understood" : "not_understood"}).inc();
  return true;
}

double Gateway::model_capacity() const {
  double total = 0;
  for (const auto& p : pipelines_) total += p->model_capacity(feeds_);
  return total;
}

std::vector<assist::LaneCounters> Gateway::lane_counters() const {
  std::vector<assist::LaneCounters> sum;
  for (const auto& p : pipelines_) {
    std::vector<assist::LaneCounters> lanes = p->lane_counters();
    if (sum.empty()) {
      sum = std::move(lanes);
      continue;
    }
    for (std::size_t i = 0; i < std::min(sum.size(), lanes.size()); ++i) {
      assist::LaneCounters& s = sum[i];
      const assist::LaneCounters& l = lanes[i];
      s.calls += l.calls;
      s.hedges += l.hedges;
      s.hedge_wins += l.hedge_wins;
      for (std::size_t r = 0; r < s.skips.size(); ++r) s.skips[r] += l.skips[r];
      s.input_tokens += l.input_tokens;
      s.output_tokens += l.output_tokens;
      s.cost_usd += l.cost_usd;
      s.misconfigured_marks += l.misconfigured_marks;
    }
  }
  return sum;
}

void Gateway::start(const boost::asio::any_io_executor& executor) {
  // Restarted, not fatal: both are periodic rounds whose state lives in the catalog and the
  // cache, so a fresh run loses at most one round -- while a watcher that died silently would
  // leave sale prices cached past the sale's end.
  core::spawn_supervised(
      executor, clock_, [this] { return maintenance_->run_sale_watcher(); },
      {.task = "sale_watcher", .policy = core::SupervisePolicy::restart(), .on_stop = {}});
  core::spawn_supervised(
      executor, clock_, [this] { return maintenance_->run_validation(); },
      {.task = "cache_validation", .policy = core::SupervisePolicy::restart(), .on_stop = {}});
}

}  // namespace ma::gateway
