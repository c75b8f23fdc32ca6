#include "ctl/commands.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <ostream>

#include "common/tls.hpp"
#include "ctl/credentials.hpp"
#include "ctl/format.hpp"
#include "ctl/sse_parser.hpp"

namespace status::ctl {

namespace json = boost::json;
using common::ConfigError;

namespace {

/// Everything a command needs. Commands print results to `out` and failures to `err`.
struct Context {
  const Invocation& inv;
  const ApiClient& api;
  std::ostream& out;
  std::ostream& err;
  bool json_output;
  const std::map<std::string, std::string>& env;
  const Prompter& prompt;
  KnownToken token;        // the token every request carries (never printed)
  std::string token_file;  // "" when there is no place for one (no HOME)
};

constexpr const char* kSignInHint = "sign in first: statusctl login";

// What to say about a 401: nothing was sent, or what was sent is no longer a session.
std::string unauthorized_text(const Context& c) {
  if (!c.api.has_token()) return kSignInHint;
  const char* from = c.token.source == TokenSource::kFlag  ? "the --token"
                     : c.token.source == TokenSource::kEnv ? "the STATUS_TOKEN"
                                                           : "the saved";
  return std::string("the server does not accept ") + from +
         " token (the session ended or expired): statusctl login";
}

// A problem+json answer's detail, else the start of the body, else the status line.
std::string problem_detail(const ApiReply& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const auto* d = v.get_object().if_contains("detail"); d && d->is_string())
      return std::string(d->get_string());
    if (const auto* t = v.get_object().if_contains("title"); t && t->is_string())
      return std::string(t->get_string());
  }
  if (!r.body.empty()) return one_line(r.body, 200);
  return "HTTP " + std::to_string(r.status);
}

// Reports a failed call and returns its exit code.
int fail(const Context& c, const ApiReply& r) {
  if (!r.reached) {
    c.err << "statusctl: cannot reach " << c.api.url() << ": " << r.error << "\n";
    return kUnreachable;
  }
  if (r.status == 401) {
    c.err << "statusctl: " << unauthorized_text(c) << "\n";
  } else if (r.status == 429) {
    std::string wait = r.header("Retry-After");
    c.err << "statusctl: 429 " << problem_detail(r) << "; wait "
          << (wait.empty() ? "a while" : wait + " s") << " before trying again\n";
  } else {
    c.err << "statusctl: " << r.status << " " << problem_detail(r) << "\n";
  }
  return exit_code_for_status(r.status);
}

// A status write refused for want of credentials or rights.
int write_refused(const Context& c, const ApiReply& r, const std::string& user,
                  const char* action) {
  if (r.status == 403) {
    c.err << "statusctl: only " << user << " or an admin may " << action << " " << user
          << "'s status\n";
    return kUsage;
  }
  return fail(c, r);
}

// A failed call to the account endpoints: as fail(), and a 404 means the server has none.
int account_fail(const Context& c, const ApiReply& r) {
  if (r.reached && r.status == 404) {
    c.err << "statusctl: " << c.api.url() << " has no accounts (does it run with --auth off?)\n";
    return kNotFound;
  }
  return fail(c, r);
}

// Parses a successful answer's JSON body; on garbage reports it and returns nullopt.
std::optional<json::value> parse_body(const Context& c, const ApiReply& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec) {
    c.err << "statusctl: the server's answer is not JSON: " << one_line(r.body, 200) << "\n";
    return std::nullopt;
  }
  return v;
}

// GETs `target` for a command that shows the answer: a 200 with JSON of `kind` (else reported,
// kServerError), which --json prints as received. Returns the value for the command to render,
// or nullopt when nothing is left to do, with the exit code in `code` (kOk after --json).
std::optional<json::value> get_to_show(const Context& c, const std::string& target, json::kind kind,
                                       ApiReply& r, int& code) {
  r = c.api.get(target);
  code = kOk;
  if (!r.reached || r.status != 200) {
    code = fail(c, r);
    return std::nullopt;
  }
  auto v = parse_body(c, r);
  if (!v || v->kind() != kind) {
    code = kServerError;
    return std::nullopt;
  }
  if (c.json_output) {
    c.out << r.body << "\n";
    return std::nullopt;
  }
  return v;
}

