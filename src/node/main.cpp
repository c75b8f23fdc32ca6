// status-node: parses configuration, wires the node, runs until SIGTERM/SIGINT.
#include "common/config.hpp"
#include "common/log.hpp"
#include "node/node.hpp"

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
  using namespace status;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // every thread inherits: only sigwait sees them
  std::signal(SIGPIPE, SIG_IGN);

  common::Config config("status-node", "A Status Server node: stores statuses and replicates them.",
                        node::node_option_table());
  std::unique_ptr<node::Node> n;
  try {
    if (!config.parse(argc, argv)) return 0;
    common::init_logging("status-node", config.get("log-level"));
    n = std::make_unique<node::Node>(node::node_options_from(config));
    n->start();
  } catch (const std::exception& e) {
    std::cerr << "status-node: " << e.what() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("event=signal signal={}", sig);
  n->stop();
  return 0;
}
