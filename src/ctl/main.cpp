// statusctl: the Status Server's command-line client. See docs/statusctl.md.
#include <csignal>
#include <iostream>

#include "ctl/commands.hpp"

extern char** environ;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // `statusctl watch | head` ends on a write error, not a signal
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    if (name.rfind("STATUS_", 0) == 0 || name == "HOME" || name == "XDG_CONFIG_HOME")
      env[name] = kv.substr(eq + 1);
  }
  return status::ctl::run(args, env, std::cout, std::cerr);
}
