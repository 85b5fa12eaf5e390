// The `mangaassist` command: serve, chat, token, sim, logs, check-config, report. The command line
// is parsed by CLI11: every subcommand answers --help, an unknown option or a bad value is
// named in one error shape ("mangaassist serve: --port: ..."), exit status 2.
#include <unistd.h>

#include <CLI/CLI.hpp>
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
#include "observe/stale_price_report.hpp"
#include "server/app.hpp"
#include "server/check_config.hpp"
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

// Exit statuses: 0 done, 1 the work failed (a port taken, a gateway unreachable; check-config:
// the configuration has errors, an unreadable file included), 2 the command line or a file
// it names was refused.
constexpr int kFailed = 1;
constexpr int kUsage = 2;

// Said when no data directory was found beside the binary nor given.
constexpr const char* kNoDataDir =
    "cannot find the data directory (data/manga_series.jsonl) beside the binary or in "
    "PREFIX/share/mangaassist: give --data-dir DIR or set MANGAASSIST_DATA_DIR";

// What the subcommands take: filled by CLI11, read by the command.
struct ConfigArgs {
  std::string config;    // --config F
  std::string data_dir;  // --data-dir D
};

struct ServeArgs {
  ConfigArgs cfg;
  std::optional<int> port, threads;
  std::optional<std::string> redis;
};

struct TokenArgs {
  ConfigArgs cfg;
  std::string user;
  long long ttl_s = 86400;
};

struct ChatArgs {
  std::string question, url = "http://localhost:8080", token;
};

struct SimArgs {
  std::string scenario, variant, out = "var/sim", data_dir;
  std::vector<std::string> sweeps;
  std::optional<unsigned> threads;
  std::uint64_t seed = 0;
  double duration_s = 0;
  bool json = false, day = false, jitter = false, out_given = false;
};

struct LogsArgs {
  std::string file, query;
};

// The defaults, then the file of --config if given, then the environment, then --data-dir;
// nullopt after printing why the file or a variable is refused.
std::optional<ma::server::AppConfig> load_config(const ConfigArgs& a, const char* command) {
  ma::server::AppConfig cfg = ma::server::default_config();
  if (!a.config.empty()) {
    if (auto st = ma::server::load_toml(a.config, cfg); !st.ok()) {
      std::fprintf(stderr, "mangaassist %s: %s\n", command, st.error().message.c_str());
      return std::nullopt;
    }
  }
  // The environment wins over the file (the one place it is read; server::resolve_environment).
  if (auto st = ma::server::resolve_environment(cfg, ma::core::process_env()); !st.ok()) {
    std::fprintf(stderr, "mangaassist %s: %s\n", command, st.error().message.c_str());
    return std::nullopt;
  }
  if (!a.data_dir.empty()) ma::server::set_data_dir(cfg, a.data_dir);
  return cfg;
}

// Whole numbers in decimal only: CLI11 reads "010" as octal 8 and "0x10" as 16, so leading
// zeros are dropped here ("08080" is 8080, as before CLI11).
const CLI::Validator kDecimal(
    [](std::string& v) {
      const bool digits = !v.empty() && std::all_of(v.begin(), v.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) return "must be a whole number in decimal, not " + v;
      v.erase(0, std::min(v.find_first_not_of('0'), v.size() - 1));
      return std::string();
    },
    "");

void add_config_options(CLI::App& cmd, ConfigArgs& a) {
  cmd.add_option("--config", a.config, "a TOML configuration (config/default.toml shows every key)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd.add_option("--data-dir", a.data_dir,
                 "the catalog's data directory (default: beside the binary; "
                 "MANGAASSIST_DATA_DIR)")
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
}

