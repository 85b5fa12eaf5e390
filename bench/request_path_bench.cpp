// The whole request path without sockets (issue 19): admission -> pipeline -> observer, as
// ChatFlow runs it for the server, plus the service status each reply carries, on 1 and 2
// threads of one App. Each benchmark thread is one server worker: its own io_context, the
// same App (so the same admission tables, caches, lanes, metrics and log files).
//
//   build/bench/ma_request_path [SECONDS=3] [MAX_THREADS=2] [ROUNDS=3]
//
// Prints messages/s for 1..MAX_THREADS threads, ROUNDS interleaved rounds of SECONDS each,
// and each count's best over the best of one thread: the scaling across cores (issue 19's
// target: >= 1.8x from 1 to 2 threads on a 2-core machine).

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/real_clock.hpp"
#include "gateway/chat_flow.hpp"
#include "server/app.hpp"

namespace {

using namespace ma;
namespace asio = boost::asio;

// bench/load.toml in code: instant models, every limit lifted, logs and traces on.
server::App& the_app() {
  static core::RealClock clock;
  static std::unique_ptr<server::App> app = [] {
    server::AppConfig cfg = server::default_config();
    cfg.db_path = ":memory:";
    // Run from the repository root (a copy of it on another machine): its data/.
    if (std::filesystem::exists("data/manga_series.jsonl")) cfg.data_dir = "data";
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
    // REQUEST_PATH_LOGS=/dev/null measures the request path without the files' kernel copy
    // (which the log writer thread does, off the workers).
    const char* to = std::getenv("REQUEST_PATH_LOGS");
    cfg.log_file = to != nullptr ? to : "/tmp/mangaassist-request-path.log";
    cfg.trace_file = to != nullptr ? to : "/tmp/mangaassist-request-path-traces.jsonl";
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

// One worker: messages one after the other on this thread's io_context until `stop`.
asio::awaitable<void> answer_until(server::App& app, const std::string& message,
                                   const std::atomic<bool>& stop, std::uint64_t& answered) {
  gateway::ChatFlow& flow = app.flow();
  while (!stop.load(std::memory_order_relaxed)) {
    gateway::ChatInput in{
        message, {}, std::nullopt, "203.0.113.7", "1-00000000-000000000000000000000000"};
    gateway::ChatOutcome out = co_await flow.answer(std::move(in));
    const assist::ServiceStatus st = app.pipeline().status();  // every reply carries it
    if (!out.reply.text.empty() && !st.state.empty()) ++answered;
  }
}

// Messages/s over `threads` workers answering `message` for `seconds`.
double run(server::App& app, const std::string& message, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> answered(static_cast<std::size_t>(threads) * 16, 0);  // padded
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      asio::io_context ioc(1);
      asio::co_spawn(ioc,
                     answer_until(app, message, stop, answered[static_cast<std::size_t>(i) * 16]),
                     asio::detached);
      ioc.run();
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t total = 0;
  for (auto n : answered) total += n;
  return static_cast<double>(total) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  server::App& app = the_app();
  const struct {
    const char* name;
    const char* message;
    const char* fm_mode;
  } paths[] = {{"static tier (price question)", "How much is One Piece volume 105?", "static_only"},
               {"primary model (zero latency)", "Recommend something like Naruto", "normal"}};
  const char* only = std::getenv("REQUEST_PATH_ONLY");  // "static" or "primary"
  for (const auto& p : paths) {
    if (only != nullptr && std::string_view(p.name).find(only) == std::string_view::npos) continue;
    (void)app.flags().patch(boost::json::object{{"FM_MODE", p.fm_mode}});
    std::vector<double> best(static_cast<std::size_t>(max_threads) + 1, 0);
    std::printf("== %s: messages/s\n", p.name);
    for (int r = 0; r < rounds; ++r) {
      std::printf("round %d:", r + 1);
      for (int t = 1; t <= max_threads; ++t) {
        const double rate = run(app, p.message, t, seconds);
        best[static_cast<std::size_t>(t)] = std::max(best[static_cast<std::size_t>(t)], rate);
        std::printf("  %d thread%s %.0f", t, t == 1 ? "" : "s", rate);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    for (int t = 2; t <= max_threads; ++t) {
      std::printf("best %d threads / best 1 thread: %.2fx\n", t,
                  best[static_cast<std::size_t>(t)] / best[1]);
    }
  }
  return 0;
}
