// Fuzz target: understanding a message (ma::assist::understand: NFKC folding, intent,
// series, volume, order id, FAQ) against the store's real catalog (data/, opened once).
// Input: a message; invalid UTF-8 is skipped, as parse_chat refuses it before it gets here.
// Beyond "no crash": the memo (UnderstandingMemo) agrees with understand(), and the intent
// round-trips through its name.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "assist/understanding.hpp"
#include "catalog/catalog.hpp"
#include "core/text.hpp"
#include "fuzz_check.hpp"

namespace {

const ma::catalog::Catalog& store_catalog() {
  static const ma::catalog::Catalog* c = [] {
    auto r = ma::catalog::Catalog::open({std::string(MA_SOURCE_DIR) + "/data", ":memory:"});
    if (!r.ok()) {
      std::fprintf(stderr, "understanding_fuzz: catalog: %s\n", r.error().message.c_str());
      std::abort();
    }
    return std::move(r).value().release();
  }();
  return *c;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)store_catalog();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!ma::core::is_valid_utf8(text)) return 0;  // understand() REQUIRES valid UTF-8
  const auto& catalog = store_catalog();
  const ma::assist::Understanding u = ma::assist::understand(text, catalog);
  MA_FUZZ_CHECK(static_cast<int>(u.intent) < ma::assist::kIntentCount);
  MA_FUZZ_CHECK(ma::assist::parse_intent(ma::assist::to_string(u.intent)) == u.intent);
  MA_FUZZ_CHECK(ma::core::is_valid_utf8(u.normalized));
  if (u.series != nullptr) MA_FUZZ_CHECK(!u.series->id.empty());  // points into the catalog
  if (u.faq != nullptr) MA_FUZZ_CHECK(!u.faq->id.empty());
  if (u.order_id) MA_FUZZ_CHECK(!u.order_id->empty());

  // Remembered from the second sighting on: both answers must be understand()'s.
  static ma::assist::UnderstandingMemo memo(1024);
  for (int i = 0; i < 2; ++i) {
    const auto m = memo.get(text, catalog);
    MA_FUZZ_CHECK(m != nullptr);
    MA_FUZZ_CHECK(m->intent == u.intent && m->lang == u.lang && m->series == u.series &&
                  m->volume == u.volume && m->order_id == u.order_id && m->faq == u.faq &&
                  m->normalized == u.normalized);
  }
  return 0;
}
