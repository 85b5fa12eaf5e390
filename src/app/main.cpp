// The `mangaassist` command: serve, chat, sim, logs.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/env.hpp"
#include "core/json_util.hpp"
#include "core/real_clock.hpp"
#include "observe/log_query.hpp"
#include "server/app.hpp"
#include "server/config.hpp"
#include "server/identity.hpp"
#include "server/server.hpp"
#include "sim/jitter_experiment.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/sweep.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr const char* kUsage =
    "usage: mangaassist <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config F] [--port N] [--redis URL] [--threads N] [--data-dir D]\n"
    "                                                 run the chat gateway (default port 8080;\n"
    "                                                 threads: server.threads, 0 one per core)\n"
    "  chat \"question\" [--url URL] [--token T]       ask a running gateway\n"
    "  token USER_ID [--ttl D] [--config F]          sign a user token (D: 3600, 90m, 12h, 7d;\n"
    "                                                 default 24h) with the server's secret\n"
    "  sim SCENARIO.toml [--variant incident|fixed|both] [--seed N] [--out DIR] [--json] "
    "[--data-dir D]\n"
    "      [--duration S] [--day]                     replay an incident on virtual time\n"
    "  sim SCENARIO.toml --sweep KEY=VALUES [--sweep KEY=VALUES ...] [--threads N]\n"
    "      [--variant incident|fixed|both] [--seed N] [--duration S] [--json]\n"
    "                                                 what-if: run every combination of the\n"
    "                                                 values (default variant fixed; threads:\n"
    "                                                 one per core) and print one row per point\n"
    "                                                 with the figures during the incident.\n"
    "                                                 KEY: a top-level scenario key (tasks,\n"
    "                                                 traffic.rate, models.sonnet.capacity_rps)\n"
    "                                                 or else a setting of the variant;\n"
    "                                                 VALUES: a..b, a..b:step or x,y,z\n"
    "  sim --jitter                                   Brooker's backoff experiment, ours vs\n"
    "                                                 the reference run of his simulator\n"
    "  logs FILE|- QUERY                              query the JSON request log, e.g.\n"
    "      mangaassist logs var/requests.log 'filter level = \"ERROR\" | stats count by error_code "
    "| sort count desc'\n";

// Finds "--name value" in args; removes both. Returns nullptr when absent.
std::optional<std::string> take_option(std::vector<std::string>& args, std::string_view name) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) {
      std::string v = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return v;
    }
  }
  return std::nullopt;
}

// The defaults, then the file of "--config F" if given (removed from args), then the
// environment; nullopt after printing why the file or a variable is refused.
std::optional<ma::server::AppConfig> config_from(std::vector<std::string>& args,
                                                 const char* command) {
  ma::server::AppConfig cfg = ma::server::default_config();
  if (auto path = take_option(args, "--config")) {
    if (auto st = ma::server::load_toml(*path, cfg); !st.ok()) {
      std::fprintf(stderr, "mangaassist %s: %s\n", command, st.error().message.c_str());
      return std::nullopt;
    }
  }
  // The environment wins over the file (the one place it is read; server::resolve_environment).
  if (auto st = ma::server::resolve_environment(cfg, ma::core::process_env()); !st.ok()) {
    std::fprintf(stderr, "mangaassist %s: %s\n", command, st.error().message.c_str());
    return std::nullopt;
  }
  if (auto dir = take_option(args, "--data-dir")) ma::server::set_data_dir(cfg, *dir);
  return cfg;
}

// Said when no data directory was found beside the binary nor given.
constexpr const char* kNoDataDir =
    "cannot find the data directory (data/manga_series.jsonl) beside the binary or in "
    "PREFIX/share/mangaassist: give --data-dir DIR or set MANGAASSIST_DATA_DIR";

