#include "core/text.hpp"

#include <utf8proc.h>

#include <cstdlib>

namespace ma::core {

std::string join_names(std::span<const std::string_view> names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    char32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
      if (c < 0xC2) return false;  // overlong
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
      if (c > 0xF4) return false;
    } else {
      return false;
    }
    if (end - p <= n) return false;  // truncated sequence
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
    if (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    p += n + 1;
  }
  return true;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::vector<char32_t> utf8_decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i <= n && p + i < end; ++i) cp = (cp << 6) | (p[i] & 0x3F);
    out.push_back(cp);
    p += n + 1;
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// The code point of the three-byte sequence at `p`. REQUIRES: p[0] is its lead byte.
char32_t decode3(const unsigned char* p) {
  return ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
}

// Code points NFKC + case folding leave unchanged whatever surrounds them (no decomposition,
// no case, combining class 0, never the second half of a composition): hiragana and katakana
// letters, the prolonged sound mark, 、。「」『』 and the unified ideographs. Checked against
// utf8proc for every one of them (text_test.cpp).
constexpr bool nfkc_stable_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3041 && c <= 0x3096) ||
         (c >= 0x30A1 && c <= 0x30FA) || c == 0x30FC || c == 0x3001 || c == 0x3002 ||
         (c >= 0x300C && c <= 0x300F);
}

}  // namespace

std::string nfkc_casefold(std::string_view s) {
  if (!is_valid_utf8(s)) return {};
  // Most messages are ASCII, kana and kanji only: those need only ASCII lower-casing, and
  // the full normalisation is several times the cost of the scan that proves it.
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  bool fast = true;
  for (std::size_t i = 0; i < s.size() && fast;) {
    if (p[i] < 0x80) {
      ++i;
    } else if ((p[i] & 0xF0) == 0xE0) {  // valid UTF-8: three bytes follow this lead
      const char32_t cp = decode3(p + i);
      fast = nfkc_stable_cjk(cp);
      i += 3;
    } else {
      fast = false;
    }
  }
  if (fast) {
    std::string out(s);
    for (auto& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  return nfkc_casefold_full(s);
}

namespace {
std::string utf8proc_apply(std::string_view s, int options) {
  utf8proc_uint8_t* mapped = nullptr;
  const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                static_cast<utf8proc_ssize_t>(s.size()), &mapped,
                                static_cast<utf8proc_option_t>(options));
  if (len < 0 || mapped == nullptr) return {};
  std::string out(reinterpret_cast<char*>(mapped), static_cast<std::size_t>(len));
  std::free(mapped);
  return out;
}
}  // namespace

std::string nfkc(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);  // ASCII is its own NFKC form
  return utf8proc_apply(s, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE);
}

std::string nfkc_casefold_full(std::string_view s) {
  utf8proc_uint8_t* mapped = nullptr;
  const auto len =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                   static_cast<utf8proc_ssize_t>(s.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                                  UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD));
  if (len < 0 || mapped == nullptr) return {};
  std::string out(reinterpret_cast<char*>(mapped), static_cast<std::size_t>(len));
  std::free(mapped);
  return out;
}

std::string normalize_for_match(std::string_view s) {
  return normalize_folded_for_match(nfkc_casefold(s));
}

std::string normalize_folded_for_match(std::string_view folded) {
  std::string out;
  out.reserve(folded.size());
  bool pending_space = false;
  // Byte by byte: only ASCII and a few three-byte sequences can be punctuation here; every
  // other sequence is copied as it is.
  const auto* p = reinterpret_cast<const unsigned char*>(folded.data());
  const std::size_t n = folded.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    bool punct = false;
    if (len == 1) {
      punct = !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
    } else if (i + len <= n) {
      char32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
      punct = (cp >= 0x3000 && cp <= 0x303F && cp != 0x3005) || cp == 0x30FB || cp == 0x2015 ||
              cp == 0x2014 || cp == 0x2010 || cp == 0x00D7;
    }
    if (punct) {
      pending_space = !out.empty();
    } else {
      if (pending_space) {
        out.push_back(' ');
        pending_space = false;
      }
      out.append(folded.substr(i, len));
    }
    i += len;
  }
  return out;
}

bool looks_japanese(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Kana and CJK ideographs all start with E3..E9 (or F0 for the supplementary planes);
    // decode only those.
    if (p[i] >= 0xE3 && p[i] <= 0xE9 && i + 2 < s.size()) {
      const char32_t cp = decode3(p + i);
      if (is_cjk(cp)) return true;
    }
  }
  return false;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = a.size();
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  std::size_t n = max_bytes;
  // Step back over continuation bytes to the start of the sequence that would be split.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace ma::core