// A whole string as a number (strtod's syntax); nullopt when it is not one.
std::optional<double> parse_number(const std::string& v) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0) return std::nullopt;
  return d;
}

double number_option(const Invocation& inv, const std::string& name, double min, double max) {
  std::string v = inv.config.get(name);
  auto d = parse_number(v);
  if (!d || !(*d >= min && *d <= max))
    throw ConfigError("--" + name + " must be a number in " + json::serialize(json::value(min)) +
                      ".." + json::serialize(json::value(max)) + ", got '" + v + "'");
  return *d;
}

// The --availability values; each must be one the server knows (CONTRACT §2).
std::vector<std::string> availability_option(const Invocation& inv) {
  auto values = inv.config.get_all("availability");
  for (const auto& a : values)
    if (a != "available" && a != "busy" && a != "away" && a != "dnd")
      throw ConfigError("--availability must be available, busy, away or dnd, got '" + a + "'");
  return values;
}

// --clear-after in seconds, within the server's 1 s … 366 d (CONTRACT §2).
long clear_after_option(const Invocation& inv) {
  std::string v = inv.config.get("clear-after");
  auto seconds = parse_duration(v);
  if (!seconds)
    throw ConfigError("--clear-after must be a duration such as 90s, 30m, 4h, 2d or 1h30m, got '" +
                      v + "'");
  if (*seconds < 1 || *seconds > 366L * 86400)
    throw ConfigError("--clear-after must be between 1s and 366d, got '" + v + "'");
  return *seconds;
}

// --bbox as given, once it is four comma-separated numbers (ranges and order: the server's).
std::string bbox_option(const Invocation& inv) {
  std::string v = inv.config.get("bbox");
  std::vector<std::string> parts(1);
  for (char ch : v) {
    if (ch == ',')
      parts.emplace_back();
    else
      parts.back() += ch;
  }
  bool numbers = std::all_of(parts.begin(), parts.end(),
                             [](const std::string& p) { return parse_number(p).has_value(); });
  if (parts.size() != 4 || !numbers)
    throw ConfigError("--bbox must be four numbers MINLON,MINLAT,MAXLON,MAXLAT, got '" + v + "'");
  return v;
}

common::Headers write_headers(const Invocation& inv) {
  common::Headers h;
  if (auto c = inv.config.get("consistency"); !c.empty()) {
    if (c != "all" && c != "async") throw ConfigError("--consistency must be all or async");
    h.emplace_back("X-Consistency", c);
  }
  return h;
}

std::string served_by(const ApiReply& r) {
  std::string s = r.header("X-Served-By");
  std::string rep = r.header("X-Replicated");
  std::string out = s.empty() ? "" : " (served by " + s;
  if (!rep.empty()) out += (out.empty() ? " (" : ", ") + std::string("replicated ") + rep;
  return out.empty() ? out : out + ")";
}

std::string status_target(const std::string& user) {
  return "/api/statuses/" + encode_segment(user);
}