int serve(std::vector<std::string> args) {
  using namespace ma;
  auto loaded = config_from(args, "serve");
  if (!loaded) return 2;
  server::AppConfig cfg = std::move(*loaded);
  if (cfg.data_dir.empty()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", kNoDataDir);
    return 2;
  }
  // "--name N" with N a whole number in [lo, hi]: false (after saying why) otherwise.
  auto whole_number = [&](const char* name, long lo, long hi, const char* note, auto&& set) {
    auto v = take_option(args, name);
    if (!v) return true;
    char* end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < lo || n > hi) {
      std::fprintf(stderr, "mangaassist serve: %s must be %ld-%ld%s\n", name, lo, hi, note);
      return false;
    }
    set(n);
    return true;
  };
  if (!whole_number("--port", 0, 65535, "",
                    [&](long n) { cfg.server.port = static_cast<std::uint16_t>(n); }) ||
      !whole_number("--threads", 0, 1024, " (0: one per core)",
                    [&](long n) { cfg.server.threads = static_cast<int>(n); })) {
    return 2;
  }
  if (auto redis = take_option(args, "--redis")) cfg.redis_url = *redis;
  if (!args.empty()) {
    std::fprintf(stderr, "mangaassist serve: unexpected argument '%s'\n%s", args[0].c_str(),
                 kUsage);
    return 2;
  }
  core::RealClock clock;
  auto app = server::App::create(cfg, clock);
  if (!app.ok()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", app.error().message.c_str());
    return 1;
  }
  server::Server srv(**app, cfg.server);
  auto port = srv.listen();
  if (!port.ok()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", port.error().message.c_str());
    return 1;
  }
  std::printf("mangaassist: serving on http://localhost:%u (catalog: %zu series, %zu products)\n",
              *port, (*app)->catalog().all_series().size(), (*app)->catalog().product_count());
  std::fflush(stdout);
  srv.run();
  std::printf("mangaassist: stopped\n");
  return 0;
}

// "3600", "90s", "90m", "12h", "7d" -> seconds; nullopt when malformed.
std::optional<long long> parse_ttl(const std::string& text) {
  char* end = nullptr;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || n <= 0) return std::nullopt;
  const std::string unit(end);
  const long long mult = unit.empty() || unit == "s" ? 1
                         : unit == "m"               ? 60
                         : unit == "h"               ? 3600
                         : unit == "d"               ? 86400
                                                     : 0;
  if (mult == 0 || n > 366LL * 86400 / mult) return std::nullopt;
  return n * mult;
}

// Signs a user token with the secret the server uses (MANGAASSIST_AUTH_SECRET, the config's
// server.auth_secret, or var/auth.secret): for the demo and the tests.
int token(std::vector<std::string> args) {
  using namespace ma;
  const auto cfg = config_from(args, "token");
  if (!cfg) return 2;
  long long ttl = 86400;
  if (auto t = take_option(args, "--ttl")) {
    auto parsed = parse_ttl(*t);
    if (!parsed) {
      std::fprintf(stderr,
                   "mangaassist token: --ttl must be like 3600, 90m, 12h or 7d (at most a year)\n");
      return 2;
    }
    ttl = *parsed;
  }
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    std::fprintf(stderr, "usage: mangaassist token USER_ID [--ttl D] [--config F]\n");
    return 2;
  }
  auto secret = server::resolve_auth_secret(cfg->server.auth_secret, cfg->server.auth_secret_file);
  if (!secret.ok()) {
    std::fprintf(stderr, "mangaassist token: %s\n", secret.error().message.c_str());
    return 1;
  }
  const server::Identity ids(std::move(secret).value());
  const auto expires = core::RealClock().wall_now() + std::chrono::seconds(ttl);
  std::printf("%s\n", ids.issue_user_token(args[0], expires).c_str());
  return 0;
}

int chat(std::vector<std::string> args) {
  std::string url = take_option(args, "--url").value_or("http://localhost:8080");
  const std::string token = take_option(args, "--token").value_or("");
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: mangaassist chat \"question\" [--url URL] [--token T]\n");
    return 2;
  }
  if (url.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "mangaassist chat: --url must start with http://\n");
    return 2;
  }
  std::string hostport = url.substr(7);
  hostport = hostport.substr(0, hostport.find('/'));
  const auto colon = hostport.rfind(':');
  const std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(40));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{http::verb::post, "/v1/chat", 11};
    req.set(http::field::host, host);
    req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() =
        boost::json::serialize(boost::json::object{{"message", args[0]}, {"session_id", "cli"}});
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    auto v = ma::core::parse_json(res.body());
    if (res.result() != http::status::ok || !v.ok()) {
      std::fprintf(stderr, "mangaassist chat: HTTP %u %s\n", res.result_int(), res.body().c_str());
      return 1;
    }
    std::printf("%s\n", std::string(ma::core::get_string(*v, "reply").value_or("")).c_str());
    std::printf("  [tier %s, intent %s, trace %s]\n",
                std::string(ma::core::get_string(*v, "tier").value_or("")).c_str(),
                std::string(ma::core::get_string(*v, "intent").value_or("")).c_str(),
                std::string(ma::core::get_string(*v, "trace_id").value_or("")).c_str());
    if (const auto* acts = v->get_object().if_contains("actions"); acts && acts->is_array()) {
      for (const auto& a : acts->get_array()) {
        std::printf("  -> %s: %s\n",
                    std::string(ma::core::get_string(a, "label").value_or("")).c_str(),
                    std::string(ma::core::get_string(a, "url").value_or("")).c_str());
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mangaassist chat: cannot reach %s: %s\n", url.c_str(), e.what());
    return 1;
  }
}

