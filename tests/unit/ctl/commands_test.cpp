// ctl::run against a scripted stand-in for the API (the real node and gateway are exercised in
// tests/system/test_statusctl.py): what statusctl sends, what it prints, where it keeps the
// token, and that the token never appears in its output.
#include "ctl/commands.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/http_server.hpp"

using namespace status::ctl;
namespace common = status::common;
namespace http = common::http;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kToken = "tok-SECRET-0123456789abcdef";

struct Seen {
  std::string method, target, authorization, content_type, body;
};

struct Answer {
  int status = 200;
  std::string body;
  common::Headers headers;
};

class FakeApi {
 public:
  FakeApi()
      : server_(
            common::ServerOptions{},
            [this](common::Request&& req, common::ExchangePtr ex) { handle(req, ex); }, nullptr) {
    server_.start();
  }
  ~FakeApi() { server_.stop(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  void answer(const std::string& method_and_target, Answer a) {
    std::lock_guard lock(mutex_);
    answers_[method_and_target] = std::move(a);
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  Seen last() {
    auto s = seen();
    return s.empty() ? Seen{} : s.back();
  }

 private:
  void handle(const common::Request& req, const common::ExchangePtr& ex) {
    Seen s{std::string(req.method_string()), std::string(req.target()),
           std::string(req[http::field::authorization]),
           std::string(req[http::field::content_type]), req.body()};
    Answer a{404, R"({"type":"about:blank","title":"Not Found","status":404,"detail":"no"})", {}};
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(s);
      if (auto it = answers_.find(s.method + " " + s.target); it != answers_.end()) a = it->second;
    }
    common::Response res{static_cast<http::status>(a.status), 11};
    for (const auto& [k, v] : a.headers) res.set(k, v);
    if (!a.body.empty()) res.set(http::field::content_type, "application/json");
    res.body() = a.body;
    res.prepare_payload();
    ex->respond(std::move(res));
  }
  std::mutex mutex_;
  std::map<std::string, Answer> answers_;
  std::vector<Seen> seen_;
  common::HttpServer server_;
};

std::string problem(int status, const std::string& detail) {
  return json::serialize(json::object{
      {"type", "about:blank"}, {"title", "x"}, {"status", status}, {"detail", detail}});
}

const std::string kSession =
    std::string(R"({"token":")") + kToken +
    R"(","username":"alice","roles":[],"expiresAt":"2030-01-02T03:04:05Z"})";

struct Result {
  int code;
  std::string out, err;
};

/// Answers prompts from a list, recording each question and whether it was secret.
struct ScriptedTerminal {
  explicit ScriptedTerminal(std::vector<std::string> a) : answers(std::move(a)) {}
  std::vector<std::string> answers;
  std::vector<std::pair<std::string, bool>> asked;
  Prompter prompter() {
    return [this](const std::string& q, bool secret) -> std::optional<std::string> {
      asked.emplace_back(q, secret);
      if (asked.size() > answers.size()) return std::nullopt;
      return answers[asked.size() - 1];
    };
  }
};

class Ctl : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "statusctl-cmd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    env_ = {{"HOME", home_.string()}, {"STATUS_GATEWAY", api_.url()}};
    pw_file_ = (home_ / "pw").string();
    std::ofstream(pw_file_) << "correct horse\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  std::string token_file() const { return (home_ / ".config/statusctl/token").string(); }
  Result run_ctl(const std::vector<std::string>& args, Prompter prompt = nullptr) {
    if (!prompt) prompt = [](const std::string&, bool) { return std::optional<std::string>(); };
    std::ostringstream out, err;
    int code = run(args, env_, out, err, prompt);
    Result r{code, out.str(), err.str()};
    // Whatever the command and its outcome, the token is not printed.
    EXPECT_EQ(r.out.find(kToken), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(kToken), std::string::npos) << r.err;
    return r;
  }
  void save_token(const std::string& t) {
    fs::create_directories(home_ / ".config/statusctl");
    std::ofstream(token_file()) << t << "\n";
  }

  FakeApi api_;
  fs::path home_;
  std::map<std::string, std::string> env_;
  std::string pw_file_;
};

