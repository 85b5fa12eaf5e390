// Admission control (issue: admission). Targets: the common-path decision under 200 ns; the
// queue sustains 50,000 enqueue/dequeue per second.
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "admission/admission.hpp"
#include "core/sim_clock.hpp"

namespace {

using namespace ma;
using namespace std::chrono_literals;
namespace asio = boost::asio;

// The common path: a known user with tokens, a source with tokens.
void BM_AdmissionCheckUser(benchmark::State& state) {
  asio::io_context io;
  core::SimClock clock(io);
  admission::AdmissionConfig cfg;
  cfg.plans[1] = {1e9, 1e9, 0};
  cfg.per_source = {1e9, 1e9, 0};
  admission::Admission a(clock, cfg);
  std::vector<admission::AdmissionRequest> reqs;
  for (int i = 0; i < 1024; ++i) {
    reqs.push_back({"u-" + std::to_string(i), "10.0.0." + std::to_string(i % 250),
                    admission::Priority::kRegistered, 1});
  }
  std::size_t i = 0;
  auto now = clock.now();
  for (auto _ : state) {
    now += 1us;
    benchmark::DoNotOptimize(a.check_user(reqs[i++ & 1023], now));
  }
}
BENCHMARK(BM_AdmissionCheckUser);

// A viral spike: every message from a new visitor at a new address, 4,000 a second (clock
// advancing 250 us a message). Includes the amortised sweeps that forget refilled buckets.
void BM_AdmissionCheckUserFirstTimeVisitors(benchmark::State& state) {
  asio::io_context io;
  core::SimClock clock(io);
  admission::Admission a(clock, admission::AdmissionConfig{});
  std::vector<admission::AdmissionRequest> reqs;
  for (int i = 0; i < (1 << 20); ++i) {
    reqs.push_back({"v-" + std::to_string(i),
                    "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                        std::to_string(i & 255),
                    admission::Priority::kAnonymous, 1});
  }
  std::uint64_t n = 0;
  auto now = clock.now();
  for (auto _ : state) {
    now += 250us;
    // The 2^20 names come round every 262 s of virtual time: refilled (new) visitors again.
    benchmark::DoNotOptimize(a.check_user(reqs[n++ & 0xfffff], now));
  }
  state.counters["tracked"] = static_cast<double>(a.tracked_buckets());
}
BENCHMARK(BM_AdmissionCheckUserFirstTimeVisitors);

// admit() through the coroutine, global tokens available: the whole decision as the server
// makes it, including the spike detector and the coroutine frame.
void BM_AdmissionAdmitFastPath(benchmark::State& state) {
  asio::io_context io;
  core::SimClock clock(io);
  admission::AdmissionConfig cfg;
  cfg.plans[1] = {1e9, 1e9, 0};
  cfg.per_source = {1e9, 1e9, 0};
  cfg.global_rate = 1e12;
  cfg.global_burst = 1e12;
  cfg.dynamic = false;
  admission::Admission a(clock, cfg);
  admission::AdmissionRequest req{"u-1", "10.0.0.1", admission::Priority::kRegistered, 1};
  std::int64_t admitted = 0;
  auto task = [&]() -> asio::awaitable<void> {  // named: the frame refers to the closure
    auto r = co_await a.admit(req);
    admitted += r.outcome == admission::Outcome::kAdmitted;
  };
  for (auto _ : state) {
    asio::co_spawn(io, task(), asio::detached);
    io.restart();
    io.poll();
  }
  if (admitted != static_cast<std::int64_t>(state.iterations()))
    state.SkipWithError("not all admitted");
}
BENCHMARK(BM_AdmissionAdmitFastPath);

// 50,000 messages queued at once against a 50,000/s global limit, drained on virtual time:
// items/s is the queue's enqueue+dequeue throughput in real (CPU) time.
void BM_AdmissionQueueThroughput(benchmark::State& state) {
  constexpr int kN = 50'000;
  for (auto _ : state) {
    asio::io_context io;
    core::SimClock clock(io);
    admission::AdmissionConfig cfg;
    cfg.plans = {admission::UsagePlan{1e9, 1e9, 0}, {1e9, 1e9, 0}, {1e9, 1e9, 0}};
    cfg.per_source = {1e9, 1e9, 0};
    cfg.global_rate = kN;
    cfg.global_burst = 1;
    cfg.dynamic = false;
    cfg.update_every = 60s;
    admission::Admission a(clock, cfg);
    int done = 0;
    auto task = [&](int i) -> asio::awaitable<void> {
      admission::AdmissionRequest r{"u" + std::to_string(i), "",
                                    static_cast<admission::Priority>(i % 3), 1};
      auto res = co_await a.admit(std::move(r));
      done += res.outcome == admission::Outcome::kAdmitted;
    };
    for (int i = 0; i < kN; ++i) asio::co_spawn(io, task(i), asio::detached);
    clock.run_until([&] { return done == kN; }, clock.now() + 10s);
    if (done != kN) state.SkipWithError("queue did not drain");
  }
  state.SetItemsProcessed(state.iterations() * kN);
}
BENCHMARK(BM_AdmissionQueueThroughput)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
