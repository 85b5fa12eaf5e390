#include "observe/alarms.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <tuple>

namespace ma::observe {

namespace {
std::int64_t second_of(core::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
std::int64_t decisecond_of(core::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() / 100;
}
std::string fmt(const char* f, double a, double b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}
constexpr int kRetryBins = 100;  // 10 s of 100 ms
}  // namespace

void AlarmEngine::SecondRing::add(std::int64_t sec, double v) {
  const auto i = static_cast<std::size_t>(sec % static_cast<std::int64_t>(slots.size()));
  if (seconds[i] != sec) {
    seconds[i] = sec;
    slots[i] = 0;
  }
  slots[i] += v;
}

double AlarmEngine::SecondRing::sum(std::int64_t from, std::int64_t to) const {
  double s = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (seconds[i] >= from && seconds[i] <= to) s += slots[i];
  }
  return s;
}

AlarmEngine::AlarmEngine(AlarmConfig config)
    : config_(config),
      code_labels_(config.max_novel_error_codes),
      retry_bins_(kRetryBins, 0),
      retry_bin_ids_(kRetryBins, INT64_MIN) {}

AlarmEngine::~AlarmEngine() {
  for (auto& r : rings_) delete r.load();
}

AlarmEngine::RequestRings& AlarmEngine::rings_of_this_thread() {
  std::atomic<RequestRings*>& slot = rings_[core::thread_slot()];
  if (RequestRings* r = slot.load(std::memory_order_acquire)) return *r;
  auto made = std::make_unique<RequestRings>();
  RequestRings* expected = nullptr;
  if (slot.compare_exchange_strong(expected, made.get(), std::memory_order_acq_rel)) {
    return *made.release();
  }
  return *expected;  // a thread sharing the slot made it first
}

void AlarmEngine::record_request(core::TimePoint now, bool model_error, bool degraded,
                                 bool from_cache) {
  RequestRings& r = rings_of_this_thread();
  std::lock_guard lock(r.mu);
  const auto s = second_of(now);
  r.requests.add(s, 1);
  if (model_error) r.errors.add(s, 1);
  if (degraded) r.degraded.add(s, 1);
  if (from_cache) r.cached.add(s, 1);
}

void AlarmEngine::record_error_code(core::TimePoint now, std::string_view code) {
  std::string label = code_labels_.label(code);
  std::lock_guard lock(mu_);
  if (label == kOtherErrorCode) latest_other_code_ = printable_code(code);
  auto it = codes_.find(label);
  if (it == codes_.end()) it = codes_.emplace(std::move(label), SecondRing(660)).first;
  it->second.add(second_of(now), 1);
}

void AlarmEngine::record_retry(core::TimePoint now) {
  std::lock_guard lock(mu_);
  const auto d = decisecond_of(now);
  const auto i = static_cast<std::size_t>(d % kRetryBins);
  if (retry_bin_ids_[i] != d) {
    retry_bin_ids_[i] = d;
    retry_bins_[i] = 0;
  }
  ++retry_bins_[i];
}

void AlarmEngine::set_breaker_open(const std::string& model, bool open) {
  std::lock_guard lock(mu_);
  breakers_[model] = open;
}

void AlarmEngine::set_condition(const std::string& name, const std::string& subject, bool firing,
                                const std::string& message) {
  std::lock_guard lock(mu_);
  AlarmState& a = conditions_[{name, subject}];
  a.name = name;
  a.subject = subject;
  a.firing = firing;
  a.value = firing ? 1 : 0;
  a.threshold = 1;
  a.message = message;
}

std::vector<AlarmState> AlarmEngine::evaluate(core::TimePoint now) {
  std::lock_guard lock(mu_);
  std::vector<AlarmState> out;
  for (const auto& [key, a] : conditions_) out.push_back(a);
  const auto s = second_of(now);
  // The slots' rings merged: within the window each ring index holds one second, so
  // adding the slots' counts for that second is exact.
  SecondRing requests_(kRingSeconds), errors_(kRingSeconds), degraded_(kRingSeconds),
      cached_(kRingSeconds);
  for (auto& slot : rings_) {
    RequestRings* r = slot.load(std::memory_order_acquire);
    if (r == nullptr) continue;
    std::lock_guard slot_lock(r->mu);
    for (auto [from, to] : {std::pair{&r->requests, &requests_}, std::pair{&r->errors, &errors_},
                            std::pair{&r->degraded, &degraded_}, std::pair{&r->cached, &cached_}}) {
      for (std::size_t i = 0; i < from->slots.size(); ++i) {
        if (from->seconds[i] > s - kRingSeconds && from->seconds[i] <= s) {
          to->add(from->seconds[i], from->slots[i]);
        }
      }
    }
  }
  const double reqs = requests_.sum(s - 59, s);
  auto share = [&](const char* name, const SecondRing& ring, double threshold, const char* what) {
    AlarmState a;
    a.name = name;
    a.threshold = threshold;
    a.value = reqs > 0 ? ring.sum(s - 59, s) / reqs : 0;
    a.firing = reqs >= config_.min_requests && a.value > threshold;
    a.message = fmt(what, a.value * 100, threshold * 100);
    out.push_back(std::move(a));
  };
  share("error_rate", errors_, config_.error_rate,
        "model errors on %.1f%% of requests over 60 s (threshold %.1f%%)");
  share("degraded_share", degraded_, config_.degraded_share,
        "%.1f%% of replies came from below the models over 60 s (threshold %.1f%%)");
  share("cache_serve_share", cached_, config_.cache_share,
        "%.1f%% of replies were served from the cache over 60 s (threshold %.1f%%)");
  for (const auto& [model, open] : breakers_) {
    AlarmState a;
    a.name = "breaker_open";
    a.subject = model;
    a.firing = open;
    a.value = open ? 1 : 0;
    a.threshold = 1;
    a.message = "the circuit breaker of " + model + (open ? " is open" : " is closed");
    out.push_back(std::move(a));
  }
  // Anomaly bands per metric: the last minute against the ten before it.
  auto band = [&](const SecondRing& ring, double& mean, double& sd) {
    std::vector<double> minutes;
    for (int m = 1; m <= 10; ++m) minutes.push_back(ring.sum(s - 59 - 60 * m, s - 60 * m));
    mean = 0;
    for (double x : minutes) mean += x;
    mean /= static_cast<double>(minutes.size());
    double var = 0;
    for (double x : minutes) var += (x - mean) * (x - mean);
    sd = std::max(std::sqrt(var / static_cast<double>(minutes.size())), std::sqrt(mean));
  };
  for (const auto& [name, ring, both_ways] :
       {std::tuple<const char*, const SecondRing*, bool>{"requests", &requests_, true},
        {"model_errors", &errors_, false},
        {"degraded_replies", &degraded_, false}}) {
    double mean = 0, sd = 0;
    band(*ring, mean, sd);
    const double last = ring->sum(s - 59, s);
    AlarmState a;
    a.name = "metric_anomaly";
    a.subject = name;
    a.value = last;
    a.threshold = mean + config_.anomaly_sigmas * sd;
    // Needs a history (some traffic in the ten minutes before) to judge against.
    const bool history = mean >= 1;
    const bool high = last > a.threshold && last >= config_.anomaly_min;
    const bool low = both_ways && last < mean - config_.anomaly_sigmas * sd;
    a.firing = history && (high || low);
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s: %.0f in the last minute; the band from the 10 before is %.1f +- %.1f", name,
                  last, mean, config_.anomaly_sigmas * sd);
    a.message = buf;
    out.push_back(std::move(a));
  }
  for (const auto& [code, ring] : codes_) {
    const double last = ring.sum(s - 59, s);
    double mean = 0, sd = 0;  // sd is already at least sqrt(mean): counts are Poisson-like
    band(ring, mean, sd);
    AlarmState a;
    a.name = "error_code_anomaly";
    a.subject = code;
    a.value = last;
    a.threshold = std::max<double>(config_.anomaly_min, mean + config_.anomaly_sigmas * sd);
    a.firing = last > a.threshold || (mean == 0 && last >= config_.anomaly_min);
    a.message = code == kOtherErrorCode
                    ? "other (codes without an alarm of their own; the latest was \"" +
                          latest_other_code_ + "\"): "
                    : code + ": ";
    a.message += fmt("%.0f in the last minute (band up to %.1f)", last, a.threshold);
    out.push_back(std::move(a));
  }
  {
    const auto d = decisecond_of(now);
    double total = 0, peak = 0;
    for (std::size_t i = 0; i < retry_bins_.size(); ++i) {
      if (retry_bin_ids_[i] > d - kRetryBins && retry_bin_ids_[i] <= d) {
        total += retry_bins_[i];
        peak = std::max<double>(peak, retry_bins_[i]);
      }
    }
    const double mean = total / kRetryBins;
    const double spike_level =
        std::max<double>(config_.retry_spike_min, config_.retry_peak_to_mean * mean);
    int spikes = 0;
    for (std::size_t i = 0; i < retry_bins_.size(); ++i) {
      if (retry_bin_ids_[i] > d - kRetryBins && retry_bin_ids_[i] <= d &&
          retry_bins_[i] >= spike_level)
        ++spikes;
    }
    AlarmState a;
    a.name = "retry_correlation";
    a.threshold = config_.retry_peak_to_mean;
    a.value = mean > 0 ? peak / mean : 0;
    a.firing = total >= config_.retry_min && spikes >= config_.retry_spike_bins;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "retries per 100 ms bin over 10 s: peak-to-mean %.1f, %d bins at %.0f+ retries "
                  "(fires at %d)",
                  a.value, spikes, spike_level, config_.retry_spike_bins);
    a.message = buf;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<AlarmState> AlarmEngine::firing(core::TimePoint now) {
  auto all = evaluate(now);
  std::erase_if(all, [](const AlarmState& a) { return !a.firing; });
  return all;
}

}  // namespace ma::observe