int cmd_set(const Context& c) {
  const auto& user = c.inv.args[0];
  json::object body{{"username", user}, {"statusText", c.inv.args[1]}};
  bool lat = c.inv.config.has("lat"), lon = c.inv.config.has("lon");
  if (lat != lon) throw ConfigError("--lat and --lon go together");
  if (lat) {
    body["latitude"] = number_option(c.inv, "lat", -90, 90);
    body["longitude"] = number_option(c.inv, "lon", -180, 180);
  }
  if (auto t = c.inv.config.get("time"); !t.empty()) body["time"] = t;
  if (c.inv.config.has("emoji")) body["emoji"] = c.inv.config.get("emoji");
  auto availability = availability_option(c.inv);
  if (availability.size() > 1) throw ConfigError("set takes one --availability");
  if (!availability.empty()) body["availability"] = availability.front();
  bool after = c.inv.config.has("clear-after"), at = c.inv.config.has("expires-at");
  if (after && at) throw ConfigError("give --clear-after or --expires-at, not both");
  if (after) body["clearAfter"] = clear_after_option(c.inv);
  if (at) body["expiresAt"] = c.inv.config.get("expires-at");
  auto r = c.api.put(status_target(user), json::serialize(body), write_headers(c.inv));
  if (r.reached && (r.status == 401 || r.status == 403)) return write_refused(c, r, user, "change");
  if (!r.reached || (r.status != 200 && r.status != 201)) return fail(c, r);
  auto v = parse_body(c, r);
  if (!v || !v->is_object()) return kServerError;
  if (c.json_output) {
    c.out << r.body << "\n";
  } else {
    c.out << (r.status == 201 ? "created " : "updated ") << user << served_by(r) << "\n"
          << render_status(v->get_object());
  }
  return kOk;
}

int cmd_get(const Context& c) {
  ApiReply r;
  int code;
  auto v = get_to_show(c, status_target(c.inv.args[0]), json::kind::object, r, code);
  if (v) c.out << render_status(v->get_object());
  return code;
}

int cmd_history(const Context& c) {
  const auto& user = c.inv.args[0];
  ApiReply r;
  int code;
  auto v = get_to_show(c, status_target(user) + "/history", json::kind::array, r, code);
  if (!v) return code;
  const auto& entries = v->get_array();
  c.out << render_history_table(entries) << entries.size()
        << (entries.size() == 1 ? " previous status of " : " previous statuses of ") << user
        << "\n";
  return kOk;
}

int cmd_list(const Context& c) {
  std::vector<std::pair<std::string, std::string>> params;
  if (auto q = c.inv.config.get("q"); !q.empty()) params.emplace_back("q", q);
  for (const auto& a : availability_option(c.inv)) params.emplace_back("availability", a);
  if (c.inv.config.has("bbox")) params.emplace_back("bbox", bbox_option(c.inv));
  for (const auto& u : c.inv.config.get_all("user")) params.emplace_back("username", u);
  for (const char* name : {"limit", "offset"}) {
    if (!c.inv.config.has(name)) continue;
    long n = c.inv.config.get_int(name, name == std::string("limit") ? 1 : 0, 1000000000);
    params.emplace_back(name, std::to_string(n));
  }
  ApiReply r;
  int code;
  auto v = get_to_show(c, "/api/statuses" + query_string(params), json::kind::array, r, code);
  if (!v) return code;
  const auto& statuses = v->get_array();
  c.out << render_status_table(statuses);
  std::string total = r.header("X-Total-Count");
  c.out << statuses.size() << " shown" << (total.empty() ? "" : " of " + total) << "\n";
  return kOk;
}

int cmd_delete(const Context& c) {
  const auto& user = c.inv.args[0];
  auto r = c.api.del(status_target(user), write_headers(c.inv));
  if (r.reached && (r.status == 401 || r.status == 403)) return write_refused(c, r, user, "delete");
  if (!r.reached || r.status != 204) return fail(c, r);
  if (!c.json_output) c.out << "deleted " << user << served_by(r) << "\n";
  return kOk;
}

// One event as a line (see render_event); with --json the event as {"event":…,"data":…}.
void print_event(const Context& c, const SseEvent& e) {
  if (c.json_output) {
    // The server's own JSON text, untouched (re-serializing would rewrite its numbers).
    json::error_code ec;
    json::parse(e.data, ec);
    c.out << "{\"event\":" << json::serialize(json::value(e.type))
          << ",\"data\":" << (ec ? json::serialize(json::value(e.data)) : e.data) << "}\n";
  } else {
    c.out << render_event(e.type, e.data);
  }
  c.out.flush();  // a pipe reader sees each event at once
}

