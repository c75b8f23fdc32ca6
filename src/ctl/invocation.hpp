#pragma once
// The command line of statusctl: a command, its positional arguments and the option table.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace status::ctl {

/// Exit codes, documented in --help and docs/statusctl.md; scripts rely on them.
enum ExitCode : int {
  kOk = 0,
  kNotFound = 1,     // the status (or the path) does not exist
  kUsage = 2,        // bad command line, or the server refused the request: invalid input
                     // (400, 413), not signed in (401), not allowed (403), too many tries (429)
  kUnreachable = 3,  // no connection, timeout, 502/503/504, or the event stream ended
  kServerError = 4,  // any other unexpected answer (412, 500, malformed body, ...)
};

/// What the user asked for. `config` answers the options (flag, then STATUS_* env, then default).
struct Invocation {
  std::string command;            // set, get, …, login, passwd (see --help); empty with --help
  std::vector<std::string> args;  // the positional arguments after the command
  common::Config config;
};

/// Options of every command (one table: --help prints it, the environment fills gaps).
std::vector<common::Option> ctl_option_table();
/// The --help text: commands, options, exit codes.
std::string help_text();

/// Splits `args` (argv without the program name) into the command, positionals and options.
/// Options may come before or after the command; "--" ends the options. Throws
/// common::ConfigError on a usage error. Returns an Invocation with an empty command on --help.
Invocation parse_invocation(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env);

/// A duration as `set --clear-after` takes it, in seconds: plain seconds ("5400"), or groups of
/// digits and a unit d, h, m, s, larger units first, each at most once ("90s", "30m", "2d",
/// "1h30m"). nullopt when malformed. The range is checked by the caller.
std::optional<long> parse_duration(std::string_view text);

}  // namespace status::ctl
