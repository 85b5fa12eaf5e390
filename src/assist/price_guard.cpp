#include "assist/price_guard.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "assist/understanding.hpp"
#include "core/text.hpp"

namespace ma::assist {

namespace {

constexpr long long kMaxYen = 100'000'000;
// Arithmetic saturates here: far above kMaxYen, far below overflow of a product with 10^12.
constexpr long long kSaturated = 1'000'000'000'000'000LL;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

long long sat_add(long long a, long long b) { return std::min(kSaturated, a + b); }
long long sat_mul(long long a, long long m) {
  return a > kSaturated / m ? kSaturated : std::min(kSaturated, a * m);
}

// ---- Characters (all after normalisation) ----

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_ascii_letter(char32_t c) { return (c | 0x20) >= U'a' && (c | 0x20) <= U'z'; }
// Letters that make a number part of a word ("v2", "mp3"). Kana and kanji do not: Japanese
// writes "は528円".
bool is_word_letter(char32_t c) {
  return is_ascii_letter(c) || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
         (c >= 0x370 && c <= 0x4FF);
}
char32_t ascii_lower(char32_t c) { return c >= U'A' && c <= U'Z' ? c + 0x20 : c; }

bool is_space(char32_t c) {
  return c == U' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Invisible characters a writer (or a model told to evade the guard) can put inside a number.
bool is_ignorable(char32_t c) {
  return c == 0xAD || c == 0x34F || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF);
}

// Ranges where NFKC is the identity (checked against utf8proc; decompositions of assigned
// characters never change): kana, kanji and CJK punctuation cost no lookup.
bool nfkc_is_identity(char32_t c) {
  return (c >= 0x3001 && c <= 0x3035) || (c >= 0x303B && c <= 0x303F) ||
         (c >= 0x3041 && c <= 0x309A) || c == 0x309D || c == 0x309E ||
         (c >= 0x30A0 && c <= 0x30FE) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x2012 && c <= 0x2016) ||
         (c >= 0x2018 && c <= 0x2023) || (c >= 0x1F300 && c <= 0x1FAFF);
}

enum class NumeralKind { kNone, kDigit, kSmallUnit, kBigUnit };
struct Numeral {
  NumeralKind kind = NumeralKind::kNone;
  long long value = 0;  // the digit, or the unit's multiplier
};

Numeral kanji_numeral(char32_t c) {
  using K = NumeralKind;
  switch (c) {
    case U'〇':
    case U'零':
      return {K::kDigit, 0};
    case U'一':
    case U'壱':
    case U'壹':
      return {K::kDigit, 1};
    case U'二':
    case U'弐':
    case U'貳':
      return {K::kDigit, 2};
    case U'三':
    case U'参':
    case U'參':
      return {K::kDigit, 3};
    case U'四':
      return {K::kDigit, 4};
    case U'五':
      return {K::kDigit, 5};
    case U'六':
      return {K::kDigit, 6};
    case U'七':
      return {K::kDigit, 7};
    case U'八':
      return {K::kDigit, 8};
    case U'九':
      return {K::kDigit, 9};
    case U'十':
    case U'拾':
      return {K::kSmallUnit, 10};
    case U'百':
      return {K::kSmallUnit, 100};
    case U'千':
      return {K::kSmallUnit, 1000};
    case U'万':
    case U'萬':
      return {K::kBigUnit, 10'000};
    case U'億':
      return {K::kBigUnit, 100'000'000};
    case U'兆':
      return {K::kBigUnit, 1'000'000'000'000LL};
    default:
      return {};
  }
}

// A number may start here. Not at 万/億/兆: "数万円" is no amount, and "万" alone no number.
bool starts_number(char32_t c) {
  if (is_digit(c)) return true;
  const NumeralKind k = kanji_numeral(c).kind;
  return k == NumeralKind::kDigit || k == NumeralKind::kSmallUnit;
}

// "数百円", "何千円", "幾万": a rough size, not a stated price.
bool is_vague_prefix(char32_t c) { return c == U'数' || c == U'何' || c == U'幾'; }

// ---- Views of the text: code points, each knowing its bytes in the original ----

// Text that is all ASCII is its own NFKC form: one byte, one code point.
struct AsciiView {
  std::string_view s;
  std::size_t size() const { return s.size(); }
  char32_t cp(std::size_t i) const { return static_cast<unsigned char>(s[i]); }
  std::size_t begin(std::size_t i) const { return i; }
  std::size_t end(std::size_t i) const { return i + 1; }
};

struct Unit {
  char32_t cp;
  std::uint32_t begin, end;  // bytes of the original code point it came from
};
// Units keep 32-bit offsets (12 bytes a code point, not 24); longer text is read up to here.
constexpr std::size_t kMaxNormalised = 0xFFFF'FFFFu;

// A growable array of units without std::vector's per-element checks and zeroing: the text of
// every reply passes through it.
class Units {
 public:
  explicit Units(std::size_t reserve)
      : data_(std::make_unique_for_overwrite<Unit[]>(reserve)), cap_(reserve) {}
  void push(char32_t cp, std::size_t b, std::size_t e) {
    if (size_ == cap_) grow();
    data_[size_++] = {cp, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)};
  }
  std::size_t size() const { return size_; }
  const Unit& operator[](std::size_t i) const { return data_[i]; }

 private:
  void grow() {
    cap_ = std::max<std::size_t>(16, 2 * cap_);
    auto bigger = std::make_unique_for_overwrite<Unit[]>(cap_);
    std::copy(data_.get(), data_.get() + size_, bigger.get());
    data_ = std::move(bigger);
  }
  std::unique_ptr<Unit[]> data_;
  std::size_t size_ = 0, cap_ = 0;
};

struct NormalView {
  const Units& u;
  std::size_t size() const { return u.size(); }
  char32_t cp(std::size_t i) const { return u[i].cp; }
  std::size_t begin(std::size_t i) const { return u[i].begin; }
  std::size_t end(std::size_t i) const { return u[i].end; }
};

// Strict UTF-8 decoding of one code point at `i`; an invalid sequence is U+FFFD of one byte.
char32_t decode_one(const unsigned char* p, std::size_t n, std::size_t i, std::size_t& len) {
  const unsigned char c = p[i];
  len = 1;
  if (c < 0x80) return c;
  std::size_t need;
  char32_t cp;
  char32_t min;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return 0xFFFD;
  }
  if (n - i <= need) return 0xFFFD;
  for (std::size_t k = 1; k <= need; ++k) {
    if ((p[i + k] & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (p[i + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  len = need + 1;
  return cp;
}

void push_normal(Units& out, char32_t cp, std::size_t b, std::size_t e) {
  if (!is_ignorable(cp)) out.push(is_space(cp) ? U' ' : cp, b, e);
}

// NFKC one code point at a time, white space folded to ' ', ignorables dropped.
void normalise(std::string_view text, Units& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = std::min(text.size(), kMaxNormalised);
  std::string one, mapped;
  for (std::size_t i = 0; i < n;) {
    if (p[i] < 0x80) {  // most of any reply, Japanese ones included
      const char32_t c = p[i];
      out.push(c <= U' ' && is_space(c) ? U' ' : c, i, i + 1);
      ++i;
      continue;
    }
    std::size_t len;
    const char32_t cp = decode_one(p, n, i, len);
    const std::size_t b = i;
    const std::size_t e = i + len;
    i = e;
    if (cp == 0xFFFD || nfkc_is_identity(cp)) {  // neither a space nor ignorable
      out.push(cp, b, e);
    } else if (cp >= 0xFF01 && cp <= 0xFF5E) {  // full-width ASCII
      push_normal(out, cp - 0xFEE0, b, e);
    } else if (cp == 0xFFE5) {  // full-width yen sign
      push_normal(out, 0xA5, b, e);
    } else if (is_space(cp) || is_ignorable(cp)) {
      push_normal(out, cp, b, e);
    } else {
      one.clear();
      core::utf8_append(one, cp);
      mapped = core::nfkc(one);
      if (mapped.empty() || !core::is_valid_utf8(mapped)) {
        push_normal(out, cp, b, e);
        continue;
      }
      const auto* q = reinterpret_cast<const unsigned char*>(mapped.data());
      for (std::size_t k = 0; k < mapped.size();) {
        std::size_t l;
        push_normal(out, decode_one(q, mapped.size(), k, l), b, e);
        k += l;
      }
    }
  }
}

// ---- The reader ----

template <class V>
std::size_t skip_spaces(const V& v, std::size_t i) {
  while (i < v.size() && is_space(v.cp(i))) ++i;
  return i;
}

// Case-insensitive ASCII word at `i` (lower-case `w`), not followed by a letter.
template <class V>
bool word_at(const V& v, std::size_t i, std::string_view w) {
  if (v.size() - i < w.size()) return false;
  for (std::size_t k = 0; k < w.size(); ++k) {
    if (ascii_lower(v.cp(i + k)) != static_cast<char32_t>(w[k])) return false;
  }
  return i + w.size() == v.size() || !is_word_letter(v.cp(i + w.size()));
}

// End of a currency marker written after a number at `i`, or kNone.
template <class V>
std::size_t suffix_at(const V& v, std::size_t i) {
  if (i >= v.size()) return kNone;
  const char32_t c = v.cp(i);
  if (c == U'円' || c == U'圓') return i + 1;
  if (word_at(v, i, "yen") || word_at(v, i, "jpy")) return i + 3;
  if (word_at(v, i, "yens")) return i + 4;
  return kNone;
}

// End of a currency marker written before a number at `i`, or kNone.
template <class V>
std::size_t prefix_at(const V& v, std::size_t i) {
  const char32_t c = v.cp(i);
  if (c == U'¥') return i + 1;
  if (!is_ascii_letter(c) || (i > 0 && is_word_letter(v.cp(i - 1)))) return kNone;
  if (word_at(v, i, "jpy") || word_at(v, i, "yen")) return i + 3;
  return kNone;
}

// floor(num / den * m) for the decimal part num/den (den and m powers of ten).
long long fraction_of(long long num, long long den, long long m) {
  return m >= den ? sat_mul(num, m / den) : num / (den / m);
}

struct Number {
  long long value = 0;  // saturated at kSaturated
  std::size_t end = 0;  // one past its last code point; == start when there is none
};

// Reads the number at `i`: digits, kanji numerals or a mix. Stops before the first code point
// that cannot continue it, so each code point is read once.
template <class V>
Number read_number(const V& v, const std::size_t i) {
  enum class Last { kNothing, kDigits, kKanjiDigit, kUnit };
  const std::size_t n = v.size();
  long long total = 0;               // the completed 万 / 億 / 兆 groups
  long long section = 0;             // 十 / 百 / 千 multiples within the current group
  long long cur = 0;                 // the pending digits
  long long frac = 0, frac_den = 1;  // the pending decimal part of `cur`
  long long last_small = kSaturated, last_big = kSaturated;
  Last last = Last::kNothing;
  std::size_t j = i;
  while (j < n) {
    const char32_t c = v.cp(j);
    if (is_digit(c)) {
      if (last == Last::kKanjiDigit) break;  // "五5" is no number
      long long x = 0;
      while (j < n && is_digit(v.cp(j))) x = std::min(kSaturated, x * 10 + (v.cp(j++) - U'0'));
      // Thousands separators: "," and exactly three digits.
      while (j + 3 < n && v.cp(j) == U',' && is_digit(v.cp(j + 1)) && is_digit(v.cp(j + 2)) &&
             is_digit(v.cp(j + 3)) && (j + 4 == n || !is_digit(v.cp(j + 4)))) {
        x = std::min(kSaturated, x * 1000 + (v.cp(j + 1) - U'0') * 100 + (v.cp(j + 2) - U'0') * 10 +
                                     (v.cp(j + 3) - U'0'));
        j += 4;
      }
      frac = 0, frac_den = 1;
      if (j + 1 < n && v.cp(j) == U'.' && is_digit(v.cp(j + 1))) {
        for (++j; j < n && is_digit(v.cp(j)); ++j) {
          if (frac_den < 1'000'000'000'000LL) frac = frac * 10 + (v.cp(j) - U'0'), frac_den *= 10;
        }
      }
      cur = x;
      last = Last::kDigits;
      continue;
    }
    const Numeral k = kanji_numeral(c);
    if (k.kind == NumeralKind::kDigit) {
      if (last == Last::kDigits) break;
      // Consecutive kanji digits are positional ("二〇二四").
      cur = last == Last::kKanjiDigit ? std::min(kSaturated, cur * 10 + k.value) : k.value;
      frac = 0, frac_den = 1;
      last = Last::kKanjiDigit;
    } else if (k.kind == NumeralKind::kSmallUnit) {
      if (k.value >= last_small) break;  // "十百" is no number
      const long long times = last == Last::kDigits || last == Last::kKanjiDigit ? cur : 1;
      section =
          sat_add(section, sat_add(sat_mul(times, k.value), fraction_of(frac, frac_den, k.value)));
      last_small = k.value;
      cur = 0, frac = 0, frac_den = 1;
      last = Last::kUnit;
    } else if (k.kind == NumeralKind::kBigUnit) {
      if (k.value >= last_big || last == Last::kNothing) break;
      const long long group = sat_add(section, last == Last::kUnit ? 0 : cur);
      total =
          sat_add(total, sat_add(sat_mul(group, k.value), fraction_of(frac, frac_den, k.value)));
      last_big = k.value;
      last_small = kSaturated;
      section = 0, cur = 0, frac = 0, frac_den = 1;
      last = Last::kUnit;
    } else {
      break;
    }
    ++j;
  }
  Number out;
  out.end = j;
  out.value = sat_add(total, sat_add(section, last == Last::kUnit ? 0 : cur));
  return out;
}

template <class V>
void scan(const V& v, std::vector<YenMention>& out) {
  const std::size_t n = v.size();
  auto emit = [&](long long yen, std::size_t first, std::size_t last_exclusive) {
    if (yen <= kMaxYen) {
      out.push_back({static_cast<int>(yen), v.begin(first), v.end(last_exclusive - 1)});
    }
  };
  // Every branch moves `i` forward past what it read, and look-aheads only cross white space
  // that the next step reads again at most once: linear.
  for (std::size_t i = 0; i < n;) {
    const char32_t c = v.cp(i);
    // Most code points start nothing: all but digits, j/y (JPY, yen), ¥ and kanji numerals.
    if (c < 0x80 ? !is_digit(c) && (c | 0x20) != U'j' && (c | 0x20) != U'y'
                 : c != U'¥' && c != U'〇' && (c < 0x4E00 || c > 0x9FFF)) {
      ++i;
      continue;
    }
    if (const std::size_t after = prefix_at(v, i); after != kNone) {
      const std::size_t k = skip_spaces(v, after);
      if (k < n && starts_number(v.cp(k))) {
        const Number num = read_number(v, k);
        if (num.end > k) {
          std::size_t end = num.end;
          if (const std::size_t s = suffix_at(v, skip_spaces(v, end)); s != kNone) end = s;
          emit(num.value, i, end);
          i = end;
          continue;
        }
      }
      i = after;
      continue;
    }
    if (starts_number(c)) {
      const Number num = read_number(v, i);
      if (num.end == i) {
        ++i;
        continue;
      }
      const bool glued =
          i > 0 && (is_word_letter(v.cp(i - 1)) || (!is_digit(c) && is_vague_prefix(v.cp(i - 1))));
      const std::size_t s = glued ? kNone : suffix_at(v, skip_spaces(v, num.end));
      if (s != kNone) {
        emit(num.value, i, s);
        i = s;
      } else {
        i = num.end;
      }
      continue;
    }
    ++i;
  }
}

// True when `s` is all ASCII; sets `digit` when it has an ASCII digit. Eight bytes a step:
// this runs on every reply, and most have no price at all.
bool is_ascii(std::string_view s, bool& digit) {
  constexpr std::uint64_t k01 = 0x0101'0101'0101'0101ULL;
  constexpr std::uint64_t k7f = 0x7f7f'7f7f'7f7f'7f7fULL;
  constexpr std::uint64_t k80 = 0x8080'8080'8080'8080ULL;
  std::uint64_t high = 0, digits = 0;
  std::size_t i = 0;
  for (; s.size() - i >= 8; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    high |= w;
    // Per byte b < 0x80 (no carry between bytes): b + 0x50 has its top bit set when b >= '0',
    // b + 0x46 when b > '9'.
    const std::uint64_t low = w & k7f;
    digits |= (low + k01 * 0x50) & ~(low + k01 * 0x46) & ~w & k80;
  }
  for (; i < s.size(); ++i) {
    high |= static_cast<unsigned char>(s[i]);
    digits |= is_digit(static_cast<unsigned char>(s[i]));
  }
  digit = digits != 0;
  return (high & k80) == 0;
}

}  // namespace

std::vector<YenMention> find_yen(std::string_view text) {
  std::vector<YenMention> out;
  bool digit = false;
  if (is_ascii(text, digit)) {
    // Every amount in ASCII text has a digit; most replies in English have none.
    if (digit) scan(AsciiView{text}, out);
    return out;
  }
  Units units(std::min(text.size(), kMaxNormalised));
  normalise(text, units);
  scan(NormalView{units}, out);
  return out;
}

std::vector<int> extract_yen(std::string_view text) {
  std::vector<int> out;
  for (const YenMention& m : find_yen(text)) out.push_back(m.yen);
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

namespace {

// True when text[i] ends a sentence of `ends` ("." only before a space, and not in
// "vol. 3" or "No. 5").
bool ends_sentence(std::string_view text, std::size_t i, std::size_t& len) {
  static constexpr std::string_view kEnds[] = {"。", "！", "？", "\n", "!", "?"};
  // Every terminator starts with one of these bytes: the others (most of any text) are
  // settled without comparing strings.
  const char c = text[i];
  if (c != '.' && c != '\n' && c != '!' && c != '?' && c != '\xE3' && c != '\xEF') return false;
  for (std::string_view e : kEnds) {
    if (text.substr(i, e.size()) == e) {
      len = e.size();
      return true;
    }
  }
  if (c != '.' || i + 1 >= text.size() || text[i + 1] != ' ') return false;
  if (abbreviation_before_dot(text.substr(0, i))) return false;
  len = 1;
  return true;
}

}  // namespace

bool abbreviation_before_dot(std::string_view before) {
  // The run of ASCII letters before the '.', at most 4 (a longer run is another word).
  std::string word;
  for (std::size_t k = before.size(); k-- > 0 && word.size() < 4;) {
    const char c = static_cast<char>(before[k] | 0x20);
    if (c < 'a' || c > 'z') break;
    word.insert(word.begin(), c);
  }
  return word == "vol" || word == "no" || word == "ch";
}

bool may_be_in_price(char32_t c) {
  if (c < 0x80) return is_digit(c);
  if (kanji_numeral(c).kind != NumeralKind::kNone) return true;
  if (c == U'円' || c == U'圓' || c == U'¥' || c == U'￥') return true;
  // Kana and kanji are their own NFKC form: no lookup for the bulk of Japanese text.
  if (core::is_cjk(c)) return false;
  std::string one;
  core::utf8_append(one, c);
  for (char b : core::nfkc(one)) {
    if (b >= '0' && b <= '9') return true;
  }
  return false;
}

namespace {

// Where each sentence of `text` ends (one past its terminator), in order; one pass.
std::vector<std::size_t> sentence_ends(std::string_view text) {
  std::vector<std::size_t> ends;
  std::size_t len = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (ends_sentence(text, i, len)) ends.push_back(i + len);
  }
  ends.push_back(text.size());
  return ends;
}

bool price_is_right(int yen, const catalog::Quote& q) {
  return yen == q.price || yen == q.list_price;
}

}  // namespace

std::vector<StatedPrice> read_reply_prices(std::string_view text, const catalog::Catalog& catalog,
                                           UnderstandingMemo* understanding) {
  std::vector<StatedPrice> out;
  const std::vector<YenMention> mentions = find_yen(text);
  if (mentions.empty()) return out;
  const std::vector<std::size_t> ends = sentence_ends(text);
  std::size_t understood_from = std::string_view::npos;
  std::shared_ptr<const Understanding> u;
  for (const YenMention& m : mentions) {
    // The sentence holding the mention: from the end of the one before its start, to the
    // first end at or after its end (a mention may straddle a terminator; rare, harmless).
    auto first_end = std::lower_bound(ends.begin(), ends.end(), m.end);
    auto prev_end = std::upper_bound(ends.begin(), ends.end(), m.begin);
    const std::size_t from = prev_end == ends.begin() ? 0 : *(prev_end - 1);
    const std::size_t to = first_end == ends.end() ? text.size() : *first_end;
    if (!u || from != understood_from) {
      const std::string_view sentence = text.substr(from, to - from);
      u = understanding != nullptr
              ? understanding->get(sentence, catalog)
              : std::make_shared<const Understanding>(understand(sentence, catalog));
      understood_from = from;
    }
    out.push_back({m.yen, u->series, u->volume});
  }
  return out;
}

std::shared_ptr<const std::vector<StatedPrice>> PriceReadingMemo::get(
    std::string_view text, const catalog::Catalog& catalog) {
  // Read outside the lock; a text too long to be a repeated answer is not kept.
  auto fresh = [&](bool keep) {
    auto e = std::make_shared<Entry>();
    if (keep) e->text = std::string(text);
    e->prices = read_reply_prices(text, catalog, understanding_);
    return e;
  };
  if (max_ == 0 || text.size() > 4096) {
    auto e = fresh(false);
    return {e, &e->prices};
  }
  // Eight bytes a step (fnv1a is one, with a multiply's latency each: answers run to
  // hundreds of bytes).
  const std::uint64_t h = std::hash<std::string_view>{}(text);
  {
    std::lock_guard lock(mu_);
    if (const auto* e = map_.find(h); e != nullptr && (*e)->text == text) {
      return {*e, &(*e)->prices};
    }
  }
  std::shared_ptr<const Entry> e = fresh(true);
  std::lock_guard lock(mu_);
  if (map_.size() >= max_) map_.clear();
  map_.find_or_insert(h, [&] { return e; }) = e;
  return {e, &e->prices};
}

PriceCheck check_reply_prices(std::string_view text, std::string_view context_product_id,
                              const catalog::Catalog& catalog, core::WallTime now,
                              PriceReadingMemo* readings, std::vector<QuotedPrice>* quoted) {
  PriceCheck c;
  std::shared_ptr<const std::vector<StatedPrice>> held;
  std::vector<StatedPrice> own;
  if (readings != nullptr) {
    held = readings->get(text, catalog);
  } else {
    own = read_reply_prices(text, catalog);
  }
  const std::vector<StatedPrice>& stated = held ? *held : own;
  if (stated.empty()) return c;
  const auto context = context_product_id.empty() ? std::optional<catalog::Product>()
                                                  : catalog.product(context_product_id);
  const catalog::Series* context_series = context ? catalog.series(context->series_id) : nullptr;
  for (const StatedPrice& m : stated) {
    // The prices this amount may rightly be: the named volume's (of the named series, or of
    // the context's series); any volume's of a series named without a volume; else the
    // context product's.
    bool checked = false;
    bool right = false;
    // For `quoted`: the product this amount is logged against, and its quote. A right volume
    // wins, then the context product, then the last volume considered (the latest).
    enum class Pick { kNone, kAny, kContext, kRight };
    Pick pick = Pick::kNone;
    std::string pick_id;
    catalog::Quote pick_quote{};
    auto consider = [&](const std::optional<catalog::Product>& p) {
      if (!p) return;
      checked = true;
      const catalog::Quote q = catalog.quote(*p, now);
      const bool ok = price_is_right(m.yen, q);
      right = right || ok;
      if (quoted == nullptr) return;
      const Pick this_pick = ok                                ? Pick::kRight
                             : context && p->id == context->id ? Pick::kContext
                                                               : Pick::kAny;
      if (this_pick >= pick) {
        pick = this_pick;
        pick_id = p->id;  // short: within the small-string buffer
        pick_quote = q;
      }
    };
    const catalog::Series* series = m.series != nullptr ? m.series : context_series;
    if (series != nullptr && m.volume) {
      consider(catalog.volume(*series, *m.volume));
    } else if (m.series != nullptr) {
      for (int v = 1; v <= m.series->volumes && !right; ++v) consider(catalog.volume(*m.series, v));
    } else {
      consider(context);
    }
    c.checked |= checked;
    if (checked && !right) {
      c.mismatch = true;
      c.wrong.push_back(m.yen);
    }
    if (quoted != nullptr && pick != Pick::kNone) {
      QuotedPrice e{std::move(pick_id), m.yen, pick_quote.price, pick_quote.list_price};
      if (std::find(quoted->begin(), quoted->end(), e) == quoted->end()) {
        quoted->push_back(std::move(e));
      }
    }
  }
  return c;
}

}  // namespace ma::assist
