#pragma once
// The price guard for streamed text: no byte of model text reaches a client before the
// guard has seen it. Text flows through at once until a sentence holds something that may
// be a price (a digit, a kanji numeral, a currency sign or word); from there it is held
// until the sentence ends ("。", "！", "？", ". " but not "vol. ", "!", "?", a newline), then
// the whole sentence (with what flowed before the price, which may name the product) is checked and
// released only if every price in it is right. After a failed check nothing more is released: the
// final reply (corrected by the pipeline's guard) replaces what the client showed. An unfinished
// sentence at the end is never released; the final reply carries it, unless the attempt finishes
// well (finish()).
//
// Thread safety: none (one per model attempt). Cost: each byte is scanned once.

#include <functional>
#include <string>
#include <string_view>

namespace ma::assist {

class StreamGuard final {
 public:
  // `check(sentence)`: true when the sentence's prices are right.
  using Check = std::function<bool(std::string_view)>;
  using Sink = std::function<void(std::string_view)>;

  StreamGuard(Check check, Sink out) : check_(std::move(check)), out_(std::move(out)) {}
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

  void feed(std::string_view text);
  // The stream ended well: the held tail is checked as a last sentence and released if
  // its prices are right.
  void finish();
  // True once a sentence failed its check: the rest of this attempt is withheld.
  bool stopped() const { return stopped_; }

 private:
  void drain();
  bool after_abbreviation(std::size_t dot) const;  // "vol." / "No." / "ch." before pending_[dot]

  Check check_;
  Sink out_;
  std::string pending_;            // not yet released
  std::string sentence_;           // the current sentence's text already out of pending_ (released)
  std::size_t sentence_from_ = 0;  // where the current sentence starts in pending_
  std::size_t scanned_ = 0;        // bytes of pending_ already classified
  std::size_t held_from_ = std::string::npos;  // where a possible price starts, if any
  bool stopped_ = false;
};

}  // namespace ma::assist
