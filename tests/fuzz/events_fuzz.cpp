// Fuzz target: the scheduled-events calendar (ma::server::load_events, data/events.json: the
// global admission limit's prescaling), and through it the RFC 3339 timestamp reader
// (core::parse_rfc3339, which the catalog's sales and the log query use too). Input: the
// JSON file, written to an in-memory file (fuzz_file.hpp): load_events reads a path.
// Beyond "no crash": an error names its code.

#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "fuzz_file.hpp"
#include "server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ma::fuzz::input_file().write(data, size);
  const auto events = ma::server::load_events(ma::fuzz::input_file().path());
  if (!events.ok()) MA_FUZZ_CHECK(!events.error().code.empty());
  return 0;
}
