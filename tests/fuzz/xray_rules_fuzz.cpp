// Fuzz target: the X-Ray sampling rules parser (ma::observe::Sampler::from_local_json, for
// the observe.sampling_rules file, and from_centralized_json, for GetSamplingRules records)
// and the rule matching it feeds. Input: a rules document; both parsers read it.
//
// Beyond "no crash": a sampler always ends with the default rule; every rule's patterns
// match themselves (wildcard_match is reflexive), so a request shaped like rule i falls under
// rule i or an earlier one; head sampling never fails.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "observe/sampling.hpp"

namespace {

void check(ma::observe::Sampler& s) {
  using ma::observe::SampleRequest;
  const auto& rules = s.rules();
  MA_FUZZ_CHECK(!rules.empty());
  MA_FUZZ_CHECK(rules.back().is_default);
  SampleRequest absent;
  absent.absent = true;
  MA_FUZZ_CHECK(s.match(absent).is_default);
  (void)s.should_sample(absent, 1'700'000'000, 0.5);
  (void)s.should_sample(SampleRequest{}, 1'700'000'000, 0.0);
  const std::size_t n = std::min<std::size_t>(rules.size(), 64);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = rules[i];
    MA_FUZZ_CHECK(ma::observe::wildcard_match(r.path, r.path));
    MA_FUZZ_CHECK(ma::observe::wildcard_match("*", r.host));
    SampleRequest like{r.host, r.method, r.path, r.service, r.service_type};
    MA_FUZZ_CHECK(r.applies(like));
    MA_FUZZ_CHECK(&s.match(like) <= &rules[i]);
    (void)s.should_sample(like, 1'700'000'000 + static_cast<std::int64_t>(i), 0.99);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto local = ma::observe::Sampler::from_local_json(text); local.ok()) check(**local);
  if (auto central = ma::observe::Sampler::from_centralized_json(text); central.ok())
    check(**central);
  return 0;
}
