#pragma once
// Enum <-> name tables: one table per enum, read by the config readers and printed at the
// edges (logs, reports), so that a name is spelled in one place.

#include <optional>
#include <span>
#include <string_view>

namespace ma::core {

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

// The value named `name` in `table`; nullopt when none is.
template <class E>
constexpr std::optional<E> enum_from_name(std::span<const EnumName<E>> table,
                                          std::string_view name) {
  for (const auto& n : table) {
    if (n.name == name) return n.value;
  }
  return std::nullopt;
}

// The name of `value` in `table`; `missing` when the table has none.
template <class E>
constexpr std::string_view enum_name(std::span<const EnumName<E>> table, E value,
                                     std::string_view missing = "unknown") {
  for (const auto& n : table) {
    if (n.value == value) return n.name;
  }
  return missing;
}

}  // namespace ma::core
