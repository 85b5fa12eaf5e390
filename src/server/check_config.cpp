#include "server/check_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/json_util.hpp"
#include "observe/sampling.hpp"
#include "server/config.hpp"
#include "server/toml_file.hpp"
#include "state/redis/redis_client.hpp"

namespace ma::server {

namespace {

namespace fs = std::filesystem;
using Severity = ConfigFinding::Severity;

constexpr const char* kMask = "********";

// Keys whose value is a secret wherever they appear.
bool secret_key(std::string_view key) {
  for (std::string_view s : {"token", "secret", "password", "api_key"}) {
    if (key.find(s) != std::string_view::npos && !key.ends_with("_file") &&
        !key.ends_with("_estimate")) {
      return true;
    }
  }
  return false;
}

class Checker {
 public:
  void error(std::string m) { out_.findings.push_back({Severity::kError, std::move(m)}); }
  void warning(std::string m) { out_.findings.push_back({Severity::kWarning, std::move(m)}); }
  ConfigCheck take() { return std::move(out_); }
  ConfigCheck& result() { return out_; }

  void readable(const std::string& key, const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0) {
      if (errno == EACCES) {
        denied(key, "read " + path);
      } else {
        error(key + ": cannot read " + path + " (" + std::strerror(errno) + ")");
      }
    }
  }

  // The server creates a missing folder: the nearest one that exists must be writable.
  void writable(const std::string& key, const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    if (fs::exists(path, ec)) {
      if (::access(path.c_str(), W_OK) != 0) {
        if (errno == EACCES) {
          denied(key, "write " + path);
        } else {
          error(key + ": cannot write " + path + " (" + std::strerror(errno) + ")");
        }
      }
      return;
    }
    fs::path dir = fs::path(path).parent_path();
    while (!dir.empty() && !fs::exists(dir, ec)) {
      if (ec == std::errc::permission_denied) {  // a folder this user may not look into
        denied(key, "look for " + path);
        return;
      }
      dir = dir.parent_path();
    }
    if (dir.empty()) dir = ".";
    if (!fs::is_directory(dir, ec)) {
      error(key + ": cannot create " + path + ": " + dir.string() + " is not a directory");
    } else if (::access(dir.c_str(), W_OK) != 0) {
      if (errno == EACCES) {
        denied(key, "create " + path + " in " + dir.string());
      } else {
        error(key + ": cannot create " + path + ": " + dir.string() + " is not writable");
      }
    }
  }

  // Permission denied to whoever runs the check, who may not be the service's user: a
  // warning, since the service may well be allowed (docs/operations.md shows how to check
  // as the service).
  void denied(const std::string& key, const std::string& what) {
    warning(key + ": cannot " + what + " as uid " + std::to_string(::geteuid()) +
            " (permission denied): check as the user the service runs as");
  }

 private:
  ConfigCheck out_;
};

void check_files(const AppConfig& cfg, Checker& c) {
  if (cfg.data_dir.empty()) {
    c.error("catalog.data_dir: not set, and no data directory beside the binary");
  } else {
    c.readable("catalog.data_dir", cfg.data_dir + "/manga_series.jsonl");
  }
  if (!cfg.events_file.empty() && ::access(cfg.events_file.c_str(), F_OK) == 0) {
    if (auto ev = load_events(cfg.events_file); !ev.ok()) {
      c.error("admission.events_file: " + ev.error().message);
    }
  }
  if (!cfg.sampling_rules.empty()) {
    auto text = core::read_file(cfg.sampling_rules);
    if (!text.ok()) {
      c.readable("observe.sampling_rules", cfg.sampling_rules);
    } else if (auto s = observe::Sampler::from_local_json(*text); !s.ok()) {
      c.error("observe.sampling_rules: " + cfg.sampling_rules + ": " + s.error().message);
    }
  }
  c.writable("catalog.db_path", cfg.db_path);
  c.writable("observe.log_file", cfg.log_file);
  c.writable("observe.trace_file", cfg.trace_file);
  if (cfg.server.auth_secret.empty()) {
    const std::string& f = cfg.server.auth_secret_file;
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) {
      c.readable("server.auth_secret_file", f);
      if ((st.st_mode & 077) != 0) {
        c.warning("server.auth_secret_file: " + f +
                  " may be read by other users (chmod 600 it): whoever reads it can sign tokens");
      }
    } else {
      c.writable("server.auth_secret_file", f);  // created at first start
    }
  }
  if (!cfg.server.web_dir.empty() &&
      ::access((cfg.server.web_dir + "/index.html").c_str(), R_OK) != 0) {
    c.warning("server.web_dir: no index.html in " + cfg.server.web_dir +
              " (the chat page will answer 404)");
  }
  for (const LaneSpec& l : model_lanes(cfg)) {
    if (l.provider == "openai" && !l.openai.ca_file.empty()) {
      c.readable("openai.ca_file", l.openai.ca_file);
    }
  }
}

