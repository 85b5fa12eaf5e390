#include "assist/stream_guard.hpp"

#include <algorithm>

#include "assist/price_guard.hpp"

namespace ma::assist {

namespace {

// Decodes the `n`-byte sequence at `p`. REQUIRES: a complete sequence (n from seq_len).
char32_t decode(const char* p, std::size_t n) {
  const auto b = [&](std::size_t k) {
    return static_cast<char32_t>(static_cast<unsigned char>(p[k]));
  };
  if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

bool ascii_price_like(std::string_view s, std::size_t i) {
  const char c = s[i];
  if (c >= '0' && c <= '9') return true;
  // "JPY"/"yen" in any case: a currency word may precede the number ("JPY 500").
  auto word = [&](std::string_view w) {
    if (i + w.size() > s.size()) return false;
    for (std::size_t k = 0; k < w.size(); ++k) {
      const char a = static_cast<char>(s[i + k] | 0x20);
      if (a != w[k]) return false;
    }
    return true;
  };
  return (c | 0x20) == 'j' ? word("jpy") : (c | 0x20) == 'y' ? word("yen") : false;
}

// Length of the UTF-8 sequence led by `b` (1 for continuation bytes: never split on them).
std::size_t seq_len(unsigned char b) {
  return b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

}  // namespace

bool StreamGuard::after_abbreviation(std::size_t dot) const {
  // The few bytes before the '.': from pending_, and from the released part of the sentence
  // (sentence_) when pending_ holds fewer.
  std::string tail;
  if (dot < 4) tail = sentence_.substr(sentence_.size() - std::min(sentence_.size(), 4 - dot));
  tail.append(pending_, dot < 4 ? 0 : dot - 4, std::min<std::size_t>(dot, 4));
  return abbreviation_before_dot(tail);
}

void StreamGuard::feed(std::string_view text) {
  if (stopped_) return;
  pending_.append(text);
  drain();
}

void StreamGuard::finish() {
  if (stopped_ || pending_.empty()) return;
  const std::string_view tail(pending_);
  sentence_.append(pending_, sentence_from_);
  if (held_from_ != std::string::npos && !check_(sentence_)) {
    stopped_ = true;
    if (held_from_ > 0) out_(tail.substr(0, held_from_));
  } else {
    out_(tail);
  }
  pending_.clear();
  sentence_.clear();
  scanned_ = 0;
  sentence_from_ = 0;
  held_from_ = std::string::npos;
}

void StreamGuard::drain() {
  std::size_t i = scanned_;
  std::size_t released = 0;  // pending_[0, released) goes out at the end of this call
  while (i < pending_.size()) {
    const auto b = static_cast<unsigned char>(pending_[i]);
    const std::size_t n = seq_len(b);
    if (i + n > pending_.size()) break;  // an incomplete sequence: wait for the rest
    const std::string_view cp(pending_.data() + i, n);
    // A currency word's letters may straddle a chunk boundary ("JP" + "Y"): wait for them.
    if (n == 1 && ((b | 0x20) == 'j' || (b | 0x20) == 'y') && i + 3 > pending_.size()) break;
    // What the price guard itself may read as part of an amount (any digit NFKC knows).
    const bool price_like =
        n == 1 ? ascii_price_like(pending_, i)
               : n > 1 && (b & 0xC0) == 0xC0 && may_be_in_price(decode(pending_.data() + i, n));
    if (price_like && held_from_ == std::string::npos) held_from_ = i;
    bool end = cp == "。" || cp == "！" || cp == "？" || cp == "\n" || cp == "!" || cp == "?";
    if (cp == ".") {
      // "1.5", "v1.2", "vol. 105" and "No. 5" do not end a sentence; a '.' at the end of
      // what arrived may.
      if (i + 1 >= pending_.size()) break;
      const char next = pending_[i + 1];
      end = (next == ' ' || next == '\n') && !after_abbreviation(i);
    }
    i += n;
    if (end) {
      if (held_from_ != std::string::npos) {
        // The whole sentence is checked (what flowed before the price names the product).
        sentence_.append(pending_, sentence_from_, i - sentence_from_);
        const bool right = check_(sentence_);
        if (!right) {
          stopped_ = true;
          // What came before the price may go (nothing was emitted in this call yet).
          if (held_from_ > 0) out_(std::string_view(pending_.data(), held_from_));
          pending_.clear();
          scanned_ = 0;
          return;
        }
        held_from_ = std::string::npos;
      }
      sentence_.clear();
      sentence_from_ = i;
      released = i;
    } else if (held_from_ == std::string::npos) {
      released = i;  // nothing price-like in this sentence so far: it may flow
    }
  }
  scanned_ = i;
  if (released > 0) {
    out_(std::string_view(pending_.data(), released));
    // Keep what was released of the unfinished sentence: its check needs it.
    if (sentence_from_ < released)
      sentence_.append(pending_, sentence_from_, released - sentence_from_);
    pending_.erase(0, released);
    scanned_ -= released;
    sentence_from_ = 0;
    if (held_from_ != std::string::npos) held_from_ -= released;
  }
}

}  // namespace ma::assist
