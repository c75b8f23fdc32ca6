#include "gateway/options.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
using status::common::Config;
using status::common::ConfigError;

namespace {

GatewayOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return options_from(args, env);
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

// Security defaults (review F10, F14, F16, F24): on unless switched off explicitly.
TEST(Options, SecurityDefaults) {
  auto o = parse({"--upstream", "127.0.0.1:8081"});
  EXPECT_EQ(o.rate_limit, 100);
  EXPECT_EQ(o.rate_burst, 200);
  EXPECT_FALSE(o.any_host);
  EXPECT_EQ(o.allowed_hosts, (std::vector<std::string>{"127.0.0.1", "localhost", "::1"}));
  EXPECT_EQ(o.max_streams_per_client, 32u);
  EXPECT_EQ(o.proxy.response_body_limit, 8u * 1024 * 1024);
  EXPECT_EQ(o.server.max_connections, 10000u);
  EXPECT_EQ(o.server.max_connections_per_client, 256u);
  EXPECT_TRUE(o.metrics_from.contains("127.0.0.1"));
  EXPECT_TRUE(o.metrics_from.contains("10.1.2.3"));
  EXPECT_FALSE(o.metrics_from.contains("203.0.113.7"));
  auto off = parse({"--upstream", "h:1", "--rate-limit", "0", "--allowed-host", "*",
                    "--max-connections-per-client", "0", "--metrics-from", "192.0.2.0/24"});
  EXPECT_EQ(off.rate_limit, 0);
  EXPECT_TRUE(off.any_host);
  EXPECT_TRUE(off.allowed_hosts.empty());
  EXPECT_EQ(off.server.max_connections_per_client, 0u);
  EXPECT_FALSE(off.metrics_from.contains("127.0.0.1"));
  auto named = parse({"--upstream", "h:1", "--bind", "10.0.0.5", "--allowed-host",
                      "status.example.org", "--allowed-host", "gw.internal:8080"});
  EXPECT_EQ(named.allowed_hosts,
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1", "status.example.org",
                                      "gw.internal:8080"}));
  auto env = parse({"--upstream", "h:1"}, {{"STATUS_ALLOWED_HOST", "a.example,b.example"}});
  EXPECT_EQ(env.allowed_hosts,
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1", "a.example", "b.example"}));
  EXPECT_EQ(default_allowed_hosts("10.0.0.5", "gw.example"),
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1", "10.0.0.5", "gw.example"}));
  EXPECT_EQ(default_allowed_hosts("0.0.0.0"),
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1"}));
  // The --advertise-url host: the other gateways' pages call this one by that name.
  auto advertised = parse({"--upstream", "h:1", "--bind", "0.0.0.0", "--advertise-url",
                           "https://GW-2.example:8443/"});
  EXPECT_EQ(advertised.allowed_hosts,
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1", "GW-2.example"}));
  auto both = parse({"--upstream", "h:1", "--advertise-url", "http://gw-2.example:8081",
                     "--allowed-host", "status.example.org"});
  EXPECT_EQ(both.allowed_hosts, (std::vector<std::string>{"127.0.0.1", "localhost", "::1",
                                                          "gw-2.example", "status.example.org"}));
  EXPECT_THROW(parse({"--upstream", "h:1", "--advertise-url", "ftp://gw"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--advertise-url", "http://u:p@gw"}), ConfigError);
}

TEST(Options, BadConfigurationIsOneClearError) {
  EXPECT_THROW(parse({}), ConfigError);  // nowhere to send requests
  EXPECT_THROW(parse({"--registry-url", "not a url"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "nohostport"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--lb-policy", "random"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--port", "70000"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--web-root", "/nonexistent/dir"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--log-level", "loud"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--metrics-from", "10.0.0.0/99"}), ConfigError);
  EXPECT_THROW(parse({"--upstream", "h:1", "--allowed-host", "a b"}), ConfigError);
}
