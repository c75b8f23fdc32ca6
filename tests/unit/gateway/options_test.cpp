#include "gateway/options.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
using status::common::Config;
using status::common::ConfigError;

namespace {

GatewayOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  Config c("status-gateway", "test", option_table());
  c.parse(args, env);
  return options_from_config(c);
}

}  // namespace

TEST(Options, HostPort) {
  EXPECT_EQ(parse_host_port("127.0.0.1:8081"), (std::pair<std::string, unsigned short>{"127.0.0.1", 8081}));
  EXPECT_EQ(parse_host_port("http://localhost:80/")->first, "localhost");
  EXPECT_EQ(parse_host_port("[::1]:8081")->first, "::1");
  for (auto bad : {"127.0.0.1", ":8081", "host:", "host:0", "host:65536", "host:80x", "a/b:80"})
    EXPECT_FALSE(parse_host_port(bad)) << bad;
}

TEST(Options, DefaultsFlagsAndEnvironment) {
  auto o = parse({"--upstream", "127.0.0.1:8081", "--upstream", "127.0.0.1:8082", "--threads", "3"},
                 {{"STATUS_LB_POLICY", "p2c"}, {"STATUS_RATE_LIMIT", "5"}});
  EXPECT_EQ(o.server.port, 8080);
  EXPECT_EQ(o.server.bind, "127.0.0.1");
  EXPECT_EQ(o.server.threads, 3);
  EXPECT_EQ(o.upstreams.size(), 2u);
  EXPECT_EQ(o.proxy.policy, LbPolicy::kP2c);
  EXPECT_EQ(o.rate_limit, 5);
  EXPECT_EQ(o.rate_burst, 10);
  EXPECT_EQ(o.proxy.max_retries, 2);
  auto r = parse({"--registry-url", "http://127.0.0.1:8761/eureka/"});
  ASSERT_EQ(r.registries.size(), 1u);
  EXPECT_EQ(r.registries[0].path, "/eureka");
}

TEST(Options, BadConfigurationIsOneClearError) {
  EXPECT_THROW(parse({}), ConfigError);  // nowhere to send requests
  EXPECT_THROW(parse({"--registry-url", "not a url"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "nohostport"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--lb-policy", "random"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--port", "70000"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--web-root", "/nonexistent/dir"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--log-level", "loud"}), ConfigError);
}