int logs(std::vector<std::string> args) {
  if (args.size() != 2) {
    std::fprintf(stderr,
                 "usage: mangaassist logs FILE|- QUERY\n"
                 "  QUERY: filter F = \"v\" and F > 3 | stats count by F[, bin(5m)] | sort F desc "
                 "| fields A, B | limit N\n");
    return 2;
  }
  auto q = ma::observe::parse_log_query(args[1]);
  if (!q.ok()) {
    std::fprintf(stderr, "mangaassist logs: %s\n", q.error().message.c_str());
    return 2;
  }
  std::vector<std::string> lines;
  std::string line;
  if (args[0] == "-") {
    while (std::getline(std::cin, line)) lines.push_back(line);
  } else {
    std::ifstream in(args[0]);
    if (!in) {
      std::fprintf(stderr, "mangaassist logs: cannot open %s\n", args[0].c_str());
      return 1;
    }
    while (std::getline(in, line)) lines.push_back(line);
  }
  std::size_t skipped = 0;
  const auto table = ma::observe::run_log_query(*q, lines, &skipped);
  std::fputs(table.format().c_str(), stdout);
  std::fprintf(stderr, "%zu rows from %zu lines%s\n", table.rows.size(), lines.size(),
               skipped ? (" (" + std::to_string(skipped) + " not JSON, skipped)").c_str() : "");
  return 0;
}

// Replays a scenario: the impact table on stdout (or one JSON object per variant with
// --json), the timeline CSVs and the HTML report in --out (default var/sim).
int jitter_table() {
  using namespace ma;
  using resilience::Jitter;
  const std::string ref_path =
      server::default_config().data_dir + "/../tests/data/brooker_backoff_sim_reproduced.csv";
  const auto ref = sim::read_brooker_reference(ref_path);
  const std::pair<Jitter, const char*> names[] = {{Jitter::kNone, "Exponential"},
                                                  {Jitter::kFull, "FullJitter"},
                                                  {Jitter::kEqual, "EqualJitter"},
                                                  {Jitter::kDecorrelated, "Decorr"}};
  std::printf("%-8s %-13s %12s %16s %16s\n", "clients", "jitter", "calls", "last done (ms)",
              "reference calls");
  for (int clients : {10, 50, 100, 190}) {
    const auto ours = sim::jitter_experiment(clients, 30);
    for (const auto& [j, name] : names) {
      const auto& o = ours.at(j);
      std::string r = "-";
      if (auto c = ref.find(clients); c != ref.end()) {
        if (auto a = c->second.find(name); a != c->second.end())
          r = std::to_string(static_cast<int>(a->second));
      }
      std::printf("%-8d %-13s %12.0f %16.0f %16s\n", clients,
                  std::string(resilience::to_string(j)).c_str(), o.calls, o.completion_ms,
                  r.c_str());
    }
  }
  std::printf("(30 runs per point; reference: %s)\n", ref.empty() ? "not found" : ref_path.c_str());
  return 0;
}

