#pragma once
// statusctl's secrets on this machine: the session token file, password files and the terminal
// prompt. Nothing here prints a secret; error messages name files, never their contents.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/config.hpp"

namespace status::ctl {

/// Where `statusctl login` keeps the token: $XDG_CONFIG_HOME/statusctl/token when that variable
/// holds an absolute path (the XDG rule: relative values are ignored), else
/// $HOME/.config/statusctl/token. Throws common::ConfigError when neither is usable.
std::string token_path(const std::map<std::string, std::string>& env);

/// The token in `path` (its first line, without surrounding white space); nullopt when the file
/// does not exist or holds no token. Throws common::ConfigError when it exists but cannot be read.
std::optional<std::string> read_token_file(const std::string& path);

/// Stores `token` in `path`, replacing what was there: the directory is created with mode 0700
/// (and set to 0700 if it exists), the token is written to a temporary file of mode 0600 in the
/// same directory, flushed to disk and renamed over `path`, so a reader sees the old token or
/// the new one, never a part. Throws common::ConfigError on failure (and leaves no temp file).
void write_token_file(const std::string& path, const std::string& token);

/// Removes `path`; true when it existed. Throws common::ConfigError when it cannot be removed.
bool remove_token_file(const std::string& path);

/// Where the token of one invocation came from.
enum class TokenSource { kNone, kFlag, kEnv, kFile };

struct KnownToken {
  std::string value;  // empty with kNone
  TokenSource source = TokenSource::kNone;
};

/// The token an invocation uses: `--token`, else $STATUS_TOKEN, else the token file.
/// `option_value` is the option as common::Config resolved it (the flag, else the variable; ""
/// when neither or empty), `env` the environment (to tell the flag from the variable), `path`
/// the token file ("" when there is none to read). Throws as read_token_file().
KnownToken resolve_token(const std::string& option_value,
                         const std::map<std::string, std::string>& env, const std::string& path);

/// The first line of a password file (without its line end; "-" reads standard input). Throws
/// common::ConfigError naming `option` and the file when it cannot be read or the line is empty.
std::string read_secret_file(const std::string& option, const std::string& path);

/// Asks the user one question on the terminal: `prompt` is shown, the answer line returned
/// without its line end. With `secret` the typed characters are not echoed. Returns nullopt when
/// there is no terminal to ask (or input ended before a line).
using Prompter = std::function<std::optional<std::string>(const std::string& prompt, bool secret)>;

/// The real terminal: /dev/tty, echo off (termios) for secrets, restored afterwards, also when
/// interrupted by SIGINT, SIGTERM or SIGHUP.
std::optional<std::string> ask_terminal(const std::string& prompt, bool secret);

}  // namespace status::ctl
