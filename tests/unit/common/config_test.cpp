#include "common/config.hpp"

#include <gtest/gtest.h>

using status::common::Config;
using status::common::ConfigError;

namespace {

Config make() {
  return Config("prog", "test", {{"port", "8081", "port"},
                                 {"data-dir", "", "dir"},
                                 {"peer", "", "peer", true},
                                 {"verbose", "", "v", false, true}});
}

}  // namespace

TEST(Config, DefaultsFlagsAndEnvironment) {
  auto c = make();
  ASSERT_TRUE(c.parse({"--data-dir", "/x", "--peer", "a", "--peer=b"}, {{"STATUS_PORT", "9000"}}));
  EXPECT_EQ(c.get("data-dir"), "/x");
  EXPECT_EQ(c.get_int("port", 0, 65535), 9000);
  EXPECT_EQ(c.get_all("peer"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(c.get_bool("verbose"));
}

TEST(Config, FlagBeatsEnvironmentAndRepeatableEnvSplitsOnComma) {
  auto c = make();
  ASSERT_TRUE(c.parse({"--port", "1", "--verbose"}, {{"STATUS_PORT", "2"}, {"STATUS_PEER", "x,y"}}));
  EXPECT_EQ(c.get("port"), "1");
  EXPECT_TRUE(c.get_bool("verbose"));
  EXPECT_EQ(c.get_all("peer").size(), 2u);
}

TEST(Config, Errors) {
  auto c = make();
  EXPECT_THROW(c.parse({"--nope"}, {}), ConfigError);
  EXPECT_THROW(c.parse({"--port"}, {}), ConfigError);
  EXPECT_THROW(c.parse({"stray"}, {}), ConfigError);
  ASSERT_TRUE(c.parse({"--port", "99999"}, {}));
  EXPECT_THROW(c.get_int("port", 0, 65535), ConfigError);
  EXPECT_FALSE(c.parse({"--help"}, {}));
  EXPECT_NE(c.help_text().find("STATUS_DATA_DIR"), std::string::npos);
}
