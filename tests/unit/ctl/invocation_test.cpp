#include "ctl/invocation.hpp"

#include <gtest/gtest.h>

using namespace status::ctl;
using status::common::ConfigError;

TEST(Invocation, IdentityCommandsAndTheirArguments) {
  auto inv = parse_invocation({"login", "alice", "--password-file", "/p"}, {});
  EXPECT_EQ(inv.command, "login");
  EXPECT_EQ(inv.args, std::vector<std::string>{"alice"});
  EXPECT_EQ(inv.config.get("password-file"), "/p");
  EXPECT_TRUE(parse_invocation({"login"}, {}).args.empty());  // the username is then asked
  EXPECT_EQ(parse_invocation({"logout"}, {}).command, "logout");
  EXPECT_EQ(parse_invocation({"whoami"}, {}).command, "whoami");
  EXPECT_EQ(parse_invocation({"signup", "bob"}, {}).args, std::vector<std::string>{"bob"});
  EXPECT_TRUE(parse_invocation({"passwd"}, {}).args.empty());
  EXPECT_EQ(parse_invocation({"passwd", "bob", "--new-password-file", "/n"}, {})
                .config.get("new-password-file"),
            "/n");
  for (std::vector<std::string> bad : {std::vector<std::string>{"login", "a", "b"},
                                       {"logout", "alice"},
                                       {"whoami", "x"},
                                       {"signup"},
                                       {"signup", "a", "b"},
                                       {"passwd", "a", "b"},
                                       {"login", "--password-file"}})
    EXPECT_THROW(parse_invocation(bad, {}), ConfigError) << bad[0];
}

TEST(Invocation, TokenFromFlagOrEnvironment) {
  EXPECT_EQ(parse_invocation({"get", "a", "--token", "t1"}, {}).config.get("token"), "t1");
  EXPECT_EQ(parse_invocation({"--token=t2", "get", "a"}, {}).config.get("token"), "t2");
  // A token may start with '-': the flag takes the next argument whatever it is.
  EXPECT_EQ(parse_invocation({"get", "a", "--token", "-x"}, {}).config.get("token"), "-x");
  EXPECT_EQ(parse_invocation({"get", "a"}, {{"STATUS_TOKEN", "t3"}}).config.get("token"), "t3");
  EXPECT_EQ(
      parse_invocation({"get", "a", "--token", "t1"}, {{"STATUS_TOKEN", "t3"}}).config.get("token"),
      "t1");
  EXPECT_FALSE(parse_invocation({"get", "a"}, {}).config.has("token"));
}

TEST(Invocation, HelpNamesTheIdentityCommandsAndTheTokenFile) {
  auto help = help_text();
  for (const char* word :
       {"login [USER]", "logout", "whoami", "signup USER", "passwd", "--token", "STATUS_TOKEN",
        "--password-file", ".config/statusctl/token", "XDG_CONFIG_HOME", "401", "403"})
    EXPECT_NE(help.find(word), std::string::npos) << word;
}

TEST(Invocation, StatusFeatureOptions) {
  auto inv = parse_invocation({"set", "alice", "In", "a", "meeting", "--emoji", "📅",
                               "--availability", "busy", "--clear-after", "1h30m"},
                              {});
  EXPECT_EQ(inv.args, (std::vector<std::string>{"alice", "In a meeting"}));
  EXPECT_EQ(inv.config.get("emoji"), "📅");
  EXPECT_EQ(inv.config.get_all("availability"), std::vector<std::string>{"busy"});
  EXPECT_EQ(inv.config.get("clear-after"), "1h30m");
  EXPECT_FALSE(inv.config.has("expires-at"));

  inv = parse_invocation({"list", "--q", "lunch break", "--availability", "busy", "--user", "a",
                          "--availability=dnd", "--user", "b", "--bbox", "-10.5,-20,30,40.25"},
                         {});
  EXPECT_TRUE(inv.args.empty());
  EXPECT_EQ(inv.config.get("q"), "lunch break");
  EXPECT_EQ(inv.config.get_all("availability"), (std::vector<std::string>{"busy", "dnd"}));
  EXPECT_EQ(inv.config.get_all("user"), (std::vector<std::string>{"a", "b"}));
  // A box starting with a negative number is --bbox's value, not an option.
  EXPECT_EQ(inv.config.get("bbox"), "-10.5,-20,30,40.25");

  // Repeatable options from the environment: a comma-separated list.
  inv = parse_invocation({"list"}, {{"STATUS_AVAILABILITY", "away,dnd"}, {"STATUS_USER", "x,y"}});
  EXPECT_EQ(inv.config.get_all("availability"), (std::vector<std::string>{"away", "dnd"}));
  EXPECT_EQ(inv.config.get_all("user"), (std::vector<std::string>{"x", "y"}));
}

TEST(Invocation, HistoryTakesOneUser) {
  auto inv = parse_invocation({"history", "alice", "--json"}, {});
  EXPECT_EQ(inv.command, "history");
  EXPECT_EQ(inv.args, std::vector<std::string>{"alice"});
  EXPECT_TRUE(inv.config.get_bool("json"));
  EXPECT_THROW(parse_invocation({"history"}, {}), ConfigError);
  EXPECT_THROW(parse_invocation({"history", "alice", "bob"}, {}), ConfigError);
}

TEST(Invocation, DurationsInSeconds) {
  const std::pair<const char*, long> good[] = {
      {"90s", 90},        {"30m", 1800},        {"1h", 3600},  {"4h", 14400},     {"2d", 172800},
      {"5400", 5400},     {"1h30m", 5400},      {"1m30s", 90}, {"1d12h", 129600}, {"0", 0},
      {"366d", 31622400}, {"2d3h4m5s", 183845}, {"007m", 420}};
  for (const auto& [text, seconds] : good) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d.has_value()) << text;
    EXPECT_EQ(*d, seconds) << text;
  }
  for (const char* bad : {"", "h", "1x", "1.5h", "-5", "+5", "1h 30m", " 1h", "1H", "30m1h", "1h1h",
                          "1s1m", "h1", "1hm", "1h30", "9999999999999", "9999999999999d"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(Invocation, HelpNamesTheStatusFeatures) {
  auto help = help_text();
  for (const char* word :
       {"history USER", "--emoji", "--availability", "available, busy, away", "dnd",
        "--clear-after", "--expires-at", "90s, 30m", "1h30m", "366d", "--q", "--bbox",
        "MINLON,MINLAT,MAXLON,MAXLAT", "--user", "(repeatable)", "RFC 3339"})
    EXPECT_NE(help.find(word), std::string::npos) << word;
}