int cmd_watch(const Context& c) {
  long limit = c.inv.config.has("count") ? c.inv.config.get_int("count", 1, 1000000000) : 0;
  long seen = 0;
  SseParser parser;
  // When a stream that was open ends (its node stopped, the gateway moved on), the watcher
  // connects again and resumes after the last event it printed (?lastEventId=): the server
  // replays what came meanwhile (some events may repeat), or sends `reset`. It gives up after
  // kRetries attempts in a row that get no stream (about 11 s: 0.2 s, 0.4 s, … 2 s apart).
  constexpr int kRetries = 10;
  int failures = 0;
  bool was_open = false;
  for (;;) {
    std::string head;  // the first bytes, to explain a non-200 answer
    std::string target = "/api/events";
    if (!parser.last_event_id().empty()) target += "?lastEventId=" + encode_segment(parser.last_event_id());
    bool got_data = false;
    int status = c.api.stream(target, [&](std::string_view piece) {
      got_data = true;
      if (head.size() < 4096) head.append(piece.substr(0, 4096 - head.size()));
      for (const auto& e : parser.feed(piece)) {
        print_event(c, e);
        if (!c.out) return false;  // the reader went away (a closed pipe)
        if (limit > 0 && ++seen >= limit) return false;
      }
      return true;
    });
    if ((limit > 0 && seen >= limit) || !c.out) return kOk;
    if (status == 200) {
      was_open = true;
      if (got_data) failures = 0;
    } else if (status != 0 || !was_open) {
      if (status == 0) {
        c.err << "statusctl: cannot reach " << c.api.url() << "\n";
        return kUnreachable;
      }
      ApiReply r;
      r.reached = true;
      r.status = status;
      r.body = head;
      return fail(c, r);
    }
    if (++failures > kRetries) {
      c.err << "statusctl: the event stream closed and " << c.api.url() << " did not answer again\n";
      return kUnreachable;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(200 * failures, 2000)));
  }
}

int cmd_nodes(const Context& c) {
  auto r = c.api.get("/api/services");
  if (!r.reached || r.status != 200) {
    if (r.reached && r.status == 404)
      c.err << "statusctl: " << c.api.url() << " has no /api/services: is it a gateway?\n";
    return r.reached && r.status == 404 ? kNotFound : fail(c, r);
  }
  auto v = parse_body(c, r);
  if (!v || !v->is_array()) return kServerError;
  if (c.json_output)
    c.out << r.body << "\n";
  else
    c.out << render_services_table(v->get_array());
  return kOk;
}

// ---- identity: signup, login, logout, whoami, passwd ----

std::string ask(const Context& c, const std::string& prompt, bool secret) {
  auto answer = c.prompt(prompt, secret);
  if (!answer)
    throw ConfigError(secret ? "no terminal to ask for the password: use --password-file FILE"
                             : "no terminal to ask: give the username on the command line");
  if (answer->empty()) throw ConfigError(secret ? "no password given" : "no username given");
  return *answer;
}

// A password from --`option` when given, else asked on the terminal.
std::string password(const Context& c, const std::string& option, const std::string& prompt) {
  if (c.inv.config.has(option)) return read_secret_file(option, c.inv.config.get(option));
  return ask(c, prompt, true);
}

// A new password from --`option`, else asked twice on the terminal.
std::string new_password(const Context& c, const std::string& option, const std::string& prompt) {
  if (c.inv.config.has(option)) return read_secret_file(option, c.inv.config.get(option));
  auto first = ask(c, prompt, true);
  if (ask(c, "Again: ", true) != first) throw ConfigError("the two passwords differ");
  return first;
}

std::string roles_text(const json::object& o) {
  std::string out;
  if (const auto* roles = o.if_contains("roles"); roles && roles->is_array())
    for (const auto& r : roles->get_array()) out += (out.empty() ? "" : ", ") + scalar_text(r);
  return out;
}

