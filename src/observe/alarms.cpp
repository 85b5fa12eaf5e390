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

void AlarmEngine::record_lane_totals(core::TimePoint now, const std::string& model,
                                     std::uint64_t calls, std::uint64_t skips, double cost_usd) {
  std::lock_guard lock(mu_);
  LaneHistory& h = lanes_[model];
  const LaneSample s{now, calls, skips, cost_usd};
  if (!h.samples.empty() && second_of(h.samples.back().at) == second_of(now)) {
    h.samples.back() = s;  // the same second: the newer totals
  } else if (h.samples.empty() || h.samples.back().at <= now) {
    h.samples.push_back(s);
  }
  // Keep one sample at or before the longest window's start, and nothing older.
  const auto horizon =
      now - std::max<core::Duration>(config_.skip_window, std::chrono::seconds(60));
  while (h.samples.size() >= 2 && h.samples[1].at <= horizon) h.samples.pop_front();
}

void AlarmEngine::set_lane_misconfigured(const std::string& model, bool misconfigured,
                                         std::string_view code) {
  std::lock_guard lock(mu_);
  LaneHistory& h = lanes_[model];
  h.misconfigured = misconfigured;
  h.code = misconfigured ? printable_code(code) : std::string();
}

namespace {

// What an operator should look at first for the code that marked a lane.
std::string_view what_to_check(std::string_view code) {
  if (code.find("Signature") != std::string_view::npos ||
      code.find("Unrecognized") != std::string_view::npos ||
      code.find("Token") != std::string_view::npos ||
      code.find("api_key") != std::string_view::npos || code == "HTTP401") {
    return "check the credentials first (keys, profile, session token, region), then the "
           "permissions and the model id";
  }
  if (code.find("AccessDenied") != std::string_view::npos || code == "HTTP403") {
    return "check the permissions first (bedrock:InvokeModel and model access for this model "
           "and region), then the credentials and the model id";
  }
  if (code.find("NotFound") != std::string_view::npos ||
      code.find("Validation") != std::string_view::npos || code == "HTTP404") {
    return "check the model id first (and that it is offered in this region), then the "
           "credentials and the permissions";
  }
  return "check the credentials, the permissions and the model id";
}

}  // namespace

void AlarmEngine::lane_alarms(core::TimePoint now, std::vector<AlarmState>& out) const {
  double spend = 0;
  for (const auto& [model, h] : lanes_) {
    {
      AlarmState a;
      a.name = "lane_misconfigured";
      a.subject = model;
      a.firing = h.misconfigured;
      a.value = h.misconfigured ? 1 : 0;
      a.threshold = 1;
      a.message = h.misconfigured
                      ? model + " is marked misconfigured: its calls fail with " +
                            (h.code.empty() ? std::string("a configuration error") : h.code) +
                            "; " + std::string(what_to_check(h.code)) +
                            ". It is not called on the request path; a background probe takes it "
                            "back when a call succeeds"
                      : model + " is available";
      out.push_back(std::move(a));
    }
    // The samples within reach of `now`: `base`, the last at or before the window's start
    // (none: the history is shorter than the window), and `last`, the latest at or before now.
    const auto& s = h.samples;
    const auto skip_from = now - config_.skip_window;
    const auto spend_from = now - std::chrono::seconds(60);
    std::ptrdiff_t last = -1, skip_base = -1, spend_base = -1;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i].at <= now) last = static_cast<std::ptrdiff_t>(i);
      if (s[i].at <= skip_from) skip_base = static_cast<std::ptrdiff_t>(i);
      if (s[i].at <= spend_from) spend_base = static_cast<std::ptrdiff_t>(i);
    }
    auto delta = [](std::uint64_t to, std::uint64_t from) {
      return to > from ? static_cast<double>(to - from) : 0.0;
    };
    {
      AlarmState a;
      a.name = "model_skips_high";
      a.subject = model;
      a.threshold = config_.skip_ratio;
      double events = 0;
      bool every_interval = true;
      if (skip_base >= 0 && last > skip_base) {
        const LaneSample& from = s[static_cast<std::size_t>(skip_base)];
        const LaneSample& to = s[static_cast<std::size_t>(last)];
        const double skips = delta(to.skips, from.skips);
        events = delta(to.calls, from.calls) + skips;
        a.value = events > 0 ? skips / events : 0;
        for (auto i = skip_base; i < last; ++i) {
          const LaneSample& p = s[static_cast<std::size_t>(i)];
          const LaneSample& q = s[static_cast<std::size_t>(i + 1)];
          const double n = delta(q.calls, p.calls) + delta(q.skips, p.skips);
          if (n > 0 && delta(q.skips, p.skips) / n <= config_.skip_ratio) every_interval = false;
        }
      }
      a.firing = skip_base >= 0 && events >= config_.skip_min_events &&
                 a.value > config_.skip_ratio && every_interval;
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "%.1f%% of %.0f calls made or skipped over %.0f s were skipped (threshold "
                    "%.0f%%, at least %d calls, throughout the window)",
                    a.value * 100, events, core::to_seconds(config_.skip_window),
                    config_.skip_ratio * 100, config_.skip_min_events);
      a.message = model + ": " + buf;
      out.push_back(std::move(a));
    }
    // Spend: from the window's start, or from the first sample when the history is shorter
    // (what was spent in less than a minute is already that minute's spend).
    const auto from = spend_base >= 0 ? spend_base : (s.empty() ? -1 : 0);
    if (from >= 0 && last > from) {
      spend += std::max(0.0, s[static_cast<std::size_t>(last)].cost_usd -
                                 s[static_cast<std::size_t>(from)].cost_usd);
    }
  }
  AlarmState a;
  a.name = "spend_high";
  a.value = spend;
  a.threshold = config_.spend_usd_per_minute;
  a.firing = config_.spend_usd_per_minute > 0 && spend > config_.spend_usd_per_minute;
  char buf[160];
  if (config_.spend_usd_per_minute > 0) {
    std::snprintf(buf, sizeof buf, "model spend over the last minute $%.4f (budget $%.4f a minute)",
                  spend, config_.spend_usd_per_minute);
  } else {
    std::snprintf(buf, sizeof buf,
                  "model spend over the last minute $%.4f (no budget: alarms.spend_usd_per_minute)",
                  spend);
  }
  a.message = buf;
  out.push_back(std::move(a));
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
  lane_alarms(now, out);
  return out;
}

std::vector<AlarmState> AlarmEngine::firing(core::TimePoint now) {
  auto all = evaluate(now);
  std::erase_if(all, [](const AlarmState& a) { return !a.firing; });
  return all;
}

}  // namespace ma::observe
