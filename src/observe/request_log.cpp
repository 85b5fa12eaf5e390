#include "observe/request_log.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "core/wall_time.hpp"

namespace ma::observe {

namespace {

// The length of the valid UTF-8 sequence at s[i] (strict: no overlongs, no surrogates,
// <= U+10FFFF), or 0 when the byte there does not start one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n;
  char32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

// `s` with every byte that does not begin a valid sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_upper_or_digit(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_' || c == '-'; }
bool is_email_local(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '%';
}
bool is_email_domain(char c) { return is_alnum(c) || c == '.' || c == '-' || c == '_'; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

using Span = std::pair<std::size_t, std::size_t>;  // [first, last)

// "bearer" (any case, not inside a word), then spaces, tabs, ':' or '=': the token after it.
void find_bearer_tokens(std::string_view t, std::vector<Span>& spans) {
  const std::size_t n = t.size();
  for (std::size_t i = 0; i + 6 < n; ++i) {
    if ((t[i] | 0x20) != 'b' || (i > 0 && is_alnum(t[i - 1]))) continue;
    bool match = true;
    for (std::size_t k = 0; k < 6 && match; ++k) match = (t[i + k] | 0x20) == "bearer"[k];
    if (!match) continue;
    std::size_t j = i + 6;
    while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == ':' || t[j] == '=')) ++j;
    if (j == i + 6) continue;  // "bearers", "bearerx": a word, not a header
    std::size_t k = j;
    while (k < n && !is_blank(t[k]) && t[k] != '"' && t[k] != '\'' && t[k] != ',') ++k;
    if (k > j) spans.emplace_back(j, k);
    i = std::max(i, k == 0 ? 0 : k - 1);
  }
}

// local@domain.tld. The local part reaches back at most to the previous '@' and the domain
// stops at the next, so each byte is looked at a bounded number of times.
void find_emails(std::string_view t, std::vector<Span>& spans) {
  const std::size_t n = t.size();
  std::size_t floor = 0;
  for (std::size_t a = 0; a < n; ++a) {
    if (t[a] != '@') continue;
    std::size_t l = a;
    while (l > floor && is_email_local(t[l - 1])) --l;
    std::size_t r = a + 1;
    while (r < n && is_email_domain(t[r])) ++r;
    while (r > a + 1 && (t[r - 1] == '.' || t[r - 1] == '-')) --r;  // "mail a@b.jp."
    const std::string_view domain = t.substr(a + 1, r - a - 1);
    const auto dot = domain.find('.');
    if (l < a && dot != std::string_view::npos && dot > 0) spans.emplace_back(l, r);
    floor = a + 1;
  }
}

// The byte length of a phone-number separator at t[i], 0 when there is none: space . ( ) + -
// and the dashes NFKC leaves alone (U+2010..U+2015, U+2212 minus, U+30FC the long vowel
// mark that Japanese text uses as a dash).
std::size_t phone_separator(std::string_view t, std::size_t i) {
  const char c = t[i];
  if (c == ' ' || c == '.' || c == '(' || c == ')' || c == '+' || c == '-') return 1;
  if (i + 3 > t.size()) return 0;
  const auto b0 = static_cast<unsigned char>(t[i]), b1 = static_cast<unsigned char>(t[i + 1]),
             b2 = static_cast<unsigned char>(t[i + 2]);
  if (b0 == 0xE2 && b1 == 0x80 && b2 >= 0x90 && b2 <= 0x95) return 3;  // U+2010..U+2015
  if (b0 == 0xE2 && b1 == 0x88 && b2 == 0x92) return 3;                // U+2212
  if (b0 == 0xE3 && b1 == 0x83 && b2 == 0xBC) return 3;                // U+30FC
  return 0;
}

// 10+ digits in one run of digits and separators; the span runs from the first digit (or a
// leading '+' or '(') to the last digit.
void find_phone_numbers(std::string_view t, std::vector<Span>& spans) {
  constexpr std::size_t kNone = std::string_view::npos;
  std::size_t first = kNone, last = 0, digits = 0;
  auto close = [&] {
    if (first != kNone && digits >= 10) spans.emplace_back(first, last);
    first = kNone;
    digits = 0;
  };
  for (std::size_t i = 0; i < t.size();) {
    if (is_digit(t[i])) {
      if (first == kNone) first = i;
      ++digits;
      last = ++i;
    } else if (const std::size_t sep = phone_separator(t, i); sep > 0) {
      if (first == kNone && (t[i] == '+' || t[i] == '(')) first = i;
      i += sep;
    } else {
      close();
      ++i;
    }
  }
  close();
}

// Runs of [A-Za-z0-9_-]: "sk-" / "sk_" keys, AWS key ids (AKIA/ASIA + 16 of [0-9A-Z]) and any
// run of 32+ characters with a letter or digit in it.
void find_secrets(std::string_view t, std::vector<Span>& spans) {
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n;) {
    if (!is_word(t[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    bool alnum = false;
    while (j < n && is_word(t[j])) alnum |= is_alnum(t[j++]);
    const std::string_view run = t.substr(i, j - i);
    bool secret = alnum && run.size() >= 32;
    secret |= run.size() >= 23 && (run.starts_with("sk-") || run.starts_with("sk_"));
    for (std::size_t p = 0; !secret && p + 20 <= run.size(); ++p) {
      const std::string_view head = run.substr(p, 4);
      if (head != "AKIA" && head != "ASIA") continue;
      secret = std::all_of(run.begin() + static_cast<std::ptrdiff_t>(p + 4),
                           run.begin() + static_cast<std::ptrdiff_t>(p + 20), is_upper_or_digit);
    }
    if (secret) spans.emplace_back(i, j);
    i = j;
  }
}

// A cheap, conservative first look (one pass, no allocation) at text that is already in the
// form matched: false whenever a detector above could find something (an '@', "bearer" in
// any case, 10 digits with nothing but separators or non-ASCII between them, a run of 20+
// word characters). Most questions have none of these.
bool maybe_redactable(std::string_view t) {
  std::size_t digits = 0, word = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '@') return true;
    if ((c | 0x20) == 'b' && i + 6 <= t.size() && (t[i + 1] | 0x20) == 'e' &&
        (t[i + 2] | 0x20) == 'a' && (t[i + 3] | 0x20) == 'r' && (t[i + 4] | 0x20) == 'e' &&
        (t[i + 5] | 0x20) == 'r')
      return true;
    const bool ascii = static_cast<unsigned char>(c) < 0x80;
    if (is_digit(c)) {
      if (++digits >= 10) return true;
    } else if (ascii && phone_separator(t, i) == 0) {
      digits = 0;
    }
    word = is_word(c) ? word + 1 : 0;
    if (word >= 20) return true;
  }
  return false;
}

// True when matching `s` (valid UTF-8) as it is finds what matching its NFKC form would:
// every code point is one NFKC leaves alone, with nothing to compose with (ASCII, kana, the
// common kanji, Japanese punctuation), or one it maps to ASCII that no detector looks at
// (！ ？ ～ become ! ? ~, which end a match just as the full-width forms do). Most questions
// are such text, and utf8proc is several times the cost of the whole redaction.
bool matches_as_is(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xF0) != 0xE0) return false;  // 2- and 4-byte sequences: not looked into
    const char32_t cp = (static_cast<char32_t>(c & 0x0F) << 12) |
                        (static_cast<char32_t>(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
    i += 3;
    const bool stable = (cp >= 0x3041 && cp <= 0x3096) ||  // hiragana
                        (cp >= 0x30A1 && cp <= 0x30FC) ||  // katakana, ・ and ー
                        (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
                        (cp >= 0x3001 && cp <= 0x3003) || cp == 0x3005 ||
                        (cp >= 0x3008 && cp <= 0x3011) || cp == 0x301C ||  // 、。〃々「」『』【】〜
                        cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF5E;  // ！？～
    if (!stable) return false;
  }
  return true;
}

}  // namespace