int serve(const ServeArgs& a) {
  using namespace ma;
  auto loaded = load_config(a.cfg, "serve");
  if (!loaded) return kUsage;
  server::AppConfig cfg = std::move(*loaded);
  if (cfg.data_dir.empty()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", kNoDataDir);
    return kUsage;
  }
  if (a.port) cfg.server.port = static_cast<std::uint16_t>(*a.port);
  if (a.threads) cfg.server.threads = *a.threads;
  if (a.redis) cfg.redis_url = *a.redis;
  core::RealClock clock;
  auto app = server::App::create(cfg, clock);
  if (!app.ok()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", app.error().message.c_str());
    return kFailed;
  }
  server::Server srv(**app, cfg.server);
  auto port = srv.listen();
  if (!port.ok()) {
    std::fprintf(stderr, "mangaassist serve: %s\n", port.error().message.c_str());
    return kFailed;
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
int token(const TokenArgs& a) {
  using namespace ma;
  const auto cfg = load_config(a.cfg, "token");
  if (!cfg) return kUsage;
  auto secret = server::resolve_auth_secret(cfg->server.auth_secret, cfg->server.auth_secret_file);
  if (!secret.ok()) {
    std::fprintf(stderr, "mangaassist token: %s\n", secret.error().message.c_str());
    return kFailed;
  }
  const server::Identity ids(std::move(secret).value());
  const auto expires = core::RealClock().wall_now() + std::chrono::seconds(a.ttl_s);
  std::printf("%s\n", ids.issue_user_token(a.user, expires).c_str());
  return 0;
}

int chat(const ChatArgs& a) {
  const std::string& url = a.url;
  std::string hostport = url.substr(7);
  hostport = hostport.substr(0, hostport.find('/'));
  const auto colon = hostport.rfind(':');
  const std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  const std::string& token = a.token;
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
        boost::json::serialize(boost::json::object{{"message", a.question}, {"session_id", "cli"}});
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    auto v = ma::core::parse_json(res.body());
    if (res.result() != http::status::ok || !v.ok()) {
      std::fprintf(stderr, "mangaassist chat: HTTP %u %s\n", res.result_int(), res.body().c_str());
      return kFailed;
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
    return kFailed;
  }
}

int logs(const LogsArgs& a) {
  auto q = ma::observe::parse_log_query(a.query);
  if (!q.ok()) {
    std::fprintf(stderr, "mangaassist logs: %s\n", q.error().message.c_str());
    return kUsage;
  }
  std::vector<std::string> lines;
  std::string line;
  if (a.file == "-") {
    while (std::getline(std::cin, line)) lines.push_back(line);
  } else {
    std::ifstream in(a.file);
    if (!in) {
      std::fprintf(stderr, "mangaassist logs: cannot open %s\n", a.file.c_str());
      return kFailed;
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
  // Installed: share/mangaassist/reference beside data; a checkout: tests/data.
  const std::string data = server::default_config().data_dir;
  std::string ref_path;
  for (const char* dir : {"/../reference/", "/../tests/data/"}) {
    ref_path = data + dir + "brooker_backoff_sim_reproduced.csv";
    if (std::filesystem::exists(ref_path)) break;
  }
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
              std::optional<unsigned> threads_arg, const std::vector<std::string>& variants,
              const ma::sim::RunOptions& run, bool as_json) {
  using namespace ma;
  sim::SweepOptions opt;
  opt.run = run;
  if (threads_arg) opt.threads = *threads_arg;
  std::vector<sim::SweepAxis> axes;
  for (const std::string& s : sweeps) {
    auto a = sim::parse_sweep_arg(s);
    if (!a.ok()) {
      std::fprintf(stderr, "mangaassist sim: %s\n", a.error().message.c_str());
      return kUsage;
    }
    axes.push_back(std::move(a).value());
  }
  auto text = core::read_file(path);
  if (!text.ok()) {
    std::fprintf(stderr, "mangaassist sim: cannot read the scenario %s\n", path.c_str());
    return kUsage;
  }
  auto plan = sim::plan_sweep(*text, path, variants, axes);
  if (!plan.ok()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", plan.error().message.c_str());
    return kUsage;
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
    return kFailed;
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

int sim(const SimArgs& a) {
  using namespace ma;
  if (a.jitter) return jitter_table();
  // A sweep is a what-if for the settings to take: of the fixed variant unless told.
  const std::string variant = !a.variant.empty() ? a.variant : a.sweeps.empty() ? "both" : "fixed";
  sim::RunOptions opt;
  opt.data_dir = server::default_config().data_dir;
  if (const auto env = core::env_value(core::process_env(), "MANGAASSIST_DATA_DIR")) {
    opt.data_dir = *env;
  }
  if (!a.data_dir.empty()) opt.data_dir = a.data_dir;
  if (opt.data_dir.empty()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", kNoDataDir);
    return kUsage;
  }
  opt.seed = a.seed;
  opt.duration_s = a.duration_s;
  std::vector<std::string> variants;
  for (const char* v : {"incident", "fixed"}) {
    if (variant == "both" || variant == v) variants.emplace_back(v);
  }
  if (!a.sweeps.empty()) return sim_sweep(a.scenario, a.sweeps, a.threads, variants, opt, a.json);
  const std::string& out_dir = a.out;
  const bool as_json = a.json, day = a.day;
  auto scenario = sim::load_scenario(a.scenario);
  if (!scenario.ok()) {
    std::fprintf(stderr, "mangaassist sim: %s\n", scenario.error().message.c_str());
    return kUsage;
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
      return kFailed;
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

// Validates a configuration as `serve --config FILE` would read it, checks the files and the
// Redis it names, and prints the effective configuration (server/check_config.hpp).
int check_config(const std::string& path) {
  const auto check = ma::server::check_config(path, ma::core::process_env());
  for (const auto& f : check.findings) {
    std::fprintf(stderr, "%s: %s\n",
                 f.severity == ma::server::ConfigFinding::Severity::kError ? "error" : "warning",
                 f.message.c_str());
  }
  if (!check.effective.empty()) std::fputs(check.effective.c_str(), stdout);
  std::size_t errors = 0;
  for (const auto& f : check.findings)
    errors += f.severity == ma::server::ConfigFinding::Severity::kError ? 1 : 0;
  std::fprintf(stderr, "%s: %s\n", path.c_str(),
               errors == 0 ? "ok" : (std::to_string(errors) + " error(s)").c_str());
  return errors == 0 ? 0 : kFailed;
}

// "mangaassist serve: --port: Value 70000 not in range [0 - 65535]" and where to look.
std::string failure_message(const CLI::App* app, const CLI::Error& e) {
  std::string path = "mangaassist";
  for (const CLI::App* a = app; a != nullptr;) {
    const auto subs = a->get_subcommands();
    a = subs.empty() ? nullptr : subs.front();
    if (a != nullptr) path += " " + a->get_name();
  }
  return path + ": " + e.what() + "\nrun '" + path + " --help' to see what it takes\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "MangaAssist: the chat assistant of a manga store, and its resilient gateway to the "
      "models.",
      "mangaassist"};
  app.require_subcommand(1);
  app.failure_message(failure_message);
  app.footer(
      "Run 'mangaassist COMMAND --help' for what a command takes. docs/operations.md "
      "walks through running it in production.\n");

  ServeArgs serve_args;
  CLI::App* serve_cmd = app.add_subcommand("serve", "run the chat gateway (HTTP and WebSocket)");
  add_config_options(*serve_cmd, serve_args.cfg);
  serve_cmd->add_option("--port", serve_args.port, "the port to listen on (default 8080; 0: any)")
      ->transform(kDecimal)
      ->check(CLI::Range(0, 65535));
  serve_cmd
      ->add_option("--threads", serve_args.threads,
                   "I/O threads (default server.threads; 0: one per core)")
      ->transform(kDecimal)
      ->check(CLI::Range(0, 1024));
  serve_cmd
      ->add_option("--redis", serve_args.redis,
                   "fleet mode: share state through this Redis (redis://host:port[/db])")
      ->option_text("URL");

  ChatArgs chat_args;
  CLI::App* chat_cmd = app.add_subcommand("chat", "ask a running gateway one question");
  CLI::Option* question = chat_cmd->add_option(
      "question", chat_args.question,
      "the question (one starting with '-' goes after --: mangaassist chat -- \"-5% sale?\")");
  chat_cmd->add_option("--url", chat_args.url, "the gateway")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& v) {
            return v.rfind("http://", 0) == 0 ? std::string() : "must start with http://";
          },
          "URL"));
  chat_cmd->add_option("--token", chat_args.token, "a user token (mangaassist token USER_ID)");

  TokenArgs token_args;
  CLI::App* token_cmd = app.add_subcommand("token", "sign a user token with the server's secret");
  CLI::Option* user = token_cmd->add_option("user", token_args.user, "the user id");
  user->check(CLI::Validator(
      [](std::string& v) {
        return v.empty() || v[0] == '-' ? "a user id, not an option" : std::string();
      },
      "USER_ID"));
  token_cmd
      ->add_option("--ttl", token_args.ttl_s,
                   "how long it is valid: 3600, 90m, 12h, 7d (at most a year; default 24h)")
      ->transform(CLI::Validator(
          [](std::string& v) {
            const auto s = parse_ttl(v);
            if (!s) return std::string("must be like 3600, 90m, 12h or 7d (at most a year)");
            v = std::to_string(*s);
            return std::string();
          },
          "DURATION"));
  add_config_options(*token_cmd, token_args.cfg);

  SimArgs sim_args;
  CLI::App* sim_cmd = app.add_subcommand(
      "sim", "replay an incident scenario on virtual time, incident against fixed");
  sim_cmd->add_option("scenario", sim_args.scenario, "the scenario (scenarios/*.toml)")
      ->check(CLI::ExistingFile);
  CLI::Option* jitter = sim_cmd->add_flag(
      "--jitter", sim_args.jitter,
      "Brooker's backoff experiment, ours against the reference run of his simulator");
  sim_cmd
      ->add_option("--variant", sim_args.variant,
                   "which variant to run (default both; with --sweep, fixed)")
      ->check(CLI::IsMember({"incident", "fixed", "both"}));
  sim_cmd->add_option("--seed", sim_args.seed, "the random seed (default the scenario's)")
      ->transform(kDecimal)
      ->check(CLI::PositiveNumber);
  sim_cmd
      ->add_option("--duration", sim_args.duration_s,
                   "seconds of virtual time (default the scenario's)")
      ->check(CLI::PositiveNumber);
  sim_cmd->add_option("--data-dir", sim_args.data_dir, "the catalog's data directory")
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  sim_cmd->add_flag("--json", sim_args.json, "one JSON object per variant (or point) on stdout");
  CLI::Option* sweep =
      sim_cmd
          ->add_option("--sweep", sim_args.sweeps,
                       "what-if: KEY=VALUES, repeatable; runs every combination and prints a "
                       "row per point. KEY: a top-level scenario key (tasks, traffic.rate, "
                       "models.sonnet.capacity_rps) or else a setting of the variant; VALUES: "
                       "a..b, a..b:step or x,y,z")
          ->allow_extra_args(false)
          ->option_text("KEY=VALUES");
  sim_cmd->add_option("--threads", sim_args.threads, "points run at once (default one per core)")
      ->transform(kDecimal)
      ->check(CLI::Range(1, 1024))
      ->needs(sweep);
  sim_cmd->add_option("--out", sim_args.out, "where the timeline CSVs and the HTML report go")
      ->capture_default_str()
      ->excludes(sweep)
      ->option_text("DIR");
  sim_cmd
      ->add_flag("--day", sim_args.day,
                 "a whole day: a million messages on the daily curve, the faults kept")
      ->excludes(sweep);
  // --jitter runs an experiment of its own: nothing else of sim applies to it.
  for (CLI::Option* o : sim_cmd->get_options()) {
    if (o != jitter && o != sim_cmd->get_help_ptr()) jitter->excludes(o);
  }

  LogsArgs logs_args;
  CLI::App* logs_cmd = app.add_subcommand("logs", "query the JSON request log");
  CLI::Option* log_file =
      logs_cmd->add_option("file", logs_args.file, "the log, or - for standard input");
  CLI::Option* log_query =
      logs_cmd->add_option("query", logs_args.query,
                           "filter F = \"v\" and F > 3 | stats count by F[, bin(5m)] | sort F "
                           "desc | fields A, B | limit N");
  logs_cmd->footer(
      "example: mangaassist logs var/requests.log 'filter level = \"ERROR\" | stats count by "
      "error_code | sort count desc'");

  std::string check_file;
  CLI::App* check_cmd = app.add_subcommand(
      "check-config",
      "validate a configuration (keys, values, the files and the Redis it names) and print "
      "the effective configuration, secrets masked; exit 1 when it has errors");
  CLI::Option* check_path = check_cmd->add_option("file", check_file, "the TOML configuration");

  CLI::App* report_cmd = app.add_subcommand("report", "reports for the runbooks, from the logs");
  std::string report_log;
  std::optional<std::string> since, until;
  CLI::App* stale_cmd = report_cmd->add_subcommand(
      "stale-prices",
      "CSV of the replies that quoted a price other than the catalog's at that moment "
      "(time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id), then a summary: "
      "who to contact after a stale-price incident");
  CLI::Option* stale_log =
      stale_cmd->add_option("log", report_log, "the request log (observe.log_file), or -");
  stale_cmd
      ->add_option("--since", since,
                   "from this time: RFC 3339 (2026-11-30T00:00:00+09:00) or a date (midnight UTC)")
      ->option_text("TIME");
  stale_cmd->add_option("--until", until, "before this time (RFC 3339, or a date)")
      ->option_text("TIME");

  // The positionals are required here rather than by CLI11, which would say "question is
  // required" for `chat --bogus` before naming the unknown option.
  const std::pair<CLI::App*, CLI::Option*> required[] = {
      {chat_cmd, question},  {token_cmd, user},       {logs_cmd, log_file},
      {logs_cmd, log_query}, {check_cmd, check_path}, {stale_cmd, stale_log},
  };
  if (argc > 1 && argv[1][0] != '-') {
    const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
    if (std::none_of(subs.begin(), subs.end(),
                     [&](const CLI::App* s) { return s->get_name() == argv[1]; })) {
      std::fprintf(stderr,
                   "mangaassist: unknown command '%s'\nrun 'mangaassist --help' to see the "
                   "commands\n",
                   argv[1]);
      return kUsage;
    }
  }
  try {
    app.parse(argc, argv);
    for (const auto& [cmd, opt] : required) {
      if (cmd->parsed() && opt->count() == 0) throw CLI::RequiredError(opt->get_name());
    }
    if (report_cmd->parsed() && report_cmd->get_subcommands().empty()) {
      throw CLI::RequiredError("a report (stale-prices)");
    }
    if (sim_cmd->parsed() && sim_args.scenario.empty() && !sim_args.jitter) {
      throw CLI::RequiredError("scenario (or --jitter)");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsage;
  }
  if (serve_cmd->parsed()) return serve(serve_args);
  if (chat_cmd->parsed()) return chat(chat_args);
  if (token_cmd->parsed()) return token(token_args);
  if (sim_cmd->parsed()) return sim(sim_args);
  if (logs_cmd->parsed()) return logs(logs_args);
  if (check_cmd->parsed()) return check_config(check_file);
  if (stale_cmd->parsed())
    return ma::observe::report_stale_prices_main(report_log, since, until, stdout, stderr);
  return kUsage;  // require_subcommand(1) makes this unreachable
}