void check_redis(const std::string& url, std::chrono::milliseconds timeout, Checker& c) {
  if (url.empty()) return;
  auto parsed = state::RedisUrl::parse(url);
  if (!parsed.ok()) {
    c.error("fleet.redis: " + parsed.error().message);
    return;
  }
  state::RedisOptions o;
  o.url = *parsed;
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  const std::string where = mask_url_password(url);
  auto conn = state::RedisConnection::open(o, timeout);
  if (!conn.ok()) {
    c.error("fleet.redis: " + where + " does not answer: " + conn.error().message);
    return;
  }
  auto pong = (*conn)->command({"PING"});
  if (!pong.ok() || pong->str != "PONG") {
    c.error("fleet.redis: " + where + " does not answer PING" +
            (pong.ok() ? " (answered \"" + pong->str + "\")" : ": " + pong.error().message));
  }
}

// `top` laid over `base`, table by table; any other value (arrays of tables included)
// replaces.
void overlay(toml::table& base, const toml::table& top) {
  for (const auto& [k, v] : top) {
    toml::node* mine = base.get(k.str());
    if (v.is_table() && mine != nullptr && mine->is_table()) {
      overlay(*mine->as_table(), *v.as_table());
    } else {
      base.insert_or_assign(k, v);
    }
  }
}

void mask(toml::table& t) {
  for (auto&& [k, v] : t) {
    if (auto* sub = v.as_table()) {
      mask(*sub);
    } else if (auto* arr = v.as_array()) {
      for (auto& e : *arr) {
        if (auto* st = e.as_table()) mask(*st);
      }
    } else if (auto* s = v.as_string()) {
      s->get() = secret_key(k.str()) ? mask_secret(s->get()) : mask_url_password(s->get());
    }
  }
}

void set(toml::table& root, std::string_view section, std::string_view key, std::string value) {
  if (!root.contains(section)) root.insert(section, toml::table{});
  if (auto* t = root.get(section)->as_table()) t->insert_or_assign(key, std::move(value));
}

