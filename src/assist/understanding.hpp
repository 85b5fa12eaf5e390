#pragma once
// Understanding a message: intent, entities (series, volume, order id) and language, for
// Japanese and English. Rule-based and fast (no model call): the cascade needs the intent
// before it can pick tiers, and the static and degraded tiers need it when no model answers.

#include <optional>
#include <string>
#include <string_view>

#include "catalog/catalog.hpp"
#include "fm/model_provider.hpp"

namespace ma::assist {

enum class Intent : std::uint8_t {
  kOrderStatus,
  kPricing,
  kAvailability,
  kRecommendation,
  kFaq,
  kGeneral,
};
inline constexpr int kIntentCount = 6;
std::string_view to_string(Intent i);
std::optional<Intent> parse_intent(std::string_view s);

struct Understanding {
  Intent intent = Intent::kGeneral;
  fm::Language lang = fm::Language::kEn;
  const catalog::Series* series = nullptr;
  std::optional<int> volume;
  std::optional<std::string> order_id;
  const catalog::FaqEntry* faq = nullptr;
  std::string normalized;  // the question as a cache and dedupe key
};

// REQUIRES: `text` is valid UTF-8. `catalog` outlives the result (series pointers).
Understanding understand(std::string_view text, const catalog::Catalog& catalog);

}  // namespace ma::assist
