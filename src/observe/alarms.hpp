#pragma once
// Alarms, evaluated continuously over sliding windows (GET /admin/alarms, /status):
//
//   error_rate          model errors / requests over 60 s above 5% (at least 20 requests)
//   degraded_share      replies from below the models over 60 s above 20%
//   cache_serve_share   replies served from the cache over 60 s above 30%
//   breaker_open        a model's breaker is open (set by the caller); a closed one is listed,
//                       quiet
//   metric_anomaly      per metric (requests, model_errors, degraded_replies): the last minute
//                       outside the band of the previous 10 minutes (mean +- 3 deviations,
//                       at least sqrt(mean)); a fall in requests is as telling as a rise
//   error_code_anomaly  per error code: the last minute above the rolling mean + 3 deviations
//                       of the previous 10 minutes (and at least 5) -- a new error code fires
//                       at once (seed incident 4). Subjects are bounded (ErrorCodeLabels):
//                       known codes and the first `max_novel_error_codes` others by name, the
//                       rest together as "other", whose message names the latest raw code.
//   retry_correlation   retries bunched in time, again and again: over the last 10 s, at least
//                       3 bins of 100 ms each hold at least 5x the mean retries per bin (and at
//                       least 10), with at least 20 retries in all (seed incident 1: 24 tasks
//                       retrying in lockstep). One bunch is what any simultaneous failure
//                       produces, even with jitter; repeated bunches are synchronised retries.
//   lane_misconfigured  per model: the lane is marked misconfigured (set by the caller): fires
//                       at once, names the error code and what to check (credentials,
//                       permissions, model id); an available lane is listed, quiet
//   model_skips_high    per model: calls skipped (limiter, quota, breaker, misconfigured) over
//                       calls made and skipped stayed above 50% for 60 s -- over the whole
//                       window and in every interval between two samples that saw traffic --
//                       with at least 20 made and skipped in the window
//   spend_high          model spend over the last 60 s (differenced from the lanes' cost
//                       totals) above `spend_usd_per_minute`; 0: off (listed, quiet)
//
// The last two read cumulative lane totals that the caller samples (record_lane_totals) on a
// periodic tick and before every read; a window is only as fine as those samples.
//
// Pure: takes `now`. Thread safety: every method takes one spin lock (recording is O(1)).

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"
#include "core/time.hpp"
#include "observe/error_code_labels.hpp"

namespace ma::observe {

struct AlarmState {
  std::string name;
  std::string subject;  // model or error code, when the alarm is per subject
  bool firing = false;
  double value = 0;
  double threshold = 0;
  std::string message;
};

struct AlarmConfig {
  double error_rate = 0.05;
  double degraded_share = 0.20;
  double cache_share = 0.30;
  int min_requests = 20;
  double retry_peak_to_mean = 5.0;
  int retry_spike_min = 10;
  int retry_spike_bins = 3;
  int retry_min = 20;
  double anomaly_sigmas = 3.0;
  int anomaly_min = 5;
  // Unknown error codes with an alarm of their own (each costs an 11-minute ring for the life
  // of the process); later ones share the "other" subject.
  std::size_t max_novel_error_codes = ErrorCodeLabels::kDefaultMaxNovel;
  // model_skips_high: the skip ratio above `skip_ratio` for `skip_window`, with at least
  // `skip_min_events` calls made and skipped in the window.
  double skip_ratio = 0.5;
  core::Duration skip_window = std::chrono::seconds(60);
  int skip_min_events = 20;
  // spend_high: US dollars per minute over every lane; 0: off.
  double spend_usd_per_minute = 0;
};

class AlarmEngine final {
 public:
  ~AlarmEngine();
  AlarmEngine(const AlarmEngine&) = delete;
  AlarmEngine& operator=(const AlarmEngine&) = delete;
  explicit AlarmEngine(AlarmConfig config = {});

  void record_request(core::TimePoint now, bool model_error, bool degraded, bool from_cache);
  // `code` as received: it is bounded here (ErrorCodeLabels), so any caller is safe.
  void record_error_code(core::TimePoint now, std::string_view code);
  void record_retry(core::TimePoint now);
  void set_breaker_open(const std::string& model, bool open);
  // A model lane's running totals, cumulative (assist::LaneCounters: calls made, calls
  // skipped, cost in US dollars), as read at `now`. Samples within one second replace each
  // other, so a lane keeps about two minutes of samples whatever the read rate.
  void record_lane_totals(core::TimePoint now, const std::string& model, std::uint64_t calls,
                          std::uint64_t skips, double cost_usd);
  // Whether the lane is marked misconfigured, and the error code that marked it (raw: it is
  // made printable here).
  void set_lane_misconfigured(const std::string& model, bool misconfigured, std::string_view code);
  // A condition reported by another part (e.g. "redis_down"), shown until cleared.
  void set_condition(const std::string& name, const std::string& subject, bool firing,
                     const std::string& message);

  std::vector<AlarmState> evaluate(core::TimePoint now);
  // Only the firing ones.
  std::vector<AlarmState> firing(core::TimePoint now);

 private:
  // A ring of per-second counts over `n` seconds.
  struct SecondRing {
    explicit SecondRing(int n)
        : slots(static_cast<std::size_t>(n)), seconds(static_cast<std::size_t>(n), INT64_MIN) {}
    void add(std::int64_t sec, double v);
    double sum(std::int64_t from_sec, std::int64_t to_sec) const;  // inclusive
    std::vector<double> slots;
    std::vector<std::int64_t> seconds;
  };

  // 11 minutes: the last one and the ten before it, for the anomaly bands.
  static constexpr int kRingSeconds = 660;
  // What every request records, per thread slot (core/thread_slot.hpp), made on a slot's
  // first request and merged by evaluate(): workers never share these cache lines.
  struct RequestRings {
    core::SpinLock mu;  // contended only when threads share a slot
    SecondRing requests{kRingSeconds}, errors{kRingSeconds}, degraded{kRingSeconds},
        cached{kRingSeconds};
  };
  RequestRings& rings_of_this_thread();

  AlarmConfig config_;
  std::array<std::atomic<RequestRings*>, core::kThreadSlots> rings_{};  // owned
  core::SpinLock mu_;
  ErrorCodeLabels code_labels_;
  std::map<std::string, SecondRing> codes_;  // 11 minutes per code label (bounded)
  std::string latest_other_code_;            // printable_code() of the last "other" code
  std::vector<std::uint32_t> retry_bins_;    // 100 ms bins over 10 s
  std::vector<std::int64_t> retry_bin_ids_;
  std::map<std::string, bool> breakers_;
  struct LaneSample {
    core::TimePoint at;
    std::uint64_t calls = 0, skips = 0;
    double cost_usd = 0;
  };
  struct LaneHistory {
    std::deque<LaneSample> samples;  // oldest first; one at or before the window's start
    bool misconfigured = false;
    std::string code;  // printable
  };
  std::map<std::string, LaneHistory> lanes_;  // by model (the configured lanes: bounded)
  void lane_alarms(core::TimePoint now, std::vector<AlarmState>& out) const;
  std::map<std::pair<std::string, std::string>, AlarmState> conditions_;
};

}  // namespace ma::observe
