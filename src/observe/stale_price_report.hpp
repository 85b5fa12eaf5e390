#pragma once
// The stale-price remediation report (seed incident 3, the runbook's "identify affected
// customers"): which customers were shown a price other than the catalog's at that moment,
// read from the request log (observe/request_log.hpp), so that the customer team can decide
// whether to honour the prices quoted.
//
//   mangaassist report stale-prices LOG [--since T] [--until T]
//
// Input: request-log lines, one JSON object a line. Each reply's line carries "prices", every
// price the reply finally showed with its product and the catalog's price then:
//   "prices":[{"product":"mg-0004-v4","quoted_yen":528,"catalog_yen":600}]
// ("list_yen" follows catalog_yen while a sale is on). Other lines are tolerated and counted,
// never fatal: lines that are not JSON objects, or whose time cannot be read, or whose
// "prices" is not a well-formed array (malformed; nothing of such a line is reported); JSON
// objects without a "time" and a "trace_id" (other kinds of line); request lines without
// "prices" (written before the field existed: they cannot be judged). Blank lines are ignored.
//
// The window: a line counts when since <= time < until (either bound may be absent). Times are
// RFC 3339 ("2026-11-30T09:00:00Z", "2026-11-30T18:00:00.250+09:00"; 't', 'z' and a space
// for 'T' are accepted) or a bare date ("2026-11-30": 00:00:00 UTC that day).
//
// A price is stale when it is neither the price paid (catalog_yen) nor the list price
// (list_yen) at that moment -- the price guard's own rule: a reply may say "usually ¥1,100"
// beside a sale price.
// NOTE: so an answer cached before a sale began, quoting the full price during the sale, is
// not reported (the customer pays less than quoted; the guard lets it pass too).
//
// Output, CSV (RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, its
// quotes doubled), in time order (the server writes its lines in batches per thread, so a log
// is only roughly in time order; rows of equal times keep the log's order):
//   time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id
// one row per (reply, product) with a stale price: the reply's time and trace id as logged,
// the user as logged (hashed, never the id), the tier that answered, the price quoted, the
// price paid then (actual_yen) and delta_yen = quoted_yen - actual_yen, signed: negative when
// the customer was quoted less than the price (what honouring the quote would cost the
// store), positive when quoted more. A reply that states several stale prices for one product
// gives one row, with the lowest of them (the one a customer would ask to be honoured).
// After the rows, two summary lines that start with '#' (a CSV reader skips them as comments,
// e.g. pandas.read_csv(comment='#')):
//   # customers=N replies=N rows=N total_delta_yen=N underquoted_yen=N overquoted_yen=N
//   # lines=N judged=N outside_window=N without_prices=N other_kinds=N malformed=N
// customers: distinct users among the rows (lines without a user are not counted); replies:
// lines with at least one row; total_delta_yen: the sum of delta_yen over the rows, where
// under- and over-quotes cancel, so also apart: underquoted_yen, the sum of actual - quoted
// over the rows quoted below the price (what honouring every quote would cost), and
// overquoted_yen, the sum of quoted - actual over those quoted above it; lines:
// the non-blank lines read, and how they were sorted (judged: request lines in the window
// whose prices were read, stale or not).
//
// Thread safety: none (one report per reader). Memory: the rows and the distinct users.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/time.hpp"

namespace ma::observe {

// An RFC 3339 time or a bare date (above); nullopt for anything else (no offset, a day the
// month does not have, a time past 23:59:60).
std::optional<core::WallTime> parse_report_time(std::string_view text);

// `field` as one CSV field: as it is, or quoted with its quotes doubled when it holds a comma,
// a double quote, CR or LF.
std::string csv_field(std::string_view field);

struct StalePriceRow {
  core::WallTime at{};  // `time`, read
  std::string time;     // as logged
  std::string user;
  std::string product_id;
  std::int64_t quoted_yen = 0;
  std::int64_t actual_yen = 0;
  std::string tier;
  std::string trace_id;

  std::int64_t delta_yen() const { return quoted_yen - actual_yen; }
};

struct StalePriceSummary {
  std::size_t customers = 0;
  std::size_t replies = 0;
  std::size_t rows = 0;
  std::int64_t total_delta_yen = 0;
  std::int64_t underquoted_yen = 0;  // >= 0: honouring the quotes below the price costs this
  std::int64_t overquoted_yen = 0;   // >= 0
  // How the lines read were sorted (lines = the sum of the five after it).
  std::size_t lines = 0;
  std::size_t judged = 0;
  std::size_t outside_window = 0;
  std::size_t without_prices = 0;
  std::size_t other_kinds = 0;
  std::size_t malformed = 0;
};

class StalePriceReport final {
 public:
  // [since, until); an absent bound is open.
  explicit StalePriceReport(std::optional<core::WallTime> since = std::nullopt,
                            std::optional<core::WallTime> until = std::nullopt)
      : since_(since), until_(until) {}
  StalePriceReport(const StalePriceReport&) = delete;
  StalePriceReport& operator=(const StalePriceReport&) = delete;

  // One log line (a trailing "\r" or "\n" is ignored).
  void add_line(std::string_view line);

  const std::vector<StalePriceRow>& rows() const { return rows_; }
  StalePriceSummary summary() const;
  // The header, the rows and the two summary lines, each ending in "\n".
  std::string csv() const;

 private:
  std::optional<core::WallTime> since_, until_;
  std::vector<StalePriceRow> rows_;
  std::unordered_set<std::string> customers_;
  std::size_t replies_ = 0;
  std::int64_t total_delta_ = 0;
  std::int64_t underquoted_ = 0;
  std::int64_t overquoted_ = 0;
  StalePriceSummary counts_;  // the line counts
};

// `mangaassist report stale-prices`: reads the log at `log_path` ("-": standard input), writes
// the CSV above to `out`, and any message to `err`. Returns 0 on success; 2 when --since or
// --until cannot be read, or since is not before until (the message names the option and the
// accepted forms); 1 when the log cannot be read (the message names the path) or the report
// cannot be written. Request lines without "prices" are also pointed out on `err`.
int report_stale_prices_main(const std::string& log_path, const std::optional<std::string>& since,
                             const std::optional<std::string>& until, std::FILE* out,
                             std::FILE* err);

}  // namespace ma::observe
