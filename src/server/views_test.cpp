#include "server/views.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ma::server {
namespace {

using namespace std::chrono_literals;

// reply_json writes the status by hand (no DOM, on every reply); /status builds it with
// status_json. Both must say the same.
TEST(ViewsTest, TheStatusEveryReplyCarriesIsTheStatusOfStatus) {
  assist::Reply r;
  r.text = "ok";
  r.trace_id = "1-abc-def";
  for (const bool with_eta : {true, false}) {
    assist::ServiceStatus st;
    st.state = with_eta ? "degraded" : "normal";
    if (with_eta) st.eta = 1500ms;
    for (const auto& [name, breaker] :
         {std::pair{"sonnet", resilience::BreakerState::kOpen},
          std::pair{"haiku", resilience::BreakerState::kHalfOpen},
          std::pair{"nova \"3\"", resilience::BreakerState::kClosed}}) {
      assist::ModelStatus m;
      m.name = name;
      m.breaker = breaker;
      st.models.push_back(m);
    }
    const auto reply = boost::json::parse(reply_json(r, st, "", "", ""));
    EXPECT_EQ(reply.at("status"), boost::json::value(status_json(st))) << reply;
    EXPECT_EQ(reply.at("status").at("eta_s"), with_eta ? boost::json::value(2) : nullptr);
    EXPECT_EQ(reply.at("status").at("models").as_object().size(), 3u);
  }
}

}  // namespace
}  // namespace ma::server