// `sim SCENARIO --sweep KEY=VALUES ...`: the grid of what-ifs, one row (or JSON line) per
// point. Exit 2 for a mistake in the arguments or a point the scenario refuses, 1 when a run
// fails.
int sim_sweep(const std::string& path, const std::vector<std::string>& sweeps,
              const std::optional<std::string>& threads_arg,
              const std::vector<std::string>& variants, const ma::sim::RunOptions& run,
              bool as_json, bool day, bool out) {
  using namespace ma;
  if (day || out) {
    std::fprintf(stderr, "mangaassist sim: %s does not go with --sweep\n", day ? "--day" : "--out");
    return 2;
  }
  sim::SweepOptions opt;
  opt.run = run;
  if (threads_arg) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(threads_arg->c_str(), &end, 10);
    if (threads_arg->empty() || *end != '\0' || n == 0 || n > 1024) {
      std::fprintf(stderr, "mangaassist sim: --threads must be a whole number within 1..1024\n");
      return 2;
    }
    opt.threads = static_cast<unsigned>(n);
  }
  std::vector<sim::SweepAxis> axes;
  for (const std::string& s : sweeps) {
    auto a = sim::parse_sweep_arg(s);
    if (!a.ok()) {
      std::fprintf(stderr, "mangaassist sim: %s\n", a.error().message.c_str());
      return 2;
    }
    axes.push_back(std::move(a).value());
  }
  auto text = core::read_file(path);
  if (!text.ok()) {
    std::fprintf(stderr, "mangaassist sim: cannot read the scenario %s\n", path.c_str());
    return 2;
  }
  auto plan = sim::plan_sweep(*text, path, variants, axes);
  if (!plan.ok()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", plan.error().message.c_str());
    return 2;
  }
  const bool tty = ::isatty(2) != 0;
  if (tty) {
    opt.progress = [](std::size_t done, std::size_t total) {
      std::fprintf(stderr, "\rsweep: %zu/%zu points", done, total);
    };
  }
  const unsigned threads = static_cast<unsigned>(std::min<std::size_t>(
      opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency()),
      std::max<std::size_t>(1, plan->size())));
  const core::RealClock wall;  // the sweep's own speed, in real time
  const auto t0 = wall.now();
  auto points = sim::run_sweep(*plan, opt);
  const double wall_s = core::to_seconds(wall.now() - t0);
  if (tty) std::fprintf(stderr, "\r%40s\r", "");
  if (!points.ok()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", points.error().message.c_str());
    return 1;
  }
  if (as_json) {
    for (const auto& p : *points) std::printf("%s\n", sim::sweep_json(p).c_str());
    return 0;
  }
  std::printf("%s", sim::sweep_table(*points).c_str());
  std::printf("%zu points in %.1f s on %u thread%s\n", points->size(), wall_s, threads,
              threads == 1 ? "" : "s");
  return 0;
}

