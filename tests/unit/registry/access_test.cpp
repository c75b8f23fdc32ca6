#include "registry/access.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/basic_auth.hpp"

using namespace status::registry;
namespace http = status::common::http;
namespace fs = std::filesystem;

namespace {

// A credentials file in a fresh directory, with the given mode.
class CredentialsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("registry-access-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& text, mode_t mode) {
    auto path = (dir_ / "credentials").string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  fs::path dir_;
};

// The message of the CredentialsError that parsing `text` throws ("" if none).
std::string parse_error(const std::string& text) {
  try {
    Credentials::parse(text, "creds");
  } catch (const CredentialsError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Credentials, ReadsUserPasswordLinesSkippingCommentsAndBlankLines) {
  auto c = Credentials::parse(
      "# registry users\n\nnode:s3cret\r\n  # indented comment\n\t \ngw:pw\n", "creds");
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.check("node", "s3cret"), "node") << "a CRLF line ending is not part of the password";
  EXPECT_EQ(c.check("gw", "pw"), "gw");
  EXPECT_FALSE(c.has_user("# registry users"));
  EXPECT_NE(parse_error(" gw :pw\n"), "") << "a user with spaces";
}

TEST(Credentials, PasswordIsEverythingAfterTheFirstColon) {
  auto c = Credentials::parse("gw:pass:with:colons\npeer:p w \n", "creds");
  EXPECT_EQ(c.check("gw", "pass:with:colons"), "gw");
  EXPECT_EQ(c.check("peer", "p w "), "peer");
  EXPECT_FALSE(c.check("peer", "p w"));
}

TEST(Credentials, WrongPasswordAndUnknownUserAreRefused) {
  auto c = Credentials::parse("node:s3cret\n", "creds");
  EXPECT_FALSE(c.check("node", "s3cre"));
  EXPECT_FALSE(c.check("node", "s3cret "));
  EXPECT_FALSE(c.check("node", ""));
  EXPECT_FALSE(c.check("nobody", "s3cret"));
  EXPECT_FALSE(c.check("", ""));
}

TEST(Credentials, MalformedFilesNameTheLineButNeverThePassword) {
  EXPECT_EQ(parse_error("a:1\njust-a-password-hunter2\n"), "creds line 2: expected user:password");
  EXPECT_EQ(parse_error(":hunter2\n"),
            "creds line 1: the user must be non-empty, without spaces or control characters");
  EXPECT_EQ(parse_error("bob:\n"), "creds line 1: empty password for user bob");
  EXPECT_EQ(parse_error("bob:hunter2\n# x\nbob:hunter3\n"), "creds line 3: user bob appears twice");
  EXPECT_EQ(parse_error("# nothing\n\n"), "creds: no user:password line");
  EXPECT_EQ(parse_error(""), "creds: no user:password line");
  for (const auto& text : {"a:1\njust-a-password-hunter2\n", "bob:hunter2\nbob:hunter3\n"})
    EXPECT_EQ(parse_error(text).find("hunter"), std::string::npos);
}

TEST_F(CredentialsFile, LoadsAPrivateFile) {
  std::vector<std::string> warnings;
  auto c = Credentials::load(write("node:s3cret\n", 0600), &warnings);
  EXPECT_EQ(c.check("node", "s3cret"), "node");
  EXPECT_TRUE(warnings.empty());
}

TEST_F(CredentialsFile, GroupReadableIsAllowedWithAWarning) {
  std::vector<std::string> warnings;
  auto path = write("node:s3cret\n", 0640);
  Credentials::load(path, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "credentials file " + path + " is readable by its group");
}

TEST_F(CredentialsFile, WorldReadableUnreadableOrMissingAreRefused) {
  auto path = write("node:s3cret\n", 0644);
  EXPECT_THROW(
      {
        try {
          Credentials::load(path);
        } catch (const CredentialsError& e) {
          EXPECT_EQ(std::string(e.what()), "credentials file " + path +
                                               " is accessible to every user of the machine; "
                                               "chmod 600 it");
          throw;
        }
      },
      CredentialsError);
  EXPECT_THROW(Credentials::load((dir_ / "missing").string()), CredentialsError);
  EXPECT_THROW(Credentials::load(dir_.string()), CredentialsError) << "a directory";
  if (::geteuid() != 0) {  // root reads anything
    write("node:s3cret\n", 0200);
    EXPECT_THROW(Credentials::load(path), CredentialsError);
  }
}

TEST(Access, AuthenticatesHttpBasic) {
  Access access(Credentials::parse("node:s3cret\npeer:p33r\n", "creds"), {"peer"}, false);
  EXPECT_FALSE(access.open());
  auto with = [](std::optional<std::string> authorization) {
    status::common::Request req{http::verb::get, "/", 11};
    if (authorization) req.set(http::field::authorization, *authorization);
    return req;
  };
  using status::common::basic_authorization;
  EXPECT_EQ(access.authenticate(with(basic_authorization("node", "s3cret"))), "node");
  EXPECT_EQ(access.authenticate(with(basic_authorization("peer", "p33r"))), "peer");
  EXPECT_FALSE(access.authenticate(with(basic_authorization("node", "p33r"))));
  EXPECT_FALSE(access.authenticate(with(std::nullopt)));
  EXPECT_FALSE(access.authenticate(with("Bearer s3cret")));
  EXPECT_FALSE(access.authenticate(with("Basic !!!!")));
  EXPECT_TRUE(access.is_peer("peer"));
  EXPECT_FALSE(access.is_peer("node"));
  EXPECT_TRUE(Access().open());
  EXPECT_FALSE(Access().authenticate(with(basic_authorization("node", "s3cret"))));
}

TEST(Access, UnauthorizedNamesTheBasicRealm) {
  status::common::Request req{http::verb::post, "/eureka/apps/A", 11};
  auto res = unauthorized(req, "credentials needed");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res[http::field::www_authenticate], "Basic realm=\"eureka\"");
  EXPECT_EQ(res[http::field::content_type], "application/problem+json");
}
