#pragma once
// The running registry: the model, the HTTP server, the eviction timer and the replicator,
// wired together. main.cpp only parses flags and calls start/stop.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/http_client.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"
#include "registry/access.hpp"
#include "registry/registry.hpp"
#include "registry/handlers.hpp"
#include "registry/replicator.hpp"

namespace status::registry {

struct ServiceOptions {
  common::ServerOptions server;
  std::vector<common::BaseUrl> peers;  // with the credentials to send them, if any
  Access access;                       // open unless built from --credentials-file
  std::chrono::milliseconds eviction_interval{250};
  std::chrono::milliseconds peer_timeout{1000};
  RegistryOptions registry;
};

/// Owns every part of a registry process. start() copies the registry from a peer, binds
/// (throws std::system_error, e.g. port in use) and starts the threads; stop() is idempotent.
/// start and stop belong to one controlling thread (main); registry() may be used from any.
class RegistryService {
 public:
  RegistryService(ServiceOptions options, common::Metrics& metrics, Clock clock = system_now_ms);
  ~RegistryService();
  RegistryService(const RegistryService&) = delete;
  RegistryService& operator=(const RegistryService&) = delete;

  void start();
  void stop();
  unsigned short port() const { return server_.port(); }
  Registry& registry() { return registry_; }

 private:
  void evict_loop();

  ServiceOptions options_;
  common::Metrics& metrics_;
  Registry registry_;
  Replicator replicator_;
  HandlerDeps deps_;
  common::Router router_;
  common::HttpServer server_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread evictor_;
};

}  // namespace status::registry
