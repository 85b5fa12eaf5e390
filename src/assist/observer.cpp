#include "assist/observer.hpp"

#include <algorithm>
#include <array>
#include <map>

#include "core/text.hpp"

namespace ma::assist {

namespace {
// `value` when it is one of `known`, else "other": a label never takes a value from outside.
template <std::size_t N>
std::string bounded(std::string_view value, const std::array<std::string_view, N>& known) {
  return std::find(known.begin(), known.end(), value) != known.end() ? std::string(value)
                                                                     : std::string("other");
}
constexpr std::array<std::string_view, 3> kRefusalScopes = {"user", "source", "tokens"};
}  // namespace

std::string_view to_string(AdmissionOutcome o) {
  switch (o) {
    case AdmissionOutcome::kAdmitted:
      return "admitted";
    case AdmissionOutcome::kQueued:
      return "queued";
    case AdmissionOutcome::kLimitedUser:
      return "limited_user";
    case AdmissionOutcome::kLimitedSource:
      return "limited_source";
    case AdmissionOutcome::kQueueTimeout:
      return "queue_timeout";
  }
  return "admitted";
}

RequestObserver::RequestObserver(core::Clock& clock, observe::MetricsRegistry& metrics,
                                 observe::AlarmEngine& alarms, observe::Sampler& sampler,
                                 observe::LogSink* log, observe::TraceSink* traces,
                                 std::uint64_t seed)
    : clock_(clock),
      metrics_(metrics),
      alarms_(alarms),
      sampler_(sampler),
      log_(log),
      traces_(traces),
      rng_(seed),
      queue_wait_(metrics.histogram("mangaassist_queue_wait_seconds",
                                    "Time queued messages waited for admission.",
                                    observe::latency_buckets())),
      model_attempts_(metrics.counter("mangaassist_model_attempts_total",
                                      "Model calls, by model and outcome.", {"model", "outcome"})),
      model_errors_(metrics.counter("mangaassist_model_errors_total",
                                    "Model errors, by model, class and error code.",
                                    {"model", "error_class", "error_code"})),
      retries_(metrics.counter("mangaassist_retries_total",
                               "Model calls that were retries, by model.", {"model"})),
      traces_kept_(metrics.counter("mangaassist_traces_kept_total",
                                   "Traces kept, by reason (sampled, or always kept for an error).",
                                   {"reason"})),
      refused_(metrics.counter("mangaassist_refused_total", "Messages refused with 429, by scope.",
                               {"scope"})),
      guard_(metrics.counter("mangaassist_price_guard_total",
                             "Replies checked by the price guard, by outcome.", {"outcome"})),
      queue_wait_series_(&queue_wait_.get()) {
  kept_series_ = {&traces_kept_.with({"error"}), &traces_kept_.with({"sampled"})};
  for (GuardOutcome g : {GuardOutcome::kOk, GuardOutcome::kCorrected, GuardOutcome::kDisclaimer,
                         GuardOutcome::kEvicted}) {
    guard_series_[static_cast<std::size_t>(g)] = &guard_.with({std::string(to_string(g))});
  }
  auto& replies = metrics.counter("mangaassist_replies_total",
                                  "Final replies, by cascade tier and intent.", {"tier", "intent"});
  auto& degraded = metrics.counter(
      "mangaassist_degraded_replies_total",
      "Replies from below the models (cache, static, degraded), by intent.", {"intent"});
  auto& duration = metrics.histogram("mangaassist_request_duration_seconds",
                                     "Time from admission to the final reply.",
                                     observe::latency_buckets(), {"tier"});
  for (int t = 0; t < 5; ++t) {
    const std::string tier(to_string(static_cast<Tier>(t)));
    duration_[static_cast<std::size_t>(t)] = &duration.with({tier});
    for (int i = 0; i < kIntentCount; ++i) {
      const std::string intent(to_string(static_cast<Intent>(i)));
      replies_[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)] =
          &replies.with({tier, intent});
      if (t == 0) degraded_[static_cast<std::size_t>(i)] = &degraded.with({intent});
    }
  }
}

