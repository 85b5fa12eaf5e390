#include "assist/price_guard.hpp"

#include <algorithm>
#include <array>

namespace ma::assist {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads a number with optional thousands separators at `pos`; returns -1 when none.
long long read_number(std::string_view s, std::size_t& pos) {
  long long v = -1;
  std::size_t i = pos;
  while (i < s.size() &&
         (is_digit(s[i]) || (s[i] == ',' && v >= 0 && i + 1 < s.size() && is_digit(s[i + 1])))) {
    if (s[i] != ',') v = (v < 0 ? 0 : v) * 10 + (s[i] - '0');
    if (v > 100'000'000) return -1;
    ++i;
  }
  pos = i;
  return v;
}
}  // namespace

std::vector<int> extract_yen(std::string_view text) {
  std::vector<int> out;
  auto starts = [&](std::size_t pos, std::string_view w) {
    return text.substr(pos, w.size()) == w;
  };
  // Only these bytes can start a price: the lead bytes of ¥ (C2) and ￥ (EF), J, a digit.
  static constexpr auto kMayStart = [] {
    std::array<bool, 256> t{};
    t[0xC2] = t[0xEF] = t['J'] = true;
    for (int d = '0'; d <= '9'; ++d) t[static_cast<std::size_t>(d)] = true;
    return t;
  }();
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && !kMayStart[bytes[i]]) ++i;
    if (i == text.size()) break;
    // Prefix forms: ¥N, ￥N, JPY N.
    std::size_t after = std::string_view::npos;
    if (starts(i, "¥"))
      after = i + std::string_view("¥").size();
    else if (starts(i, "￥"))
      after = i + std::string_view("￥").size();
    else if (starts(i, "JPY"))
      after = i + 3;
    if (after != std::string_view::npos) {
      while (after < text.size() && text[after] == ' ') ++after;
      std::size_t p = after;
      const long long v = read_number(text, p);
      if (v >= 0) {
        out.push_back(static_cast<int>(v));
        i = p;
        continue;
      }
    }
    // Suffix forms: N円, N yen.
    if (is_digit(text[i]) && (i == 0 || !is_digit(text[i - 1]))) {
      std::size_t p = i;
      const long long v = read_number(text, p);
      std::size_t q = p;
      while (q < text.size() && text[q] == ' ') ++q;
      if (v >= 0 && (starts(q, "円") || starts(q, "yen"))) out.push_back(static_cast<int>(v));
      i = std::max(p, i + 1);
      continue;
    }
    ++i;
  }
  return out;
}

PriceCheck check_prices(std::string_view text, std::string_view product_id,
                        const catalog::Catalog& catalog, core::WallTime now) {
  PriceCheck c;
  const auto q = catalog.quote(product_id, now);
  if (!q) return c;
  for (int yen : extract_yen(text)) {
    c.checked = true;
    if (yen != q->price && yen != q->list_price) {
      c.mismatch = true;
      c.wrong.push_back(yen);
    }
  }
  return c;
}

PriceCheck check_stated(const std::vector<std::pair<std::string, int>>& stated,
                        const catalog::Catalog& catalog, core::WallTime now) {
  PriceCheck c;
  for (const auto& [id, yen] : stated) {
    const auto p = catalog.product(id);
    c.checked = true;
    if (!p || catalog.quote(*p, now).price != yen) {
      c.mismatch = true;
      c.wrong.push_back(yen);
    }
  }
  return c;
}

}  // namespace ma::assist
