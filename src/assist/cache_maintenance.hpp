#pragma once
// Background work that keeps the response cache honest, written once as coroutines over the
// injected Clock (the server and the simulator run the same code):
// - the sale watcher sleeps until the next sale start or end and then drops every cached
//   answer that mentions a product of the sale's series (incident 3: a sale ended, cached
//   sale prices lived on);
// - the validation job samples cached pricing answers on a schedule (default hourly, 100
//   entries), compares the prices they stated with the catalog, and evicts the wrong ones.

#include <boost/asio/awaitable.hpp>
#include <cstddef>

#include "cache/response_cache.hpp"
#include "catalog/catalog.hpp"
#include "core/clock.hpp"

namespace ma::assist {

struct MaintenanceConfig {
  core::Duration validate_every = std::chrono::hours(1);
  std::size_t validate_sample = 100;
};

class CacheMaintenance final {
 public:
  CacheMaintenance(core::Clock& clock, const catalog::Catalog& catalog, cache::ResponseCache& cache,
                   MaintenanceConfig config = {});

  // Loops until the sale calendar has no boundary left.
  boost::asio::awaitable<void> run_sale_watcher();
  // Loops forever.
  boost::asio::awaitable<void> run_validation();

  // One validation pass; returns how many entries were evicted.
  std::size_t validate_once();
  // Drops the cached answers about the sale's products; returns how many.
  std::size_t on_sale_boundary(const catalog::Sale& sale);

  std::size_t evicted_by_validation() const { return evicted_validation_; }
  std::size_t evicted_by_sales() const { return evicted_sales_; }

 private:
  core::Clock& clock_;
  const catalog::Catalog& catalog_;
  cache::ResponseCache& cache_;
  MaintenanceConfig config_;
  std::size_t evicted_validation_ = 0;
  std::size_t evicted_sales_ = 0;
};

}  // namespace ma::assist
