// status-registry: a service registry speaking Eureka's REST API (JSON). See docs/registry.md.

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/log.hpp"
#include "common/stop_signals.hpp"
#include "registry/registry_service.hpp"

namespace {

using status::common::Config;
using status::common::ConfigError;
using status::common::Option;
using status::registry::Access;
using status::registry::Credentials;

std::vector<Option> base_options() {
  return {
      {"port", "8761", "port to listen on (0: the OS chooses)"},
      {"bind", "127.0.0.1", "address to listen on"},
      {"peer", "",
       "another registry to replicate with, e.g. http://127.0.0.1:8762/eureka", true},
      {"threads", "2", "I/O threads"},
      {"log-level", "info", "debug, info, warn or error"},
      {"eviction-interval-ms", "250", "how often expired leases are evicted"},
      {"peer-timeout-ms", "1000", "timeout of one call to a peer"},
      {"delta-retention-s", "180", "how long a change stays in /eureka/apps/delta"},
      {"credentials-file", "",
       "lines user:password; every write then needs HTTP Basic credentials from it"},
      {"protect-reads", "", "with --credentials-file: reads need credentials too",
       false, true},
      {"max-instances", "10000", "instances the registry holds at most"},
      {"max-apps", "1000", "applications the registry holds at most"},
  };
}

Config make_config() {
  std::vector<Option> table = base_options();
  for (auto& o : status::common::server_limit_options()) table.push_back(std::move(o));
  return Config("status-registry",
                "Service registry with Netflix Eureka's REST API (JSON) under /eureka.",
                std::move(table));
}

status::registry::ServiceOptions service_options(const Config& config,
                                                 std::vector<std::string>& warnings) {
  status::registry::ServiceOptions o;
  o.server.bind = config.get("bind");
  o.server.port = static_cast<unsigned short>(config.get_int("port", 0, 65535));
  o.server.threads = static_cast<int>(config.get_int("threads", 1, 256));
  status::common::apply_server_limits(config, o.server);
  o.eviction_interval = std::chrono::milliseconds(config.get_int("eviction-interval-ms", 10, 1000));
  o.peer_timeout = std::chrono::milliseconds(config.get_int("peer-timeout-ms", 50, 60000));
  o.registry.delta_retention_ms = config.get_int("delta-retention-s", 1, 86400) * 1000;
  o.registry.max_instances = static_cast<std::size_t>(config.get_int("max-instances", 1, 1000000));
  o.registry.max_apps = static_cast<std::size_t>(config.get_int("max-apps", 1, 100000));
  o.registry.max_changes = 2 * o.registry.max_instances;
  for (const auto& peer : config.get_all("peer")) {
    try {
      o.peers.push_back(status::common::parse_base_url(peer));
    } catch (const std::invalid_argument& e) {
      throw ConfigError("--peer: " + std::string(e.what()));
    }
  }
  if (config.has("credentials-file")) {
    auto credentials = Credentials::load(config.get("credentials-file"), &warnings);
    std::set<std::string> peer_users;
    for (const auto& peer : o.peers) {
      if (peer.user.empty())
        warnings.push_back("--peer " + peer.str() +
                           " has no user:password@: the peer will refuse what is replicated to it");
      else if (!credentials.has_user(peer.user))
        warnings.push_back("--peer " + peer.redacted() + ": user " + peer.user +
                           " is not in the credentials file: its replication will be refused here");
      if (!peer.user.empty()) peer_users.insert(peer.user);
    }
    o.access =
        Access(std::move(credentials), std::move(peer_users), config.get_bool("protect-reads"));
  } else if (config.get_bool("protect-reads")) {
    throw ConfigError("--protect-reads needs --credentials-file");
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
  std::vector<std::string> warnings;
  try {
    if (!config.parse(argc, argv)) return 0;
    options = service_options(config, warnings);
  } catch (const ConfigError& e) {
    std::cerr << "status-registry: " << e.what() << "\n";
    return 2;
  } catch (const status::registry::CredentialsError& e) {
    std::cerr << "status-registry: --credentials-file: " << e.what() << "\n";
    return 2;
  }
  status::common::init_logging("registry", config.get("log-level"));
  for (const auto& w : warnings) spdlog::warn("event=config_warning reason=\"{}\"", w);
  status::common::prepare_fd_limit(options.server);

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
