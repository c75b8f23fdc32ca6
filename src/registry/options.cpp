#include "registry/options.hpp"

#include "common/http_client.hpp"
#include "common/server_main.hpp"

#include <set>

namespace status::registry {

using common::ConfigError;
using common::Option;

std::vector<Option> option_table(ProcessOptions& o) {
  using std::chrono::milliseconds;
  auto& s = o.service;
  return common::server_table(s.server, {.port = 8761, .threads = 2}, {
      common::base_url_option("peer", &s.peers,
                              "another registry to replicate with, e.g. http://127.0.0.1:8762/eureka")
          .secret(),
      Option::duration<milliseconds>("eviction-interval-ms", &s.eviction_interval, 10, 1000, 250,
                                     "how often expired leases are evicted"),
      Option::duration<milliseconds>("peer-timeout-ms", &s.peer_timeout, 50, 60000, 1000,
                                     "timeout of one call to a peer"),
      Option::integer(
          "delta-retention-s", [&s](long long v) { s.registry.delta_retention_ms = v * 1000; }, 1,
          86400, 180, "seconds a change stays in /eureka/apps/delta"),
      Option::text("credentials-file", &o.credentials_file, "",
                   "lines user:password; every write then needs HTTP Basic credentials from it"),
      Option::flag("protect-reads", &o.protect_reads,
                   "with --credentials-file: reads need credentials too"),
      Option::integer("max-instances", &s.registry.max_instances, 1, 1000000, 10000,
                      "instances the registry holds at most"),
      Option::integer("max-apps", &s.registry.max_apps, 1, 100000, 1000,
                      "applications the registry holds at most"),
  }, o.log);
}

std::vector<std::string> finish_options(ProcessOptions& o) {
  std::vector<std::string> warnings;
  auto& s = o.service;
  s.registry.max_changes = 2 * s.registry.max_instances;
  if (o.credentials_file.empty()) {
    if (o.protect_reads) throw ConfigError("--protect-reads needs --credentials-file");
    return warnings;
  }
  Credentials credentials;
  try {
    credentials = Credentials::load(o.credentials_file, &warnings);
  } catch (const CredentialsError& e) {
    throw ConfigError(std::string("--credentials-file: ") + e.what());
  }
  std::set<std::string> peer_users;
  for (const auto& peer : s.peers) {
    if (peer.user.empty())
      warnings.push_back("--peer " + peer.str() +
                         " has no user:password@: the peer will refuse what is replicated to it");
    else if (!credentials.has_user(peer.user))
      warnings.push_back("--peer " + peer.redacted() + ": user " + peer.user +
                         " is not in the credentials file: its replication will be refused here");
    if (!peer.user.empty()) peer_users.insert(peer.user);
  }
  s.access = Access(std::move(credentials), std::move(peer_users), o.protect_reads);
  return warnings;
}

ProcessOptions options_from(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::vector<std::string>* warnings) {
  ProcessOptions o;
  common::Config c("status-registry", "", option_table(o));
  c.parse(args, env);
  auto w = finish_options(o);
  if (warnings) *warnings = std::move(w);
  return o;
}

}  // namespace status::registry
