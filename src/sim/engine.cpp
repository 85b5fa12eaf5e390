#include "sim/engine.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "assist/price_guard.hpp"
#include "cache/response_cache.hpp"
#include "catalog/catalog.hpp"
#include "core/random.hpp"
#include "core/real_clock.hpp"
#include "core/sim_clock.hpp"
#include "core/text.hpp"
#include "fm/simulated_bedrock.hpp"
#include "gateway/gateway.hpp"
#include "observe/alarms.hpp"
#include "observe/metrics.hpp"
#include "observe/sampling.hpp"
#include "resilience/retry_budget.hpp"
#include "sim/traffic_log.hpp"
#include "sim/user_model.hpp"
#include "state/shared_state.hpp"

namespace ma::sim {

namespace asio = boost::asio;
using core::Duration;
using core::TimePoint;
using namespace std::chrono_literals;

// ---- LatencyHistogram ----------------------------------------------------------------------

namespace {
const double kLogBase = std::log(1.05);
}

void LatencyHistogram::add(double ms) {
  int i = ms <= 1 ? 0 : static_cast<int>(std::ceil(std::log(ms) / kLogBase));
  counts[static_cast<std::size_t>(std::clamp(i, 0, kBuckets - 1))]++;
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts[i] += o.counts[i];
}

std::uint64_t LatencyHistogram::total() const {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

double LatencyHistogram::quantile_s(double q) const {
  const std::uint64_t n = total();
  if (n == 0) return 0;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen >= want) return std::pow(1.05, i) / 1000.0;
  }
  return std::pow(1.05, kBuckets - 1) / 1000.0;
}

Summary summarize(const std::vector<Bin>& bins, std::size_t first, std::size_t last, double bin_s) {
  Summary s;
  last = std::min(last, bins.size());
  LatencyHistogram lat;
  std::uint64_t replies = 0, cache = 0, to_models = 0, ok_calls = 0;
  for (std::size_t i = first; i < last; ++i) {
    const Bin& b = bins[i];
    s.originals += b.offered;
    s.resent += b.resent;
    s.user_errors += b.user_errors;
    s.legit_too_fast += b.too_fast;
    s.stale_price_serves += b.stale_prices;
    s.stale_prices_pre_guard += b.stale_pre_guard;
    s.error_requests += b.error_requests;
    s.error_traces += b.error_traces;
    s.first_time_too_fast += b.first_time_too_fast;
    s.raw_errors_shown += b.raw_errors;
    s.unknown_errors += b.unknown_errors;
    s.unknown_error_traces += b.unknown_error_traces;
    s.support_contacts += b.support_contacts;
    to_models += b.to_models;
    for (int m = 0; m < 2; ++m) {
      s.model_calls[m] += b.model_calls[m];
      s.model_throttled[m] += b.model_throttled[m];
      s.model_ok[m] += b.model_ok[m];
      s.model_cancelled[m] += b.model_cancelled[m];
      ok_calls += b.model_ok[m];
    }
    for (int t = 0; t < 5; ++t) replies += b.replies[t];
    cache += b.replies[static_cast<int>(assist::Tier::kCache)];
    lat.merge(b.latency);
  }
  s.duration_s = static_cast<double>(last > first ? last - first : 0) * bin_s;
  s.messages = s.originals + s.resent;
  auto ratio = [](double a, double b, double if_none) { return b > 0 ? a / b : if_none; };
  s.user_error_rate = ratio(static_cast<double>(s.user_errors), static_cast<double>(s.messages), 0);
  s.p99_latency_s = lat.quantile_s(0.99);
  const double calls = static_cast<double>(s.model_calls[0] + s.model_calls[1]);
  // Availability: of the calls that ended (a hedge race's cancelled loser did not).
  const auto ended = [&s](int m) {
    return static_cast<double>(s.model_calls[m] - s.model_cancelled[m]);
  };
  s.model_availability = ratio(static_cast<double>(ok_calls), ended(0) + ended(1), 1);
  s.primary_availability = ratio(static_cast<double>(s.model_ok[0]), ended(0), 1);
  s.secondary_availability = ratio(static_cast<double>(s.model_ok[1]), ended(1), 1);
  const double hours = s.duration_s / 3600;
  s.error_requests_per_hour = ratio(static_cast<double>(s.error_requests), hours, 0);
  s.error_traces_kept_per_hour = ratio(static_cast<double>(s.error_traces), hours, 0);
  s.unknown_error_requests_per_hour = ratio(static_cast<double>(s.unknown_errors), hours, 0);
  s.unknown_error_traces_kept_per_hour =
      ratio(static_cast<double>(s.unknown_error_traces), hours, 0);
  s.cache_serve_rate = ratio(static_cast<double>(cache), static_cast<double>(replies), 0);
  s.retry_amplification = ratio(calls, static_cast<double>(to_models), 0);
  s.secondary_throttle_rate =
      ratio(static_cast<double>(s.model_throttled[1]), static_cast<double>(s.model_calls[1]), 0);
  s.error_traces_kept_ratio =
      ratio(static_cast<double>(s.error_traces), static_cast<double>(s.error_requests), 1);
  s.user_retry_load = ratio(static_cast<double>(s.resent), static_cast<double>(s.originals), 0);
  return s;
}

