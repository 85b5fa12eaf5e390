#pragma once
// Understanding a message: intent, entities (series, volume, order id) and language, for
// Japanese and English. Rule-based and fast (no model call): the cascade needs the intent
// before it can pick tiers, and the static and degraded tiers need it when no model answers.

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "catalog/catalog.hpp"
#include "core/flat_table.hpp"
#include "core/spin_lock.hpp"
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
// CPU. A text is remembered from its second sighting on (a one-off question, worded its own
// way, would only push out popular ones). Bounded (a full shard starts over); thread-safe.
// Titles never change at runtime, so an entry never goes stale (prices are not part of it).
class UnderstandingMemo final {
 public:
  explicit UnderstandingMemo(std::size_t max_entries = 65'536);
  // Shared, not copied: the result stays valid however the memo changes afterwards.
  std::shared_ptr<const Understanding> get(std::string_view text, const catalog::Catalog& catalog);

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kSeenPerShard = 4096;
  struct Entry {
    std::string text;
    Understanding u;
  };
  struct Shard {
    core::SpinLock mu;
    // By a 64-bit hash of the text; the entry's text is compared too.
    core::FlatTable<std::shared_ptr<const Entry>> map;
    // Hashes seen once, direct-mapped: the doorkeeper in front of `map`.
    std::array<std::uint64_t, kSeenPerShard> seen{};
  };
  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ma::assist