RequestObserver::TraceDecision RequestObserver::on_reply(const Reply& r, std::string_view question,
                                                         std::string_view user_id,
                                                         const AdmissionNote& admission,
                                                         std::string_view path) {
  const core::TimePoint now = clock_.now();
  const std::string_view tier = to_string(r.tier);
  const std::string_view intent = to_string(r.intent);
  const auto ti = static_cast<std::size_t>(r.tier);
  const auto ii = static_cast<std::size_t>(r.intent);
  replies_[ti][ii]->inc();
  if (r.degraded) degraded_[ii]->inc();
  duration_[ti]->observe(core::to_seconds(r.latency));
  if (admission.outcome != AdmissionOutcome::kAdmitted)
    queue_wait_series_->observe(core::to_seconds(admission.waited));

  // Calls per model so far (a reply has a few attempts over at most a few models).
  std::array<std::pair<std::string_view, int>, 4> per_model{};
  int retries = 0;
  bool model_error = false, throttled = false;
  for (const auto& a : r.attempts) {
    // A hedge's loser, cancelled because the other lane answered first, is neither a success
    // nor an error of its model (nor a retry).
    if (a.cancelled) continue;
    const bool ok = a.ok();
    const ModelSeries& series = model_series(a.model);
    (ok ? series.ok : series.error)->inc();
    int seen = 0;
    for (auto& [m, n] : per_model) {
      if (m == a.model || m.empty()) {
        m = a.model;
        seen = n++;
        break;
      }
    }
    if (seen > 0) {
      ++retries;
      series.retry->inc();
      alarms_.record_retry(a.start);
    }
    if (!ok) {
      model_error = true;
      throttled |= *a.error == resilience::ErrorClass::kThrottling;
      // The raw code goes to the log line (models); the label is bounded.
      model_errors_
          .with({series.model, std::string(resilience::to_string(*a.error)),
                 error_codes_.label(a.code)})
          .inc();
      alarms_.record_error_code(now, a.code);
    }
  }
  if (auto* g = guard_series_[static_cast<std::size_t>(r.price_guard)]) g->inc();
  alarms_.record_request(now, model_error, r.degraded, r.tier == Tier::kCache);

  // The tail decision: anything that went wrong is kept; the rest as the rules say.
  const bool guard_fired =
      r.price_guard != GuardOutcome::kNotChecked && r.price_guard != GuardOutcome::kOk;
  const bool queue_timeout = admission.outcome == AdmissionOutcome::kQueueTimeout;
  const bool went_wrong = model_error || throttled || r.degraded || guard_fired || queue_timeout;
  bool head = false;
  {
    // The head sampler's view of a request: the same for every request on one path.
    const observe::SampleRequest request{std::string("mangaassist"), std::string("POST"),
                                         std::string(path), std::string("mangaassist"),
                                         std::nullopt};
    const auto sec =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.wall_now().time_since_epoch())
            .count();
    const double u = rng_.with([](core::Random& rng) { return rng.uniform01(); });
    head = sampler_.should_sample(request, sec, u);
  }
  const bool keep = observe::Sampler::keep(head, went_wrong && keep_errors_);
  if (keep) {
    ++kept_;
    kept_series_[head ? 1 : 0]->inc();
    if (traces_ != nullptr || otlp_ != nullptr) {
      observe::Trace t;
      t.trace_id = r.trace_id;
      t.spans.reserve(r.attempts.size() + 3);
      const core::WallTime wall0 =
          clock_.wall_now() - std::chrono::duration_cast<core::WallTime::duration>(now - r.started);
      auto wall = [&](core::TimePoint tp) {
        return wall0 + std::chrono::duration_cast<core::WallTime::duration>(tp - r.started);
      };
      observe::Span root{
          "0",
          "",
          "chat",
          wall0 - std::chrono::duration_cast<core::WallTime::duration>(admission.waited),
          r.latency + admission.waited,
          went_wrong,
          {}};
      root.annotations = {{"tier", std::string(tier)},
                          {"intent", std::string(intent)},
                          {"language", std::string(fm::to_string(r.lang))},
                          {"error_code", r.error_code},
                          {"admission", std::string(to_string(admission.outcome))}};
      if (r.degradation_version) {
        root.annotations.emplace_back("degradation_version",
                                      std::string(to_string(*r.degradation_version)));
      }
      t.spans.push_back(std::move(root));
      t.spans.push_back({"1",
                         "0",
                         "admission",
                         t.spans[0].start,
                         admission.waited,
                         queue_timeout,
                         {{"outcome", std::string(to_string(admission.outcome))}}});
      int id = 2;
      for (const auto& a : r.attempts) {
        t.spans.push_back(
            {std::to_string(id++),
             "0",
             "model:" + a.model,
             wall(a.start),
             a.latency,
             !a.ok() && !a.cancelled,
             {{"outcome", std::string(a.outcome())},
              {"tokens",
               core::str_cat(std::to_string(a.input_tokens), "/", std::to_string(a.output_tokens))},
              {"error_class", a.error ? std::string(resilience::to_string(*a.error)) : ""}}});
      }
      t.spans.push_back({std::to_string(id),
                         "0",
                         "tier:" + std::string(tier),
                         wall0,
                         r.latency,
                         r.degraded,
                         {{"price_guard", std::string(to_string(r.price_guard))},
                          {"deduplicated", r.deduplicated ? "true" : "false"}}});
      if (traces_ != nullptr) traces_->write(t);
      if (otlp_ != nullptr) otlp_->enqueue(t);
    }
  }

  if (log_ != nullptr) {
    observe::RequestLog l;
    l.time = clock_.wall_now();
    using resilience::ErrorClass;
    l.level = (r.error_class == ErrorClass::kUnknown || r.error_class == ErrorClass::kClient)
                  ? "ERROR"
              : (model_error || r.degraded) ? "WARN"
                                            : "INFO";
    l.trace_id = r.trace_id;
    l.user = observe::hash_user(user_id);
    l.tier = std::string(tier);
    l.intent = std::string(intent);
    l.language = std::string(fm::to_string(r.lang));
    l.attempts = static_cast<int>(r.attempts.size());
    l.retries = retries;
    l.error_code = r.error_code;
    l.error_class = r.error_class ? std::string(resilience::to_string(*r.error_class)) : "";
    l.error_message = r.error_message;
    l.latency_ms = core::to_millis(r.latency);
    l.queue_wait_ms = core::to_millis(admission.waited);
    l.admission = std::string(to_string(admission.outcome));
    if (r.tier == Tier::kCache) l.cache_category = std::string(intent);
    l.price_guard = std::string(to_string(r.price_guard));
    l.price_guard_product = r.price_guard_product;
    l.prices.reserve(r.prices.size());
    for (const QuotedPrice& p : r.prices) {
      l.prices.push_back({p.product_id, p.quoted_yen, p.catalog_yen, p.list_yen});
    }
    l.degraded = r.degraded;
    if (r.degradation_version) l.degradation_version = to_string(*r.degradation_version);
    l.deduplicated = r.deduplicated;
    l.trace_kept = keep;
    l.model = r.model;
    l.tokens_in = r.input_tokens;
    l.tokens_out = r.output_tokens;
    l.cost_usd = r.cost_usd;
    l.hedged = r.hedged;
    for (const auto& a : r.attempts) {
      if (!l.models.empty()) l.models += ',';
      l.models += core::str_cat(a.model, ":", a.outcome());
      if (!l.model_tokens.empty()) l.model_tokens += ',';
      l.model_tokens += core::str_cat(a.model, ":", std::to_string(a.input_tokens), "/",
                                      std::to_string(a.output_tokens));
    }
    l.question = core::truncate_utf8(question, kMaxQuestionBytes);
    log_->write(l);
    ++lines_;
  }
  return {went_wrong, keep};
}

