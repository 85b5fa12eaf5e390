// The simulated user reads a reply: its features, and the re-send chance the scenario's
// coefficients give each of the gateway's messages.
#include "sim/user_model.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ma::sim {
namespace {

using assist::Action;

const std::vector<Action> kV2PricingLinks = {{"Frieren vol. 1", "/series/frieren"},
                                             {"Contact support", "/support"},
                                             {"Service status", "/status"}};
const std::vector<std::string> kFrierenPrice = {"Frieren", "price"};

// The gateway's texts (assist/degradation.cpp), as a user reads them.
constexpr const char* kV1En = "I'm having trouble right now. Please try again in a few moments.";
constexpr const char* kV1Ja = "現在問題が発生しています。しばらくしてからもう一度お試しください。";
constexpr const char* kV2En =
    "Your question about the price of Frieren needs our assistant, which is running in a "
    "limited mode right now, so I can't answer it fully at the moment. We expect it back in "
    "about 42 seconds. The store page shows current prices and stock.";
constexpr const char* kV2Ja =
    "『葬送のフリーレン』の価格について、アシスタントは現在一部の機能が制限されているため、すぐには"
    "お答えできません。約3分で復旧する見込みです。 "
    "最新の価格と在庫は商品ページでご確認いただけます。";

TEST(UserModelTest, TheV1MessageInvitesARetryAndSaysNothingElse) {
  for (const char* text : {kV1En, kV1Ja}) {
    const ReplyReading r = read_reply(text, {}, kFrierenPrice);
    EXPECT_TRUE(r.invites_retry) << text;
    EXPECT_FALSE(r.status) << text;
    EXPECT_FALSE(r.eta_s) << text;  // "in a few moments" is no time
    EXPECT_EQ(r.links, 0) << text;
    EXPECT_FALSE(r.on_topic) << text;
  }
}

TEST(UserModelTest, TheV2MessageGivesStatusEtaLinksAndTheTopic) {
  const ReplyReading en = read_reply(kV2En, kV2PricingLinks, kFrierenPrice);
  EXPECT_FALSE(en.invites_retry);
  EXPECT_TRUE(en.status);  // the status link
  ASSERT_TRUE(en.eta_s);
  EXPECT_EQ(*en.eta_s, 42);
  EXPECT_EQ(en.links, 3);
  EXPECT_TRUE(en.on_topic);
  const std::vector<std::string> ja_topic = {"葬送のフリーレン", "価格"};
  const ReplyReading ja = read_reply(kV2Ja, {}, ja_topic);
  EXPECT_FALSE(ja.invites_retry);
  EXPECT_FALSE(ja.status);  // no link, no status page named
  ASSERT_TRUE(ja.eta_s);
  EXPECT_EQ(*ja.eta_s, 180);
  EXPECT_TRUE(ja.on_topic);
  EXPECT_TRUE(read_reply("状況はステータスページでお知らせします。", {}, {}).status);
  EXPECT_TRUE(read_reply("The status page has updates.", {}, {}).status);
  // Unrelated numbers are no ETA; a topic word must be in the text.
  EXPECT_FALSE(read_reply("Your order #1234 is on its way.", {}, kFrierenPrice).eta_s);
  EXPECT_FALSE(read_reply("Your order #1234 is on its way.", {}, kFrierenPrice).on_topic);
}

TEST(UserModelTest, EveryInvitationToRetryIsRead) {
  for (const char* text :
       {"Please TRY AGAIN later.", "Please retry.", "You can resend your message.",
        "Try asking again soon.", "Please ask again in a minute.", "再度お試しください。",
        "もう一度送信してください。", "再送してください。", "やり直してください。",
        "改めてお問い合わせください。"}) {
    EXPECT_TRUE(read_reply(text, {}, {}).invites_retry) << text;
  }
  EXPECT_FALSE(read_reply(kV2En, {}, {}).invites_retry);
  EXPECT_FALSE(read_reply(kV2Ja, {}, {}).invites_retry);
}

TEST(UserModelTest, TheScenarioCoefficientsGiveEachMessageItsChance) {
  const Behaviour b;  // the defaults, as s5 states them
  const double v1 = resend_probability(read_reply(kV1En, {}, kFrierenPrice), b);
  const double v2 = resend_probability(read_reply(kV2En, kV2PricingLinks, kFrierenPrice), b);
  const std::string regressed_text = std::string(kV2En) + " Please try again.";
  const double regressed =
      resend_probability(read_reply(regressed_text, kV2PricingLinks, kFrierenPrice), b);
  const double bare = resend_probability(read_reply("Something went wrong.", {}, {}), b);
  EXPECT_NEAR(v1, 0.60, 0.01);  // the seed's measured 60%
  EXPECT_NEAR(v2, 0.02, 0.005);
  EXPECT_NEAR(bare, 0.40, 0.01);
  // The invitation outweighs the status, ETA and topic; only the links still count.
  EXPECT_NEAR(regressed, 0.38, 0.01);
  EXPECT_GT(regressed, 10 * v2);
  // Each reassurance lowers the chance on its own.
  ReplyReading r;
  const double none = resend_probability(r, b);
  r.status = true;
  EXPECT_LT(resend_probability(r, b), none);
  r = {};
  r.eta_s = 30;
  EXPECT_LT(resend_probability(r, b), none);
  r = {};
  r.on_topic = true;
  EXPECT_LT(resend_probability(r, b), none);
  r = {};
  r.links = 2;
  EXPECT_LT(resend_probability(r, b), none);
  r.links = 10;  // up to 3 links count
  ReplyReading three;
  three.links = 3;
  EXPECT_EQ(resend_probability(r, b), resend_probability(three, b));
}

TEST(UserModelTest, TheScenarioFileSetsTheCoefficientsAndNamesTheOldRates) {
  auto s = parse_scenario(
      "name = \"x\"\n[behaviour]\nresend_bias = -1.0\nresend_if_invited = 2.5\nresend_max = 5\n",
      "t.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s.value().behaviour.resend_bias, -1.0);
  EXPECT_EQ(s.value().behaviour.resend_if_invited, 2.5);
  EXPECT_EQ(s.value().behaviour.resend_max, 5);
  auto old = parse_scenario("name = \"x\"\n[behaviour]\nv2_resend = 0.02\n", "t.toml");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("v2_resend"), std::string::npos);
  EXPECT_NE(old.error().message.find("resend_if_invited"), std::string::npos);
}

}  // namespace
}  // namespace ma::sim
