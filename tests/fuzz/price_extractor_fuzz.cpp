// Fuzz target: the price guard's amount reader (ma::assist::extract_yen), which reads every
// reply a model writes. Input: reply text (any bytes: a model's output is not validated, and
// extract_yen accepts invalid UTF-8). Beyond "no crash" (and, with -timeout, no slow input:
// the reader is documented linear): amounts are within the reader's bound (at most
// 100,000,000 yen), and an amount takes at least two bytes of text (a digit and a marker).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "assist/price_guard.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto amounts = ma::assist::extract_yen(text);
  MA_FUZZ_CHECK(amounts.size() <= size / 2);
  for (int yen : amounts) MA_FUZZ_CHECK(yen >= 0 && yen <= 100'000'000);
  return 0;
}
