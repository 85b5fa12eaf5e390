#pragma once
// The process environment as a seam: code that reads variables takes an EnvLookup, so that
// tests pass their own (no setenv in a test process) and one step (server::
// resolve_environment) decides what the environment overrides.

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace ma::core {

// Reads a variable: its value, or nullptr when unset. The pointer is valid until the next
// call (getenv's contract).
using EnvLookup = std::function<const char*(const char*)>;

// std::getenv. NOTE: not safe against a concurrent setenv (nothing here calls setenv).
EnvLookup process_env();

// A fixed set of variables (tests). The lookup owns its copy of `vars`.
EnvLookup fixed_env(std::map<std::string, std::string> vars);

// The value of `name` when set and not empty (an empty variable counts as unset, as every
// reader of the environment in this project has treated it).
std::optional<std::string> env_value(const EnvLookup& env, const char* name);

}  // namespace ma::core