std::string string_field(const json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

int cmd_signup(const Context& c) {
  const auto& user = c.inv.args[0];
  auto pw = new_password(c, "password-file", "Password for " + user + ": ");
  auto r = c.api.post("/api/accounts",
                      json::serialize(json::object{{"username", user}, {"password", pw}}));
  if (!r.reached || r.status != 201) return account_fail(c, r);
  if (c.json_output)
    c.out << r.body << "\n";
  else
    c.out << "created account " << user << served_by(r) << "; sign in: statusctl login " << user
          << "\n";
  return kOk;
}

int cmd_login(const Context& c) {
  const std::string path = token_path(c.env);  // before asking: no password for nothing
  std::string user = c.inv.args.empty() ? ask(c, "Username: ", false) : c.inv.args[0];
  auto pw = password(c, "password-file", "Password for " + user + ": ");
  // Signing in needs no credentials: an old token (perhaps dead) stays out of it.
  ApiClient anonymous(c.api.url(),
                      std::chrono::milliseconds(c.inv.config.get_int("timeout-ms", 1, 3600000)));
  auto r = anonymous.post("/api/sessions",
                          json::serialize(json::object{{"username", user}, {"password", pw}}));
  if (r.reached && r.status == 401) {
    c.err << "statusctl: wrong username or password\n";
    return kUsage;
  }
  if (r.reached && r.status == 429) {
    std::string wait = r.header("Retry-After");
    c.err << "statusctl: too many failed sign-ins for " << user << ": wait "
          << (wait.empty() ? "a minute" : wait + " s") << " before trying again\n";
    return kUsage;
  }
  if (!r.reached || r.status != 201) return account_fail(c, r);
  auto v = parse_body(c, r);
  if (!v || !v->is_object()) return kServerError;
  auto session = v->get_object();
  std::string token = string_field(session, "token");
  if (token.empty()) {
    c.err << "statusctl: the server's answer holds no token\n";
    return kServerError;
  }
  try {
    write_token_file(path, token);
  } catch (const ConfigError&) {
    // A session nobody can use: end it rather than leave it open for its whole lifetime.
    ApiClient(c.api.url(), std::chrono::milliseconds(5000), token).del("/api/sessions/current", {});
    throw;
  }
  session.erase("token");
  if (c.json_output) {
    c.out << json::serialize(session) << "\n";
  } else {
    std::string name = string_field(session, "username");
    std::string until = string_field(session, "expiresAt");
    c.out << "signed in as " << (name.empty() ? user : name)
          << (until.empty() ? "" : " (until " + until + ")") << "\n";
  }
  if (c.token.source == TokenSource::kEnv)
    c.err << "statusctl: note: STATUS_TOKEN is set and is used instead of the new token\n";
  return kOk;
}

int cmd_logout(const Context& c) {
  if (!c.api.has_token()) {
    c.out << "not signed in\n";
    return kOk;
  }
  auto r = c.api.del("/api/sessions/current", {});
  if (!r.reached || (r.status != 204 && r.status != 401)) return account_fail(c, r);
  // The token file goes when it holds the token just ended (not when --token named another).
  bool removed = false;
  if (!c.token_file.empty()) {
    auto saved = c.token.source == TokenSource::kFile ? std::optional<std::string>(c.token.value)
                                                      : read_token_file(c.token_file);
    if (saved && *saved == c.token.value) removed = remove_token_file(c.token_file);
  }
  if (!c.json_output)
    c.out << (r.status == 204 ? "signed out" : "signed out (the session had already ended)")
          << (removed ? "; removed " + c.token_file : std::string()) << "\n";
  return kOk;
}

// GET /api/me; nullopt after reporting a failure (the exit code in `code`).
std::optional<json::object> me(const Context& c, const ApiReply& r, int& code) {
  if (!r.reached || r.status != 200) {
    code = account_fail(c, r);
    return std::nullopt;
  }
  auto v = parse_body(c, r);
  if (!v || !v->is_object() || string_field(v->get_object(), "username").empty()) {
    if (v)
      c.err << "statusctl: the server's answer names no user: " << one_line(r.body, 200) << "\n";
    code = kServerError;
    return std::nullopt;
  }
  return v->get_object();
}

int cmd_whoami(const Context& c) {
  if (!c.api.has_token()) {
    c.err << "statusctl: not signed in: statusctl login\n";
    return kUsage;
  }
  auto r = c.api.get("/api/me");
  int code = kOk;
  auto who = me(c, r, code);
  if (!who) return code;
  if (c.json_output) {
    c.out << r.body << "\n";
  } else {
    auto roles = roles_text(*who);
    c.out << string_field(*who, "username") << (roles.empty() ? "" : " (" + roles + ")") << "\n";
  }
  return kOk;
}

int cmd_passwd(const Context& c) {
  if (!c.api.has_token()) {
    c.err << "statusctl: " << kSignInHint << "\n";
    return kUsage;
  }
  int code = kOk;
  auto who = me(c, c.api.get("/api/me"), code);
  if (!who) return code;
  const std::string self = string_field(*who, "username");
  const std::string user = c.inv.args.empty() ? self : c.inv.args[0];
  bool admin = false;
  if (const auto* roles = who->if_contains("roles"); roles && roles->is_array())
    for (const auto& r : roles->get_array()) admin = admin || (r.is_string() && r == "admin");
  json::object body;
  if (user == self || !admin)  // an admin sets another's password without knowing it
    body["current"] = password(c, "password-file", "Current password of " + user + ": ");
  body["new"] = new_password(c, "new-password-file", "New password for " + user + ": ");
  auto r =
      c.api.put("/api/accounts/" + encode_segment(user) + "/password", json::serialize(body), {});
  // /api/me answered, so the server has accounts: a 404 here is "no such account".
  if (!r.reached || r.status != 204) return fail(c, r);
  if (!c.json_output) {
    if (user == self)
      c.out << "changed the password of " << user << "; your other sessions have ended\n";
    else
      c.out << "changed the password of " << user << "; " << user << "'s sessions have ended\n";
  }
  return kOk;
}

}  // namespace

