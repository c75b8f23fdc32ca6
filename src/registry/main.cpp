// status-registry: a service registry speaking Eureka's REST API (JSON). See docs/registry.md.

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include "common/stop_signals.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "registry/registry_service.hpp"

namespace {

using status::common::Config;
using status::common::ConfigError;
using status::common::Option;

Config make_config() {
  return Config("status-registry",
                "Service registry with Netflix Eureka's REST API (JSON) under /eureka.",
                {
                    {"port", "8761", "port to listen on (0: the OS chooses)"},
                    {"bind", "127.0.0.1", "address to listen on"},
                    {"peer", "",
                     "another registry to replicate with, e.g. http://127.0.0.1:8762/eureka", true},
                    {"threads", "2", "I/O threads"},
                    {"log-level", "info", "debug, info, warn or error"},
                    {"eviction-interval-ms", "250", "how often expired leases are evicted"},
                    {"peer-timeout-ms", "1000", "timeout of one call to a peer"},
                    {"delta-retention-s", "180", "how long a change stays in /eureka/apps/delta"},
                });
}

status::registry::ServiceOptions service_options(const Config& config) {
  status::registry::ServiceOptions o;
  o.server.bind = config.get("bind");
  o.server.port = static_cast<unsigned short>(config.get_int("port", 0, 65535));
  o.server.threads = static_cast<int>(config.get_int("threads", 1, 256));
  o.eviction_interval = std::chrono::milliseconds(config.get_int("eviction-interval-ms", 10, 1000));
  o.peer_timeout = std::chrono::milliseconds(config.get_int("peer-timeout-ms", 50, 60000));
  o.registry.delta_retention_ms = config.get_int("delta-retention-s", 1, 86400) * 1000;
  for (const auto& peer : config.get_all("peer")) {
    try {
      o.peers.push_back(status::common::parse_base_url(peer));
    } catch (const std::invalid_argument& e) {
      throw ConfigError("--peer: " + std::string(e.what()));
    }
  }
  auto level = config.get("log-level");
  if (level != "debug" && level != "info" && level != "warn" && level != "error")
    throw ConfigError("--log-level must be debug, info, warn or error, got '" + level + "'");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Config config = make_config();
  status::registry::ServiceOptions options;
  try {
    if (!config.parse(argc, argv)) return 0;
    options = service_options(config);
  } catch (const ConfigError& e) {
    std::cerr << "status-registry: " << e.what() << "\n";
    return 2;
  }
  status::common::init_logging("registry", config.get("log-level"));

  status::common::StopSignals signals;  // before any thread starts

  status::common::Metrics metrics;
  status::registry::RegistryService service(options, metrics);
  try {
    service.start();
  } catch (const std::system_error& e) {
    std::cerr << "status-registry: " << e.what() << "\n";
    return 1;
  }
  spdlog::info("event=stopping signal={}", signals.wait());
  service.stop();
  spdlog::info("event=stopped");
  return 0;
}
