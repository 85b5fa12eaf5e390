#include "core/env.hpp"

#include <cstdlib>
#include <memory>

namespace ma::core {

EnvLookup process_env() {
  return [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
}

EnvLookup fixed_env(std::map<std::string, std::string> vars) {
  // Shared: a std::function is copyable, and the pointers handed out point into the map.
  auto owned = std::make_shared<const std::map<std::string, std::string>>(std::move(vars));
  return [owned](const char* name) -> const char* {
    const auto it = owned->find(name);
    return it == owned->end() ? nullptr : it->second.c_str();
  };
}

std::optional<std::string> env_value(const EnvLookup& env, const char* name) {
  const char* v = env(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace ma::core
