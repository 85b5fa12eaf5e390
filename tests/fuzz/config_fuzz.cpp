// Fuzz target: the TOML configuration loader (ma::server::load_toml over default_config()).
// Input: a config file. load_toml reads from a path only, so the input is written to one
// in-memory file (memfd) per process and read back through /proc/self/fd (fuzz_file.hpp).
//
// NOTE: a load_toml_text(std::string_view, AppConfig&) would skip the file and let the
// fuzzer run several times faster; load_toml would then be a read_file plus that.
//
// Beyond "no crash" (and no exception: toml++ throws, load_toml must turn that into an
// error value): an error names its code, and a file that loads loads again the same way.
//
// NOTE: toml++ 3.3.0 (Debian 12) has bugs fixed upstream but not in Debian:
//  - its own assert()s fail on malformed input ("[\n", "[[[", "[=" as a table header,
//    marzer/tomlplusplus#301; a date-time with a control character in the time), and under
//    NDEBUG they are *assumptions*. scripts/fuzz.sh defines TOML_ASSERT away, so the fuzz
//    build runs the parser as a release build does, less the assumptions, and reports what
//    goes wrong after them (a bad read, not the assert);
//  - a non-ASCII character where toml++ asks whether it is whitespace, e.g. right after a
//    value ("port = 39é"), reaches TOML_UNREACHABLE in is_non_ascii_horizontal_whitespace()
//    for most of U+00A1..U+FEFF: undefined behaviour in release builds too
//    (marzer/tomlplusplus#295, #190). Inputs with a byte over 0x7F are skipped.
// The reproducers are kept as corpus/config/known-tomlplusplus-*.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "fuzz_file.hpp"
#include "server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char c : text) {
    if (static_cast<unsigned char>(c) > 0x7f) return 0;  // marzer/tomlplusplus#295
  }
  ma::fuzz::input_file().write(data, size);
  ma::server::AppConfig cfg = ma::server::default_config();
  const auto st = ma::server::load_toml(ma::fuzz::input_file().path(), cfg);
  if (!st.ok()) {
    MA_FUZZ_CHECK(!st.error().code.empty());
  } else {
    ma::server::AppConfig again = ma::server::default_config();
    MA_FUZZ_CHECK(ma::server::load_toml(ma::fuzz::input_file().path(), again).ok());
  }
  return 0;
}
