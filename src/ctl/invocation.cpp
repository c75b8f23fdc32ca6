#include "ctl/invocation.hpp"

#include <algorithm>
#include <array>

namespace status::ctl {

using common::ConfigError;
using common::Option;

namespace {

constexpr const char* kProgram = "statusctl <command> [arguments]";
constexpr const char* kSummary =
    "The Status Server's command-line client. Talks to the gateway (or to any node) over HTTP.\n"
    "\n"
    "Commands:\n"
    "  set USER TEXT... [--emoji E] [--availability A] [--clear-after D | --expires-at T]\n"
    "        [--lat X --lon Y] [--time T]             create or replace USER's status\n"
    "  get USER                                       show USER's status\n"
    "  history USER                                   USER's previous statuses, newest first\n"
    "  list [--q TEXT] [--availability A]... [--user U]... [--bbox B]\n"
    "        [--limit N] [--offset N]                 list statuses, newest first\n"
    "  delete USER                                    delete USER's status\n"
    "  watch [--count N]                              print every change as it happens\n"
    "  nodes                                          the gateway's view of the nodes\n"
    "  signup USER [--password-file F]                create an account\n"
    "  login [USER] [--password-file F]               sign in; keeps the token in the token file\n"
    "  logout                                         end the session, remove the token file\n"
    "  whoami                                         the account the token belongs to\n"
    "  passwd [USER] [--password-file F] [--new-password-file F]\n"
    "                                                 change a password (another's: admins)\n"
    "\n"
    "Availability A is one of available, busy, away, dnd. A duration D is 90s, 30m, 4h, 2d, a\n"
    "combination such as 1h30m, or plain seconds, at most 366d; T is an RFC 3339 time\n"
    "(2026-12-03T15:00:00Z). After D, or at T, the status is gone and moves into the history.\n"
    "list's filters combine (a status must match each one given) and apply before --limit and\n"
    "--offset; a repeated --availability or --user matches any of its values. B is a box of\n"
    "degrees MINLON,MINLAT,MAXLON,MAXLAT; statuses without a location are outside every box.\n"
    "\n"
    "Without --password-file the password is asked on the terminal, without echo. The token\n"
    "file is $XDG_CONFIG_HOME/statusctl/token, else ~/.config/statusctl/token (mode 0600);\n"
    "--token or STATUS_TOKEN take its place. Every request carries the token when one is known.\n"
    "\n"
    "Exit codes: 0 ok, 1 not found, 2 usage error or request refused by the server (400, 413;\n"
    "401 not signed in, 403 not allowed, 429 too many attempts), 3 unreachable (no connection,\n"
    "timeout, 502/503/504, event stream ended), 4 other server error.";

struct CommandSpec {
  const char* name;
  std::size_t min_args;
  std::size_t max_args;  // SIZE_MAX: the rest are joined (set's TEXT)
};

constexpr std::array<CommandSpec, 12> kCommands{{
    {"set", 2, SIZE_MAX},
    {"get", 1, 1},
    {"history", 1, 1},
    {"list", 0, 0},
    {"delete", 1, 1},
    {"watch", 0, 0},
    {"nodes", 0, 0},
    {"signup", 1, 1},
    {"login", 0, 1},
    {"logout", 0, 0},
    {"whoami", 0, 0},
    {"passwd", 0, 1},
}};

}  // namespace

std::vector<Option> ctl_option_table() {
  return {
      {"gateway", "http://127.0.0.1:8080", "base URL of the gateway (or of one node), http:// or https://"},
      {"tls-ca", "",
       "PEM file of the CA certificates an https:// gateway is verified against (default: the "
       "system store)"},
      {"json", "", "print the server's JSON instead of tables (for scripts)", false, true},
      {"timeout-ms", "5000", "timeout of one request (watch: of connecting)"},
      {"lat", "", "set: latitude, -90..90 (with --lon)"},
      {"lon", "", "set: longitude, -180..180 (with --lat)"},
      {"time", "", "set: the status's time, ISO-8601 (default: the server's clock)"},
      {"emoji", "", "set: an emoji (or a :shortcode:, 1-32 characters) shown with the text"},
      {"availability", "",
       "set: available, busy, away or dnd (server default: available); list: only statuses "
       "with this availability, or any of several",
       true},
      {"clear-after", "",
       "set: the status goes after this duration: 90s, 30m, 4h, 2d, 1h30m or seconds, at most "
       "366d"},
      {"expires-at", "", "set: the status goes at this RFC 3339 time (not with --clear-after)"},
      {"consistency", "", "set/delete: 'all' waits until every node has applied the write"},
      {"limit", "", "list: at most this many statuses (server default 100, max 1000)"},
      {"offset", "", "list: skip this many statuses"},
      {"q", "", "list: only statuses whose username or text contains this (any case)"},
      {"bbox", "", "list: only statuses located in MINLON,MINLAT,MAXLON,MAXLAT"},
      {"user", "", "list: only this user's status, or those of several (at most 100)", true},
      {"count", "", "watch: exit 0 after this many events (default: follow until interrupted)"},
      {"token", "", "session token to send (instead of the token file of `login`)"},
      {"password-file", "",
       "login/signup: the password is the first line of this file ('-': standard input); "
       "passwd: the current one"},
      {"new-password-file", "", "passwd: the new password is the first line of this file"},
  };
}

std::string help_text() {
  return common::Config(kProgram, kSummary, ctl_option_table()).help_text();
}

Invocation parse_invocation(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env) {
  auto table = ctl_option_table();
  std::vector<std::string> flags, positionals;
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_ended || a == "-" || (a.rfind("-", 0) != 0)) {
      positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      options_ended = true;
      continue;
    }
    flags.push_back(a);
    // A value-taking option given as "--name VALUE" takes the next argument with it, even one
    // that starts with '-' (a negative latitude).
    if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos) {
      std::string name = a.substr(2);
      auto it =
          std::find_if(table.begin(), table.end(), [&](const Option& o) { return o.name == name; });
      if (it != table.end() && !it->is_switch && i + 1 < args.size()) flags.push_back(args[++i]);
    }
  }
  Invocation inv{"", {}, common::Config(kProgram, kSummary, table)};
  if (!inv.config.parse(flags, env)) return inv;  // --help
  if (positionals.empty()) throw ConfigError("no command given (see --help)");
  inv.command = positionals.front();
  inv.args.assign(positionals.begin() + 1, positionals.end());
  auto spec = std::find_if(kCommands.begin(), kCommands.end(),
                           [&](const CommandSpec& c) { return inv.command == c.name; });
  if (spec == kCommands.end())
    throw ConfigError("unknown command '" + inv.command + "' (see --help)");
  if (inv.args.size() < spec->min_args || inv.args.size() > spec->max_args)
    throw ConfigError("wrong number of arguments for '" + inv.command + "' (see --help)");
  if (inv.command == "set" && inv.args.size() > 2) {  // set alice In a meeting → one text
    std::string text = inv.args[1];
    for (std::size_t i = 2; i < inv.args.size(); ++i) text += " " + inv.args[i];
    inv.args.resize(1);
    inv.args.push_back(text);
  }
  return inv;
}

std::optional<long> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return text.size() > 12 ? std::nullopt : std::optional<long>(std::stol(std::string(text)));
  // Groups of digits and a unit, each unit at most once, larger units first: 2d, 1h30m, 1m30s.
  constexpr std::array<std::pair<char, long>, 4> kUnits{
      {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
  long total = 0;
  std::size_t next_unit = 0, i = 0;
  while (i < text.size()) {
    std::size_t digits = 0;
    long n = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits)
      n = n * 10 + (text[i] - '0');
    if (digits == 0 || digits > 12 || i == text.size()) return std::nullopt;
    while (next_unit < kUnits.size() && kUnits[next_unit].first != text[i]) ++next_unit;
    if (next_unit == kUnits.size()) return std::nullopt;  // unknown, repeated or out of order
    total += n * kUnits[next_unit++].second;
    ++i;
  }
  return total;
}

}  // namespace status::ctl
