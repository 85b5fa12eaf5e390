#pragma once
// Queries over JSON log lines, in the spirit of CloudWatch Logs Insights (the runbook's
// tool), for `mangaassist logs FILE QUERY`:
//
//   filter level = "ERROR" and latency_ms > 1000 | stats count by error_code | sort count desc
//   filter error_code != "" | stats count by bin(5m)
//   filter question like "鬼滅" | fields time, trace_id, error_code | limit 20
//
// Commands, separated by '|': filter EXPR (comparisons joined by `and`; = != < <= > >= like),
// stats count by FIELD[, FIELD...] (a field may be bin(Nm|Ns|Nh) over `time`),
// sort FIELD [asc|desc], fields F1, F2, limit N.

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ma::observe {

struct Condition {
  std::string field, op, value;
  bool numeric = false;
};

struct LogQuery {
  std::vector<Condition> filter;
  std::vector<std::string> group_by;  // empty: no stats
  bool stats = false;
  std::string sort_field;
  bool sort_desc = false;
  std::vector<std::string> fields;
  std::size_t limit = 0;  // 0: no limit
};

core::Result<LogQuery> parse_log_query(std::string_view text);

// A result table: a header and rows of cells.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string format() const;
};

// Runs the query over JSON lines (one object a line; lines that are not JSON are skipped
// and counted in `skipped`).
Table run_log_query(const LogQuery& q, const std::vector<std::string>& lines,
                    std::size_t* skipped = nullptr);

}  // namespace ma::observe