TEST_F(Ctl, LoginPostsTheCredentialsAndKeepsTheTokenPrivately) {
  api_.answer("POST /api/sessions", {201, kSession, {}});
  auto r = run_ctl({"login", "alice", "--password-file", pw_file_});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(r.out, "signed in as alice (until 2030-01-02T03:04:05Z)\n");
  auto s = api_.last();
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.target, "/api/sessions");
  EXPECT_EQ(s.content_type, "application/json");
  EXPECT_EQ(s.authorization, "");
  auto body = json::parse(s.body).as_object();
  EXPECT_EQ(body.at("username"), "alice");
  EXPECT_EQ(body.at("password"), "correct horse");
  EXPECT_EQ(body.size(), 2u);

  struct stat st {};
  ASSERT_EQ(::stat(token_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((home_ / ".config/statusctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::ifstream f(token_file());
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, kToken);

  // Later requests carry it.
  api_.answer("GET /api/statuses/alice", {404, problem(404, "no status"), {}});
  EXPECT_EQ(run_ctl({"get", "alice"}).code, kNotFound);
  EXPECT_EQ(api_.last().authorization, std::string("Bearer ") + kToken);
}

TEST_F(Ctl, LoginHonoursXdgConfigHome) {
  env_["XDG_CONFIG_HOME"] = (home_ / "xdg").string();
  api_.answer("POST /api/sessions", {201, kSession, {}});
  ASSERT_EQ(run_ctl({"login", "alice", "--password-file", pw_file_}).code, kOk);
  EXPECT_TRUE(fs::exists(home_ / "xdg/statusctl/token"));
  EXPECT_FALSE(fs::exists(token_file()));
}

TEST_F(Ctl, LoginJsonLeavesTheTokenOut) {
  api_.answer("POST /api/sessions", {201, kSession, {}});
  auto r = run_ctl({"login", "alice", "--password-file", pw_file_, "--json"});
  ASSERT_EQ(r.code, kOk) << r.err;
  auto v = json::parse(r.out).as_object();
  EXPECT_EQ(v.at("username"), "alice");
  EXPECT_EQ(v.at("expiresAt"), "2030-01-02T03:04:05Z");
  EXPECT_FALSE(v.contains("token"));
}

TEST_F(Ctl, LoginAsksOnTheTerminalWithoutEcho) {
  api_.answer("POST /api/sessions", {201, kSession, {}});
  ScriptedTerminal t({"alice", "typed secret"});
  auto r = run_ctl({"login"}, t.prompter());
  ASSERT_EQ(r.code, kOk) << r.err;
  ASSERT_EQ(t.asked.size(), 2u);
  EXPECT_FALSE(t.asked[0].second);  // the username shows
  EXPECT_TRUE(t.asked[1].second);   // the password does not
  EXPECT_EQ(json::parse(api_.last().body).at("password"), "typed secret");
  EXPECT_EQ(r.out.find("typed secret"), std::string::npos);
  EXPECT_EQ(r.err.find("typed secret"), std::string::npos);

  // No terminal and no --password-file: one clear line, no request.
  auto before = api_.seen().size();
  r = run_ctl({"login", "alice"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("--password-file"), std::string::npos) << r.err;
  EXPECT_EQ(api_.seen().size(), before);
}

TEST_F(Ctl, WrongPasswordAndLockout) {
  api_.answer("POST /api/sessions", {401, problem(401, "wrong username or password"), {}});
  auto r = run_ctl({"login", "alice", "--password-file", pw_file_});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: wrong username or password\n");
  EXPECT_FALSE(fs::exists(token_file()));

  api_.answer("POST /api/sessions",
              {429, problem(429, "too many failed sign-ins"), {{"Retry-After", "42"}}});
  r = run_ctl({"login", "alice", "--password-file", pw_file_});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("wait 42 s"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(Ctl, TokenOverrideOrderFlagThenEnvThenFile) {
  api_.answer("GET /api/me", {200, R"({"username":"alice","roles":[]})", {}});
  save_token("from-file");
  ASSERT_EQ(run_ctl({"whoami"}).code, kOk);
  EXPECT_EQ(api_.last().authorization, "Bearer from-file");
  env_["STATUS_TOKEN"] = "from-env";
  ASSERT_EQ(run_ctl({"whoami"}).code, kOk);
  EXPECT_EQ(api_.last().authorization, "Bearer from-env");
  ASSERT_EQ(run_ctl({"whoami", "--token", "from-flag"}).code, kOk);
  EXPECT_EQ(api_.last().authorization, "Bearer from-flag");
}

TEST_F(Ctl, NoTokenNoAuthorizationHeader) {
  api_.answer("GET /api/statuses", {200, "[]", {}});
  ASSERT_EQ(run_ctl({"list"}).code, kOk);
  EXPECT_EQ(api_.last().authorization, "");
}

TEST_F(Ctl, RefusedWritesSaySoAndExit2) {
  api_.answer("PUT /api/statuses/alice", {401, problem(401, "sign in to change a status"), {}});
  auto r = run_ctl({"set", "alice", "hi"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: sign in first: statusctl login\n");

  // With a token the server no longer accepts, the hint names it.
  r = run_ctl({"set", "alice", "hi", "--token", kToken});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("--token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("statusctl login"), std::string::npos) << r.err;

  api_.answer("PUT /api/statuses/alice", {403, problem(403, "not yours"), {}});
  r = run_ctl({"set", "alice", "hi", "--token", kToken});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: only alice or an admin may change alice's status\n");

  api_.answer("DELETE /api/statuses/alice", {403, problem(403, "not yours"), {}});
  r = run_ctl({"delete", "alice", "--token", kToken});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: only alice or an admin may delete alice's status\n");
}

TEST_F(Ctl, LogoutEndsTheSessionAndRemovesTheFile) {
  save_token(kToken);
  api_.answer("DELETE /api/sessions/current", {204, "", {}});
  auto r = run_ctl({"logout"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(api_.last().method, "DELETE");
  EXPECT_EQ(api_.last().target, "/api/sessions/current");
  EXPECT_EQ(api_.last().authorization, std::string("Bearer ") + kToken);
  EXPECT_FALSE(fs::exists(token_file()));
  EXPECT_EQ(r.out.find("signed out"), 0u) << r.out;

  // Not signed in: nothing to do, nothing sent.
  auto before = api_.seen().size();
  r = run_ctl({"logout"});
  EXPECT_EQ(r.code, kOk);
  EXPECT_EQ(r.out, "not signed in\n");
  EXPECT_EQ(api_.seen().size(), before);
}

TEST_F(Ctl, LogoutRemovesTheFileAlsoWhenTheSessionIsAlreadyDead) {
  save_token(kToken);
  api_.answer("DELETE /api/sessions/current", {401, problem(401, "sign in first"), {}});
  auto r = run_ctl({"logout"});
  EXPECT_EQ(r.code, kOk) << r.err;
  EXPECT_FALSE(fs::exists(token_file()));
}

TEST_F(Ctl, LogoutKeepsTheFileWhenTheServerCannotBeReachedOrAnotherTokenWasUsed) {
  save_token(kToken);
  api_.answer("DELETE /api/sessions/current", {204, "", {}});
  // --token names another session: that one ends, the saved one stays.
  ASSERT_EQ(run_ctl({"logout", "--token", "other"}).code, kOk);
  EXPECT_EQ(api_.last().authorization, "Bearer other");
  EXPECT_TRUE(fs::exists(token_file()));
  // Unreachable: the session still lives on the server, so the token is kept to end it later.
  env_["STATUS_GATEWAY"] = "http://127.0.0.1:9";
  EXPECT_EQ(run_ctl({"logout"}).code, kUnreachable);
  EXPECT_TRUE(fs::exists(token_file()));
}

TEST_F(Ctl, Whoami) {
  api_.answer("GET /api/me", {200, R"({"username":"admin","roles":["admin"]})", {}});
  auto r = run_ctl({"whoami", "--token", kToken});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(r.out, "admin (admin)\n");
  api_.answer("GET /api/me", {401, problem(401, "sign in first"), {}});
  r = run_ctl({"whoami", "--token", kToken});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("statusctl login"), std::string::npos);
  r = run_ctl({"whoami"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: not signed in: statusctl login\n");
  // A server without accounts (--auth off): said clearly.
  api_.answer("GET /api/me", {404, problem(404, "no such path"), {}});
  r = run_ctl({"whoami", "--token", kToken});
  EXPECT_EQ(r.code, kNotFound);
  EXPECT_NE(r.err.find("--auth off"), std::string::npos) << r.err;
}

TEST_F(Ctl, SignupAsksTwiceAndPosts) {
  api_.answer("POST /api/accounts", {201, R"({"username":"bob","roles":[]})", {}});
  ScriptedTerminal t({"pw-123456", "pw-123456"});
  auto r = run_ctl({"signup", "bob"}, t.prompter());
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(t.asked.size(), 2u);
  EXPECT_TRUE(t.asked[0].second && t.asked[1].second);
  auto s = api_.last();
  EXPECT_EQ(s.target, "/api/accounts");
  EXPECT_EQ(s.content_type, "application/json");
  EXPECT_EQ(json::parse(s.body), json::parse(R"({"username":"bob","password":"pw-123456"})"));
  EXPECT_NE(r.out.find("created account bob"), std::string::npos) << r.out;

  ScriptedTerminal typo({"pw-123456", "pw-123457"});
  auto before = api_.seen().size();
  r = run_ctl({"signup", "bob"}, typo.prompter());
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("differ"), std::string::npos);
  EXPECT_EQ(api_.seen().size(), before);

  api_.answer("POST /api/accounts", {409, problem(409, "the username 'bob' is taken"), {}});
  r = run_ctl({"signup", "bob", "--password-file", pw_file_});
  EXPECT_EQ(r.code, kServerError);
  EXPECT_NE(r.err.find("taken"), std::string::npos);
}

TEST_F(Ctl, PasswdSelfSendsCurrentAndNew) {
  save_token(kToken);
  api_.answer("GET /api/me", {200, R"({"username":"alice","roles":[]})", {}});
  api_.answer("PUT /api/accounts/alice/password", {204, "", {}});
  std::string new_file = (home_ / "new").string();
  std::ofstream(new_file) << "new horse battery\n";
  auto r = run_ctl({"passwd", "--password-file", pw_file_, "--new-password-file", new_file});
  ASSERT_EQ(r.code, kOk) << r.err;
  auto s = api_.last();
  EXPECT_EQ(s.method, "PUT");
  EXPECT_EQ(s.authorization, std::string("Bearer ") + kToken);
  EXPECT_EQ(json::parse(s.body),
            json::parse(R"({"current":"correct horse","new":"new horse battery"})"));
  EXPECT_NE(r.out.find("other sessions have ended"), std::string::npos) << r.out;
}

TEST_F(Ctl, PasswdByAnAdminForAnotherNeedsNoCurrent) {
  api_.answer("GET /api/me", {200, R"({"username":"admin","roles":["admin"]})", {}});
  api_.answer("PUT /api/accounts/bob/password", {204, "", {}});
  ScriptedTerminal t({"fresh-pass-1", "fresh-pass-1"});
  auto r = run_ctl({"passwd", "bob", "--token", kToken}, t.prompter());
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(json::parse(api_.last().body), json::parse(R"({"new":"fresh-pass-1"})"));
}

TEST_F(Ctl, NoTokenInAnyOutput) {
  // The token in flag and environment, through success, refusal and failure of every command;
  // run_ctl checks each output.
  env_["STATUS_TOKEN"] = kToken;
  save_token(kToken);
  api_.answer("GET /api/me", {200, R"({"username":"alice","roles":[]})", {}});
  for (std::vector<std::string> args : {std::vector<std::string>{"whoami"},
                                        {"get", "alice"},
                                        {"list"},
                                        {"set", "alice", "x"},
                                        {"delete", "alice"},
                                        {"passwd"},
                                        {"signup", "bob"},
                                        {"nodes"},
                                        {"get", "alice", "--token", kToken},
                                        {"get", "alice", "--token"},
                                        {"--help"},
                                        {"frobnicate", "--token", kToken},
                                        {"get", "--tokn=" + std::string("x")},
                                        {"logout"}}) {
    auto r = run_ctl(args);
    (void)r;
  }
  env_["STATUS_GATEWAY"] = "http://127.0.0.1:9";
  for (std::vector<std::string> args : {std::vector<std::string>{"whoami"}, {"logout"}})
    EXPECT_EQ(run_ctl(args).code, kUnreachable);
}

// ---- status features (CONTRACT §2, §8) ----

const std::string kStored =
    R"({"username":"alice","statusText":"In a meeting","emoji":"📅","availability":"busy",)"
    R"("time":"2026-12-03T10:00:00Z","expiresAt":"2026-12-03T11:30:00Z","version":"v1"})";

TEST_F(Ctl, SetSendsEmojiAvailabilityAndClearAfterInSeconds) {
  api_.answer("PUT /api/statuses/alice", {201, kStored, {{"X-Served-By", "n1"}}});
  auto r = run_ctl({"set", "alice", "In", "a", "meeting", "--emoji", "📅", "--availability", "busy",
                    "--clear-after", "1h30m"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(json::parse(api_.last().body),
            json::parse(R"({"username":"alice","statusText":"In a meeting","emoji":"📅",
                            "availability":"busy","clearAfter":5400})"));
  EXPECT_EQ(r.out,
            "created alice (served by n1)\n"
            "username      alice\n"
            "status        In a meeting\n"
            "emoji         📅\n"
            "availability  busy\n"
            "time          2026-12-03T10:00:00Z\n"
            "expires       2026-12-03T11:30:00Z\n"
            "version       v1\n");

  // Plain seconds; --expires-at goes as given (the server judges it).
  ASSERT_EQ(run_ctl({"set", "alice", "x", "--clear-after", "90"}).code, kOk);
  EXPECT_EQ(json::parse(api_.last().body).at("clearAfter"), 90);
  ASSERT_EQ(run_ctl({"set", "alice", "x", "--expires-at", "2026-12-03T15:00:00+01:00"}).code, kOk);
  auto body = json::parse(api_.last().body).as_object();
  EXPECT_EQ(body.at("expiresAt"), "2026-12-03T15:00:00+01:00");
  EXPECT_FALSE(body.contains("clearAfter"));
  EXPECT_FALSE(body.contains("emoji"));
  EXPECT_FALSE(body.contains("availability"));
}

TEST_F(Ctl, SetRefusesBadStatusOptionsWithoutARequest) {
  api_.answer("PUT /api/statuses/alice", {201, kStored, {}});
  const std::pair<std::vector<std::string>, const char*> cases[] = {
      {{"--clear-after", "1h", "--expires-at", "2030-01-01T00:00:00Z"}, "not both"},
      {{"--availability", "lunch"}, "available, busy, away or dnd, got 'lunch'"},
      {{"--availability", "busy", "--availability", "away"}, "one --availability"},
      {{"--clear-after", "1.5h"}, "90s, 30m"},
      {{"--clear-after", "soon"}, "got 'soon'"},
      {{"--clear-after", "0s"}, "between 1s and 366d"},
      {{"--clear-after", "367d"}, "between 1s and 366d"},
  };
  for (const auto& [options, message] : cases) {
    std::vector<std::string> args{"set", "alice", "x"};
    args.insert(args.end(), options.begin(), options.end());
    auto before = api_.seen().size();
    auto r = run_ctl(args);
    EXPECT_EQ(r.code, kUsage) << options[0];
    EXPECT_EQ(r.err.rfind("statusctl: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(api_.seen().size(), before) << options[0];
  }
  // What only the server knows (an emoji too long, a time in the past) is its to refuse: exit 2
  // with its detail.
  api_.answer("PUT /api/statuses/alice",
              {400, problem(400, "expiresAt must be in the future"), {}});
  auto r = run_ctl({"set", "alice", "x", "--expires-at", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: 400 expiresAt must be in the future\n");
}

TEST_F(Ctl, ListSendsTheFiltersEncodedWithThePaging) {
  const std::string target =
      "/api/statuses?q=lunch%20%26%20co%2B&availability=busy&availability=dnd"
      "&bbox=-10.5%2C40%2C20%2C60&username=alice&username=b.o_b-1&limit=5&offset=10";
  api_.answer("GET " + target, {200, "[" + kStored + "]", {{"X-Total-Count", "11"}}});
  auto r = run_ctl({"list", "--q", "lunch & co+", "--availability", "busy", "--user", "alice",
                    "--availability", "dnd", "--bbox", "-10.5,40,20,60", "--user", "b.o_b-1",
                    "--limit", "5", "--offset", "10"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(api_.last().target, target);
  EXPECT_EQ(
      r.out,
      "USER   AVAILABILITY  TIME                  EXPIRES               LOCATION  STATUS\n"
      "alice  busy          2026-12-03T10:00:00Z  2026-12-03T11:30:00Z            📅 In a meeting\n"
      "1 shown of 11\n");

  // No filter: no query, as before.
  api_.answer("GET /api/statuses", {200, "[]", {}});
  ASSERT_EQ(run_ctl({"list"}).code, kOk);
  EXPECT_EQ(api_.last().target, "/api/statuses");

  // Cheap checks stay local; a malformed filter the server refuses is exit 2 with its detail.
  auto before = api_.seen().size();
  for (std::vector<std::string> bad : {std::vector<std::string>{"list", "--availability", "free"},
                                       {"list", "--bbox", "1,2,3"},
                                       {"list", "--bbox", "1,2,3,4,5"},
                                       {"list", "--bbox", "a,b,c,d"},
                                       {"list", "--bbox", "1,2,,4"}}) {
    auto bad_r = run_ctl(bad);
    EXPECT_EQ(bad_r.code, kUsage) << bad[2];
    EXPECT_EQ(std::count(bad_r.err.begin(), bad_r.err.end(), '\n'), 1) << bad_r.err;
  }
  EXPECT_EQ(api_.seen().size(), before);
  api_.answer("GET /api/statuses?bbox=10%2C0%2C-10%2C5",
              {400, problem(400, "bbox: minLon must not exceed maxLon"), {}});
  r = run_ctl({"list", "--bbox", "10,0,-10,5"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_EQ(r.err, "statusctl: 400 bbox: minLon must not exceed maxLon\n");
}

TEST_F(Ctl, HistoryPrintsThePreviousStatuses) {
  const std::string history =
      R"([{"statusText":"Lunch","availability":"away","time":"2026-12-03T12:00:00Z",)"
      R"("version":"v3","endedAt":"2026-12-03T13:00:00Z","endedBy":"deleted"},)"
      R"({"statusText":"In a meeting","emoji":"📅","availability":"busy",)"
      R"("time":"2026-12-03T10:00:00Z","version":"v2","endedAt":"2026-12-03T12:00:00Z",)"
      R"("endedBy":"replaced"}])";
  api_.answer("GET /api/statuses/alice/history", {200, history, {}});
  auto r = run_ctl({"history", "alice"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(api_.last().method, "GET");
  EXPECT_EQ(r.out,
            "TIME                  ENDED                 ENDED-BY  AVAILABILITY  STATUS\n"
            "2026-12-03T12:00:00Z  2026-12-03T13:00:00Z  deleted   away          Lunch\n"
            "2026-12-03T10:00:00Z  2026-12-03T12:00:00Z  replaced  busy          📅 In a meeting\n"
            "2 previous statuses of alice\n");
  r = run_ctl({"history", "alice", "--json"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(r.out, history + "\n");

  api_.answer("GET /api/statuses/bob/history", {200, "[]", {}});
  r = run_ctl({"history", "bob"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(r.out, "TIME  ENDED  ENDED-BY  AVAILABILITY  STATUS\n0 previous statuses of bob\n");

  // Neither a status nor a history: the server's 404, exit 1.
  r = run_ctl({"history", "carol"});
  EXPECT_EQ(r.code, kNotFound);
  EXPECT_EQ(api_.last().target, "/api/statuses/carol/history");

  api_.answer("GET /api/statuses/alice/history", {200, R"({"not":"a list"})", {}});
  EXPECT_EQ(run_ctl({"history", "alice"}).code, kServerError);
}

TEST_F(Ctl, GetShowsEmojiAvailabilityAndExpiry) {
  api_.answer("GET /api/statuses/alice", {200, kStored, {}});
  auto r = run_ctl({"get", "alice"});
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_NE(r.out.find("emoji         📅\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("availability  busy\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("expires       2026-12-03T11:30:00Z\n"), std::string::npos) << r.out;
}

}  // namespace
