// status-node's option table (node_option_table + finish_node_options).
#include "node/node.hpp"

#include <gtest/gtest.h>

using status::common::Config;
using status::common::ConfigError;
using status::node::NodeOptions;

namespace {

NodeOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  NodeOptions o;
  Config c("status-node", "test", status::node::node_option_table(o));
  c.parse(args, env);
  status::node::finish_node_options(o, c);
  return o;
}

std::string error_of(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  try {
    parse(std::move(args), std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(NodeOptions, Defaults) {
  auto o = parse({"--data-dir", "/d"});
  EXPECT_EQ(o.server.port, 8081);
  EXPECT_EQ(o.server.bind, "127.0.0.1");
  EXPECT_EQ(o.server.threads, status::common::default_threads());
  EXPECT_EQ(o.server.read_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(o.store.data_dir, "/d");
  EXPECT_TRUE(o.store.node_id.empty());
  EXPECT_FALSE(o.store.sync_full);
  EXPECT_FALSE(o.store.outbox);
  EXPECT_EQ(o.store.tombstone_ttl_ms, 691200LL * 1000);
  EXPECT_EQ(o.queue_expiry, std::chrono::seconds(604800));
  EXPECT_EQ(o.queue_type, "classic");
  EXPECT_EQ(o.publish_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.event_replay_window, std::chrono::seconds(600));
  EXPECT_TRUE(o.auth_required);
  EXPECT_TRUE(o.auth.signup_open);
  EXPECT_FALSE(o.auth.read_authenticated);
  EXPECT_EQ(o.auth.session_ttl, std::chrono::seconds(604800));
  EXPECT_EQ(o.advertise_host, "127.0.0.1");
  EXPECT_TRUE(o.trusted_proxies.contains("::1"));
  EXPECT_TRUE(o.server.per_client_exempt.contains("127.0.0.1"));
  EXPECT_EQ(o.log.level, "info");
}

TEST(NodeOptions, FlagsAndEnvironment) {
  auto o = parse({"--sync", "full", "--auth", "off", "--bind", "10.0.0.5", "--trusted-proxy",
                  "10.0.0.0/8,none", "--read-access", "authenticated"},
                 {{"STATUS_DATA_DIR", "/e"},
                  {"STATUS_AMQP_URL", "amqp://u:p@h1/,amqp://u:p@h2/"},
                  {"STATUS_PEER", "http://127.0.0.1:8082,http://127.0.0.1:8083"},
                  {"STATUS_QUEUE_TYPE", "quorum"}});
  EXPECT_EQ(o.store.data_dir, "/e");
  EXPECT_TRUE(o.store.sync_full);
  EXPECT_FALSE(o.auth_required);
  EXPECT_TRUE(o.auth.read_authenticated);
  EXPECT_EQ(o.amqp_urls.size(), 2u);
  EXPECT_TRUE(o.store.outbox);
  EXPECT_EQ(o.peers.size(), 2u);
  EXPECT_EQ(o.queue_type, "quorum");
  EXPECT_EQ(o.advertise_host, "10.0.0.5");
  EXPECT_TRUE(o.trusted_proxies.contains("10.1.2.3"));
  EXPECT_FALSE(o.trusted_proxies.contains("127.0.0.1"));
}

TEST(NodeOptions, BadConfiguration) {
  EXPECT_EQ(error_of({}), "--data-dir is required (or STATUS_DATA_DIR)");
  const std::string d = "--data-dir=/d";
  EXPECT_EQ(error_of({d, "--log-level", "verbose"}),  // review F11: no more silent "off"
            "--log-level must be one of debug, info, warn, error, got 'verbose'");
  EXPECT_EQ(error_of({d, "--sync", "sometimes"}), "--sync must be one of normal, full, got 'sometimes'");
  EXPECT_EQ(error_of({d, "--node-id", "bad id"}),
            "--node-id must be 1-64 characters of A-Z a-z 0-9 . _ -, got 'bad id'");
  EXPECT_EQ(error_of({d, "--port", "70000"}), "--port must be an integer in 0..65535, got '70000'");
  EXPECT_NE(error_of({d, "--tombstone-ttl", "5", "--queue-expiry", "5"}).find("must be longer than"),
            std::string::npos);
  // The broker URL is a secret: its password is never in a message.
  auto amqp = error_of({d}, {{"STATUS_AMQP_URL", "http://u:s3cret@h/"}});
  EXPECT_EQ(amqp, "--amqp-url must be an amqp:// or amqps:// URL, got 'http://u:***@h/'");
  EXPECT_EQ(error_of({d}, {{"STATUS_AMQP_URL", "amqps://u:s3cret@h:99999/"}}),
            "--amqp-url must be an amqp:// or amqps:// URL, got 'amqps://u:***@h:99999/'");
  auto registry = error_of({d, "--registry-url", "ftp://node:s3cret@h/eureka"});
  EXPECT_EQ(registry, "--registry-url must be an http:// or https:// URL, got 'ftp://node:***@h/eureka'");
  EXPECT_NE(error_of({d, "--amqp-url", "amqp://h/"}).find("--cluster-key-file"), std::string::npos);
}

TEST(NodeOptions, AmqpsFlags) {
  auto o = parse({"--data-dir", "/d", "--auth", "off"},
                 {{"STATUS_AMQP_URL", "amqps://u:p@localhost/,amqp://u:p@h2/"}});
  EXPECT_EQ(o.amqp_urls.size(), 2u);
  EXPECT_TRUE(o.amqp_ca_file.empty());  // the system's trust store
  const std::string d = "--data-dir=/d";
  EXPECT_EQ(error_of({d, "--auth", "off", "--amqp-cert", "/c.crt"}),
            "--amqp-cert and --amqp-key go together: give both or neither");
  EXPECT_EQ(error_of({d, "--auth", "off", "--amqp-key", "/c.key"}),
            "--amqp-cert and --amqp-key go together: give both or neither");
  EXPECT_EQ(error_of({d, "--auth", "off", "--amqp-ca", "/nonexistent/ca.crt"}),
            "--amqp-ca: cannot read the CA file '/nonexistent/ca.crt': No such file or directory");
  auto cert = error_of({d, "--auth", "off", "--amqp-cert", "/nonexistent/c.crt", "--amqp-key",
                        "/nonexistent/c.key"});
  EXPECT_EQ(cert.rfind("--amqp-cert/--amqp-key: ", 0), 0u) << cert;
  EXPECT_NE(cert.find("/nonexistent/c.crt"), std::string::npos) << cert;
}

TEST(NodeOptions, SecretsAreNotInHelp) {
  NodeOptions o;
  Config c("status-node", "test", status::node::node_option_table(o));
  auto help = c.help_text();
  for (const char* secret : {"--amqp-url VALUE", "--registry-url VALUE"}) {
    auto line = help.substr(help.find(secret));
    line = line.substr(0, line.find('\n'));
    EXPECT_NE(line.find("secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("[default:"), std::string::npos) << line;
  }
}
