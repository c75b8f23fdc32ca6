#pragma once
// The main() of every server: parse the option table → the rules between options → logging →
// start → wait for SIGTERM/SIGINT → stop, with one exit-code rule for all of them. With TLS
// (--tls-cert/--tls-key), SIGHUP re-reads the certificate and key (open connections keep theirs).

#include "common/config.hpp"
#include "common/http_server.hpp"
#include "common/log.hpp"

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace status::common {

/// The exit codes of status-node, status-gateway and status-registry (docs/*.md, "Exit codes").
/// Every failure is also one line "program: message" on stderr.
enum ExitCode : int {
  kExitOk = 0,         // --help, or stopped by SIGTERM/SIGINT
  kExitFailure = 1,    // could not start (port in use, unusable data dir, …) or failed running
  kExitBadConfig = 2,  // bad configuration: a ConfigError (an unknown flag, a value out of its
                       // bounds or not among its allowed values, a rule between options), also
                       // one thrown while the service is built
};

/// A server's whole option table: the rows every server shares (server_option_rows), its own
/// `rows`, then the logging rows (log_option_rows).
std::vector<Option> server_table(ServerOptions& server, ServerRowDefaults defaults,
                                 std::vector<Option> rows, LogOptions& log);

/// What differs between the servers; run_main does the rest.
struct ServerMain {
  /// After the table stored its values: the rules between options and derived values. Throws
  /// ConfigError; returns warnings, logged once logging is up. May be empty.
  std::function<std::vector<std::string>()> check;
  /// Filled by the table (log_option_rows, server_option_rows); read after check.
  const LogOptions* log = nullptr;
  ServerOptions* server = nullptr;  // its TLS rows are loaded into server->tls after check
  /// The component name of the log lines.
  std::string log_component;
  /// Builds and starts the service; returns what stops it (it logs event=stopping, and
  /// event=stopped when done). The service may call `fail(reason)`
  /// from any thread while it runs: the process then stops, prints the reason and exits 1.
  std::function<std::function<void()>(std::function<void(const std::string&)> fail)> start;
};

/// Runs a server to its end (argv and the STATUS_* environment); returns the exit code.
int run_main(int argc, char** argv, Config& config, const ServerMain& m);

/// The configuration part of run_main (parse, then check): whether to go on, else the code to
/// exit with now (--help printed to `out`, or one line "program: message" written to `err`).
struct Configured {
  bool go = false;
  int code = kExitOk;
  std::vector<std::string> warnings;
};
Configured configure(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env, Config& config,
                     const ServerMain& m, std::ostream& out, std::ostream& err);

}  // namespace status::common