std::optional<double> figure(const RunResult& r, std::string_view name, int phase) {
  if (name == "impact_s") return r.impact_s;
  if (name == "recovery_s") return r.recovery_s;
  if (name == "peak_too_fast_share") return r.peak_too_fast_share;
  const Summary& s = phase >= 0 && phase < 3 ? r.phases[static_cast<std::size_t>(phase)] : r.total;
  const auto n = [](std::uint64_t v) { return static_cast<double>(v); };
  const std::pair<std::string_view, double> by_name[] = {
      {"user_error_rate", s.user_error_rate},
      {"p99_latency_s", s.p99_latency_s},
      {"primary_availability", s.primary_availability},
      {"secondary_availability", s.secondary_availability},
      {"model_availability", s.model_availability},
      {"cache_serve_rate", s.cache_serve_rate},
      {"retry_amplification", s.retry_amplification},
      {"secondary_throttle_rate", s.secondary_throttle_rate},
      {"legit_too_fast", n(s.legit_too_fast)},
      {"first_time_too_fast", n(s.first_time_too_fast)},
      {"stale_price_serves", n(s.stale_price_serves)},
      {"stale_price_customers", n(s.stale_price_customers)},
      {"stale_prices_pre_guard", n(s.stale_prices_pre_guard)},
      {"error_requests_per_hour", s.error_requests_per_hour},
      {"error_traces_kept_per_hour", s.error_traces_kept_per_hour},
      {"error_traces_kept_ratio", s.error_traces_kept_ratio},
      {"raw_errors_shown", n(s.raw_errors_shown)},
      {"user_retry_load", s.user_retry_load},
      {"users_retrying", s.users_retrying},
      {"support_contacts", n(s.support_contacts)},
      {"unknown_error_requests_per_hour", s.unknown_error_requests_per_hour},
      {"unknown_error_traces_kept_per_hour", s.unknown_error_traces_kept_per_hour},
  };
  for (const auto& [k, v] : by_name) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<FigureCheck> check_figures(const RunResult& r) {
  std::vector<FigureCheck> out;
  for (const SeedFigure& f : r.variant == "incident" ? r.seed_figures : r.targets) {
    const std::optional<double> got = figure(r, f.figure);
    out.push_back({f, got.value_or(0), f.holds(got)});
  }
  return out;
}

namespace {

// impact_s, recovery_s and peak_too_fast_share from the timeline (RunResult says how).
void read_timeline(RunResult& r, double cause_end_s) {
  const std::vector<Bin>& bins = r.bins;
  const std::size_t n = bins.size();
  constexpr std::size_t kSmooth = 5, kPeak = 10;
  // Sums over [i, i + w) of (failed, messages, too fast).
  struct Window {
    double failed = 0, messages = 0, too_fast = 0;
  };
  auto window = [&](std::size_t i, std::size_t w) {
    Window x;
    for (std::size_t k = i; k < std::min(n, i + w); ++k) {
      x.failed += bins[k].user_errors;
      x.messages += bins[k].offered + bins[k].resent;
      x.too_fast += bins[k].too_fast;
    }
    return x;
  };
  for (std::size_t i = 0; i + kPeak <= n; ++i) {
    const Window x = window(i, kPeak);
    if (x.messages > 0) {
      r.peak_too_fast_share = std::max(r.peak_too_fast_share, x.too_fast / x.messages);
    }
  }
  // Second k is hurt when more than 5% of the messages of the 5 s centred on it failed.
  std::optional<std::size_t> first, last;
  for (std::size_t k = 0; k < n; ++k) {
    const Window x = window(k >= kSmooth / 2 ? k - kSmooth / 2 : 0, kSmooth);
    if (x.messages == 0 || x.failed / x.messages <= 0.05) continue;
    if (!first) first = k;
    last = k;
  }
  if (!first) return;
  r.impact_s = static_cast<double>(*last - *first + 1) * r.bin_s;
  // Still hurt after the cause went away: the seed's "recovery".
  const double hurt_until = static_cast<double>(*last + 1) * r.bin_s;
  if (cause_end_s > 0) r.recovery_s = std::max(0.0, hurt_until - cause_end_s);
}

}  // namespace

// ---- The engine ----------------------------------------------------------------------------

namespace {

// What a simulated user asks: the text and whether it names a hot product.
struct Question {
  std::string text;
  std::string product_id;  // pricing questions: the product whose price is stated
  // Words that show a reply is about this question (its series, its kind); the user model's
  // "on topic" (sim/user_model.hpp). Empty: nothing names it (a greeting, a free-form ask).
  std::vector<std::string> topics;
};

struct Msg {
  std::uint32_t user = 0;
  std::uint32_t question = 0;
  std::uint8_t attempt = 0;  // 0: the first send
  bool abusive = false;
  std::uint32_t nonce = 0;  // free-form questions: what makes this one unique
};

class Engine {
 public:
  Engine(const Scenario& s, const Variant& v, const RunOptions& o, std::uint64_t seed,
         std::unique_ptr<catalog::Catalog> cat)
      : s_(s),
        v_(v),
        o_(o),
        seed_(seed),
        duration_s_(o.duration_s > 0 ? o.duration_s : s.duration_s),
        clock_(io_),
        t0_(clock_.now()),
        rng_(seed),
        own_catalog_(std::move(cat)),
        catalog_(own_catalog_.get()) {}

  core::Result<RunResult> run();

 private:
  Bin& bin() { return bin_at(clock_.now()); }
  Bin& bin_at(TimePoint at) {
    const double t = core::to_seconds(at - t0_);
    auto i = static_cast<std::size_t>(std::max(0.0, t / o_.bin_s));
    if (i >= bins_.size()) i = bins_.size() - 1;
    return bins_[i];
  }
  double rate_at(double t) const;
  void build_questions();
  void build_gateway();
  void schedule_model_faults(fm::SimulatedBedrock& m, const ModelModel& spec);
  void schedule_catalog_events();
  // Draws one second of arrivals, then arms them one timer at a time (not thousands at
  // once: the timer heap stays small).
  void arrivals(double from_s);
  void arm_next_arrival();
  void abuse(const Abuse& a, double from_s);
  void send(Msg m, TimePoint at);
  gateway::ChatInput input_for(const Msg& m);
  // Starts a message through a task's ChatFlow; account() runs when it completes.
  void handle(const Msg& m);
  // What a reply means for the run: counts, the price auditor, the user's next move.
  void account(const Msg& m, TimePoint arrived, bool first_time, gateway::ChatOutcome& out);
  void after_reply(const Msg& m, bool failed, bool too_fast, const assist::Reply* reply,
                   int retry_after_s);
  // The auditor's question: does `text` state a price for `pid` the catalog no longer has?
  bool states_stale_price(std::string_view text, const std::string& pid) const;
  catalog::User user_of(std::uint32_t u) const;
  // What the fleet's lanes have billed so far (summed over the lanes).
  struct Billed {
    std::uint64_t input_tokens = 0, output_tokens = 0;
    double cost_usd = 0;
  };
  Billed billed() const;

  const Scenario& s_;
  const Variant& v_;
  const RunOptions& o_;
  std::uint64_t seed_;
  double duration_s_;
  // One thread drives a run and nothing is posted from another: the io_context needs no
  // locks (a lock and an unlock per post and per poll otherwise).
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  core::SimClock clock_;
  TimePoint t0_;
  core::Random rng_;
  // The catalog: the engine's until the gateway takes it (build_gateway).
  std::unique_ptr<catalog::Catalog> own_catalog_;
  catalog::Catalog* catalog_;
  std::vector<Bin> bins_;
  std::uint64_t events_ = 0;
  std::uint64_t in_flight_ = 0;
  std::uint64_t next_trace_ = 1;
  std::size_t next_task_ = 0;

  std::vector<Question> questions_;
  std::vector<double> pricing_cdf_;  // Zipf over the hot products
  std::vector<std::uint32_t> pricing_ja_, pricing_en_, other_ja_[3], other_en_[3];
  std::uint32_t freeform_ja_ = 0, freeform_en_ = 0;
  std::uint32_t next_nonce_ = 1;
  std::vector<std::pair<TimePoint, Msg>> arrivals_;  // this second's, in time order
  std::size_t next_arrival_ = 0;
  std::vector<std::pair<std::string, int>> hot_products_;  // id, list price

  // The fleet: the same gateway the server runs, with `tasks` pipelines.
  std::unique_ptr<state::SharedState> shared_;  // null: no fleet budget (the seed's gateway)
  std::unique_ptr<gateway::Gateway> gateway_;
  fm::SimulatedBedrock* sonnet_ = nullptr;  // the gateway's lanes
  fm::SimulatedBedrock* haiku_ = nullptr;
  bool static_limit_ = false;
  // What was billed at the incident's edges: read by arrivals() at the first second at or
  // after each edge. NOTE: not on timers of their own -- one more timer changes the run
  // (the clock stops at its instant), and the golden runs would move.
  std::optional<Billed> billed_at_incident_start_, billed_at_incident_end_;

  // 0 normal, 1 during, 2 recovery: the phase of an instant.
  int phase_at(TimePoint at) const {
    const double t = core::to_seconds(at - t0_);
    return t < s_.incident_start_s ? 0 : t < s_.incident_end_s ? 1 : 2;
  }
  // tiers.cache_only_when_open: the seed's runbook served from the cache alone once the
  // primary's breakers had opened, for one breaker wait (checked every second).
  void watch_breakers();
  bool cache_only_ = false;
  TimePoint cache_only_until_{};
  // Users who have sent a message in this run: a "too fast" to anyone else is to a
  // first-time visitor.
  std::vector<bool> seen_;
  // Distinct users per phase (Summary says what each is).
  struct PhaseUsers {
    std::unordered_set<std::uint32_t> stale, failed, retried;
  };
  std::array<PhaseUsers, 3> users_;

  // [traffic] from_log: the recorded messages replayed instead of the Poisson model, each
  // logged user and question given an index of its own.
  core::Status load_logged_traffic();
  void logged_arrivals(double from_s, double to_s);
  std::vector<std::pair<double, Msg>> logged_;  // arrival (s), message
  // Scripted sources' user ids: after every simulated or logged user.
  std::size_t first_abuse_id_ = 0;
  std::size_t next_logged_ = 0;
};

double Engine::rate_at(double t) const {
  const Traffic& tr = s_.traffic;
  double r = tr.rate;
  if (tr.daily) {
    // JST hour of day, t = 0 at midnight: a night trough, a lunch bump, an evening peak.
    const double h = std::fmod(t / 3600.0, 24.0);
    auto bump = [h](double at, double width) {
      const double d = std::min(std::abs(h - at), 24 - std::abs(h - at));
      return std::exp(-0.5 * (d / width) * (d / width));
    };
    const double shape = 0.15 + 0.9 * bump(12.5, 1.5) + 1.6 * bump(21, 2.5);
    r = tr.rate * shape / 0.74;  // 0.74: the curve's mean, so `rate` stays the day's mean
  }
  if (tr.spike_peak > tr.rate && t >= tr.spike_start_s) {
    const double ramp = std::max(1.0, tr.spike_ramp_s);
    double f = 0;
    if (t < tr.spike_start_s + ramp) {
      f = (t - tr.spike_start_s) / ramp;
    } else if (t < tr.spike_end_s) {
      f = 1;
    } else if (t < tr.spike_end_s + ramp) {
      f = 1 - (t - tr.spike_end_s) / ramp;
    }
    r = tr.rate + (tr.spike_peak - tr.rate) * f;
  }
  return r;
}

void Engine::build_questions() {
  std::vector<const catalog::Series*> by_rank;
  for (const auto& s : catalog_->all_series()) by_rank.push_back(&s);
  std::sort(by_rank.begin(), by_rank.end(),
            [](const auto* a, const auto* b) { return a->popularity_rank < b->popularity_rank; });
  auto add = [&](std::string text, std::string product, std::vector<std::uint32_t>& into,
                 std::vector<std::string> topics = {}) {
    into.push_back(static_cast<std::uint32_t>(questions_.size()));
    questions_.push_back({std::move(text), std::move(product), std::move(topics)});
  };
  double norm = 0;
  for (const catalog::Series* s : by_rank) {
    if (static_cast<int>(hot_products_.size()) >= s_.traffic.hot_products) break;
    if (s->volumes < 1 || s->title_ja.empty() || s->title_en.empty()) continue;
    const int vol = 1 + static_cast<int>(hot_products_.size() % std::min(s->volumes, 3));
    auto p = catalog_->volume(*s, vol);
    if (!p) continue;
    hot_products_.emplace_back(p->id, p->price_jpy);
    add(s->title_ja + "の" + std::to_string(vol) + "巻はいくら？", p->id, pricing_ja_,
        {s->display_title(true), "価格"});
    add("How much is " + s->title_en + " volume " + std::to_string(vol) + "?", p->id, pricing_en_,
        {s->display_title(false), "price"});
    norm += 1.0 / static_cast<double>(hot_products_.size());
    pricing_cdf_.push_back(norm);
  }
  for (double& c : pricing_cdf_) c /= norm;
  for (std::size_t i = 0; i < std::min<std::size_t>(by_rank.size(), 100); ++i) {
    const catalog::Series* s = by_rank[i];
    if (s->title_ja.empty() || s->title_en.empty()) continue;
    add("「" + s->title_ja + "」みたいなおすすめの漫画は？", "", other_ja_[0],
        {"おすすめ", s->display_title(true)});
    add("Can you recommend manga like " + s->title_en + "?", "", other_en_[0],
        {"recommend", s->display_title(false)});
  }
  add("送料はいくらですか？", "", other_ja_[1], {"送料", "配送料"});
  add("支払い方法は何がありますか？", "", other_ja_[1], {"支払"});
  add("返品できますか？", "", other_ja_[1], {"返品"});
  add("How much is shipping?", "", other_en_[1], {"shipping"});
  add("What payment methods do you accept?", "", other_en_[1], {"payment"});
  add("Can I return a book?", "", other_en_[1], {"return"});
  add("こんにちは", "", other_ja_[2]);
  add("ありがとう", "", other_ja_[2]);
  add("おすすめは何ですか？", "", other_ja_[2], {"おすすめ"});
  add("Hello!", "", other_en_[2]);
  add("Thanks a lot", "", other_en_[2]);
  add("What do you suggest?", "", other_en_[2], {"recommend", "suggest"});
  std::vector<std::uint32_t> freeform;
  add("漫画について相談があります。整理番号", "", freeform);
  add("I would like some advice about manga, ref ", "", freeform);
  freeform_ja_ = freeform[0];
  freeform_en_ = freeform[1];
}

void Engine::build_gateway() {
  // This project's defaults, then the variant's knobs.
  assist::PipelineConfig pc;
  const bool ja_v1 = v_.degradation.value_or("v2") == "v1";
  if (v_.jitter) pc.retry.backoff.jitter = *v_.jitter;
  if (v_.max_attempts) pc.retry.max_attempts = *v_.max_attempts;
  if (v_.retry_base_ms) pc.retry.backoff.base = core::from_seconds(*v_.retry_base_ms / 1000);
  if (v_.retry_cap_ms) pc.retry.backoff.cap = core::from_seconds(*v_.retry_cap_ms / 1000);
  if (v_.timeouts_retried.value_or(false)) pc.timeout_falls_through = false;
  if (v_.deadline_s) pc.deadline = core::from_seconds(*v_.deadline_s);
  if (v_.attempt_timeout_s) {
    for (const char* name : {"sonnet", "haiku"}) {
      const gateway::ModelPrices list = gateway::default_model_prices(name);
      assist::LanePolicy l;
      l.first_token = core::from_seconds(*v_.attempt_timeout_s);
      l.input_usd_per_mtok = list.input_usd_per_mtok;
      l.output_usd_per_mtok = list.output_usd_per_mtok;
      pc.lanes.push_back(l);
    }
  }
  if (!v_.static_tier.value_or(true)) {
    for (auto& order : pc.tier_order) std::erase(order, assist::Tier::kStatic);
  }
  if (v_.breaker_wait_s) pc.breaker.wait_in_open = core::from_seconds(*v_.breaker_wait_s);
  if (v_.breaker_window_calls) {
    pc.breaker.window_type = resilience::WindowType::kCountBased;
    pc.breaker.window_size = *v_.breaker_window_calls;
  }
  if (v_.breaker_window_s) {
    pc.breaker.window_type = resilience::WindowType::kTimeBased;
    pc.breaker.window_size = *v_.breaker_window_s;
  }
  if (v_.breaker_minimum_calls) pc.breaker.minimum_calls = *v_.breaker_minimum_calls;
  if (v_.breaker_failure_rate) pc.breaker.failure_rate_threshold = *v_.breaker_failure_rate;
  pc.breaker_counts_throttles = v_.breaker_counts_throttles.value_or(true);
  if (v_.stagger_max_s) pc.stagger_max = core::from_seconds(*v_.stagger_max_s);
  if (v_.cache_ttl_s) pc.cache_ttl.fill(core::from_seconds(*v_.cache_ttl_s));
  if (v_.cache_first.value_or(false)) {
    for (auto& order : pc.tier_order) {
      std::erase(order, assist::Tier::kCache);
      order.insert(order.begin(), assist::Tier::kCache);
    }
  }
  // The simulated models do not read earlier turns: remembering them would cost time and
  // change nothing.
  pc.conversation.max_turns = 0;
  // Each task sends at most its share of the account quotas (none in the seed's gateway).
  if (v_.client_quota.value_or(true)) {
    pc.quota_rps = {s_.sonnet.quota_rps / s_.tasks, s_.haiku.quota_rps / s_.tasks};
  }
  pc.price_guard = v_.price_guard.value_or(true);
  pc.cache_price_disclaimer = v_.disclaimers.value_or(true);
  pc.client_limiter = v_.client_limiter.value_or(true);
  pc.hedge.enabled = v_.hedge.value_or(true);

  // The fleet retry budget through the shared-state interface, in its memory implementation.
  const int budget = v_.retry_budget_per_minute.value_or(100);
  if (budget > 0) shared_ = std::make_unique<state::MemoryState>(budget);

  gateway::GatewayConfig gc;
  gc.pipeline = pc;
  if (v_.static_global_rate) {
    static_limit_ = true;
    gc.admission.dynamic = false;
    gc.admission.global_rate = *v_.static_global_rate;
    gc.admission.global_burst = *v_.static_global_rate;
    gc.admission.max_wait = Duration::zero();  // refused at once: no queue
  }
  gc.invalidate_on_change = v_.invalidation.value_or(true);
  gc.tasks = s_.tasks;
  // Admission feeds the models what the region can take (each task its share).
  gc.lanes = {{.feed_rps = s_.sonnet.capacity_rps}, {.feed_rps = s_.haiku.capacity_rps}};
  gc.seed = seed_;
  gc.keep_error_traces = v_.sampling.value_or("rules") != "uniform5";

  gateway::GatewayDeps deps{.clock = clock_, .catalog = std::move(own_catalog_)};
  deps.fleet_budget = shared_ ? &shared_->retry_budget() : nullptr;
  if (v_.sampling.value_or("rules") == "uniform5") {
    deps.sampler =
        std::move(observe::Sampler::from_local_json(
                      R"({"version":2,"rules":[],"default":{"fixed_target":0,"rate":0.05}})"))
            .value();
  }
  // Lane 0 is Sonnet, lane 1 Haiku (the scenario's two models).
  deps.providers = [this](std::size_t lane,
                          std::uint64_t seed) -> core::Result<std::unique_ptr<fm::ModelProvider>> {
    const bool primary = lane == 0;
    const ModelModel& m = primary ? s_.sonnet : s_.haiku;
    auto model = std::make_unique<fm::SimulatedBedrock>(
        fm::SimModelSpec{primary ? "sonnet" : "haiku",
                         core::from_seconds(m.latency_median_ms / 1000),
                         core::from_seconds(m.latency_p99_ms / 1000), m.capacity_rps, 1},
        clock_, seed);
    (primary ? sonnet_ : haiku_) = model.get();
    return std::unique_ptr<fm::ModelProvider>(std::move(model));
  };
  gateway_ = std::move(gateway::Gateway::build(std::move(gc), std::move(deps))).value();
  if (ja_v1) {
    (void)gateway_->flags().patch(boost::json::object{{"DEGRADATION_MESSAGE_VERSION", "v1"}});
  }
  gateway_->start(io_.get_executor());
}

void Engine::schedule_model_faults(fm::SimulatedBedrock& m, const ModelModel& spec) {
  // At every boundary, the faults in force are recomputed from the windows.
  std::vector<double> edges;
  for (const auto& f : spec.faults) {
    edges.push_back(f.start_s);
    edges.push_back(f.end_s);
  }
  for (double at : edges) {
    clock_.call_at(t0_ + core::from_seconds(at), [this, &m, &spec, at] {
      fm::FaultSpec fs;
      double capacity = spec.capacity_rps;
      for (const auto& f : spec.faults) {
        if (at < f.start_s || at >= f.end_s) continue;
        if (f.kind == "outage") fs.outage = true;
        if (f.kind == "throttle") fs.throttle_rate = f.value;
        if (f.kind == "unknown_format") fs.unknown_error_rate = f.value;
        if (f.kind == "latency") fs.extra_latency = core::from_seconds(f.value / 1000);
        if (f.kind == "capacity") capacity = f.value;
      }
      m.set_faults(fs);
      m.set_capacity(capacity);
      ++events_;
    });
  }
}

void Engine::schedule_catalog_events() {
  for (const auto& e : s_.events) {
    clock_.call_at(t0_ + core::from_seconds(e.at_s), [this, e] {
      for (const auto& [id, list] : hot_products_) {
        const int price = e.kind == "sale_start" ? list * (100 - e.discount_pct) / 100 : list;
        (void)catalog_->update_product(id, price, std::nullopt);
      }
      ++events_;
    });
  }
}

namespace {

// fnv1a(to_string(n) + suffix), without building the string.
std::uint64_t hash_with(std::uint32_t n, std::string_view suffix) {
  return core::fnv1a(suffix, core::fnv1a(core::Dec(n).view()));
}

}  // namespace

catalog::User Engine::user_of(std::uint32_t u) const {
  const std::uint64_t h = hash_with(u, "tier");
  const double x = static_cast<double>(h % 10'000) / 10'000.0;
  const auto tier =
      x < s_.traffic.premium_share ? catalog::UserTier::kPremium : catalog::UserTier::kRegistered;
  return catalog::User{core::str_cat("u", core::Dec(u)), "user", tier};
}

void Engine::send(Msg m, TimePoint at) {
  ++in_flight_;
  clock_.call_at(at, [this, m] {
    ++events_;
    handle(m);
  });
}

void Engine::watch_breakers() {
  const TimePoint now = clock_.now();
  if (cache_only_) {
    if (now < cache_only_until_) return;
    cache_only_ = false;
    (void)gateway_->flags().patch(boost::json::object{{"FM_MODE", "normal"}});
    ++events_;
    return;
  }
  std::size_t open = 0;
  for (std::size_t t = 0; t < gateway_->tasks(); ++t) {
    const auto status = gateway_->pipeline(t).status();
    // Opened and still waiting: a breaker whose wait is over stays "open" until a call
    // probes it, and must not send the fleet back to the cache.
    if (!status.models.empty() && status.models[0].breaker == resilience::BreakerState::kOpen &&
        status.models[0].time_until_probe > Duration::zero()) {
      ++open;
    }
  }
  if (2 * open < gateway_->tasks()) return;
  cache_only_ = true;
  cache_only_until_ = now + gateway_->config().pipeline.breaker.wait_in_open;
  (void)gateway_->flags().patch(boost::json::object{{"FM_MODE", "cache_only"}});
  ++events_;
}

void Engine::arrivals(double from_s) {
  if (v_.cache_only_when_open.value_or(false)) watch_breakers();
  if (!billed_at_incident_start_ && from_s >= s_.incident_start_s) {
    billed_at_incident_start_ = billed();
  }
  if (!billed_at_incident_end_ && from_s >= s_.incident_end_s) billed_at_incident_end_ = billed();
  // One second of Poisson arrivals at the rate of that second, then the next second.
  const double to_s = std::min(from_s + 1.0, duration_s_);
  const double rate = rate_at(from_s);
  arrivals_.clear();
  next_arrival_ = 0;
  const Traffic& tr = s_.traffic;
  if (!logged_.empty()) {
    logged_arrivals(from_s, to_s);
  } else if (rate > 0) {
    double t = from_s + rng_.exponential(1.0 / rate);
    while (t < to_s) {
      Msg m;
      m.user = static_cast<std::uint32_t>(rng_.below(static_cast<std::uint64_t>(tr.users)));
      const bool ja = rng_.chance(tr.japanese_share);
      const double mix =
          rng_.uniform01() * (tr.pricing + tr.recommendation + tr.faq + tr.general + tr.freeform);
      const std::vector<std::uint32_t>* pool = nullptr;
      if (mix >= tr.pricing + tr.recommendation + tr.faq + tr.general) {
        m.question = ja ? freeform_ja_ : freeform_en_;
        m.nonce = next_nonce_++;
      } else if (mix < tr.pricing) {
        const double u = rng_.uniform01();
        const auto k = static_cast<std::size_t>(
            std::lower_bound(pricing_cdf_.begin(), pricing_cdf_.end(), u) - pricing_cdf_.begin());
        const auto& p = ja ? pricing_ja_ : pricing_en_;
        m.question = p[std::min(k, p.size() - 1)];
      } else {
        const double rest = mix - tr.pricing;
        const int kind = rest < tr.recommendation ? 0 : rest < tr.recommendation + tr.faq ? 1 : 2;
        pool = ja ? &other_ja_[kind] : &other_en_[kind];
        if (pool->empty()) pool = &other_en_[2];
        m.question = (*pool)[rng_.below(pool->size())];
      }
      ++in_flight_;
      arrivals_.emplace_back(t0_ + core::from_seconds(t), m);
      t += rng_.exponential(1.0 / rate);
    }
  }
  arm_next_arrival();
  if (o_.progress) o_.progress(to_s / duration_s_);
  if (to_s < duration_s_) {
    clock_.call_at(t0_ + core::from_seconds(to_s), [this, to_s] { arrivals(to_s); });
  }
}

core::Status Engine::load_logged_traffic() {
  const Traffic& tr = s_.traffic;
  auto window = LogWindow::parse(tr.from_log_since, tr.from_log_until, tr.from_log_speedup);
  if (!window.ok()) return core::fail(std::move(window).error());
  auto log = read_traffic_log(tr.from_log, *window);
  if (!log.ok()) return core::fail(std::move(log).error());
  std::unordered_map<std::string, std::uint32_t> users, texts;
  for (LoggedMessage& lm : log->messages) {
    if (lm.at_s >= duration_s_) break;  // sorted: the rest is past the run
    Msg m;
    m.user = users.try_emplace(lm.user, static_cast<std::uint32_t>(users.size())).first->second;
    auto [q, added] = texts.try_emplace(lm.question, static_cast<std::uint32_t>(questions_.size()));
    if (added) questions_.push_back({std::move(lm.question), std::move(lm.product_id), {}});
    m.question = q->second;
    logged_.emplace_back(lm.at_s, m);
  }
  if (logged_.empty()) {
    return core::fail("invalid_scenario",
                      "the request log " + tr.from_log + " has no message within the run's " +
                          std::to_string(static_cast<long long>(duration_s_)) + " s");
  }
  // The logged users are the run's users: first-time visitors are told apart among them.
  seen_.assign(std::max(seen_.size(), users.size()), false);
  return core::Ok{};
}

void Engine::logged_arrivals(double from_s, double to_s) {
  while (next_logged_ < logged_.size() && logged_[next_logged_].first < to_s) {
    const auto& [at_s, m] = logged_[next_logged_++];
    ++in_flight_;
    arrivals_.emplace_back(t0_ + core::from_seconds(std::max(at_s, from_s)), m);
  }
}

void Engine::arm_next_arrival() {
  if (next_arrival_ >= arrivals_.size()) return;
  clock_.call_at(arrivals_[next_arrival_].first, [this] {
    const Msg m = arrivals_[next_arrival_++].second;
    arm_next_arrival();
    ++events_;
    handle(m);
  });
}

void Engine::abuse(const Abuse& a, double from_s) {
  const double to_s = std::min({from_s + 1.0, a.end_s, duration_s_});
  for (int src = 0; src < a.sources; ++src) {
    for (double t = from_s + rng_.exponential(1.0 / a.rate); t < to_s;
         t += rng_.exponential(1.0 / a.rate)) {
      Msg m;
      m.user = static_cast<std::uint32_t>(first_abuse_id_ + static_cast<std::size_t>(src));
      m.question = pricing_en_.front();
      m.abusive = true;
      send(m, t0_ + core::from_seconds(t));
    }
  }
  if (to_s < std::min(a.end_s, duration_s_)) {
    clock_.call_at(t0_ + core::from_seconds(to_s), [this, &a, to_s] { abuse(a, to_s); });
  }
}

gateway::ChatInput Engine::input_for(const Msg& m) {
  // Called for every message: appended from digits, no temporary strings.
  const bool registered =
      !m.abusive && static_cast<double>(m.user % 1000) < s_.traffic.registered_share * 1000;
  gateway::ChatInput in;
  const std::string& text = questions_[m.question].text;
  in.message = m.nonce != 0 ? core::str_cat(text, core::Dec(m.nonce)) : text;
  if (registered) {
    in.user = user_of(m.user);
  } else {
    in.session = core::str_cat(m.abusive ? "bot-" : "s-", core::Dec(m.user));
  }
  in.remote = core::str_cat("10.", core::Dec((m.user >> 16) & 255), ".",
                            core::Dec((m.user >> 8) & 255), ".", core::Dec(m.user & 255));
  in.trace_id = core::str_cat("1-sim-", core::Dec(static_cast<long long>(next_trace_++)));
  return in;
}

void Engine::handle(const Msg& m) {
  Bin& arrival_bin = bin();
  bool first_time = false;
  if (!m.abusive && m.user < seen_.size() && !seen_[m.user]) {
    seen_[m.user] = true;
    first_time = true;
  }
  if (m.abusive) {
    arrival_bin.abusive++;
  } else if (m.attempt == 0) {
    arrival_bin.offered++;
  } else {
    arrival_bin.resent++;
  }
  // What a message needs while in flight, in one allocation; ChatFlow is spawned directly
  // (no coroutine of the engine's own around it: one frame less per message in flight).
  struct Flight {
    Msg m;
    TimePoint arrived;
    bool first_time;
    gateway::ChatInput in;
    gateway::ChatOutcome out;
  };
  auto f = std::make_unique<Flight>(Flight{m, clock_.now(), first_time, input_for(m), {}});
  Flight& flight = *f;
  gateway::ChatFlow& flow = gateway_->flow(next_task_++ % gateway_->tasks());
  asio::co_spawn(io_, flow.answer_into(flight.in, flight.out, nullptr, nullptr),
                 [this, f = std::move(f)](const std::exception_ptr& e) {
                   // A message must not vanish: an exception ends the run, loudly.
                   if (e) std::rethrow_exception(e);
                   if (o_.edit_reply) o_.edit_reply(f->out.reply);
                   account(f->m, f->arrived, f->first_time, f->out);
                 });
}

void Engine::account(const Msg& m, TimePoint arrived, bool first_time, gateway::ChatOutcome& out) {
  ++events_;
  --in_flight_;
  // Every model call the message made, counted in the bin where the call started (the
  // reply records each attempt; a deduplicated reply made none).
  for (const assist::ModelAttempt& a : out.reply.attempts) {
    Bin& ab = bin_at(a.start);
    const int lane = static_cast<int>(a.model == "haiku" ? Lane::kHaiku : Lane::kSonnet);
    ab.model_calls[lane]++;
    if (a.cancelled) {
      ab.model_cancelled[lane]++;  // lost a hedge race: neither an answer nor a failure
    } else if (a.ok()) {
      ab.model_ok[lane]++;
    } else if (*a.error == resilience::ErrorClass::kThrottling) {
      ab.model_throttled[lane]++;
    }
    ++events_;
  }
  if (m.abusive) return;

  Bin& b = bin();
  b.error_requests += out.trace.went_wrong ? 1 : 0;
  b.error_traces += out.trace.went_wrong && out.trace.kept ? 1 : 0;
  const auto unknown = std::find_if(
      out.reply.attempts.begin(), out.reply.attempts.end(),
      [](const assist::ModelAttempt& a) { return a.error == resilience::ErrorClass::kUnknown; });
  const bool hit_unknown = unknown != out.reply.attempts.end();
  if (hit_unknown) {
    b.unknown_errors++;
    b.unknown_error_traces += out.trace.kept ? 1 : 0;
  }
  const double ms = core::to_seconds(clock_.now() - arrived) * 1000;
  // The seed's static limit answered a queue overflow with "you're sending too fast".
  const bool too_fast =
      out.refused.has_value() ||
      (static_limit_ && out.admission.outcome == assist::AdmissionOutcome::kQueueTimeout);
  if (too_fast) {
    b.too_fast++;
    b.first_time_too_fast += first_time ? 1 : 0;
    b.user_errors++;
    after_reply(
        m, true, true, nullptr,
        out.refused ? static_cast<int>(std::ceil(core::to_seconds(out.refused->retry_after))) : 1);
    return;
  }
  assist::Reply& r = out.reply;
  if (v_.raw_errors.value_or(false) &&
      (hit_unknown || (r.tier == assist::Tier::kDegraded && !r.error_code.empty()))) {
    // The seed's chat showed the provider's error as it came, and an error body it could
    // not parse ended the request there: the user reads that instead of any answer.
    r.tier = assist::Tier::kDegraded;
    r.text = hit_unknown ? unknown->code : r.error_message.empty() ? r.error_code : r.error_message;
    r.actions.clear();
    r.retry_after_s = 0;
    b.raw_errors++;
  }
  b.replies[static_cast<int>(r.tier)]++;
  b.latency.add(ms);
  if (!r.attempts.empty()) b.to_models++;
  // A real answer from the cache or live data is not a failure, even in limited mode.
  const bool failed = r.tier == assist::Tier::kDegraded;
  if (failed) b.user_errors++;
  // The auditor, on the catalog as it is at this virtual instant, for the product asked about.
  // Before the guard: the price the answer source produced -- the model's or the cache's
  // text that the guard corrected, disclaimed or evicted, else the reply's own -- with or
  // without a disclaimer: what users would have read with no guard. It sees what per-content
  // TTLs, invalidation and live data first prevent, and the guard does not hide it.
  // After the guard: the reply as served, stating a price the catalog no longer has without
  // saying that prices may have changed.
  const std::string& pid = questions_[m.question].product_id;
  if (!pid.empty()) {
    const bool served_stale = !failed && states_stale_price(r.text, pid);
    if (served_stale && !r.disclaimer) {
      b.stale_prices++;
      users_[phase_at(clock_.now())].stale.insert(m.user);
    }
    if (r.unguarded_text.empty() ? served_stale : states_stale_price(r.unguarded_text, pid)) {
      b.stale_pre_guard++;
    }
  }
  after_reply(m, failed, false, &r, r.retry_after_s);
}

bool Engine::states_stale_price(std::string_view text, const std::string& pid) const {
  const assist::PriceCheck c = assist::check_prices(text, pid, *catalog_, clock_.wall_now());
  return c.checked && c.mismatch;
}

void Engine::after_reply(const Msg& m, bool failed, bool too_fast, const assist::Reply* reply,
                         int retry_after_s) {
  if (!failed) return;
  PhaseUsers& users = users_[phase_at(clock_.now())];
  users.failed.insert(m.user);
  const Behaviour& bh = s_.behaviour;
  std::optional<ReplyReading> read;
  const bool auto_client =
      static_cast<double>(hash_with(m.user, "client") % 10'000) < bh.auto_retry_share * 10'000;
  double p = 0;
  double delay = rng_.uniform(bh.resend_min_s, bh.resend_max_s);
  if (auto_client && m.attempt == 0) {
    p = 1;
    delay = 1;
  } else if (too_fast) {
    p = m.attempt == 0 ? bh.too_fast_resend : 0;
    delay = std::max<double>(delay, retry_after_s);
  } else if (reply != nullptr) {
    // The user reads the reply (sim/user_model.hpp): told to retry, they may come back up to
    // resend_max times; otherwise once at most. Never before an ETA the text states.
    const Question& q = questions_[m.question];
    read = read_reply(reply->text, reply->actions, q.topics);
    const int allowed = read->invites_retry ? bh.resend_max : 1;
    p = m.attempt < allowed ? resend_probability(*read, bh) : 0;
    if (read->eta_s) delay = std::max(delay, *read->eta_s);
  }
  if (!rng_.chance(p)) {
    // Left without an answer: some contact support, fewer when the reply said what is
    // going on and when it will be back (sim/user_model.hpp).
    if (rng_.chance(contact_probability(read ? *read : ReplyReading{}, bh))) {
      bin().support_contacts++;
    }
    return;
  }
  const TimePoint at = clock_.now() + core::from_seconds(delay);
  if (core::to_seconds(at - t0_) >= duration_s_) return;  // after the run: never sent
  users.retried.insert(m.user);
  Msg again = m;
  again.attempt = static_cast<std::uint8_t>(std::min(250, m.attempt + 1));
  send(again, at);
}

Engine::Billed Engine::billed() const {
  Billed b;
  for (const auto& l : gateway_->lane_counters()) {
    b.input_tokens += l.input_tokens;
    b.output_tokens += l.output_tokens;
    b.cost_usd += l.cost_usd;
  }
  return b;
}

core::Result<RunResult> Engine::run() {
  const core::RealClock wall;  // the simulator's own speed, in real time
  const auto wall0 = wall.now();
  // Late replies (after the end) land in the last bin.
  bins_.resize(
      std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(duration_s_ / o_.bin_s))));
  seen_.assign(static_cast<std::size_t>(s_.traffic.users), false);
  build_questions();
  if (pricing_ja_.empty()) return core::fail("invalid_scenario", "the catalog has no products");
  if (!s_.traffic.from_log.empty()) {
    if (auto st = load_logged_traffic(); !st.ok()) return core::fail(std::move(st).error());
  }
  first_abuse_id_ = seen_.size();
  build_gateway();
  schedule_model_faults(*sonnet_, s_.sonnet);
  schedule_model_faults(*haiku_, s_.haiku);
  schedule_catalog_events();
  clock_.call_at(t0_, [this] { arrivals(0); });
  for (const auto& a : s_.abuse) {
    if (a.sources > 0 && a.rate > 0)
      clock_.call_at(t0_ + core::from_seconds(a.start_s), [this, &a] { abuse(a, a.start_s); });
  }
  // Run to the end, then let what is in flight finish (every message gets its reply).
  const TimePoint end = t0_ + core::from_seconds(duration_s_);
  clock_.advance_to(end);
  clock_.run_until([this] { return in_flight_ == 0; }, end + 120s);
  RunResult r;
  r.scenario = s_.name;
  r.variant = v_.name;
  r.seed = seed_;
  r.bin_s = o_.bin_s;
  r.duration_s = duration_s_;
  r.incident_start_s = std::min(s_.incident_start_s, duration_s_);
  r.incident_end_s = std::min(s_.incident_end_s, duration_s_);
  const auto idx = [&](double t) { return static_cast<std::size_t>(std::floor(t / o_.bin_s)); };
  r.total = summarize(bins_, 0, bins_.size(), o_.bin_s);
  r.phases[0] = summarize(bins_, 0, idx(r.incident_start_s), o_.bin_s);
  r.phases[1] = summarize(bins_, idx(r.incident_start_s), idx(r.incident_end_s), o_.bin_s);
  r.phases[2] = summarize(bins_, idx(r.incident_end_s), bins_.size(), o_.bin_s);
  {
    const Billed end = billed();
    // An edge at the very end of the run was never reached by an arrival.
    const Billed edges[4] = {Billed{}, billed_at_incident_start_.value_or(end),
                             billed_at_incident_end_.value_or(end), end};
    auto put = [](Summary& s, const Billed& from, const Billed& to) {
      s.input_tokens = to.input_tokens - from.input_tokens;
      s.output_tokens = to.output_tokens - from.output_tokens;
      s.cost_usd = to.cost_usd - from.cost_usd;
    };
    put(r.total, edges[0], edges[3]);
    for (int i = 0; i < 3; ++i) put(r.phases[i], edges[i], edges[i + 1]);
    for (const auto& l : gateway_->lane_counters()) {
      std::uint64_t skips = 0;
      for (std::uint64_t n : l.skips) skips += n;
      r.lanes.push_back(
          {l.name, l.calls, l.hedges, skips, l.input_tokens, l.output_tokens, l.cost_usd});
    }
  }
  {
    PhaseUsers all;
    for (int i = 0; i < 3; ++i) {
      Summary& ph = r.phases[static_cast<std::size_t>(i)];
      const PhaseUsers& u = users_[static_cast<std::size_t>(i)];
      ph.stale_price_customers = u.stale.size();
      ph.users_failed = u.failed.size();
      ph.users_retried = u.retried.size();
      all.stale.insert(u.stale.begin(), u.stale.end());
      all.failed.insert(u.failed.begin(), u.failed.end());
      all.retried.insert(u.retried.begin(), u.retried.end());
    }
    r.total.stale_price_customers = all.stale.size();
    r.total.users_failed = all.failed.size();
    r.total.users_retried = all.retried.size();
    for (Summary* sm : {&r.total, &r.phases[0], &r.phases[1], &r.phases[2]}) {
      sm->users_retrying = sm->users_failed > 0 ? static_cast<double>(sm->users_retried) /
                                                      static_cast<double>(sm->users_failed)
                                                : 0;
    }
  }
  r.bins = std::move(bins_);
  double cause_end_s = 0;  // the end of the model faults
  for (const ModelModel* m : {&s_.sonnet, &s_.haiku}) {
    for (const ModelFault& f : m->faults) cause_end_s = std::max(cause_end_s, f.end_s);
  }
  read_timeline(r, std::min(cause_end_s, duration_s_));
  r.seed_figures = s_.seed_figures;
  r.targets = s_.targets;
  r.events = events_;
  r.wall_s = core::to_seconds(wall.now() - wall0);
  return r;
}

}  // namespace

core::Result<RunResult> run(const Scenario& scenario, const std::string& variant,
                            const RunOptions& options) {
  auto it = scenario.variants.find(variant);
  if (it == scenario.variants.end())
    return core::fail("invalid_argument", "no variant \"" + variant + "\" (incident or fixed)");
  auto cat = catalog::Catalog::open({options.data_dir, ":memory:"});
  if (!cat.ok()) return core::fail(std::move(cat).error());
  const std::uint64_t seed = options.seed != 0 ? options.seed : scenario.seed;
  auto engine =
      std::make_unique<Engine>(scenario, it->second, options, seed, std::move(cat).value());
  return engine->run();
}

}  // namespace ma::sim
