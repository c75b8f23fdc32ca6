#include "common/server_main.hpp"

#include "common/stop_signals.hpp"
#include "common/tls.hpp"

#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <unistd.h>

namespace status::common {

std::vector<Option> server_table(ServerOptions& server, ServerRowDefaults defaults,
                                 std::vector<Option> rows, LogOptions& log) {
  auto table = server_option_rows(server, defaults);
  for (auto& r : rows) table.push_back(std::move(r));
  for (auto& r : log_option_rows(log)) table.push_back(std::move(r));
  return table;
}

Configured configure(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env, Config& config,
                     const ServerMain& m, std::ostream& out, std::ostream& err) {
  Configured c;
  try {
    if (!config.parse(args, env)) {
      out << config.help_text();
      return c;
    }
    if (m.check) c.warnings = m.check();
    if (m.server) load_server_tls(*m.server);
    c.go = true;
  } catch (const ConfigError& e) {
    err << config.program() << ": " << e.what() << "\n";
    c.code = kExitBadConfig;
  }
  return c;
}

int run_main(int argc, char** argv, Config& config, const ServerMain& m) {
  auto c = configure(std::vector<std::string>(argv + 1, argv + argc), Config::environment(), config,
                     m, std::cout, std::cerr);
  if (!c.go) return c.code;
  init_logging(m.log_component, m.log->level);
  spdlog::debug("event=config {}", config.describe());
  for (const auto& w : c.warnings) spdlog::warn("event=config_warning reason=\"{}\"", w);
  prepare_fd_limit(*m.server);
  if (m.server) {
    TraceOptions t = m.server->trace;
    t.service = config.program();
    configure_tracing(t);
  }

  // Before any thread starts. SIGHUP is waited for only with TLS (else it stops the process,
  // as it always did).
  std::shared_ptr<TlsContext> tls = m.server ? m.server->tls : nullptr;
  StopSignals signals(tls != nullptr);
  struct Failure {
    std::mutex mutex;
    std::string reason;
  };
  auto failure = std::make_shared<Failure>();
  auto fail = [failure](const std::string& reason) {
    {
      std::lock_guard lock(failure->mutex);
      if (failure->reason.empty()) failure->reason = reason;
    }
    ::kill(::getpid(), SIGTERM);  // wakes signals.wait() below
  };
  std::function<void()> stop;
  try {
    stop = m.start(fail);
  } catch (const ConfigError& e) {
    std::cerr << config.program() << ": " << e.what() << "\n";
    return kExitBadConfig;
  } catch (const std::exception& e) {
    std::cerr << config.program() << ": " << e.what() << "\n";
    return kExitFailure;
  }
  int sig = 0;
  while ((sig = signals.wait()) == SIGHUP) {
    spdlog::info("event=signal signal={} action=reload_tls", sig);
    tls->reload();  // logs event=tls_reloaded, or one line event=tls_reload_failed
  }
  spdlog::info("event=signal signal={}", sig);
  if (stop) stop();  // logs event=stopping … event=stopped
  stop_tracing();    // the last spans go out
  std::lock_guard lock(failure->mutex);
  if (!failure->reason.empty()) {
    std::cerr << config.program() << ": " << failure->reason << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace status::common
