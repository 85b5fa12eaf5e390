#pragma once
// Typed reads from a TOML table into configuration fields, with one rule for mistakes: a key
// the reader does not know, a value of the wrong type, a number out of range or a name not
// in the list is an error that names the key (with its path, "server.port") and what was
// expected. Used by server::load_toml and sim::parse_scenario.
//
// The first error wins and is kept (like a stream's failbit): a loader reads every key in
// turn and asks status() once, instead of checking after each read. Once an error is kept,
// further reads leave their fields as they are. A reader made with `collect_all` goes on
// reading after an error and keeps every error (`check-config` lists them all); status()
// is still the first.
//
//   core::TomlReader r(root, "invalid_config");
//   r.check_keys({"server"});
//   if (auto s = r.table("server")) {
//     s->check_keys({"port", "idle_timeout_ms"});
//     s->read("port", cfg.port);                   // whole number within uint16_t
//     s->read_ms("idle_timeout_ms", cfg.idle_timeout);
//   }
//   return r.status();
//
// Thread safety: none (a reader and the readers it hands out share their error).
// REQUIRES: the table outlives the reader and every reader it hands out.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/enum_name.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/toml.hpp"

namespace ma::core {

// Whole-number fields (bool is read as true or false, not as a number).
template <class T>
concept WholeNumber = std::integral<T> && !std::same_as<T, bool>;

class TomlReader final {
 public:
  // Reads `table` (a whole document, prefix ""); errors carry `code` ("invalid_config").
  TomlReader(const toml::table& table, std::string code, bool collect_all = false);

  // "server." for the [server] table: what keys are named with in messages.
  const std::string& prefix() const { return prefix_; }
  // The key with its path: "server.port".
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

  bool ok() const { return !errors_->first.has_value(); }
  // Whether a loader should go on to its checks across keys (a range that depends on another
  // key): when no error is kept yet, or when every error is (`collect_all`).
  bool checking() const { return ok() || errors_->collect_all; }
  // Ok, or the first error.
  Status status() const;
  // Every error kept, in the order they were found (one at most unless `collect_all`).
  const std::vector<Error>& errors() const { return errors_->all; }
  // Keeps an error with this reader's code, unless one is already kept. Returns false.
  bool fail(std::string message);
  // Keeps `e` as it is (e.g. a parser's error with its own code), unless one is already kept.
  bool fail(Error e);

  // An error naming the first key of this table that is not in `allowed`.
  void check_keys(std::initializer_list<std::string_view> allowed);
  bool has(std::string_view key) const { return table_->contains(key); }
  // The keys of this table, sorted (toml++ keeps a table as a map), for tables keyed by name
  // (cache.ttl_s).
  std::vector<std::string> keys() const;

  // Each read returns whether it set `out`: false when the key is absent (`out` keeps its
  // default), after an error, or when the value is refused ("<key> must be <what>").
  bool read(std::string_view key, bool& out);
  bool read(std::string_view key, std::string& out);
  // A float or an integer.
  bool read(std::string_view key, double& out);
  // A whole number within [min, max] (by default T's range). A float with no fractional
  // part counts as whole ("users = 2e5").
  template <WholeNumber T>
  bool read(std::string_view key, T& out, std::int64_t min = lowest<T>(),
            std::int64_t max = highest<T>()) {
    std::int64_t v = 0;
    if (!read_whole(key, v, min, max)) return false;
    out = static_cast<T>(v);
    return true;
  }
  template <class T>
  bool read(std::string_view key, std::optional<T>& out) {
    T v{};
    if (!read(key, v)) return false;
    out = std::move(v);
    return true;
  }
  // A list of strings (an empty list is a list). `what` replaces "a list of strings" in the
  // message, e.g. "a list of origins, like [\"https://shop.example.jp\"]".
  bool read(std::string_view key, std::vector<std::string>& out,
            std::string_view what = "a list of strings");

  // Whole milliseconds (`*_ms` keys) and whole seconds (`*_s` keys), within [min, max] of
  // the unit.
  bool read_ms(std::string_view key, Duration& out, std::int64_t min = kMinMs,
               std::int64_t max = kMaxMs);
  bool read_seconds(std::string_view key, Duration& out, std::int64_t min = kMinMs / 1000,
                    std::int64_t max = kMaxMs / 1000);

  // A string that must be one of `names`: "<key> must be a, b or c, not \"x\"".
  bool read_enum(std::string_view key, std::string& out,
                 std::initializer_list<std::string_view> names);
  bool read_enum(std::string_view key, std::string& out, std::span<const std::string_view> names) {
    return read_name(key, out, names);
  }
  bool read_enum(std::string_view key, std::optional<std::string>& out,
                 std::initializer_list<std::string_view> names);
  template <class E>
  bool read_enum(std::string_view key, E& out,
                 std::span<const EnumName<std::type_identity_t<E>>> names) {
    std::vector<std::string_view> list;
    for (const auto& n : names) list.push_back(n.name);
    std::string s;
    if (!read_name(key, s, list)) return false;
    out = *enum_from_name(names, s);
    return true;
  }
  template <class E>
  bool read_enum(std::string_view key, std::optional<E>& out,
                 std::span<const EnumName<std::type_identity_t<E>>> names) {
    E value{};
    if (!read_enum(key, value, names)) return false;
    out = value;
    return true;
  }

  // The table under `key`, read with this one's error and code (prefix "<key>."); nullopt
  // when absent, or not a table (an error).
  std::optional<TomlReader> table(std::string_view key);
  // An array of tables ([[key]]); empty when absent. Each is named "<key>." in messages.
  std::vector<TomlReader> tables(std::string_view key);

 private:
  static constexpr std::int64_t kMaxMs = std::numeric_limits<std::int64_t>::max() / 1'000'000;
  static constexpr std::int64_t kMinMs = -kMaxMs;

  template <class T>
  static constexpr std::int64_t lowest() {
    return static_cast<std::int64_t>(std::numeric_limits<T>::lowest());
  }
  template <class T>
  static constexpr std::int64_t highest() {
    if constexpr (std::numeric_limits<T>::max() >
                  static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::numeric_limits<std::int64_t>::max();
    } else {
      return static_cast<std::int64_t>(std::numeric_limits<T>::max());
    }
  }

  // The errors kept, shared by a reader and every reader it hands out.
  struct Errors {
    bool collect_all = false;
    std::optional<Error> first;
    std::vector<Error> all;
  };

  TomlReader(const toml::table& table, std::string prefix, std::string code,
             std::shared_ptr<Errors> errors);

  // The node under `key` when present and no error is kept yet (or every error is kept).
  const toml::node* find(std::string_view key) const;
  // "<key> must be <what>", naming the type found.
  bool wrong_type(std::string_view key, const toml::node& n, std::string_view what);
  bool read_whole(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max);
  bool read_name(std::string_view key, std::string& out, std::span<const std::string_view> names);

  const toml::table* table_;
  std::string prefix_;
  std::string code_;
  std::shared_ptr<Errors> errors_;
};

}  // namespace ma::core
