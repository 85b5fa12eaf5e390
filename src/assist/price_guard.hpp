#pragma once
// The price guard (seed incident 3): no answer, from any tier, states a price for a product
// that differs from the catalog's current price. Amounts are read from the text ("¥1,234",
// "1,234円", "JPY 528", "528 yen", "５００円", "五百二十八円", "1万2千円"); an amount is right when
// it equals the price paid now or the list price (a reply may mention "usually ¥528" next to a
// sale price).
//
// What counts as a stated amount (read after NFKC, so full-width digits, letters, "，" and "￥"
// count as their ASCII forms and U+00A0 / U+3000 / U+2009 ... as spaces):
//  - a number followed by a currency marker: "円" (or "圓"), "yen"/"yens" or "JPY" in any case,
//    glued or after any run of Unicode white space ("500円", "500 円", "500JPY", "500 Yen");
//  - a number after a prefix marker: "¥" (or "￥") or the words "JPY" / "yen" in any case, glued
//    or after white space ("¥500", "¥ 500", "JPY 500"); a suffix marker may follow as well
//    ("¥500円" is one amount);
//  - numbers are ASCII digits with optional thousands separators ("1,234": groups of exactly
//    three digits) and an optional decimal part; kanji numerals 〇零一二三四五六七八九 and
//    壱弐参 (壹貳參), positional 十(拾) 百 千 and the units 万(萬) 億 兆 ("五百二十八" = 528,
//    "千五百" = 1500, "二〇二四" = 2024); mixed forms ("1万2千" = 12000, "1万2,000" = 12000,
//    "1.5万" = 15000);
//  - not amounts: numbers without a marker ("105巻は528円" gives 528 only; "三人", "一巻"); numbers
//    glued on the left to a Latin, Greek or Cyrillic letter ("v2 yen", "mp3円"); kanji numerals
//    right after 数 / 何 / 幾 ("数百円" is no stated price); values over 100,000,000 yen.
// Default-ignorable characters (U+200B..U+200F, U+2060..U+2064, U+FEFF, U+00AD, variation
// selectors, bidi controls) are skipped, so "5\u200B00円" reads as 500.
//
// Thread safety: every function here is pure; safe from any thread.
// NOTE: NFKC is applied one code point at a time (with a table of ranges known to be NFKC
// stable, so kana and kanji cost no lookup). That differs from whole-text NFKC only in
// composition across code points (half-width "ｶﾞ" stays two), which never forms a digit, a
// currency sign or a currency word; in exchange every normalised character knows the bytes of
// the original text it came from. Invalid UTF-8 is read byte by byte: a byte that does not
// start a valid sequence (overlongs and surrogates included) is one U+FFFD, and the valid rest
// of the text is still read. Time and memory are linear in the input (about 12 bytes a code
// point for text that is not all ASCII; none for ASCII text); text that is not all ASCII is read
// up to its first 4 GiB.
// NOTE: a decimal part without a following 万/億/千... is dropped ("¥1,234.56" is 1234): yen
// have no subunit, and a reported amount is checked rather than trusted.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.hpp"
#include "core/flat_table.hpp"
#include "core/spin_lock.hpp"
#include "core/time.hpp"

namespace ma::assist {

class UnderstandingMemo;  // assist/understanding.hpp

// One stated amount. [begin, end) are byte offsets into the ORIGINAL text given to find_yen
// (not into its normalised form); the range covers the prefix marker if any, the number, any
// white space, and the suffix marker if any ("¥ 500" and "500 円" whole). Both ends lie on code
// point boundaries of the original (an invalid byte counts as a code point of its own); when
// one original character normalises to several ("⑩" -> "10"), the range covers all of it.
struct YenMention {
  int yen = 0;
  std::size_t begin = 0;
  std::size_t end = 0;

  friend bool operator==(const YenMention&, const YenMention&) = default;
};

// Every yen amount stated in the text, in order, with where it is. Any input is accepted
// (invalid UTF-8 included); amounts over 100,000,000 are left out.
std::vector<YenMention> find_yen(std::string_view text);

// Every yen amount stated in the text, in order (the amounts of find_yen).
std::vector<int> extract_yen(std::string_view text);

struct PriceCheck {
  bool checked = false;   // the text stated at least one price
  bool mismatch = false;  // some stated price is not the product's current one
  std::vector<int> wrong;
};

// A price a reply states, with the product it was checked against and that product's quote at
// the check: what the request log records of a reply (its "prices"), so that the customers
// quoted a wrong price can be found afterwards (`mangaassist report stale-prices`).
struct QuotedPrice {
  std::string product_id;
  int quoted_yen = 0;   // the amount the text states
  int catalog_yen = 0;  // the price paid at the check (the sale price during a sale)
  int list_yen = 0;     // the list price at the check (== catalog_yen outside a sale)

