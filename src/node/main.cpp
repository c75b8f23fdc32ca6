// status-node: parses configuration, wires the node, runs until SIGTERM/SIGINT (see
// common/server_main.hpp for the sequence and the exit codes).
#include "common/server_main.hpp"
#include "node/node.hpp"

#include <memory>

int main(int argc, char** argv) {
  using namespace status;
  node::NodeOptions options;
  common::Config config("status-node", "A Status Server node: stores statuses and replicates them.",
                        node::node_option_table(options));
  std::unique_ptr<node::Node> n;
  return common::run_main(
      argc, argv, config,
      {.check = [&] {
         node::finish_node_options(options, config);
         return std::vector<std::string>{};
       },
       .log = &options.log,
       .server = &options.server,
       .log_component = "status-node",
       .start = [&](auto fail) -> std::function<void()> {
         n = std::make_unique<node::Node>(options);
         n->on_fatal(fail);
         n->start();
         return [&] { n->stop(); };
       }});
}
