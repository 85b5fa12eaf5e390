#include "state/shared_state.hpp"

#include "resilience/retry_policy.hpp"

namespace ma::state {

MemoryState::MemoryState(int retries_per_minute)
    : budget_(std::make_unique<resilience::LockedRetryBudget>(
          std::make_unique<resilience::CappedRetryBudget>(retries_per_minute))) {}

}  // namespace ma::state
