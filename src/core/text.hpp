#pragma once
// Text helpers for Japanese and English input: UTF-8 validation, NFKC + case folding, script
// detection. Everything is UTF-8 in, UTF-8 out.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ma::core {

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Number of code points. REQUIRES: valid UTF-8.
std::size_t utf8_length(std::string_view s);

// "a, b or c": the names in a list, as error messages say them.
std::string join_names(std::span<const std::string_view> names);

// Decodes to code points. REQUIRES: valid UTF-8.
std::vector<char32_t> utf8_decode(std::string_view s);
// The longest prefix of `s` of at most `max_bytes` that does not split a UTF-8 sequence.
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);
void utf8_append(std::string& out, char32_t cp);

// NFKC without case folding: "５００円" -> "500円", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ" ->
// "taro@example.jp", U+00A0 and U+3000 -> " ". Invalid UTF-8 yields an empty string.
std::string nfkc(std::string_view s);

// NFKC + case folding (full-width "ＯＮＥ　ＰＩＥＣＥ" -> "one piece", half-width kana ->
// full-width). Invalid UTF-8 yields an empty string.
std::string nfkc_casefold(std::string_view s);
// The same through utf8proc for every input (nfkc_casefold takes a shortcut for text of
// ASCII, kana and kanji only; its test holds the two equal). REQUIRES: valid UTF-8.
std::string nfkc_casefold_full(std::string_view s);

// A search key: nfkc_casefold, then ASCII punctuation and all whitespace become one space,
// trimmed. ("Spy x Family!!" -> "spy x family").
std::string normalize_for_match(std::string_view s);
// The same from text that is nfkc_casefold's output already (one normalisation, not two).
std::string normalize_folded_for_match(std::string_view folded);

constexpr bool is_kana(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
         (c >= 0xFF66 && c <= 0xFF9D);
}
constexpr bool is_han(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F) || c == 0x3005;
}
constexpr bool is_cjk(char32_t c) { return is_kana(c) || is_han(c); }

// True when the text contains kana or kanji: the reply should be in Japanese.
bool looks_japanese(std::string_view s);

// 64-bit FNV-1a, for deterministic derivations (never for security).
// FNV-1a; `h` continues a hash (fnv1a(b, fnv1a(a)) hashes a then b).
constexpr std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// An integer as decimal digits, for str_cat / str_append (no allocation).
class Dec {
 public:
  explicit Dec(long long v) {
    const auto r = std::to_chars(buf_.data(), buf_.data() + buf_.size(), v);
    size_ = static_cast<std::size_t>(r.ptr - buf_.data());
  }
  std::string_view view() const { return {buf_.data(), size_}; }

 private:
  std::array<char, 20> buf_{};
  std::size_t size_ = 0;
};

namespace detail {
inline std::string_view piece(std::string_view s) { return s; }
inline std::string_view piece(const Dec& d) { return d.view(); }
}  // namespace detail

// Appends the pieces (strings, string views, literals, Dec) with one allocation at most:
// replies and facts are built for every message. REQUIRES: no piece is a view into `out`.
template <class... Parts>
void str_append(std::string& out, const Parts&... parts) {
  const std::string_view views[] = {detail::piece(parts)...};
  std::size_t n = out.size();
  for (std::string_view v : views) n += v.size();
  if (n > out.capacity()) out.reserve(std::max(n, 2 * out.capacity()));
  for (std::string_view v : views) out.append(v);
}

template <class... Parts>
std::string str_cat(const Parts&... parts) {
  std::string out;
  str_append(out, parts...);
  return out;
}

// Constant-time comparison (for tokens).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace ma::core
