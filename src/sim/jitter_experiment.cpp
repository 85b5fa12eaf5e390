#include "sim/jitter_experiment.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <sstream>

#include "core/sim_clock.hpp"

namespace ma::sim {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using resilience::Jitter;

namespace {

// One run: `clients` writers start together; a write lasts N(10 ms, 2 ms) (Brooker's Net);
// it commits only if the row's version did not change while it ran.
JitterOutcome run_once(Jitter jitter, int clients, std::uint64_t seed) {
  asio::io_context io;
  core::SimClock clock(io);
  core::Random root(seed);
  std::int64_t version = 0;
  JitterOutcome out;
  const auto t0 = clock.now();
  auto writer = [&](core::Random rng) -> asio::awaitable<void> {
    resilience::Backoff backoff({jitter, 5ms, 2000ms});
    bool done = false;
    while (!done) {
      const std::int64_t seen = version;
      out.calls += 1;
      const double ms = std::max(0.1, rng.normal(10, 2));
      co_await clock.wait_for(core::from_seconds(ms / 1000));
      if (version == seen) {
        ++version;
        done = true;
      } else {
        co_await clock.wait_for(backoff.next(rng));
      }
    }
    out.completion_ms = std::max(out.completion_ms, core::to_millis(clock.now() - t0));
  };
  for (int i = 0; i < clients; ++i) asio::co_spawn(io, writer(root.split()), asio::detached);
  clock.run();
  return out;
}

}  // namespace

std::map<Jitter, JitterOutcome> jitter_experiment(int clients, int runs, std::uint64_t seed) {
  std::map<Jitter, JitterOutcome> avg;
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kEqual, Jitter::kDecorrelated}) {
    for (int r = 0; r < runs; ++r) {
      const JitterOutcome o = run_once(j, clients, seed + static_cast<std::uint64_t>(r));
      avg[j].calls += o.calls / runs;
      avg[j].completion_ms += o.completion_ms / runs;
    }
  }
  return avg;
}

std::map<int, std::map<std::string, double>> read_brooker_reference(const std::string& path) {
  std::map<int, std::map<std::string, double>> calls;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind("clients", 0) == 0) continue;
    std::istringstream ls(line);
    std::string c, t, k, alg;
    std::getline(ls, c, ',');
    std::getline(ls, t, ',');
    std::getline(ls, k, ',');
    std::getline(ls, alg, ',');
    try {
      calls[std::stoi(c)][alg] = std::stod(k);
    } catch (const std::exception&) {
      return {};  // not the reference file
    }
  }
  return calls;
}

}  // namespace ma::sim
