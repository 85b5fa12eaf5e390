// Brooker's 2015 experiment ("Exponential Backoff And Jitter", AWS Architecture Blog), rerun
// with this project's Backoff on SimClock: N clients each write once to one row under
// optimistic concurrency; a write that overlapped a committed one fails and backs off.
// Reference figures: tests/data/brooker_backoff_sim_reproduced.csv. The shape must hold: no
// jitter makes by far the most calls; full and decorrelated jitter the fewest.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "core/sim_clock.hpp"
#include "resilience/backoff.hpp"

namespace ma::resilience {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Outcome {
  double calls = 0;
  double completion_ms = 0;
};

// One run: `clients` writers start together; a write lasts N(10 ms, 2 ms) (Brooker's Net);
// it commits only if the row's version did not change while it ran.
Outcome run(Jitter jitter, int clients, std::uint64_t seed) {
  asio::io_context io;
  core::SimClock clock(io);
  core::Random root(seed);
  std::int64_t version = 0;
  Outcome out;
  const auto t0 = clock.now();
  auto writer = [&](core::Random rng) -> asio::awaitable<void> {
    Backoff backoff({jitter, 5ms, 2000ms});
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

std::map<Jitter, Outcome> average(int clients, int runs) {
  std::map<Jitter, Outcome> avg;
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kEqual, Jitter::kDecorrelated}) {
    for (int r = 0; r < runs; ++r) {
      const Outcome o = run(j, clients, 12345 + static_cast<std::uint64_t>(r));
      avg[j].calls += o.calls / runs;
      avg[j].completion_ms += o.completion_ms / runs;
    }
  }
  return avg;
}

TEST(BackoffExperimentTest, JitterCutsTheWorkAsInBrookersSimulation) {
  for (int clients : {50, 100}) {
    SCOPED_TRACE(clients);
    const auto a = average(clients, 10);
    const double none = a.at(Jitter::kNone).calls;
    const double full = a.at(Jitter::kFull).calls;
    const double equal = a.at(Jitter::kEqual).calls;
    const double decorr = a.at(Jitter::kDecorrelated).calls;
    // No jitter does by far the most calls (the reference: 1.6-2.3x the jittered ones)...
    EXPECT_GT(none, 1.4 * full);
    EXPECT_GT(none, 1.4 * decorr);
    EXPECT_GT(none, equal);
    // ...and full and decorrelated jitter are the cheapest (within 15% of each other).
    EXPECT_LE(full, equal * 1.05);
    EXPECT_LT(std::abs(full - decorr) / full, 0.15);
    // Without jitter the last client also finishes far later.
    EXPECT_GT(a.at(Jitter::kNone).completion_ms, 2 * a.at(Jitter::kFull).completion_ms);
    std::ostringstream row;
    for (auto& [j, o] : a)
      row << to_string(j) << ": " << o.calls << " calls, " << o.completion_ms << " ms; ";
    RecordProperty("clients_" + std::to_string(clients), row.str());
  }
}

TEST(BackoffExperimentTest, TheReferenceFiguresHaveTheSameShape) {
  // The reference CSV itself (30 runs of the original simulator) orders the strategies the
  // way the test above demands of ours.
  std::ifstream in(std::string(MA_TEST_DATA_DIR) + "/brooker_backoff_sim_reproduced.csv");
  ASSERT_TRUE(in);
  std::map<int, std::map<std::string, double>> calls;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind("clients", 0) == 0) continue;
    std::istringstream ls(line);
    std::string c, t, k, alg;
    std::getline(ls, c, ',');
    std::getline(ls, t, ',');
    std::getline(ls, k, ',');
    std::getline(ls, alg, ',');
    calls[std::stoi(c)][alg] = std::stod(k);
  }
  ASSERT_EQ(calls.size(), 4u);
  for (auto& [clients, by] : calls) {
    if (clients < 50) continue;  // at 10 clients there is too little contention to separate them
    EXPECT_GT(by["Exponential"], 1.4 * by["FullJitter"]) << clients;
    EXPECT_GT(by["Exponential"], 1.4 * by["Decorr"]) << clients;
  }
}

}  // namespace
}  // namespace ma::resilience
