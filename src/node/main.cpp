// status-node: parses configuration, wires the node, runs until SIGTERM/SIGINT.
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/stop_signals.hpp"
#include "node/node.hpp"

#include <csignal>
#include <mutex>
#include <unistd.h>
#include <iostream>

int main(int argc, char** argv) {
  using namespace status;
  common::StopSignals signals;

  common::Config config("status-node", "A Status Server node: stores statuses and replicates them.",
                        node::node_option_table());
  std::unique_ptr<node::Node> n;
  std::mutex fatal_mutex;
  std::string fatal;
  try {
    if (!config.parse(argc, argv)) return 0;
    common::init_logging("status-node", config.get("log-level"));
    auto options = node::node_options_from(config);
    common::prepare_fd_limit(options.server);
    n = std::make_unique<node::Node>(std::move(options));
    n->on_fatal([&](const std::string& reason) {
      {
        std::lock_guard lock(fatal_mutex);
        fatal = reason;
      }
      ::kill(::getpid(), SIGTERM);  // wakes signals.wait() below
    });
    n->start();
  } catch (const std::exception& e) {
    std::cerr << "status-node: " << e.what() << "\n";
    return 1;
  }
  spdlog::info("event=signal signal={}", signals.wait());
  n->stop();
  std::lock_guard lock(fatal_mutex);
  if (!fatal.empty()) {
    std::cerr << "status-node: " << fatal << "\n";
    return 1;
  }
  return 0;
}
