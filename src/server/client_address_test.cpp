#include "server/client_address.hpp"

#include <gtest/gtest.h>

namespace ma::server {
namespace {

TrustedProxies proxies(const std::vector<std::string>& entries) {
  auto t = TrustedProxies::parse(entries);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : TrustedProxies{};
}

TEST(ClientAddressTest, WithoutTrustedProxiesTheHeaderIsIgnored) {
  const TrustedProxies none;
  EXPECT_EQ(none.client_of("203.0.113.9", {"198.51.100.1"}), "203.0.113.9");
  EXPECT_EQ(none.client_of("::ffff:203.0.113.9", {}), "203.0.113.9");
}

TEST(ClientAddressTest, BehindALoadBalancerTheClientIsTheEntryItAppended) {
  const auto lb = proxies({"10.0.0.0/8"});
  EXPECT_EQ(lb.client_of("10.1.2.3", {"198.51.100.7"}), "198.51.100.7");
  // Each visitor behind the same balancer is their own source.
  EXPECT_NE(lb.client_of("10.1.2.3", {"198.51.100.7"}), lb.client_of("10.1.2.3", {"198.51.100.8"}));
  // No header: the balancer itself (a health check, say).
  EXPECT_EQ(lb.client_of("10.1.2.3", {}), "10.1.2.3");
  // A dual-stack listener's mapped form matches the IPv4 network.
  EXPECT_EQ(lb.client_of("::ffff:10.1.2.3", {"198.51.100.7"}), "198.51.100.7");
}

TEST(ClientAddressTest, AClientCannotChooseItsAddressByWritingTheHeader) {
  const auto lb = proxies({"10.0.0.0/8"});
  // The client sent "X-Forwarded-For: 1.1.1.1"; the balancer appended the real address.
  EXPECT_EQ(lb.client_of("10.1.2.3", {"1.1.1.1, 198.51.100.7"}), "198.51.100.7");
  // A client connecting directly is not a trusted proxy: its header counts for nothing.
  EXPECT_EQ(lb.client_of("198.51.100.7", {"1.1.1.1"}), "198.51.100.7");
  // A trusted-looking address written by the client is still only the client's word: the
  // first untrusted hop from the right is the client.
  EXPECT_EQ(lb.client_of("10.1.2.3", {"10.9.9.9, 198.51.100.7"}), "198.51.100.7");
}

TEST(ClientAddressTest, ChainsOfProxiesAndHeaderLinesAreReadFromTheRight) {
  const auto t = proxies({"10.0.0.0/8", "192.168.1.7", "fd00::/8"});
  // CDN edge -> 192.168.1.7 -> 10.x balancer -> us.
  EXPECT_EQ(t.client_of("10.0.0.2", {"203.0.113.5, 192.168.1.7"}), "203.0.113.5");
  // The same entries over two header lines.
  EXPECT_EQ(t.client_of("10.0.0.2", {"203.0.113.5", "192.168.1.7"}), "203.0.113.5");
  EXPECT_EQ(t.client_of("fd00::5", {"[2001:db8::42]:5000"}), "2001:db8::42");
  EXPECT_EQ(t.client_of("fd00::5", {"2001:db8::42"}), "2001:db8::42");
  EXPECT_EQ(t.client_of("10.0.0.2", {"203.0.113.5:61000"}), "203.0.113.5");
  // Every hop trusted: the farthest one.
  EXPECT_EQ(t.client_of("10.0.0.2", {"192.168.1.7"}), "192.168.1.7");
  // Empty entries are skipped.
  EXPECT_EQ(t.client_of("10.0.0.2", {"203.0.113.5, , "}), "203.0.113.5");
}

TEST(ClientAddressTest, AGarbledEntryStopsAtTheLastHopVouchedFor) {
  const auto t = proxies({"10.0.0.0/8", "192.168.1.7"});
  EXPECT_EQ(t.client_of("10.0.0.2", {"unknown"}), "10.0.0.2");
  EXPECT_EQ(t.client_of("10.0.0.2", {"203.0.113.5, _hidden, 192.168.1.7"}), "192.168.1.7");
  EXPECT_EQ(t.client_of("not-an-address", {"203.0.113.5"}), "not-an-address");
}

TEST(ClientAddressTest, NetworksMatchOnTheirPrefixOnly) {
  const auto t = proxies({"172.16.0.0/12", "2001:db8:abcd::/48", "::1"});
  EXPECT_TRUE(t.contains(boost::asio::ip::make_address("172.31.255.255")));
  EXPECT_FALSE(t.contains(boost::asio::ip::make_address("172.32.0.0")));
  EXPECT_TRUE(t.contains(boost::asio::ip::make_address("2001:db8:abcd:ffff::1")));
  EXPECT_FALSE(t.contains(boost::asio::ip::make_address("2001:db8:abce::1")));
  EXPECT_TRUE(t.contains(boost::asio::ip::make_address("::1")));
  EXPECT_FALSE(t.contains(boost::asio::ip::make_address("::2")));
  // Host bits in a network are ignored, as in 10.1.2.3/8.
  EXPECT_TRUE(proxies({"10.1.2.3/8"}).contains(boost::asio::ip::make_address("10.200.0.1")));
  EXPECT_TRUE(proxies({"0.0.0.0/0"}).contains(boost::asio::ip::make_address("8.8.8.8")));
}

TEST(ClientAddressTest, AnEntryThatIsNeitherAnAddressNorANetworkIsRefusedByName) {
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0/8", "lb.internal", "fd00::/129", "10.0.0.0/", "10.0.0.0/8x", ""}) {
    auto t = TrustedProxies::parse({bad});
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << t.error().message;
  }
}

}  // namespace
}  // namespace ma::server
