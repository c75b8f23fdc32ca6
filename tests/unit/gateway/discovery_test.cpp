#include "gateway/discovery.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace status::gateway;
using namespace std::chrono_literals;

namespace {

// A name service where "slow.example" takes 3 s (a black-holed DNS server) and the others
// answer at once.
struct SlowDns {
  std::atomic<int> calls{0};
  std::shared_ptr<std::promise<void>> release = std::make_shared<std::promise<void>>();
  Resolver::Resolve fn() {
    auto gate = release->get_future().share();
    return [this, gate](const std::string& host) -> std::optional<std::string> {
      ++calls;
      if (host == "slow.example") {
        gate.wait_for(3s);
        return "10.0.0.9";
      }
      if (host == "fails.example") return std::nullopt;
      return "10.0.0.1";
    };
  }
};

}  // namespace

// Discovery must never block on DNS for long (review F17): lookup() answers from the cache at
// once, and a slow name holds up neither lookup() nor a bounded wait().
TEST(Resolver, NeverBlocksOnASlowName) {
  SlowDns dns;
  Resolver r(dns.fn(), 30s, 50ms);
  EXPECT_EQ(r.lookup("127.0.0.1"), "127.0.0.1");  // numeric: no lookup at all
  EXPECT_EQ(dns.calls, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(r.lookup("slow.example"));
  EXPECT_FALSE(r.lookup("fast.example"));  // queued behind the slow one
  EXPECT_FALSE(r.wait(200ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_FALSE(r.lookup("slow.example"));
  dns.release->set_value();  // the DNS server answers after all
  EXPECT_TRUE(r.wait(2s));
  EXPECT_EQ(r.lookup("slow.example"), "10.0.0.9");
  EXPECT_EQ(r.lookup("fast.example"), "10.0.0.1");
  int calls = dns.calls;
  EXPECT_EQ(r.lookup("fast.example"), "10.0.0.1");  // cached
  EXPECT_EQ(dns.calls, calls);
  bool first = false;
  EXPECT_FALSE(r.lookup("fails.example", &first));
  EXPECT_TRUE(first);
  EXPECT_TRUE(r.wait(2s));
  EXPECT_FALSE(r.lookup("fails.example", &first));
  EXPECT_FALSE(first) << "looked up once already";
}

// The resolver's thread owns what it uses: destroying the resolver while a lookup hangs
// returns at once.
TEST(Resolver, DestroyedWhileALookupHangs) {
  SlowDns dns;
  auto t0 = std::chrono::steady_clock::now();
  {
    Resolver r(dns.fn());
    r.lookup("slow.example");
    ASSERT_TRUE([&] {
      for (int i = 0; i < 100 && dns.calls == 0; ++i) std::this_thread::sleep_for(10ms);
      return dns.calls > 0;
    }());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  dns.release->set_value();
}
