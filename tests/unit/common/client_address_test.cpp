#include "common/client_address.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace status::common;

TEST(Networks, RangesOfBothFamilies) {
  Networks n({"127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "::1", "fc00::/7", "192.168.1.128/25"});
  EXPECT_TRUE(n.contains("127.0.0.1"));
  EXPECT_FALSE(n.contains("127.0.0.2"));
  EXPECT_TRUE(n.contains("10.255.1.2"));
  EXPECT_TRUE(n.contains("172.31.255.255"));
  EXPECT_FALSE(n.contains("172.32.0.1"));
  EXPECT_TRUE(n.contains("192.168.1.200"));
  EXPECT_FALSE(n.contains("192.168.1.127"));
  EXPECT_TRUE(n.contains("::1"));
  EXPECT_TRUE(n.contains("fd12:3456::1"));
  EXPECT_FALSE(n.contains("2001:db8::1"));
  EXPECT_TRUE(n.contains("::ffff:10.1.2.3"));  // IPv4-mapped counts as IPv4
  EXPECT_FALSE(n.contains("not an address"));
  EXPECT_FALSE(n.contains(""));
  EXPECT_FALSE(Networks().contains("127.0.0.1"));
  EXPECT_TRUE(Networks({"0.0.0.0/0"}).contains("8.8.8.8"));
  for (auto bad : {"", "x", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "1.2.3.4/8x"})
    EXPECT_THROW(Networks({bad}), std::invalid_argument) << bad;
}

TEST(ClientKey, IPv6ByItsSlash64) {
  EXPECT_EQ(client_key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(client_key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1"), client_key("2001:db8:1:2:bbbb::2"));
  EXPECT_NE(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
}

TEST(ForwardedClient, OnlyFromATrustedProxy) {
  Networks trusted({"127.0.0.1"});
  Request req{http::verb::get, "/api/events", 11};
  req.insert("X-Forwarded-For", "203.0.113.9, 198.51.100.1");
  req.insert("x-forwarded-for", " 192.0.2.5 ");
  EXPECT_EQ(forwarded_client(req, "127.0.0.1", trusted), "192.0.2.5");  // the proxy's own entry
  EXPECT_EQ(forwarded_client(req, "127.0.0.2", trusted), "127.0.0.2");  // not trusted: ignored
  EXPECT_EQ(forwarded_client(req, "127.0.0.1", Networks()), "127.0.0.1");
  Request none{http::verb::get, "/", 11};
  EXPECT_EQ(forwarded_client(none, "127.0.0.1", trusted), "127.0.0.1");
  Request junk{http::verb::get, "/", 11};
  junk.insert("X-Forwarded-For", "not-an-address");
  EXPECT_EQ(forwarded_client(junk, "127.0.0.1", trusted), "127.0.0.1");
}

TEST(PerClientCounter, CapsEachClientAndReleases) {
  PerClientCounter c(2);
  auto a1 = c.acquire("a");
  auto a2 = c.acquire("a");
  EXPECT_TRUE(a1 && a2);
  EXPECT_FALSE(c.acquire("a"));
  EXPECT_TRUE(c.acquire("b"));  // another client has its own count (released at once here)
  EXPECT_EQ(c.count("b"), 0u);
  a1.reset();
  EXPECT_EQ(c.count("a"), 1u);
  {
    auto a3 = c.acquire("a");
    EXPECT_TRUE(a3);
    auto moved = std::move(a3);
    EXPECT_EQ(c.count("a"), 2u);
  }
  EXPECT_EQ(c.count("a"), 1u);
  PerClientCounter unlimited(0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.try_acquire("x"));
}

// The fast IPv4 text is inet_ntop's, for every kind of octet; mapped IPv6 is shown as IPv4.
TEST(AddressText, Ipv4TextIsInetNtopsAndMappedIsShownAsIpv4) {
  namespace ip = boost::asio::ip;
  for (std::uint32_t a : {0u, 1u, 0x0a000007u, 0x7f000001u, 0xc0a80164u, 0xffffffffu, 0x01020304u,
                          0x090a6364u, 0x0a636465u}) {
    EXPECT_EQ(ipv4_text(a), ip::address_v4(a).to_string()) << a;
  }
  for (std::uint32_t a = 0; a < 0xffffffffu - 7919u * 65537u; a += 7919u * 65537u)
    ASSERT_EQ(ipv4_text(a), ip::address_v4(a).to_string()) << a;
  EXPECT_EQ(address_text(ip::make_address("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(address_text(ip::make_address("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(address_text(ip::make_address("2001:db8::1")), "2001:db8::1");
  EXPECT_EQ(client_key("10.1.2.3"), "10.1.2.3");
}
