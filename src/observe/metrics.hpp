#pragma once
// A metrics registry rendered in the Prometheus text format (version 0.0.4).
//
// Counters, gauges and histograms with fixed buckets. The hot path is lock-free: a series is
// an object of atomics, looked up once (under the family's mutex) and then kept by pointer;
// recording is one relaxed atomic add on the calling thread's own cache line (histograms:
// three adds and a bucket search), and reading sums the threads' slots.
//
// Collectors are callbacks run before rendering, for values owned elsewhere (breaker state,
// queue depth).
//
// Cardinality: a family holds at most max_series() series (Family::kDefaultMaxSeries unless
// set). Label values met after that are counted in one overflow series whose every label is
// "other", so a label fed by outside input can never grow /metrics without bound. Callers
// should still bound such labels themselves (ErrorCodeLabels): the cap is the backstop.

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"

namespace ma::observe {

// Recording is per thread slot (core/thread_slot.hpp): each thread adds to its own cache
// line, and a read sums the slots. Eight workers incrementing one shared atomic would pass
// its cache line between cores on every request.
class Counter final {
 public:
  void inc(std::uint64_t n = 1) { v_.add(n); }
  std::uint64_t value() const { return v_.value(); }
  // For counters mirrored from elsewhere (a collector copying a total). REQUIRES: the series
  // is only ever set this way (not also inc()'d).
  void set_total(std::uint64_t n) { v_.set(n); }

 private:
  core::SlotSum<std::uint64_t> v_;
};

class Gauge final {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Per thread slot too: a slot is the bucket counts, the count and the sum, on cache lines of
// its own.
class Histogram final {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  std::uint64_t count() const { return total(count_index()); }
  double sum() const {
    std::int64_t micro = 0;
    for (std::size_t s = 0; s < core::kThreadSlots; ++s) {
      micro += static_cast<std::int64_t>(cell(s, sum_index()).load(std::memory_order_relaxed));
    }
    return static_cast<double>(micro) / 1e6;
  }
  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t bucket(std::size_t i) const { return total(i); }

 private:
  // A slot's cells: the buckets (non-cumulative; last = +Inf), then the count, then the sum
  // in millionths (an atomic add, no CAS loop; stored as two's complement).
  std::size_t count_index() const { return bounds_.size() + 1; }
  std::size_t sum_index() const { return bounds_.size() + 2; }
  std::atomic<std::uint64_t>& cell(std::size_t slot, std::size_t i) const {
    const std::size_t at = slot * stride_ + i;
    return lines_[at / Line::kCells].cells[at % Line::kCells];
  }
  std::uint64_t total(std::size_t i) const {
    std::uint64_t n = 0;
    for (std::size_t s = 0; s < core::kThreadSlots; ++s) {
      n += cell(s, i).load(std::memory_order_relaxed);
    }
    return n;
  }
  std::vector<double> bounds_;
  struct alignas(core::kCacheLine) Line {
    static constexpr std::size_t kCells = core::kCacheLine / sizeof(std::atomic<std::uint64_t>);
    std::atomic<std::uint64_t> cells[kCells] = {};
  };
  std::size_t stride_;  // cells per slot, rounded up to whole cache lines
  std::unique_ptr<Line[]> lines_;
};

// kTotal: a counter whose value is a running total kept elsewhere and may be fractional
// (dollars): stored as a Gauge, rendered with TYPE counter.
enum class MetricType : std::uint8_t { kCounter, kGauge, kHistogram, kTotal };

template <class T>
class Family final {
 public:
  static constexpr std::size_t kDefaultMaxSeries = 1000;

  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}

  // The series for these label values (created on first use; past max_series(), the overflow
  // series). REQUIRES: one value per label.
  T& with(const std::vector<std::string>& values) {
    std::lock_guard lock(mu_);
    auto it = series_.find(values);
    if (it == series_.end() && series_.size() >= max_series_) {
      it = series_.find(std::vector<std::string>(values.size(), "other"));
    }
    if (it == series_.end()) {
      const bool full = series_.size() >= max_series_;
      std::unique_ptr<T> s;
      if constexpr (std::is_same_v<T, Histogram>) {
        s = std::make_unique<T>(bounds_);
      } else {
        s = std::make_unique<T>();
      }
      it = series_
               .emplace(full ? std::vector<std::string>(values.size(), "other") : values,
                        std::move(s))
               .first;
    }
    return *it->second;
  }
  T& get() { return with({}); }
  // At most `n` series, the overflow series aside (a family already past it keeps what it has).
  void set_max_series(std::size_t n) {
    std::lock_guard lock(mu_);
    max_series_ = n;
  }
  std::size_t max_series() const {
    std::lock_guard lock(mu_);
    return max_series_;
  }
  std::size_t series_count() const {
    std::lock_guard lock(mu_);
    return series_.size();
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  template <class F>
  void each(F&& f) {
    std::lock_guard lock(mu_);
    for (auto& [values, s] : series_) f(values, *s);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  mutable core::SpinLock mu_;
  std::size_t max_series_ = kDefaultMaxSeries;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_;
};

class MetricsRegistry final {
 public:
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // A counter mirrored from a fractional running total (a cost in dollars): set() its series
  // to the total, which REQUIRES never decreasing; rendered as TYPE counter.
  Family<Gauge>& total(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> labels = {});
  void add_collector(std::function<void()> c);

  // Runs the collectors, then renders every family.
  std::string render();

 private:
  // Gauges and totals: values set from elsewhere, rendered as `type`.
  Family<Gauge>& gauge_family(std::string name, std::string help, std::vector<std::string> labels,
                              MetricType type);
  std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::pair<MetricType, std::size_t>> order_;
  std::vector<std::function<void()>> collectors_;
};

// Latency buckets in seconds, 1 ms to 30 s.
std::vector<double> latency_buckets();

}  // namespace ma::observe