// What the environment overrode, as the file's keys where it has one, else as a comment.
std::string environment_notes(const AppConfig& before, const AppConfig& after,
                              const core::EnvLookup& env, toml::table& root) {
  std::string notes;
  auto note = [&](const char* var, std::string_view what) {
    if (core::env_value(env, var))
      notes += "#   " + std::string(var) + ": " + std::string(what) + "\n";
  };
  if (after.data_dir != before.data_dir) set(root, "catalog", "data_dir", after.data_dir);
  if (after.server.admin_token != before.server.admin_token)
    set(root, "server", "admin_token", after.server.admin_token);
  if (after.server.auth_secret != before.server.auth_secret)
    set(root, "server", "auth_secret", after.server.auth_secret);
  if (after.otlp_endpoint != before.otlp_endpoint)
    set(root, "observe", "otlp_endpoint", after.otlp_endpoint);
  if (after.openai_primary.base_url != before.openai_primary.base_url)
    set(root, "openai", "base_url", after.openai_primary.base_url);
  note("MANGAASSIST_DATA_DIR", "catalog.data_dir");
  note("MANGAASSIST_ADMIN_TOKEN", "server.admin_token");
  note("MANGAASSIST_AUTH_SECRET", "server.auth_secret");
  note("OPENAI_BASE_URL", "openai.base_url of every openai lane");
  note("OPENAI_API_KEY", "the api key of every openai lane (********)");
  note("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "observe.otlp_endpoint");
  if (!core::env_value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    note("OTEL_EXPORTER_OTLP_ENDPOINT", "observe.otlp_endpoint (+ /v1/traces)");
  for (const auto& [flag, value] : after.flag_overrides) {
    const std::string v =
        value.is_string() ? std::string(value.get_string()) : boost::json::serialize(value);
    notes += "#   " + std::string(flag) + "=" + v +
             " (a runtime flag, until PATCH /admin/flags changes it)\n";
  }
  return notes;
}

}  // namespace

bool ConfigCheck::ok() const {
  for (const auto& f : findings) {
    if (f.severity == Severity::kError) return false;
  }
  return true;
}

std::string mask_secret(const std::string& value) { return value.empty() ? value : kMask; }

std::string mask_url_password(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const std::size_t start = scheme_end + 3;
  // Where the credentials end: state::RedisUrl::parse takes everything before the last '@'
  // (a password may hold '/' or '@'); elsewhere (RFC 3986) the last '@' before the path.
  const bool redis = url.compare(0, scheme_end, "redis") == 0;
  const std::size_t authority_end =
      redis ? url.size() : std::min(url.find_first_of("/?#", start), url.size());
  const std::size_t at = url.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at == std::string::npos || at < start) return url;
  const std::size_t colon = url.find(':', start);
  if (colon != std::string::npos && colon < at) {
    return url.substr(0, colon + 1) + kMask + url.substr(at);
  }
  // "redis://secret@host": Redis reads a lone user part as the password.
  return redis ? url.substr(0, start) + kMask + url.substr(at) : url;
}

ConfigCheck check_config(const std::string& path, const core::EnvLookup& env,
                         const CheckConfigOptions& options) {
  Checker c;
  // A file that does not parse has nothing more to check.
  auto file = parse_toml_file(path);
  if (!file.ok()) {
    c.error(file.error().message);
    return c.take();
  }
  AppConfig cfg = default_config();
  std::vector<core::Error> errors;
  (void)load_toml(path, cfg, &errors);  // every error is in `errors`
  for (const auto& e : errors) c.error(e.message);
  const AppConfig from_file = cfg;
  const core::Status env_status = resolve_environment(cfg, env);
  const bool env_ok = env_status.ok();
  if (!env_ok) c.error(env_status.error().message);
  if (::geteuid() == 0) {
    c.warning(
        "running as root, who may read and write anything: the file checks do not say "
        "what the service's user may do (check as that user: docs/operations.md)");
  }
  check_files(cfg, c);
  check_redis(cfg.redis_url, options.redis_timeout, c);

  // The effective configuration: the shipped defaults, the file, the environment.
  toml::table root;
  std::string defaults = options.defaults_file;
  if (const std::string shipped = find_share_dirs().data; defaults.empty() && !shipped.empty()) {
    // Beside the binary's data, not the file's catalog.data_dir, which may be elsewhere.
    defaults = (fs::path(shipped) / ".." / "config" / "default.toml").lexically_normal();
  }
  std::string header = "# The effective configuration of " + path + ": ";
  if (!defaults.empty()) {
    if (auto d = parse_toml_file(defaults); d.ok()) {
      root = std::move(d).value();
      header += "the defaults (" + defaults + "), the file over them";
    }
  }
  if (root.empty()) {
    header += "the file (the shipped defaults were not found: keys it leaves out are not shown)";
  }
  overlay(root, *file);
  const std::string env_notes = env_ok ? environment_notes(from_file, cfg, env, root)
                                       : "#   not applied: the environment has an error\n";
  if (!cfg.data_dir.empty()) set(root, "catalog", "data_dir", cfg.data_dir);
  mask(root);
  std::ostringstream os;
  os << header << ", the environment over both; secrets masked.\n";
  if (!env_notes.empty()) os << "# From the environment:\n" << env_notes;
  os << "\n" << toml::toml_formatter(root) << "\n";
  c.result().effective = os.str();
  return c.take();
}

}  // namespace ma::server
