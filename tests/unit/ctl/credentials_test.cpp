#include "ctl/credentials.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace status::ctl;
using status::common::ConfigError;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the test's temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "statusctl-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0xFFFF;
  return st.st_mode & 07777;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(TokenPath, XdgConfigHomeWinsWhenAbsolute) {
  EXPECT_EQ(token_path({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", "/cfg"}}), "/cfg/statusctl/token");
  EXPECT_EQ(token_path({{"HOME", "/home/a"}}), "/home/a/.config/statusctl/token");
  // The XDG rule: a relative (or empty) XDG_CONFIG_HOME is ignored.
  EXPECT_EQ(token_path({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", "rel/cfg"}}),
            "/home/a/.config/statusctl/token");
  EXPECT_EQ(token_path({{"HOME", "/home/a"}, {"XDG_CONFIG_HOME", ""}}),
            "/home/a/.config/statusctl/token");
  EXPECT_EQ(token_path({{"XDG_CONFIG_HOME", "/cfg"}}), "/cfg/statusctl/token");
  EXPECT_THROW(token_path({}), ConfigError);
  EXPECT_THROW(token_path({{"HOME", ""}, {"XDG_CONFIG_HOME", "rel"}}), ConfigError);
}

TEST(TokenFile, WrittenWithPrivateModesWhateverTheUmask) {
  TempDir home;
  std::string path = token_path({{"HOME", home.path().string()}});
  mode_t old = ::umask(0);  // the most permissive umask: modes must not depend on it
  write_token_file(path, "tok-1");
  ::umask(old);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(home / ".config/statusctl"), 0700u);
  EXPECT_EQ(mode_of(home / ".config"), 0700u);  // created by us: private too
  EXPECT_EQ(read_all(path), "tok-1\n");
  EXPECT_EQ(read_token_file(path), "tok-1");
}

TEST(TokenFile, ReplacesAtomicallyAndTightensAnOpenDirectory) {
  TempDir cfg;
  fs::create_directories(cfg.path() / "statusctl");
  ::chmod((cfg / "statusctl").c_str(), 0755);
  std::string path = token_path({{"XDG_CONFIG_HOME", cfg.path().string()}});
  write_file(path, "old\n");
  ::chmod(path.c_str(), 0644);
  write_token_file(path, "new");
  EXPECT_EQ(read_token_file(path), "new");
  EXPECT_EQ(mode_of(path), 0600u);  // a new file replaced the old one (not rewritten in place)
  EXPECT_EQ(mode_of(cfg / "statusctl"), 0700u);
  // Nothing but the token is left in the directory (no temp files).
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(cfg.path() / "statusctl"))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"token"});
}

TEST(TokenFile, FailureIsAConfigErrorAndLeavesNoTempFile) {
  TempDir cfg;
  write_file(cfg / "statusctl", "a file where the directory should be");
  try {
    write_token_file(cfg / "statusctl/token", "secret-token");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("statusctl"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret-token"), std::string::npos) << e.what();
  }
  // The target is a directory: rename fails after the temp file was written; it is removed.
  fs::create_directories(cfg.path() / "d/token");
  EXPECT_THROW(write_token_file(cfg / "d/token", "secret-token"), ConfigError);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(cfg.path() / "d")) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(TokenFile, ReadTrimsAndTreatsAbsentOrEmptyAsNoToken) {
  TempDir d;
  EXPECT_EQ(read_token_file(d / "missing"), std::nullopt);
  EXPECT_EQ(read_token_file(d / "missing-dir/token"), std::nullopt);
  write_file(d / "t", "  abc \r\nsecond line\n");
  EXPECT_EQ(read_token_file(d / "t"), "abc");
  write_file(d / "empty", "\n");
  EXPECT_EQ(read_token_file(d / "empty"), std::nullopt);
  fs::create_directories(d.path() / "dir");
  EXPECT_THROW(read_token_file(d / "dir"), ConfigError);  // exists, cannot be read as a file
}

TEST(TokenFile, Remove) {
  TempDir d;
  write_file(d / "t", "x\n");
  EXPECT_TRUE(remove_token_file(d / "t"));
  EXPECT_FALSE(fs::exists(d / "t"));
  EXPECT_FALSE(remove_token_file(d / "t"));
}

TEST(ResolveToken, FlagThenEnvironmentThenFile) {
  TempDir d;
  std::string file = d / "token";
  write_file(file, "from-file\n");
  std::map<std::string, std::string> env{{"STATUS_TOKEN", "from-env"}};
  // common::Config gives the flag when there is one, else the variable: both reach here as the
  // option's value; the environment tells which it was.
  auto t = resolve_token("from-flag", env, file);
  EXPECT_EQ(t.value, "from-flag");
  EXPECT_EQ(t.source, TokenSource::kFlag);
  t = resolve_token("from-env", env, file);
  EXPECT_EQ(t.value, "from-env");
  EXPECT_EQ(t.source, TokenSource::kEnv);
  t = resolve_token("", {}, file);
  EXPECT_EQ(t.value, "from-file");
  EXPECT_EQ(t.source, TokenSource::kFile);
  t = resolve_token("", {}, d / "none");
  EXPECT_EQ(t.source, TokenSource::kNone);
  EXPECT_TRUE(t.value.empty());
  EXPECT_EQ(resolve_token("", {}, "").source, TokenSource::kNone);
}

TEST(SecretFile, FirstLineOnly) {
  TempDir d;
  write_file(d / "pw", "correct horse\r\nnext\n");
  EXPECT_EQ(read_secret_file("password-file", d / "pw"), "correct horse");
  write_file(d / "pw2", " spaces stay ");  // no line end at all
  EXPECT_EQ(read_secret_file("password-file", d / "pw2"), " spaces stay ");
  write_file(d / "empty", "\nhidden\n");
  try {
    read_secret_file("password-file", d / "empty");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("--password-file"), std::string::npos) << what;
    EXPECT_NE(what.find("empty"), std::string::npos) << what;
    EXPECT_EQ(what.find("hidden"), std::string::npos) << what;
  }
  EXPECT_THROW(read_secret_file("password-file", d / "missing"), ConfigError);
}
