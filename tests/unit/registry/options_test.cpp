// status-registry's option table (review F16: it was untested in main.cpp).
#include "registry/options.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using status::common::ConfigError;
using status::registry::options_from;

namespace {

std::string error_of(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  try {
    options_from(args, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RegistryOptions, DefaultsFlagsAndEnvironment) {
  auto o = options_from({});
  EXPECT_EQ(o.service.server.port, 8761);
  EXPECT_EQ(o.service.server.threads, 2);
  EXPECT_EQ(o.service.server.idle_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(o.service.eviction_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(o.service.peer_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(o.service.registry.delta_retention_ms, 180000);
  EXPECT_EQ(o.service.registry.max_instances, 10000u);
  EXPECT_EQ(o.service.registry.max_changes, 20000u);
  EXPECT_EQ(o.service.registry.max_apps, 1000u);
  EXPECT_FALSE(o.protect_reads);
  EXPECT_EQ(o.log.level, "info");
  auto p = options_from({"--max-instances", "5", "--delta-retention-s", "2"},
                        {{"STATUS_PEER", "http://a:1/eureka,http://u:pw@b:2/eureka"},
                         {"STATUS_LOG_LEVEL", "warn"}});
  ASSERT_EQ(p.service.peers.size(), 2u);
  EXPECT_EQ(p.service.peers[1].user, "u");
  EXPECT_EQ(p.service.registry.max_changes, 10u);
  EXPECT_EQ(p.service.registry.delta_retention_ms, 2000);
  EXPECT_EQ(p.log.level, "warn");
}

TEST(RegistryOptions, BadConfiguration) {
  EXPECT_EQ(error_of({"--eviction-interval-ms", "5"}),
            "--eviction-interval-ms must be a count of ms in 10..1000, got '5'");
  EXPECT_EQ(error_of({"--peer", "ftp://u:s3cret@h/eureka"}),
            "--peer must be an http:// or https:// URL, got 'ftp://u:***@h/eureka'");
  EXPECT_EQ(error_of({"--protect-reads"}), "--protect-reads needs --credentials-file");
  EXPECT_EQ(error_of({"--log-level", "off"}),
            "--log-level must be one of debug, info, warn, error, got 'off'");
  EXPECT_EQ(error_of({"--credentials-file", "/nonexistent/creds"}).rfind("--credentials-file: ", 0),
            0u);
}

TEST(RegistryOptions, CredentialsAndPeerWarnings) {
  auto path = std::filesystem::temp_directory_path() / "registry_options_test.creds";
  {
    std::ofstream f(path);
    f << "node:secret-password\n";
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  std::vector<std::string> warnings;
  auto o = options_from({"--credentials-file", path.string(), "--protect-reads", "--peer",
                         "http://other:pw@h:1/eureka"},
                        {}, &warnings);
  EXPECT_TRUE(o.protect_reads);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("is not in the credentials file"), std::string::npos);
  EXPECT_EQ(warnings[0].find("pw@"), std::string::npos) << warnings[0];
  std::filesystem::remove(path);
}
