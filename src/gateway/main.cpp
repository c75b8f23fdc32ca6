// status-gateway: parses the configuration, wires the Gateway, runs until SIGTERM/SIGINT.
#include "common/stop_signals.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "gateway/gateway.hpp"
#include "gateway/options.hpp"

#include <csignal>
#include <cstdio>
#include <system_error>

int main(int argc, char** argv) {
  using namespace status;
  common::Config config("status-gateway",
                        "The single entry point: forwards /api/... to the status nodes, serves "
                        "the web client.",
                        gateway::option_table());
  gateway::GatewayOptions options;
  try {
    if (!config.parse(argc, argv)) return 0;
    options = gateway::options_from_config(config);
  } catch (const common::ConfigError& e) {
    std::fprintf(stderr, "status-gateway: %s\n", e.what());
    return 2;
  }
  common::init_logging("gateway", options.log_level);
  common::prepare_fd_limit(options.server);

  common::StopSignals signals;  // before any thread starts

  try {
    gateway::Gateway gw(options);
    gw.start();
    std::string hosts;
    for (const auto& h : options.allowed_hosts) hosts += (hosts.empty() ? "" : ",") + h;
    spdlog::info("event=listening bind={} port={} threads={} registries={} upstreams={} "
                 "lb_policy={} web_root={} rate_limit={} rate_burst={} allowed_hosts={}",
                 options.server.bind, gw.port(), options.server.threads, options.registries.size(),
                 options.upstreams.size(),
                 options.proxy.policy == gateway::LbPolicy::kP2c ? "p2c" : "round-robin",
                 options.web_root, options.rate_limit, options.rate_burst,
                 options.any_host ? "*" : hosts);
    spdlog::info("event=stopping signal={}", signals.wait());
    gw.stop();
    spdlog::info("event=stopped");
  } catch (const common::ConfigError& e) {
    std::fprintf(stderr, "status-gateway: %s\n", e.what());
    return 2;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "status-gateway: %s: %s\n", e.what(), e.code().message().c_str());
    return 1;
  }
  return 0;
}
