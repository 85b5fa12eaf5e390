#pragma once
// The store's FAQ (data/faq.json): answers in English and Japanese, found by keywords.
//
// Thread safety: const methods are safe from any thread once load is done.

#include <string>
#include <vector>

#include "core/result.hpp"

namespace ma::catalog {

struct FaqEntry {
  std::string id, en, ja, url;
  std::vector<std::string> keywords;  // normalized
};

class Faq final {
 public:
  Faq() = default;
  Faq(const Faq&) = delete;
  Faq& operator=(const Faq&) = delete;

  // Appends the `entries` of the JSON file at `path` (a missing file adds none), keywords
  // passed through core::normalize_for_match. Error `catalog_invalid` for a file that is not
  // a JSON object.
  core::Status load(const std::string& path);

  // In file order.
  const std::vector<FaqEntry>& entries() const { return entries_; }

 private:
  std::vector<FaqEntry> entries_;
};

}  // namespace ma::catalog
