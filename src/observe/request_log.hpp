#pragma once
// One complete JSON log line per request, never sampled (seed incident 4: the logs had the
// answer). Personal data is redacted before anything is written: e-mail addresses, phone
// numbers, bearer tokens and long secrets become "[redacted]"; user ids are hashed with a
// secret key. Every line is valid UTF-8 and free text is cut at code points. Log files are
// created with mode 0640.
//
// Thread safety: LogSink::write may be called from any thread (one mutex, one fwrite);
// redact, hash_user and set_user_hash_key from any thread.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "observe/line_writer.hpp"

namespace ma::observe {

// One price a reply showed, as its log line records it (the "prices" field):
//   {"product":"mg-0004-v4","quoted_yen":528,"catalog_yen":600}
// and "list_yen" after catalog_yen only when the list price differs from the price paid (a
// sale is on). `catalog_yen` is the price paid at the moment of the reply. What counts is what
// the customer was finally shown (assist::Reply::prices): a price the guard corrected is logged
// as the corrected text states it, a cached answer it evicted not at all (the answer shown
// instead gives its own), a price it disclaimed as shown.
struct LoggedPrice {
  std::string product;
  int quoted_yen = 0;
  int catalog_yen = 0;
  int list_yen = 0;  // 0: as catalog_yen
};

struct RequestLog {
  core::WallTime time{};
  std::string level = "INFO";  // INFO | WARN | ERROR
  std::string trace_id;
  std::string user;  // hashed
  std::string tier, intent, language;
  int attempts = 0;
  int retries = 0;
  std::string error_code, error_class, error_message;
  double latency_ms = 0;
  double queue_wait_ms = 0;
  std::string admission;       // admitted | queued | limited_user | limited_source | queue_timeout
  std::string cache_category;  // when served from the cache
  std::string price_guard, price_guard_product;
  // Every price the reply showed, with its product and the catalog's price then ([] when it
  // stated none). Read by `mangaassist report stale-prices` (observe/stale_price_report.hpp).
  std::vector<LoggedPrice> prices;
  bool degraded = false;
  // The degradation message version the reply showed ("v2", "v3"; the A/B experiment's
  // assignment or the flag's); written only when the reply was the degradation message.
  std::string degradation_version;
  bool deduplicated = false;
  bool trace_kept = false;
  std::string question;  // redacted, then cut to kMaxLoggedTextBytes at a code point
  std::string models;    // "sonnet:ThrottlingException,haiku:ok"
  // The model that wrote the text ("" below the models).
  std::string model;
  // Each attempt's billed tokens, in the order of `models`: "sonnet:0/0,haiku:412/96"
  // (input/output; failed and cancelled attempts included).
  std::string model_tokens;
  // Tokens billed for the message over every attempt, and their cost in US dollars.
  long long tokens_in = 0;
  long long tokens_out = 0;
  double cost_usd = 0;
  bool hedged = false;  // a hedge was made for this message
};

// The question and the error message are cut to this many bytes in a log line (after
// redaction, at a code point boundary: 200 Japanese characters).
inline constexpr std::size_t kMaxLoggedTextBytes = 600;

// Personal data and secrets in free text become "[redacted]". Matching is done on the NFKC
// form of the text, so full-width forms ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ",
// "０９０－１２３４－５６７８") are caught; when something is redacted the result is that NFKC
// form, otherwise `text` as it came. Redacted:
//   - e-mail addresses (local@domain.tld);
//   - phone numbers: 10+ digits in one run with separators (space . ( ) + and the dashes
//     - U+2010..U+2015 U+2212 U+30FC), e.g. 090-1234-5678, +81 90 1234 5678, (03) 1234-5678;
//   - the token after "bearer" (any case) and a space or tab;
//   - API keys and secrets, as runs of [A-Za-z0-9_-]: "sk-" / "sk_" and 20+ more characters,
//     AWS key ids (AKIA / ASIA and 16 of [0-9A-Z]), and any run of 32+ characters.
// The result is valid UTF-8 whatever the input (invalid bytes become U+FFFD). Linear time.
// NOTE: a run of 10+ digits with separators is redacted even when it is not a phone number
// (an ISBN, a date with a time): over-redaction is the safe side for a log.
std::string redact(std::string_view text);
// False when redact(text) is certainly `text` itself (valid UTF-8 that NFKC leaves alone
// and that no detector could match): the caller may then use the text as it is. Cheap: one
// pass, no allocation.
bool redaction_changes(std::string_view text);

// The short id logged for a user: "u_" and 12 hex digits of HMAC-SHA256(key, user id).
// Without the key nobody can recompute it from an id or address. Empty id: "".
std::string hash_user(std::string_view user_id);
// The process-wide key of hash_user. Until it is set, a random key drawn at first use (so the
// hash is keyed even when nobody sets one, but differs between processes: a fleet that
// correlates users across servers must set one shared secret). An empty `key` draws a new
// random key. Thread-safe; hash_user calls after it returns use the new key.
void set_user_hash_key(std::string key);

std::string to_json_line(const RequestLog& log);
std::string rfc3339(core::WallTime t);

// Opens `path` for appending. A new file is created with mode 0640 whatever the umask; an
// existing regular file loses any permission beyond 0640 (group write, anything for others).
// Null when it cannot be opened.
std::FILE* open_log_file(const std::string& path);

class LogSink final {
 public:
  // `path` empty: no file. `to_stdout`: also to standard output.
  LogSink(const std::string& path, bool to_stdout);
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;
  bool ok() const { return out_.ok(); }
  // ERROR lines are written at once, the others in batches (observe/line_writer.hpp).
  void write(const RequestLog& log);
  void write_line(std::string_view line, bool flush_now = true);
  // Writes out what is buffered and waits until it is written (shutdown, tests).
  void flush() { out_.flush(); }
  // Starts writing what is buffered without waiting for it (the server's flusher, every
  // second, on an io thread).
  void hand_over() { out_.hand_over_all(); }

 private:
  LineWriter out_;
};

}  // namespace ma::observe
