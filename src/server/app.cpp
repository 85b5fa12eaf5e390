#include "server/app.hpp"

#include <filesystem>
#include <random>

namespace ma::server {

App::~App() = default;

core::Result<std::unique_ptr<App>> App::create(AppConfig config, core::Clock& clock) {
  std::unique_ptr<App> app(new App(std::move(config), clock));
  AppConfig& c = app->config_;
  if (c.seed == 0) c.seed = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);

  if (c.db_path != ":memory:") {
    const auto parent = std::filesystem::path(c.db_path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  auto cat = catalog::Catalog::open({c.data_dir, c.db_path});
  if (!cat.ok()) return core::fail(std::move(cat).error());
  app->catalog_ = std::move(cat).value();

  app->cache_ = std::make_unique<cache::ResponseCache>(
      cache::CacheLimits{.max_entries = c.cache_max_entries});
  // A price or stock change invalidates every cached answer that mentions the product.
  app->catalog_->on_change([cache = app->cache_.get()](const catalog::ProductChange& ch) {
    cache->invalidate_product(ch.product_id);
  });

  if (auto st = app->flags_.load_env(); !st.ok()) return core::fail(std::move(st).error());
  app->flags_.set_retry_max_attempts(std::getenv("RETRY_MAX_ATTEMPTS")
                                         ? app->flags_.retry_max_attempts()
                                         : c.pipeline.retry.max_attempts);

  app->budget_ = std::make_unique<resilience::LockedRetryBudget>(
      std::make_unique<resilience::CappedRetryBudget>(c.retry_budget_per_minute));
  app->sonnet_ = std::make_unique<fm::SimulatedBedrock>(c.sonnet, clock, c.seed ^ 0x50);
  app->haiku_ = std::make_unique<fm::SimulatedBedrock>(c.haiku, clock, c.seed ^ 0x48);
  app->pipeline_ = std::make_unique<assist::Pipeline>(
      assist::Pipeline::Deps{clock, *app->catalog_, *app->sonnet_, *app->haiku_, *app->cache_,
                             app->flags_, app->budget_.get()},
      c.pipeline, c.seed);
  app->maintenance_ = std::make_unique<assist::CacheMaintenance>(clock, *app->catalog_,
                                                                 *app->cache_, c.maintenance);
  if (!c.events_file.empty()) {
    auto events = load_events(c.events_file);
    if (!events.ok()) return core::fail(std::move(events).error());
    c.admission.events = std::move(events).value();
  }
  // What the models can take now: their quotas, or the adaptive limiters' rates once those
  // have seen throttles.
  auto capacity = [p = app->pipeline_.get(), sq = c.sonnet_quota_rps, hq = c.haiku_quota_rps] {
    double total = 0;
    for (const auto& m : p->status().models) {
      const double quota = m.name == "haiku" ? hq : sq;
      total += m.limiter_enabled ? std::min(quota, m.limiter_rate) : quota;
    }
    return total;
  };
  app->admission_ = std::make_unique<admission::Admission>(clock, c.admission, capacity);
  return app;
}

fm::SimulatedBedrock* App::simulated(std::string_view name) {
  if (name == "sonnet") return sonnet_.get();
  if (name == "haiku") return haiku_.get();
  return nullptr;
}

}  // namespace ma::server
