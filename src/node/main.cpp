// status-node: parses configuration, wires the node, runs until SIGTERM/SIGINT.
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/stop_signals.hpp"
#include "node/node.hpp"

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
  using namespace status;
  common::StopSignals signals;

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
  spdlog::info("event=signal signal={}", signals.wait());
  n->stop();
  return 0;
}