  friend bool operator==(const QuotedPrice&, const QuotedPrice&) = default;
};

// Checks the amounts in `text` against the current quote of the product (read live from the
// catalog; only the id of `product` is used). Unchecked when the catalog no longer has it.
PriceCheck check_prices(std::string_view text, std::string_view product_id,
                        const catalog::Catalog& catalog, core::WallTime now);
inline PriceCheck check_prices(std::string_view text, const catalog::Product& product,
                               const catalog::Catalog& catalog, core::WallTime now) {
  return check_prices(text, product.id, catalog, now);
}

// The guard's check of a reply: every price is checked against the product stated next to
// it. Each sentence holding a price is read for a series and a volume ("ONE PIECE 105巻",
// "Frieren vol. 3"): a named volume is checked against its own live quote; a series named
// without a volume, against the quotes of all its volumes; a sentence that names no product
// (or only a volume), against `context_product_id` (the product the question was about;
// empty: none, and such a price is left unchecked). Cost: one understanding pass per
// sentence with a price; nothing for a text without one. `readings` (optional) remembers
// what a text states (read_reply_prices): the pipeline's answers repeat the same few texts,
// so only the quotes are read each time; the result is the same with or without it.
// `quoted` (optional) receives each checked amount with the product it was checked against and
// that product's quote (no lookup beyond the check's own): the product of a named volume or
// the context; for a series named without a volume, the volume whose price it is, else the
// context product when it is of that series, else the series' latest volume. Amounts left
// unchecked (no product to check against) are not given; an entry equal to one already given
// is given once.
class PriceReadingMemo;
PriceCheck check_reply_prices(std::string_view text, std::string_view context_product_id,
                              const catalog::Catalog& catalog, core::WallTime now,
                              PriceReadingMemo* readings = nullptr,
                              std::vector<QuotedPrice>* quoted = nullptr);

// What check_reply_prices reads in a text before it looks at any quote: each amount, in
// order, with the series and volume its sentence names (none: nullptr, nullopt). A pure
// function of the text and the catalog's titles. `understanding` (optional) remembers the
// sentences' understanding passes.
struct StatedPrice {
  int yen = 0;
  const catalog::Series* series = nullptr;
  std::optional<int> volume;
};
std::vector<StatedPrice> read_reply_prices(std::string_view text, const catalog::Catalog& catalog,
                                           UnderstandingMemo* understanding = nullptr);

// read_reply_prices remembered per exact text (model answers and cached answers repeat word for
// word; finding the amounts and understanding their sentences was most of the guard's cost).
// Like UnderstandingMemo, never stale: titles do not change at runtime and no price is kept.
// Bounded (a full memo starts over); thread-safe.
class PriceReadingMemo final {
 public:
  explicit PriceReadingMemo(UnderstandingMemo* understanding = nullptr,
                            std::size_t max_entries = 8192)
      : understanding_(understanding), max_(max_entries) {}
  // Shared, not copied: valid however the memo changes afterwards.
  std::shared_ptr<const std::vector<StatedPrice>> get(std::string_view text,
                                                      const catalog::Catalog& catalog);

 private:
  struct Entry {
    std::string text;
    std::vector<StatedPrice> prices;
  };
  UnderstandingMemo* understanding_;
  std::size_t max_;
  core::SpinLock mu_;
  core::FlatTable<std::shared_ptr<const Entry>> map_;  // by a 64-bit hash of the text
};

// The pieces of find_yen's reading that the stream guard shares, so both agree on what may be
// a price and where a sentence ends:
// - True when code point `c` may be part of a stated amount: a digit in any script NFKC reads
//   as one ("５", "⑤", "𝟓"), a kanji numeral, or a currency sign (¥ ￥ 円 圓). The ASCII
//   words "yen"/"JPY" are the caller's to spot.
bool may_be_in_price(char32_t c);
// - True when the text before a '.' ends with an abbreviation that does not end a sentence
//   ("vol. 105", "No. 5", "ch. 3"; any case).
bool abbreviation_before_dot(std::string_view before);

// Checks recorded (product id, yen) statements, as cache entries keep them.
PriceCheck check_stated(const std::vector<std::pair<std::string, int>>& stated,
                        const catalog::Catalog& catalog, core::WallTime now);

}  // namespace ma::assist
