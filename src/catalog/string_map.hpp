#pragma once
// A hash map keyed by std::string that is looked up by std::string_view without a copy.

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ma::catalog {

struct StringKeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringKeyHash, std::equal_to<>>;

}  // namespace ma::catalog
