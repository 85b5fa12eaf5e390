#include "observe/trace.hpp"

#include <charconv>

#include "core/json_util.hpp"
#include "observe/request_log.hpp"

namespace ma::observe {

std::string to_json_line(const Trace& t) {
  std::string o;
  o.reserve(256 * (t.spans.size() + 1));
  o += "{\"trace_id\":";
  core::append_json_string(o, t.trace_id);
  o += ",\"spans\":[";
  for (std::size_t i = 0; i < t.spans.size(); ++i) {
    const Span& s = t.spans[i];
    if (i > 0) o += ',';
    o += "{\"id\":";
    core::append_json_string(o, s.id);
    o += ",\"parent_id\":";
    core::append_json_string(o, s.parent_id);
    o += ",\"name\":";
    core::append_json_string(o, s.name);
    o += ",\"start\":";
    core::append_json_string(o, rfc3339(s.start));
    o += ",\"duration_ms\":";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, core::to_millis(s.duration),
                                 std::chars_format::fixed, 3);
    o.append(buf, r.ptr);
    o += s.error ? ",\"error\":true" : ",\"error\":false";
    o += ",\"annotations\":{";
    for (std::size_t k = 0; k < s.annotations.size(); ++k) {
      if (k > 0) o += ',';
      core::append_json_string(o, s.annotations[k].first);
      o += ':';
      const std::string& v = s.annotations[k].second;
      if (redaction_changes(v)) {
        core::append_json_string(o, redact(v));
      } else {
        core::append_json_string(o, v);
      }
    }
    o += "}}";
  }
  o += "]}";
  return o;
}

TraceSink::TraceSink(const std::string& path)
    : out_(path.empty() ? nullptr : open_log_file(path), false) {}  // 0640, as the request log

}  // namespace ma::observe
