#pragma once
// statusctl's commands: each a function of (invocation, API client, output streams) → exit code.

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "ctl/api_client.hpp"
#include "ctl/credentials.hpp"
#include "ctl/invocation.hpp"

namespace status::ctl {

/// Runs one statusctl command line. `env` holds the STATUS_* variables, HOME and XDG_CONFIG_HOME
/// (where the token file lives). Results go to `out`, messages (one line, "statusctl: …") to
/// `err`; passwords are asked through `prompt` (the terminal in the first form). Returns an
/// ExitCode.
int run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err);
int run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err, const Prompter& prompt);

/// The exit code an unexpected HTTP answer maps to (see ExitCode).
ExitCode exit_code_for_status(int status);

}  // namespace status::ctl
