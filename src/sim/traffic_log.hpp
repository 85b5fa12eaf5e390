#pragma once
// Recorded traffic for log replay: the arrivals of a request log (observe/request_log.hpp,
// one JSON line per request, as the server writes `var/requests.log`) in a time window,
// sped up, for a scenario's `[traffic] from_log` (the other messages' intents, languages,
// users and timing replayed against the scenario's faults and a candidate config).
//
// What a line tells:
//   - "time" is written when the reply was observed (RequestObserver::on_reply), i.e. when the
//     request completed; "latency_ms" runs from the moment the message left admission
//     (Reply::started) and "queue_wait_ms" is the wait in the admission queue before it. The
//     arrival is therefore time - latency_ms - queue_wait_ms. A message refused by admission
//     (tier "refused", admission "limited_*") is logged at once with both at 0: its arrival is
//     its time. Precision: the time is written to the millisecond.
//   - "user" is hash_user() of the admission key: a signed-in user ("u:ID"), else the
//     anonymous session ("s:..."), else the source address ("a:..."), all hashed alike to
//     "u_" and 12 hex digits (not told apart). The server issues a session to a client
//     without one, so a client that drops its cookie looks like a new user on every message;
//     past the session issue rate (0.5/s a source) such clients all get the source address's
//     id. "" only in lines the server did not write.
//   - "question" is redacted and cut to 600 bytes. Not "" from the server: a blank message is
//     refused (400) before it is observed, so it is not logged (nor are other 400s: too long,
//     invalid UTF-8) and is no arrival here.
//   - "intent" and "language" are "" for refused messages (never classified).
//   - "price_guard_product" is only filled in when the price guard found a wrong price.
// Every request line is an arrival: refused, queue-timed-out, deduplicated and failed ones
// too (the user sent them). The server writes nothing else to this file (background lane
// probes are not logged), but a file may hold other JSON (a trace file, stdout captured with
// log_stdout): JSON objects without "time" and "latency_ms" are skipped as not requests; lines
// that are not JSON objects, or request lines with an unreadable time or a negative latency or
// queue wait, are counted malformed.
//
// The file is read line by line; only what LoggedMessage keeps is held (~200 bytes a
// message plus its question).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace ma::sim {

struct LoggedMessage {
  double at_s = 0;       // arrival, seconds from the window's start, divided by the speed-up
  std::string user;      // the logged (hashed) user or session id; "" if none
  std::string question;  // the text as logged (redacted, at most 600 bytes)
  std::string intent;    // as logged ("" for a message refused by admission)
  std::string language;  // as logged: "ja" | "en" ("" for a refused message)
  // price_guard_product when present, else "". NOTE: the server logs it only when the price
  // guard found a wrong price (corrected, disclaimer, evicted), not for every pricing question:
  // most messages have none, and the product asked about is in the question's text.
  std::string product_id;
};

struct LogWindow {
  // Arrivals at or after `since` and before `until` (half-open); unset: unbounded.
  std::optional<core::WallTime> since, until;
  double speedup = 1;  // > 0; 60: an hour of traffic replayed in a minute

  // From the scenario file's strings: RFC 3339 (parse_log_time); "" is unset. Errors:
  // "invalid_scenario" (an unreadable time, since >= until, speedup <= 0 or not finite).
  static core::Result<LogWindow> parse(std::string_view since, std::string_view until,
                                       double speedup);
};

struct TrafficLog {
  std::vector<LoggedMessage> messages;  // sorted by at_s (ties in the file's order)
  core::WallTime start{};          // the window's start: `since` if given, else the first arrival
  double span_s = 0;               // at_s of the last message
  std::size_t lines = 0;           // non-blank lines read
  std::size_t malformed = 0;       // not a JSON object; a request line with a bad time or latency
  std::size_t not_requests = 0;    // JSON objects that are not request lines
  std::size_t outside_window = 0;  // request lines whose arrival is outside the window
  // Lines skipped as not readable requests (outside_window not included).
  std::size_t skipped() const { return malformed + not_requests; }
};

// RFC 3339 date-time: "2026-11-26T21:00:00+09:00", "2026-11-26T12:00:00.250Z" (as the log
// writes it); 'T' may be 't' or a space, 'Z' may be 'z', fractions past milliseconds are
// dropped. Error "invalid_scenario" naming the text.
core::Result<core::WallTime> parse_log_time(std::string_view text);

// Reads the request log at `path`. Errors: "not_found" (cannot read the request log PATH),
// "invalid_scenario" (speedup <= 0, since >= until, no request arrived in the window).
core::Result<TrafficLog> read_traffic_log(const std::string& path, const LogWindow& window);

}  // namespace ma::sim
