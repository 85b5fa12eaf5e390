// Observability (issue: observability). Targets: a counter or histogram sample < 20 ns; a
// request's log line and trace together < 2 us; /metrics renders in < 5 ms.
#include <benchmark/benchmark.h>

#include "assist/observer.hpp"
#include "core/sim_clock.hpp"
#include "observe/metrics.hpp"
#include "observe/request_log.hpp"
#include "observe/trace.hpp"

namespace {

using namespace ma;
using namespace std::chrono_literals;

void BM_CounterInc(benchmark::State& state) {
  observe::MetricsRegistry r;
  auto& c = r.counter("c", "h", {"tier"}).with({"primary"});
  for (auto _ : state) c.inc();
  benchmark::DoNotOptimize(c.value());
}
BENCHMARK(BM_CounterInc);

void BM_HistogramObserve(benchmark::State& state) {
  observe::MetricsRegistry r;
  auto& h = r.histogram("h", "h", observe::latency_buckets(), {"tier"}).with({"primary"});
  double v = 0.0001;
  for (auto _ : state) {
    h.observe(v);
    v = v > 20 ? 0.0001 : v * 1.7;
  }
}
BENCHMARK(BM_HistogramObserve);

observe::RequestLog sample_log() {
  observe::RequestLog l;
  l.time = core::WallTime{std::chrono::seconds(1795694400)};
  l.trace_id = "1-6b087a9d-e5ea4b796fcbaef3d407458c";
  l.user = observe::hash_user("u-1001");
  l.tier = "primary";
  l.intent = "pricing";
  l.language = "ja";
  l.attempts = 1;
  l.latency_ms = 912.4;
  l.models = "sonnet:ok";
  l.question = "ONE PIECEの105巻はいくら？";
  return l;
}

observe::Trace sample_trace() {
  observe::Trace t;
  t.trace_id = "1-6b087a9d-e5ea4b796fcbaef3d407458c";
  const core::WallTime w{std::chrono::seconds(1795694400)};
  t.spans.push_back(
      {"0", "", "chat", w, 912ms, false, {{"tier", "primary"}, {"intent", "pricing"}}});
  t.spans.push_back({"1", "0", "admission", w, 0ms, false, {{"outcome", "admitted"}}});
  t.spans.push_back({"2", "0", "model:sonnet", w, 900ms, false, {{"outcome", "ok"}}});
  t.spans.push_back({"3", "0", "tier:primary", w, 912ms, false, {{"price_guard", "ok"}}});
  return t;
}

// Formatting the request's log line and its trace (what a request costs before the write).
void BM_LogLineAndTrace(benchmark::State& state) {
  const auto l = sample_log();
  const auto t = sample_trace();
  for (auto _ : state) {
    benchmark::DoNotOptimize(observe::to_json_line(l));
    benchmark::DoNotOptimize(observe::to_json_line(t));
  }
}
BENCHMARK(BM_LogLineAndTrace);

// The whole observer for one successful request: metrics, sampling, log line, trace (to
// /dev/null files).
void BM_ObserverOnReply(benchmark::State& state) {
  boost::asio::io_context io;
  core::SimClock clock(io);
  observe::MetricsRegistry metrics;
  observe::AlarmEngine alarms;
  observe::Sampler sampler;
  observe::LogSink log("/dev/null", false);
  observe::TraceSink traces("/dev/null");
  assist::RequestObserver obs(clock, metrics, alarms, sampler, &log, &traces, 1);
  assist::Reply r;
  r.text = "ONE PIECE 105巻は528円（税込）です。";
  r.tier = assist::Tier::kPrimary;
  r.intent = assist::Intent::kPricing;
  r.trace_id = "1-6b087a9d-e5ea4b796fcbaef3d407458c";
  r.attempts.push_back({"sonnet", "", std::nullopt, clock.now(), 900ms});
  r.started = clock.now();
  r.latency = 912ms;
  for (auto _ : state) obs.on_reply(r, "ONE PIECEの105巻はいくら？", "u-1001", {});
}
BENCHMARK(BM_ObserverOnReply);

// /metrics with every family the server registers, with realistic label sets.
void BM_MetricsRender(benchmark::State& state) {
  observe::MetricsRegistry r;
  auto& replies = r.counter("mangaassist_replies_total", "h", {"tier", "intent"});
  auto& dur = r.histogram("mangaassist_request_duration_seconds", "h", observe::latency_buckets(),
                          {"tier"});
  auto& errors =
      r.counter("mangaassist_model_errors_total", "h", {"model", "error_class", "error_code"});
  for (const char* t : {"primary", "secondary", "cache", "static", "degraded"}) {
    dur.with({t}).observe(0.5);
    for (const char* i :
         {"order_status", "pricing", "availability", "recommendation", "faq", "general"}) {
      replies.with({t, i}).inc();
    }
  }
  for (const char* m : {"sonnet", "haiku"}) {
    for (int c = 0; c < 20; ++c) errors.with({m, "throttling", "Code" + std::to_string(c)}).inc();
  }
  for (int g = 0; g < 30; ++g)
    r.gauge("g" + std::to_string(g), "h", {"model"}).with({"sonnet"}).set(g);
  for (auto _ : state) benchmark::DoNotOptimize(r.render());
}
BENCHMARK(BM_MetricsRender)->Unit(benchmark::kMicrosecond);

}  // namespace
