#include "assist/cache_maintenance.hpp"

#include <algorithm>

#include "assist/price_guard.hpp"

namespace ma::assist {

namespace asio = boost::asio;

CacheMaintenance::CacheMaintenance(core::Clock& clock, const catalog::Catalog& catalog,
                                   cache::ResponseCache& cache, MaintenanceConfig config)
    : clock_(clock), catalog_(catalog), cache_(cache), config_(config) {}

std::size_t CacheMaintenance::on_sale_boundary(const catalog::Sale& sale) {
  std::size_t n = 0;
  for (const auto& sid : sale.series_ids) {
    const catalog::Series* s = catalog_.series(sid);
    if (s == nullptr) continue;
    for (int v = 1; v <= s->volumes; ++v)
      n += cache_.invalidate_product(sid + "-v" + std::to_string(v));
  }
  evicted_sales_ += n;
  return n;
}

asio::awaitable<void> CacheMaintenance::run_sale_watcher() {
  // NOTE: written without `co_return` inside the loop: g++ 12 miscompiled that shape here
  // (an illegal instruction on resumption).
  bool running = true;
  while (running) {
    const core::WallTime now = clock_.wall_now();
    std::optional<core::WallTime> next;
    for (const auto& sale : catalog_.sales()) {
      for (core::WallTime t : {sale.start, sale.end}) {
        if (t > now && (!next || t < *next)) next = t;
      }
    }
    running = next.has_value();
    if (running) {
      running = co_await clock_.wait_for(std::chrono::duration_cast<core::Duration>(*next - now));
    }
    if (running) {
      for (const auto& sale : catalog_.sales()) {
        if (sale.start == *next || sale.end == *next) on_sale_boundary(sale);
      }
    }
  }
}

std::size_t CacheMaintenance::validate_once() {
  std::size_t evicted = 0;
  const core::WallTime now = clock_.wall_now();
  for (const auto& [key, entry] : cache_.sample("pricing", config_.validate_sample)) {
    if (check_stated(entry.stated_prices, catalog_, now).mismatch) {
      evicted += cache_.erase(key) ? 1 : 0;
    }
  }
  evicted_validation_ += evicted;
  return evicted;
}

asio::awaitable<void> CacheMaintenance::run_validation() {
  bool running = true;
  while (running) {
    running = co_await clock_.wait_for(config_.validate_every);
    if (running) validate_once();
  }
}

}  // namespace ma::assist
