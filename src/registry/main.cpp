// status-registry: a service registry speaking Eureka's REST API (JSON). See docs/registry.md;
// common/server_main.hpp for the start-up sequence and the exit codes.

#include "common/server_main.hpp"
#include "registry/options.hpp"
#include "registry/registry_service.hpp"

#include <memory>

int main(int argc, char** argv) {
  using namespace status;
  registry::ProcessOptions options;
  common::Config config("status-registry",
                        "Service registry with Netflix Eureka's REST API (JSON) under /eureka.",
                        registry::option_table(options));
  common::Metrics metrics;
  std::unique_ptr<registry::RegistryService> service;
  return common::run_main(
      argc, argv, config,
      {.check = [&] { return registry::finish_options(options); },
       .log = &options.log,
       .server = &options.service.server,
       .log_component = "registry",
       .start = [&](auto) -> std::function<void()> {
         service = std::make_unique<registry::RegistryService>(options.service, metrics);
         service->start();
         return [&] {
           spdlog::info("event=stopping");
           service->stop();
           spdlog::info("event=stopped");
         };
       }});
}