bool redaction_changes(std::string_view in) {
  return !core::is_valid_utf8(in) || !matches_as_is(in) || maybe_redactable(in);
}

std::string redact(std::string_view in) {
  const bool valid = core::is_valid_utf8(in);
  std::string repaired;
  if (!valid) repaired = to_valid_utf8(in);
  const std::string_view text = valid ? in : std::string_view(repaired);
  // Matching is on the NFKC form: full-width letters, digits, '@' and '－' become ASCII.
  std::string normalised;
  std::string_view t = text;
  if (!matches_as_is(text)) {
    normalised = core::nfkc(text);
    if (!normalised.empty()) t = normalised;
  }
  if (!maybe_redactable(t)) return std::string(text);
  std::vector<Span> spans;
  find_bearer_tokens(t, spans);
  find_emails(t, spans);
  find_phone_numbers(t, spans);
  find_secrets(t, spans);
  if (spans.empty()) return std::string(text);
  std::sort(spans.begin(), spans.end());
  std::string out;
  out.reserve(t.size());
  std::size_t at = 0;
  for (std::size_t k = 0; k < spans.size();) {
    auto [first, last] = spans[k];
    // Overlapping or touching spans are one.
    while (++k < spans.size() && spans[k].first <= last) last = std::max(last, spans[k].second);
    if (first < at) first = at;  // cannot happen after merging; kept for safety
    out.append(t, at, first - at);
    out += "[redacted]";
    at = last;
  }
  out.append(t, at, std::string_view::npos);
  return out;
}

