#include "common/config.hpp"

#include "common/http_server.hpp"
#include "common/log.hpp"
#include "common/server_main.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

using status::common::Config;
using status::common::ConfigError;
using status::common::Option;

namespace {

Config make() {
  return Config("prog", "test", {{"port", "8081", "port"},
                                 {"data-dir", "", "dir"},
                                 {"peer", "", "peer", true},
                                 {"verbose", "", "v", false, true}});
}

/// The message of the ConfigError that parsing `args` throws ("" if none).
std::string error_of(Config& c, std::vector<std::string> args,
                     std::map<std::string, std::string> env = {}) {
  try {
    c.parse(args, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

enum class Color { kRed, kGreen };

struct Typed {
  std::string name = "x";
  int count = 0;
  std::size_t big = 0;
  std::chrono::milliseconds wait{0};
  std::chrono::milliseconds expiry{0};  // given in seconds
  double rate = 0;
  bool loud = false;
  Color color = Color::kRed;
  std::string mode;
  std::vector<std::string> urls;
  std::vector<std::string> hosts;
  std::string dir;
};

std::vector<Option> typed_rows(Typed& t) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  return {
      Option::text("name", &t.name, "anna", "a name"),
      Option::integer("count", &t.count, 1, 10, 3, "how many"),
      Option::integer("big", &t.big, 0, 1000000, 1000, "how much"),
      Option::duration<milliseconds>("wait-ms", &t.wait, 100, 5000, 250, "how long"),
      Option::duration<seconds>("expiry", &t.expiry, 1, 60, 2, "how long, in seconds"),
      Option::number("rate", &t.rate, 0, 100, "1.5", "how fast"),
      Option::flag("loud", &t.loud, "shout"),
      Option::choice<Color>("color", &t.color, {{"red", Color::kRed}, {"green", Color::kGreen}},
                            "red", "which color"),
      Option::choice("mode", &t.mode, {"a", "b"}, "a", "which mode"),
      Option::each(
          "url",
          [&t](const std::string& v) {
            if (v.rfind("amqp://", 0) != 0) return false;
            t.urls.push_back(v);
            return true;
          },
          "an amqp:// URL", "amqp://guest:default-pw@localhost/", "broker")
          .secret(),
      Option::list("host", &t.hosts, "", "hosts").comma_lists(),
      Option::text("dir", &t.dir, "", "a directory").required(),
  };
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

TEST(OptionTable, TypedRowsStoreDefaultsWhereTheyGo) {
  Typed t;
  Config c("prog", "test", typed_rows(t));
  ASSERT_TRUE(c.parse({"--dir", "/d"}, {}));
  EXPECT_EQ(t.name, "anna");
  EXPECT_EQ(t.count, 3);
  EXPECT_EQ(t.big, 1000u);
  EXPECT_EQ(t.wait, std::chrono::milliseconds(250));
  EXPECT_EQ(t.expiry, std::chrono::milliseconds(2000));
  EXPECT_DOUBLE_EQ(t.rate, 1.5);
  EXPECT_FALSE(t.loud);
  EXPECT_EQ(t.color, Color::kRed);
  EXPECT_EQ(t.mode, "a");
  EXPECT_EQ(t.urls, (std::vector<std::string>{"amqp://guest:default-pw@localhost/"}));
  EXPECT_TRUE(t.hosts.empty());
  EXPECT_EQ(t.dir, "/d");
}

TEST(OptionTable, FlagsAndEnvironment) {
  Typed t;
  Config c("prog", "test", typed_rows(t));
  ASSERT_TRUE(c.parse({"--count=7", "--wait-ms", "5000", "--loud", "--color", "green", "--host",
                       "a,b", "--host", "c", "--rate", "0"},
                      {{"STATUS_DIR", "/e"}, {"STATUS_COUNT", "9"}, {"STATUS_EXPIRY", "60"},
                       {"STATUS_URL", "amqp://h1/,amqp://h2/"}, {"STATUS_MODE", "b"}}));
  EXPECT_EQ(t.count, 7);  // the flag beats the environment
  EXPECT_EQ(t.wait, std::chrono::milliseconds(5000));
  EXPECT_EQ(t.expiry, std::chrono::seconds(60));
  EXPECT_TRUE(t.loud);
  EXPECT_EQ(t.color, Color::kGreen);
  EXPECT_EQ(t.mode, "b");
  EXPECT_EQ(t.hosts, (std::vector<std::string>{"a", "b", "c"}));
  // Repeatable from the environment: comma-separated, as always.
  EXPECT_EQ(t.urls, (std::vector<std::string>{"amqp://h1/", "amqp://h2/"}));
  EXPECT_EQ(t.dir, "/e");
  EXPECT_DOUBLE_EQ(t.rate, 0);
  Typed u;
  Config d("prog", "test", typed_rows(u));
  ASSERT_TRUE(d.parse({"--loud=false"}, {{"STATUS_DIR", "/e"}}));
  EXPECT_FALSE(u.loud);
}

TEST(OptionTable, BoundsTypesAndChoicesInOneMessageFormat) {
  Typed t;
  Config c("prog", "test", typed_rows(t));
  const std::vector<std::string> dir{"--dir", "/d"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), dir.begin(), dir.end());
    return error_of(c, args);
  };
  EXPECT_EQ(with({"--count", "0"}), "--count must be an integer in 1..10, got '0'");
  EXPECT_EQ(with({"--count", "11"}), "--count must be an integer in 1..10, got '11'");
  EXPECT_EQ(with({"--count", "3x"}), "--count must be an integer in 1..10, got '3x'");
  EXPECT_EQ(with({"--count", ""}), "--count must be an integer in 1..10, got ''");
  EXPECT_EQ(with({"--big", "-1"}), "--big must be an integer in 0..1000000, got '-1'");
  EXPECT_EQ(with({"--wait-ms", "99"}), "--wait-ms must be a count of ms in 100..5000, got '99'");
  EXPECT_EQ(with({"--expiry", "61"}), "--expiry must be a count of seconds in 1..60, got '61'");
  EXPECT_EQ(with({"--rate", "-0.5"}), "--rate must be a number in 0..100, got '-0.5'");
  EXPECT_EQ(with({"--rate", "fast"}), "--rate must be a number in 0..100, got 'fast'");
  EXPECT_EQ(with({"--loud=maybe"}), "--loud must be true or false, got 'maybe'");
  EXPECT_EQ(with({"--color", "blue"}), "--color must be one of red, green, got 'blue'");
  EXPECT_EQ(with({"--mode", "c"}), "--mode must be one of a, b, got 'c'");
  EXPECT_EQ(error_of(c, {}), "--dir is required (or STATUS_DIR)");
  EXPECT_EQ(error_of(c, {}, {{"STATUS_DIR", "/d"}, {"STATUS_COUNT", "x"}}),
            "--count must be an integer in 1..10, got 'x'");
  EXPECT_NE(with({"--nope"}).find("unknown option --nope"), std::string::npos);
}

TEST(OptionTable, HelpShowsTypesBoundsAndChoices) {
  Typed t;
  Config c("prog", "test", typed_rows(t));
  auto help = c.help_text();
  for (const char* s :
       {"--count VALUE", "how many (an integer in 1..10) [default: 3] {STATUS_COUNT}",
        "(a count of ms in 100..5000) [default: 250]", "(one of red, green) [default: red]",
        "(a number in 0..100) [default: 1.5]", "  --loud ", "shout {STATUS_LOUD}",
        "(repeatable; each a comma-separated list)", "a directory (required) {STATUS_DIR}"})
    EXPECT_NE(help.find(s), std::string::npos) << s << "\n" << help;
}

TEST(OptionTable, ASecretIsNeverPrinted) {
  Typed t;
  Config c("prog", "test", typed_rows(t));
  auto help = c.help_text();
  EXPECT_EQ(help.find("default-pw"), std::string::npos) << help;
  EXPECT_EQ(help.find("amqp://guest"), std::string::npos) << help;
  EXPECT_NE(help.find("secret"), std::string::npos) << help;
  EXPECT_NE(help.find("{STATUS_URL}"), std::string::npos) << help;
  // Not in the error message either: a URL's password is masked, anything else is '***'.
  EXPECT_EQ(error_of(c, {"--dir", "/d", "--url", "http://u:s3cret@h/"}),
            "--url must be an amqp:// URL, got 'http://u:***@h/'");
  EXPECT_EQ(error_of(c, {"--dir", "/d"}, {{"STATUS_URL", "s3cret"}}),
            "--url must be an amqp:// URL, got '***'");
  // Nor in the configuration as logged.
  ASSERT_TRUE(c.parse({"--dir", "/d", "--url", "amqp://u:s3cret@h/"}, {}));
  auto described = c.describe();
  EXPECT_EQ(described.find("s3cret"), std::string::npos) << described;
  EXPECT_NE(described.find("url=***"), std::string::npos) << described;
  EXPECT_NE(described.find("count=3"), std::string::npos) << described;
}

TEST(OptionTable, ValidIfChecksNonEmptyValues) {
  std::string id;
  Config c("prog", "test",
           {Option::text("id", &id, "", "an id")
                .valid_if([](const std::string& v) { return v.size() <= 3; }, "at most 3 characters")});
  EXPECT_EQ(error_of(c, {"--id", "abcd"}), "--id must be at most 3 characters, got 'abcd'");
  ASSERT_TRUE(c.parse({"--id", "abc"}, {}));
  EXPECT_EQ(id, "abc");
  ASSERT_TRUE(c.parse(std::vector<std::string>{}, {}));  // no value: nothing to check
}

TEST(OptionTable, ThrowingParserIsTheSameError) {
  std::vector<int> ports;
  Config c("prog", "test",
           {Option::each(
               "p",
               [&](const std::string& v) {
                 ports.push_back(std::stoi(v));  // std::invalid_argument on "x"
                 return true;
               },
               "a port", "", "ports")});
  EXPECT_EQ(error_of(c, {"--p", "x"}), "--p must be a port, got 'x'");
}

// --- the rows every server shares ---

TEST(SharedRows, ServerAndLoggingRows) {
  status::common::ServerOptions server;
  status::common::LogOptions log;
  auto rows = status::common::server_option_rows(server, {.port = 8761, .threads = 2});
  for (auto& r : status::common::log_option_rows(log)) rows.push_back(std::move(r));
  Config c("prog", "test", std::move(rows));
  ASSERT_TRUE(c.parse(std::vector<std::string>{}, {}));
  EXPECT_EQ(server.port, 8761);
  EXPECT_EQ(server.bind, "127.0.0.1");
  EXPECT_EQ(server.threads, 2);
  EXPECT_EQ(server.idle_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(server.read_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(server.max_connections, 10000u);
  EXPECT_EQ(server.max_connections_per_client, 256u);
  EXPECT_EQ(log.level, "info");
  ASSERT_TRUE(c.parse({"--port", "0", "--threads", "256", "--log-level", "debug",
                       "--max-connections-per-client", "0"},
                      {{"STATUS_BIND", "::"}, {"STATUS_IDLE_TIMEOUT_MS", "100"}}));
  EXPECT_EQ(server.port, 0);
  EXPECT_EQ(server.bind, "::");
  EXPECT_EQ(server.threads, 256);
  EXPECT_EQ(server.idle_timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(server.max_connections_per_client, 0u);
  EXPECT_EQ(log.level, "debug");
  EXPECT_EQ(error_of(c, {"--log-level", "verbose"}),
            "--log-level must be one of debug, info, warn, error, got 'verbose'");
  EXPECT_EQ(error_of(c, {"--log-level", "trace"}),
            "--log-level must be one of debug, info, warn, error, got 'trace'");
  EXPECT_EQ(error_of(c, {"--port", "65536"}), "--port must be an integer in 0..65535, got '65536'");
  EXPECT_EQ(error_of(c, {"--threads", "0"}), "--threads must be an integer in 1..256, got '0'");
  EXPECT_NE(c.help_text().find("[default: 2] {STATUS_THREADS}"), std::string::npos);
  status::common::ServerOptions other;
  Config cores("prog", "test", status::common::server_option_rows(other, {.port = 8081}));
  EXPECT_NE(cores.help_text().find("[default: number of cores] {STATUS_THREADS}"),
            std::string::npos);
  ASSERT_TRUE(cores.parse(std::vector<std::string>{}, {}));
  EXPECT_EQ(other.threads, status::common::default_threads());
}

// --- one exit-code rule ---

namespace {

struct MainFixture {
  status::common::ServerOptions server;
  status::common::LogOptions log;
  bool started = false;
  std::function<std::vector<std::string>()> check;
  Config config() {
    auto rows = status::common::server_option_rows(server, {.port = 1});
    for (auto& r : status::common::log_option_rows(log)) rows.push_back(std::move(r));
    return Config("status-test", "test", std::move(rows));
  }
  status::common::ServerMain main(std::string component) {
    return {.check = check,
            .log = &log,
            .server = &server,
            .log_component = std::move(component),
            .start = [this](auto) -> std::function<void()> {
              started = true;
              throw std::runtime_error("cannot listen on 127.0.0.1:1: Address already in use");
            }};
  }
};

}  // namespace

TEST(ExitCodes, BadConfigurationIsOneLineAndExit2) {
  using status::common::configure;
  for (auto args : std::vector<std::vector<std::string>>{
           {"--nope"}, {"--port", "x"}, {"--log-level", "verbose"}, {"stray"}, {"--port"}}) {
    MainFixture f;
    auto config = f.config();
    std::ostringstream out, err;
    auto r = configure(args, {}, config, f.main("t"), out, err);
    EXPECT_FALSE(r.go);
    EXPECT_EQ(r.code, 2) << args[0];
    const std::string line = err.str();
    EXPECT_EQ(line.rfind("status-test: ", 0), 0u) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
    EXPECT_EQ(line.back(), '\n');
    EXPECT_TRUE(out.str().empty());
  }
  // A rule between options is bad configuration too.
  MainFixture f;
  f.check = []() -> std::vector<std::string> { throw ConfigError("--a needs --b"); };
  auto config = f.config();
  std::ostringstream out, err;
  auto r = configure({}, {}, config, f.main("t"), out, err);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(err.str(), "status-test: --a needs --b\n");
}

TEST(ExitCodes, HelpIsExit0AndAGoodConfigurationGoesOn) {
  MainFixture f;
  f.check = [] { return std::vector<std::string>{"careful"}; };
  auto config = f.config();
  std::ostringstream out, err;
  auto help = status::common::configure({"--help"}, {}, config, f.main("t"), out, err);
  EXPECT_FALSE(help.go);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(out.str().find("Usage: status-test"), std::string::npos);
  auto ok = status::common::configure({"--port", "5"}, {}, config, f.main("t"), out, err);
  EXPECT_TRUE(ok.go);
  EXPECT_EQ(ok.warnings, std::vector<std::string>{"careful"});
  EXPECT_TRUE(err.str().empty());
  EXPECT_EQ(f.server.port, 5);
}

TEST(ExitCodes, FailingToStartIsExit1AndAConfigErrorWhileBuildingIsExit2) {
  MainFixture f;
  auto config = f.config();
  char prog[] = "status-test";
  char* argv[] = {prog, nullptr};
  EXPECT_EQ(status::common::run_main(1, argv, config, f.main("exit-codes-1")), 1);
  EXPECT_TRUE(f.started);
  auto m = f.main("exit-codes-2");
  m.start = [](auto) -> std::function<void()> { throw ConfigError("--x cannot be read"); };
  EXPECT_EQ(status::common::run_main(1, argv, config, m), 2);
}

TEST(ExitCodes, TlsRowsGoTogetherAndNameAnUnusableFile) {
  std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--tls-cert", "/nonexistent/c.pem"}, "status-test: --tls-cert and --tls-key go together"},
      {{"--tls-key", "/nonexistent/k.pem"}, "status-test: --tls-cert and --tls-key go together"},
      {{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"},
       "status-test: cannot read TLS certificate file '/nonexistent/c.pem'"},
  };
  for (const auto& [args, start] : cases) {
    MainFixture f;
    auto config = f.config();
    std::ostringstream out, err;
    auto r = status::common::configure(args, {}, config, f.main("t"), out, err);
    EXPECT_FALSE(r.go);
    EXPECT_EQ(r.code, 2);
    const std::string line = err.str();
    EXPECT_EQ(line.rfind(start, 0), 0u) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  }
  MainFixture f;
  auto config = f.config();
  std::ostringstream out, err;
  EXPECT_TRUE(status::common::configure({}, {}, config, f.main("t"), out, err).go);
  EXPECT_EQ(f.server.tls, nullptr) << "plain HTTP without the TLS rows";
}
