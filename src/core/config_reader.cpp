#include "core/config_reader.hpp"

#include <cmath>

#include "core/text.hpp"  // join_names

namespace ma::core {

namespace {

std::string_view type_words(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "a list";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string range_words(std::int64_t min, std::int64_t max, std::int64_t lowest,
                        std::int64_t highest) {
  if (max >= highest) return ">= " + std::to_string(min);
  if (min <= lowest) return "<= " + std::to_string(max);
  return std::to_string(min) + "-" + std::to_string(max);
}

}  // namespace

TomlReader::TomlReader(const toml::table& table, std::string code, bool collect_all)
    : TomlReader(
          table, "", std::move(code),
          std::make_shared<Errors>(Errors{.collect_all = collect_all, .first = {}, .all = {}})) {}

TomlReader::TomlReader(const toml::table& table, std::string prefix, std::string code,
                       std::shared_ptr<Errors> errors)
    : table_(&table),
      prefix_(std::move(prefix)),
      code_(std::move(code)),
      errors_(std::move(errors)) {}

Status TomlReader::status() const {
  if (errors_->first) return ::ma::core::fail(*errors_->first);
  return Ok{};
}

bool TomlReader::fail(std::string message) { return fail(Error{code_, std::move(message)}); }

bool TomlReader::fail(Error e) {
  if (!errors_->first) {
    errors_->first = e;
    errors_->all.push_back(std::move(e));
  } else if (errors_->collect_all) {
    errors_->all.push_back(std::move(e));
  }
  return false;
}

void TomlReader::check_keys(std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : *table_) {
    bool known = false;
    for (auto a : allowed) known |= k.str() == a;
    if (!known) {
      fail("unknown key " + name(k.str()));
      if (!errors_->collect_all) return;
    }
  }
}

std::vector<std::string> TomlReader::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : *table_) out.emplace_back(k.str());
  return out;
}

const toml::node* TomlReader::find(std::string_view key) const {
  return ok() || errors_->collect_all ? table_->get(key) : nullptr;
}

bool TomlReader::wrong_type(std::string_view key, const toml::node& n, std::string_view what) {
  return fail(name(key) + " must be " + std::string(what) + ", not " + std::string(type_words(n)));
}

bool TomlReader::read(std::string_view key, bool& out) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  // (node::value<bool>() would also take an integer.)
  const auto* b = n->as_boolean();
  if (b == nullptr) return wrong_type(key, *n, "true or false");
  out = b->get();
  return true;
}

bool TomlReader::read(std::string_view key, std::string& out) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  const auto* s = n->as_string();
  if (s == nullptr) return wrong_type(key, *n, "a string");
  out = s->get();
  return true;
}

bool TomlReader::read(std::string_view key, double& out) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  if (const auto* f = n->as_floating_point()) {
    out = f->get();
  } else if (const auto* i = n->as_integer()) {
    out = static_cast<double>(i->get());
  } else {
    return wrong_type(key, *n, "a number");
  }
  return true;
}

bool TomlReader::read_whole(std::string_view key, std::int64_t& out, std::int64_t min,
                            std::int64_t max) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  std::int64_t v = 0;
  if (const auto* i = n->as_integer()) {
    v = i->get();
  } else if (const auto* f = n->as_floating_point();
             f != nullptr && std::trunc(f->get()) == f->get() && std::abs(f->get()) < 0x1p63) {
    v = static_cast<std::int64_t>(f->get());
  } else {
    return wrong_type(key, *n, "a whole number");
  }
  if (v < min || v > max) {
    return fail(name(key) + " must be " +
                range_words(min, max, std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::int64_t>::max()));
  }
  out = v;
  return true;
}

bool TomlReader::read_ms(std::string_view key, Duration& out, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  if (!read_whole(key, v, std::max(min, kMinMs), std::min(max, kMaxMs))) return false;
  out = milliseconds(v);
  return true;
}

bool TomlReader::read_seconds(std::string_view key, Duration& out, std::int64_t min,
                              std::int64_t max) {
  std::int64_t v = 0;
  if (!read_whole(key, v, std::max(min, kMinMs / 1000), std::min(max, kMaxMs / 1000))) return false;
  out = seconds(v);
  return true;
}

bool TomlReader::read(std::string_view key, std::vector<std::string>& out, std::string_view what) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  const auto* arr = n->as_array();
  if (arr == nullptr) return wrong_type(key, *n, what);
  std::vector<std::string> v;
  for (const toml::node& e : *arr) {
    const auto* s = e.as_string();
    if (s == nullptr) {
      return fail(name(key) + " must be " + std::string(what) + ", not a list holding " +
                  std::string(type_words(e)));
    }
    v.push_back(s->get());
  }
  out = std::move(v);
  return true;
}

bool TomlReader::read_name(std::string_view key, std::string& out,
                           std::span<const std::string_view> names) {
  const toml::node* n = find(key);
  if (n == nullptr) return false;
  const auto* s = n->as_string();
  if (s == nullptr) return wrong_type(key, *n, join_names(names));
  for (auto a : names) {
    if (a == s->get()) {
      out = s->get();
      return true;
    }
  }
  return fail(name(key) + " must be " + join_names(names) + ", not \"" + s->get() + "\"");
}

bool TomlReader::read_enum(std::string_view key, std::string& out,
                           std::initializer_list<std::string_view> names) {
  return read_name(key, out, std::span(names.begin(), names.size()));
}

bool TomlReader::read_enum(std::string_view key, std::optional<std::string>& out,
                           std::initializer_list<std::string_view> names) {
  std::string s;
  if (!read_enum(key, s, names)) return false;
  out = std::move(s);
  return true;
}

std::optional<TomlReader> TomlReader::table(std::string_view key) {
  const toml::node* n = find(key);
  if (n == nullptr) return std::nullopt;
  const auto* t = n->as_table();
  if (t == nullptr) {
    wrong_type(key, *n, "a table ([" + name(key) + "])");
    return std::nullopt;
  }
  return TomlReader(*t, name(key) + ".", code_, errors_);
}

std::vector<TomlReader> TomlReader::tables(std::string_view key) {
  std::vector<TomlReader> out;
  const toml::node* n = find(key);
  if (n == nullptr) return out;
  const std::string what = "a list of tables ([[" + name(key) + "]])";
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    wrong_type(key, *n, what);
    return out;
  }
  for (const toml::node& e : *arr) {
    const auto* t = e.as_table();
    if (t == nullptr) {
      fail(name(key) + " must be " + what + ", not a list holding " + std::string(type_words(e)));
      return {};
    }
    out.push_back(TomlReader(*t, name(key) + ".", code_, errors_));
  }
  return out;
}

}  // namespace ma::core
