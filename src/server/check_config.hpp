#pragma once
// `mangaassist check-config FILE`: what an operator runs before a deploy. It reads the file
// as `serve --config FILE` would (every mistake listed, not only the first), then checks what
// the file points at: the catalog and the events calendar can be read, the sampling rules
// parse, the database, log and trace files can be written, the auth secret file is readable
// (and private), the Redis of the fleet answers PING. It prints the effective configuration:
// the shipped defaults (config/default.toml), the file over them, the environment over both,
// with every secret masked.
//
// Thread safety: none needed (one call, a command-line tool).

#include <chrono>
#include <string>
#include <vector>

#include "core/env.hpp"

namespace ma::server {

struct ConfigFinding {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string message;  // names the key: "fleet.redis: redis://10.0.0.5:6379 does not answer"
};

struct ConfigCheck {
  std::vector<ConfigFinding> findings;
  // The effective configuration as TOML, secrets masked; empty when the file did not load.
  std::string effective;
  bool ok() const;  // no finding is an error
};

struct CheckConfigOptions {
  // The shipped defaults the file is laid over; empty: config/default.toml beside the data
  // directory (server::find_share_dirs). Not found: only the file's own keys are shown.
  std::string defaults_file;
  // How long a Redis of the fleet has to answer PING.
  std::chrono::milliseconds redis_timeout{1000};
};

ConfigCheck check_config(const std::string& path, const core::EnvLookup& env,
                         const CheckConfigOptions& options = {});

// "********" for a secret's value (empty stays empty); a URL's password ("redis://:pw@h",
// "https://user:pw@h") becomes "********", the rest of the URL is kept.
std::string mask_secret(const std::string& value);
std::string mask_url_password(const std::string& url);

}  // namespace ma::server
