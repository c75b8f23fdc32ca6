// status-gateway: parses the configuration, wires the Gateway, runs until SIGTERM/SIGINT (see
// common/server_main.hpp for the sequence and the exit codes).
#include "common/server_main.hpp"
#include "gateway/gateway.hpp"
#include "gateway/options.hpp"

#include <memory>

int main(int argc, char** argv) {
  using namespace status;
  gateway::GatewayOptions options;
  common::Config config("status-gateway",
                        "The single entry point: forwards /api/... to the status nodes, serves "
                        "the web client.",
                        gateway::option_table(options));
  std::unique_ptr<gateway::Gateway> gw;
  return common::run_main(
      argc, argv, config,
      {.check = [&] {
         gateway::finish_options(options, config);
         return std::vector<std::string>{};
       },
       .log = &options.log,
       .server = &options.server,
       .log_component = "gateway",
       .start = [&](auto) -> std::function<void()> {
         gw = std::make_unique<gateway::Gateway>(options);
         gw->start();
         std::string hosts;
         for (const auto& h : options.allowed_hosts) hosts += (hosts.empty() ? "" : ",") + h;
         spdlog::info("event=listening bind={} port={} threads={} registries={} upstreams={} "
                      "lb_policy={} web_root={} rate_limit={} rate_burst={} allowed_hosts={} tls={} "
                      "redirect_port={}",
                      options.server.bind, gw->port(), options.server.threads,
                      options.registries.size(), options.upstreams.size(),
                      options.proxy.policy == gateway::LbPolicy::kP2c ? "p2c" : "round-robin",
                      options.web_root, options.rate_limit, options.rate_burst,
                      options.any_host ? "*" : hosts, options.server.tls ? "on" : "off",
                      options.redirect_port);
         return [&] {
           spdlog::info("event=stopping");
           gw->stop();
           spdlog::info("event=stopped");
         };
       }});
}