ExitCode exit_code_for_status(int status) {
  if (status == 404) return kNotFound;
  if (status == 400 || status == 401 || status == 403 || status == 413 || status == 429)
    return kUsage;
  if (status == 502 || status == 503 || status == 504) return kUnreachable;
  return kServerError;
}

int run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err) {
  return run(args, env, out, err, ask_terminal);
}

int run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err, const Prompter& prompt) {
  try {
    auto inv = parse_invocation(args, env);
    if (inv.command.empty()) {
      out << help_text();
      return kOk;
    }
    std::string file;
    try {
      file = token_path(env);
    } catch (const ConfigError&) {
      // No HOME: no token file to read (login says so when it needs one).
    }
    KnownToken token = resolve_token(inv.config.get("token"), env, file);
    if (inv.config.has("tls-ca")) common::configure_client_tls(inv.config.get("tls-ca"));
    std::unique_ptr<ApiClient> api;
    try {
      api = std::make_unique<ApiClient>(
          inv.config.get("gateway"),
          std::chrono::milliseconds(inv.config.get_int("timeout-ms", 1, 3600000)), token.value);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("--gateway: ") + e.what());
    }
    Context c{inv, *api, out, err, inv.config.get_bool("json"), env, prompt, token, file};
    if (inv.command == "set") return cmd_set(c);
    if (inv.command == "get") return cmd_get(c);
    if (inv.command == "history") return cmd_history(c);
    if (inv.command == "list") return cmd_list(c);
    if (inv.command == "delete") return cmd_delete(c);
    if (inv.command == "watch") return cmd_watch(c);
    if (inv.command == "signup") return cmd_signup(c);
    if (inv.command == "login") return cmd_login(c);
    if (inv.command == "logout") return cmd_logout(c);
    if (inv.command == "whoami") return cmd_whoami(c);
    if (inv.command == "passwd") return cmd_passwd(c);
    return cmd_nodes(c);  // parse_invocation admits no other command
  } catch (const ConfigError& e) {
    err << "statusctl: " << e.what() << "\n";
    return kUsage;
  }
}

}  // namespace status::ctl
