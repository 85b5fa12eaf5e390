// The whole request path without sockets (issue 19): admission -> pipeline -> observer, as
// ChatFlow runs it for the server, plus the service status each reply carries, on 1 and 2
// threads of one App. Each benchmark thread is one server worker: its own io_context, the
// same App (so the same admission tables, caches, lanes, metrics and log files).
//
//   build/bench/ma_request_path [--benchmark_min_time=1]
//
// items_per_second is messages/s over all threads (real time): the 2-thread figure over the
// 1-thread figure is the scaling across cores (target >= 1.8x on a 2-core machine).

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>

#include "core/real_clock.hpp"
#include "server/app.hpp"
#include "server/chat_flow.hpp"

namespace {

using namespace ma;
namespace asio = boost::asio;

// bench/load.toml in code: instant models, every limit lifted, logs and traces on.
server::App& the_app() {
  static core::RealClock clock;
  static std::unique_ptr<server::App> app = [] {
    server::AppConfig cfg = server::default_config();
    cfg.db_path = ":memory:";
    cfg.sonnet.latency_median = core::Duration::zero();
    cfg.sonnet.latency_p99 = core::Duration::zero();
    cfg.sonnet.capacity_rps = 1e6;
    cfg.haiku.latency_median = core::Duration::zero();
    cfg.haiku.latency_p99 = core::Duration::zero();
    cfg.haiku.capacity_rps = 1e6;
    cfg.sonnet_quota_rps = 1e9;
    cfg.haiku_quota_rps = 1e9;
    cfg.admission.global_rate = 1e9;
    cfg.admission.global_burst = 1e9;
    cfg.admission.dynamic = false;
    cfg.admission.plans[0] = {.rate = 1e9, .burst = 1e9};
    cfg.admission.per_source = {.rate = 1e9, .burst = 1e9};
    cfg.log_file = "/tmp/mangaassist-request-path.log";
    cfg.trace_file = "/tmp/mangaassist-request-path-traces.jsonl";
    cfg.server.auth_secret = "request-path-bench-secret-0123456789";
    auto made = server::App::create(cfg, clock);
    if (!made.ok()) {
      std::fprintf(stderr, "ma_request_path: %s\n", made.error().message.c_str());
      std::abort();
    }
    return std::move(made).value();
  }();
  return *app;
}

// One worker: `n` messages, one after the other, on this thread's io_context.
asio::awaitable<void> answer_n(server::App& app, const std::string& message, int n,
                               std::size_t& answered) {
  server::ChatFlow flow{app.clock(), app.admission(), app.pipeline(), app.observer()};
  for (int i = 0; i < n; ++i) {
    server::ChatInput in{message, {}, std::nullopt, "203.0.113.7", "1-00000000-000000000000000000000000"};
    server::ChatOutcome out = co_await flow.answer(std::move(in));
    benchmark::DoNotOptimize(app.pipeline().status());
    answered += out.reply.text.empty() ? 0 : 1;
  }
}

void run(benchmark::State& state, const char* message, const char* fm_mode) {
  server::App& app = the_app();
  if (state.thread_index() == 0) {
    (void)app.flags().patch(boost::json::object{{"FM_MODE", fm_mode}});
  }
  asio::io_context ioc(1);
  const std::string msg = message;
  constexpr int kBatch = 64;
  std::size_t answered = 0;
  for (auto _ : state) {
    asio::co_spawn(ioc, answer_n(app, msg, kBatch, answered), asio::detached);
    ioc.run();
    ioc.restart();
  }
  if (answered != static_cast<std::size_t>(state.iterations()) * kBatch) {
    state.SkipWithError("a message went unanswered");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_RequestPathStaticTier(benchmark::State& state) {
  run(state, "How much is One Piece volume 105?", "static_only");
}
BENCHMARK(BM_RequestPathStaticTier)->Threads(1)->Threads(2)->UseRealTime();

void BM_RequestPathPrimaryModel(benchmark::State& state) {
  run(state, "Recommend something like Naruto", "normal");
}
BENCHMARK(BM_RequestPathPrimaryModel)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