namespace {
std::string random_key() {
  std::string k(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(k.data()), static_cast<int>(k.size())) != 1) {
    std::random_device rd;
    for (auto& c : k) c = static_cast<char>(rd());
  }
  return k;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// HMAC-SHA256 (RFC 2104) with the key's inner and outer pads absorbed once: a hash is then
// two context copies and two short digests (~1 us), where the one-shot HMAC() looks the
// algorithm up on every call (~5 us; this runs for every log line).
class HmacKey final {
 public:
  explicit HmacKey(std::string_view key) {
    unsigned char block[64] = {};
    if (key.size() > sizeof block) {
      unsigned int n = 0;
      EVP_Digest(key.data(), key.size(), block, &n, EVP_sha256(), nullptr);
    } else {
      std::copy(key.begin(), key.end(), block);
    }
    unsigned char pad[64];
    for (std::size_t i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x36;
    ok_ = init(inner_, pad);
    for (std::size_t i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x5c;
    ok_ = ok_ && init(outer_, pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  // The 32-byte MAC of `data` into `out`. Thread-safe: the shared contexts are only copied.
  bool mac(std::string_view data, unsigned char out[32]) const {
    thread_local MdCtx work(EVP_MD_CTX_new());
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    return ok_ && work && EVP_MD_CTX_copy_ex(work.get(), inner_.get()) == 1 &&
           EVP_DigestUpdate(work.get(), data.data(), data.size()) == 1 &&
           EVP_DigestFinal_ex(work.get(), inner, &n) == 1 &&
           EVP_MD_CTX_copy_ex(work.get(), outer_.get()) == 1 &&
           EVP_DigestUpdate(work.get(), inner, n) == 1 &&
           EVP_DigestFinal_ex(work.get(), out, &n) == 1 && n == 32;
  }

 private:
  static bool init(MdCtx& ctx, const unsigned char pad[64]) {
    ctx.reset(EVP_MD_CTX_new());
    return ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
           EVP_DigestUpdate(ctx.get(), pad, 64) == 1;
  }
  MdCtx inner_, outer_;
  bool ok_ = false;
};

// The key is read on every logged request and set at start-up (App::create; tests set it
// again): readers load a pointer, no lock and no shared reference count. A replaced key is
// kept until the process ends (a handful per process), so a reader never holds a freed one.
struct UserHashKey {
  std::mutex mu;  // writers only
  std::vector<std::unique_ptr<const HmacKey>> keys;
  std::atomic<const HmacKey*> current{nullptr};
};
UserHashKey& user_hash_key() {
  static UserHashKey k;
  return k;
}
const HmacKey* install_user_hash_key(std::unique_ptr<const HmacKey> key) {
  UserHashKey& k = user_hash_key();
  std::lock_guard lock(k.mu);
  k.keys.push_back(std::move(key));
  k.current.store(k.keys.back().get(), std::memory_order_release);
  return k.keys.back().get();
}
const HmacKey* current_user_hash_key() {
  if (const HmacKey* key = user_hash_key().current.load(std::memory_order_acquire)) return key;
  return install_user_hash_key(std::make_unique<const HmacKey>(random_key()));
}
}  // namespace

void set_user_hash_key(std::string key) {
  auto next = std::make_unique<const HmacKey>(key.empty() ? random_key() : key);
  OPENSSL_cleanse(key.data(), key.size());
  install_user_hash_key(std::move(next));
}

std::string hash_user(std::string_view user_id) {
  if (user_id.empty()) return "";
  const HmacKey* key = current_user_hash_key();
  // A visitor sends several messages: each thread remembers its last few hashes (an HMAC
  // is ~1 us; a hit is a compare). Keyed by the key too, so a new key is never answered
  // from the old one's hashes.
  struct Memo {
    const HmacKey* key = nullptr;
    std::string id, hash;
  };
  thread_local std::array<Memo, 64> memo;
  Memo& m = memo[std::hash<std::string_view>{}(user_id) % memo.size()];
  if (m.key == key && m.id == user_id) return m.hash;
  unsigned char md[32];
  if (!key->mac(user_id, md)) return "u_unavailable";  // never the id itself
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "u_";
  for (int i = 0; i < 6; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  if (user_id.size() <= 128) m = {key, std::string(user_id), out};
  return out;
}

std::string rfc3339(core::WallTime t) { return core::format_rfc3339(t); }

std::string to_json_line(const RequestLog& l) {
  std::string o;
  o.reserve(1024);
  auto key = [&](std::string_view k) { core::append_json_key(o, k); };
  auto field = [&](std::string_view k, std::string_view v) {
    key(k);
    // Codes and names come from outside too (a provider's error code): a log line is
    // always valid UTF-8.
    if (core::is_valid_utf8(v)) {
      core::append_json_string(o, v);
    } else {
      core::append_json_string(o, to_valid_utf8(v));
    }
  };
  // Free text: redacted first, then cut at a code point (a cut before redaction could leave
  // the first digits of a phone number too few to be recognised).
  auto text = [&](std::string_view k, std::string_view v) {
    field(k, core::truncate_utf8(redact(v), kMaxLoggedTextBytes));
  };
  auto number = [&](std::string_view k, double v) {
    key(k);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    o.append(buf, r.ptr);
  };
  auto integer = [&](std::string_view k, long long v) {
    key(k);
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    o.append(buf, r.ptr);
  };
  auto boolean = [&](std::string_view k, bool v) {
    key(k);
    o += v ? "true" : "false";
  };
  field("time", rfc3339(l.time));
  field("level", l.level);
  field("trace_id", l.trace_id);
  field("user", l.user);
  field("tier", l.tier);
  field("intent", l.intent);
  field("language", l.language);
  integer("attempts", l.attempts);
  integer("retries", l.retries);
  field("error_code", l.error_code);
  field("error_class", l.error_class);
  text("error_message", l.error_message);
  number("latency_ms", l.latency_ms);
  number("queue_wait_ms", l.queue_wait_ms);
  field("admission", l.admission);
  field("cache_category", l.cache_category);
  field("price_guard", l.price_guard);
  field("price_guard_product", l.price_guard_product);
  key("prices");
  o += '[';
  for (std::size_t i = 0; i < l.prices.size(); ++i) {
    const LoggedPrice& p = l.prices[i];
    if (i > 0) o += ',';
    // The first key by hand (append_json_key opens an object only on an empty string); the
    // others after it, as every field of the line.
    o += "{\"product\":";
    if (core::is_valid_utf8(p.product)) {
      core::append_json_string(o, p.product);
    } else {
      core::append_json_string(o, to_valid_utf8(p.product));
    }
    integer("quoted_yen", p.quoted_yen);
    integer("catalog_yen", p.catalog_yen);
    if (p.list_yen != 0 && p.list_yen != p.catalog_yen) integer("list_yen", p.list_yen);
    o += '}';
  }
  o += ']';
  boolean("degraded", l.degraded);
  if (!l.degradation_version.empty()) field("degradation_version", l.degradation_version);
  boolean("deduplicated", l.deduplicated);
  boolean("trace_kept", l.trace_kept);
  field("models", l.models);
  field("model", l.model);
  field("model_tokens", l.model_tokens);
  integer("tokens_in", l.tokens_in);
  integer("tokens_out", l.tokens_out);
  {
    // Millionths of a dollar: a short answer from a small model costs a few hundredths of
    // a cent.
    key("cost_usd");
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, l.cost_usd, std::chars_format::fixed, 6);
    o.append(buf, r.ptr);
  }
  boolean("hedged", l.hedged);
  text("question", l.question);
  o += '}';
  return o;
}

std::FILE* open_log_file(const std::string& path) {
  // O_EXCL tells a file this call created (set to exactly 0640: the umask may have left it
  // wider) from one that was there (only narrowed: its owner may have made it 0600).
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  const bool created = fd >= 0;
  if (!created && errno == EEXIST) fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const mode_t now = st.st_mode & 07777;
    const mode_t want = created ? 0640 : (now & 0640);
    if (now != want) (void)::fchmod(fd, want);  // not the owner: nothing to be done here
  }
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) ::close(fd);
  return f;
}

LogSink::LogSink(const std::string& path, bool to_stdout)
    : out_(path.empty() ? nullptr : open_log_file(path), to_stdout) {}

void LogSink::write(const RequestLog& log) { write_line(to_json_line(log), log.level == "ERROR"); }

void LogSink::write_line(std::string_view line, bool flush_now) { out_.append(line, flush_now); }

}  // namespace ma::observe
