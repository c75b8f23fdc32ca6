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