int sim(std::vector<std::string> args) {
  using namespace ma;
  if (args.size() == 1 && args[0] == "--jitter") return jitter_table();
  std::vector<std::string> sweeps;
  while (auto s = take_option(args, "--sweep")) sweeps.push_back(std::move(*s));
  const std::optional<std::string> threads_arg = take_option(args, "--threads");
  const std::optional<std::string> out_arg = take_option(args, "--out");
  // A sweep is a what-if for the settings to take: of the fixed variant unless told.
  const std::string variant =
      take_option(args, "--variant").value_or(sweeps.empty() ? "both" : "fixed");
  const std::string out_dir = out_arg.value_or("var/sim");
  sim::RunOptions opt;
  opt.data_dir = server::default_config().data_dir;
  if (const auto env = core::env_value(core::process_env(), "MANGAASSIST_DATA_DIR")) {
    opt.data_dir = *env;
  }
  if (auto d = take_option(args, "--data-dir")) opt.data_dir = *d;
  if (opt.data_dir.empty()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", kNoDataDir);
    return 2;
  }
  if (auto seed = take_option(args, "--seed")) {
    char* end = nullptr;
    opt.seed = std::strtoull(seed->c_str(), &end, 10);
    if (*end != '\0' || opt.seed == 0) {
      std::fprintf(stderr, "mangaassist sim: --seed must be a positive integer\n");
      return 2;
    }
  }
  if (auto d = take_option(args, "--duration")) {
    char* end = nullptr;
    opt.duration_s = std::strtod(d->c_str(), &end);
    if (*end != '\0' || opt.duration_s <= 0) {
      std::fprintf(stderr, "mangaassist sim: --duration must be a positive number of seconds\n");
      return 2;
    }
  }
  bool as_json = false, day = false;
  for (auto it = args.begin(); it != args.end();) {
    if (*it == "--json" || *it == "--day") {
      (*it == "--json" ? as_json : day) = true;
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  if (args.size() != 1 || args[0].rfind("--", 0) == 0) {
    std::fprintf(stderr, "mangaassist sim: give one scenario file\n%s", kUsage);
    return 2;
  }
  if (variant != "incident" && variant != "fixed" && variant != "both") {
    std::fprintf(stderr, "mangaassist sim: --variant must be incident, fixed or both\n");
    return 2;
  }
  std::vector<std::string> variants;
  for (const char* v : {"incident", "fixed"}) {
    if (variant == "both" || variant == v) variants.emplace_back(v);
  }
  if (!sweeps.empty())
    return sim_sweep(args[0], sweeps, threads_arg, variants, opt, as_json, day,
                     out_arg.has_value());
  if (threads_arg) {
    std::fprintf(stderr, "mangaassist sim: --threads goes with --sweep\n");
    return 2;
  }
  auto scenario = sim::load_scenario(args[0]);
  if (!scenario.ok()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", scenario.error().message.c_str());
    return 2;
  }
  if (day) {
    // A whole day: a million messages on the daily curve, the scenario's faults kept.
    scenario->duration_s = 86'400;
    scenario->traffic.daily = true;
    scenario->traffic.rate = 1'000'000.0 / 86'400;
    scenario->traffic.spike_peak = 0;
    opt.bin_s = 60;
    opt.duration_s = 0;
  }
  const bool tty = ::isatty(2) != 0 && !as_json;
  // The variants are independent runs (each its own clock, catalog and fleet): with a core
  // each, both run at once. Each run is single-threaded and deterministic either way.
  const bool parallel = variants.size() > 1 && std::thread::hardware_concurrency() > 1;
  std::mutex progress_mu;
  std::vector<double> progress(variants.size(), 0.0);
  std::vector<std::optional<core::Result<sim::RunResult>>> results(variants.size());
  auto run_one = [&](std::size_t i) {
    sim::RunOptions o = opt;
    if (tty) {
      o.progress = [&, i](double done) {
        std::lock_guard lock(progress_mu);
        progress[i] = done;
        std::string line = "\r";
        for (std::size_t k = 0; k < variants.size(); ++k) {
          const int w = 40 / static_cast<int>(variants.size());
          const int filled = static_cast<int>(progress[k] * w);
          line += variants[k] + " [" + std::string(filled, '#') + std::string(w - filled, '.') +
                  "] " + std::to_string(static_cast<int>(100 * progress[k])) + "%  ";
        }
        std::fputs(line.c_str(), stderr);
      };
    }
    results[i] = sim::run(*scenario, variants[i], o);
  };
  if (parallel) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < variants.size(); ++i) threads.emplace_back(run_one, i);
    for (auto& t : threads) t.join();
  } else {
    for (std::size_t i = 0; i < variants.size(); ++i) run_one(i);
  }
  if (tty) std::fprintf(stderr, "\r%70s\r", "");
  std::vector<sim::RunResult> runs;
  for (auto& r : results) {
    if (!r->ok()) {
      std::fprintf(stderr, "mangaassist sim: %s\n", r->error().message.c_str());
      return 1;
    }
    runs.push_back(std::move(*r).value());
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  for (const auto& r : runs) {
    std::ofstream(out_dir + "/" + r.scenario + "-" + r.variant + ".csv") << sim::timeline_csv(r);
  }
  const std::string html = out_dir + "/" + scenario->name + ".html";
  std::ofstream(html) << sim::html_report(*scenario, runs);
  if (as_json) {
    for (const auto& r : runs) std::printf("%s\n", sim::to_json(r).c_str());
    return 0;
  }
  std::printf("%s\n", sim::impact_table(runs).c_str());
  for (const auto& r : runs) {
    std::printf(
        "%s: %llu messages, %llu events in %.2f s (%.0f messages/s); timeline %s/%s-%s.csv\n",
        r.variant.c_str(), static_cast<unsigned long long>(r.total.messages),
        static_cast<unsigned long long>(r.events), r.wall_s,
        static_cast<double>(r.total.messages) / std::max(1e-9, r.wall_s), out_dir.c_str(),
        r.scenario.c_str(), r.variant.c_str());
  }
  std::printf("report: %s\n", html.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string_view cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "serve") return serve(std::move(args));
  if (cmd == "chat") return chat(std::move(args));
  if (cmd == "token") return token(std::move(args));
  if (cmd == "logs") return logs(std::move(args));
  if (cmd == "sim") return sim(std::move(args));
  std::fprintf(stderr, "mangaassist: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
