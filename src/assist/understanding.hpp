#pragma once
// Understanding a message: intent, entities (series, volume, order id) and language, for
// Japanese and English. Rule-based and fast (no model call): the cascade needs the intent
// before it can pick tiers, and the static and degraded tiers need it when no model answers.

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

// understand() remembered per exact message text: popular questions arrive word for word
// many times a second, and NFKC normalisation plus the title scan is most of a message's
// CPU. Bounded (a full shard starts over); thread-safe. Titles never change at runtime, so
// an entry never goes stale (prices are not part of it).
class UnderstandingMemo final {
 public:
  explicit UnderstandingMemo(std::size_t max_entries = 65'536)
      : per_shard_(max_entries / kShards) {}
  Understanding get(std::string_view text, const catalog::Catalog& catalog);

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, Understanding, Hash, std::equal_to<>> map;
  };
  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ma::assist