const RequestObserver::ModelSeries& RequestObserver::model_series(std::string_view model) {
  std::lock_guard lock(model_series_mu_);
  for (const auto& m : model_series_) {
    if (m->model == model) return *m;
  }
  // Past kMaxModels (a misconfiguration, or names from outside), one shared "other".
  const bool full = model_series_.size() >= kMaxModels;
  if (full) {
    for (const auto& m : model_series_) {
      if (m->model == "other") return *m;
    }
  }
  const std::string name = full ? "other" : std::string(model);
  model_series_.push_back(std::make_unique<ModelSeries>(
      ModelSeries{name, &model_attempts_.with({name, "ok"}), &model_attempts_.with({name, "error"}),
                  &retries_.with({name})}));
  return *model_series_.back();
}

void RequestObserver::on_refused(std::string_view scope, std::string_view question,
                                 std::string_view user_id, std::string_view trace_id) {
  refused_.with({bounded(scope, kRefusalScopes)}).inc();
  if (log_ == nullptr) return;
  observe::RequestLog l;
  l.time = clock_.wall_now();
  l.level = "WARN";
  l.trace_id = std::string(trace_id);
  l.user = observe::hash_user(user_id);
  l.tier = "refused";
  l.admission = "limited_" + std::string(scope);
  l.question = core::truncate_utf8(question, kMaxQuestionBytes);
  log_->write(l);
  ++lines_;
}

}  // namespace ma::assist
