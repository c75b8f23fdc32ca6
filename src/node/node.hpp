#pragma once
// status-node's wiring: store, HTTP API, event stream, replication, peer sync, registration.

#include "common/config.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"
#include "node/api.hpp"
#include "node/event_hub.hpp"
#include "node/hlc.hpp"
#include "node/store.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace status::common {
class EurekaClient;
}

namespace status::node {

class Replicator;
class PeerSync;

struct NodeOptions {
  common::ServerOptions server;
  Store::Options store;
  std::vector<std::string> amqp_urls;
  std::vector<std::string> registry_urls;
  std::vector<std::string> peers;
  std::string advertise_host = "127.0.0.1";
  std::string queue_type = "classic";
  std::chrono::milliseconds sync_timeout{2000};
  std::chrono::milliseconds anti_entropy_interval{5000};
  int lease_renewal_s = 1;
  int lease_duration_s = 3;
  std::chrono::milliseconds drain_grace{1500};  // deregistered but still serving (registry only)
};

/// The option table of status-node (shared by main and the deploy/flag consistency test).
std::vector<common::Option> node_option_table();
/// Builds NodeOptions from parsed flags; throws common::ConfigError with one clear line.
NodeOptions node_options_from(const common::Config& c);

/// Owns every part of one node. start() from the main thread; stop() drains and joins.
class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();
  void start();
  void stop();
  unsigned short port() const { return server_->port(); }
  const std::string& node_id() const { return store_->node_id(); }
  bool ready() const { return ready_.load() && !draining_.load(); }

 private:
  void handle(common::Request&& req, common::ExchangePtr ex);
  void handle_internal(common::Request&& req, const common::ExchangePtr& ex);
  void maintenance_loop();
  std::vector<std::string> peer_urls();

  NodeOptions options_;
  HybridClock clock_;
  common::Metrics metrics_;
  std::unique_ptr<Store> store_;
  EventHub events_;
  std::unique_ptr<ApiDeps> api_;
  std::unique_ptr<common::HttpServer> server_;
  std::unique_ptr<Replicator> replicator_;
  std::unique_ptr<PeerSync> peer_sync_;
  std::unique_ptr<common::EurekaClient> registration_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  bool started_ = false;  // the server listens: stop() has something to undo
  std::thread maintenance_;
  std::mutex maintenance_mutex_;
  std::condition_variable maintenance_cv_;
};

}  // namespace status::node
