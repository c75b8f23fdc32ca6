#pragma once
// status-node's wiring: store, HTTP API, event stream, replication, peers, registration, and the
// background tasks that keep them going.

#include "common/background.hpp"
#include "common/config.hpp"
#include "common/http_server.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/router.hpp"
#include "node/accounts_api.hpp"
#include "node/api.hpp"
#include "node/auth.hpp"
#include "node/event_hub.hpp"
#include "node/hlc.hpp"
#include "node/internal_api.hpp"
#include "node/store.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace status::common {
class EurekaClient;
}

namespace status::node {

class Replicator;
class PeerSync;
class PeerDirectory;
class WriteAnswerer;

struct NodeOptions {
  common::ServerOptions server;
  common::LogOptions log;
  Store::Options store;
  std::vector<std::string> amqp_urls;
  std::string amqp_ca_file, amqp_cert_file, amqp_key_file;  // amqps:// (node/amqp.hpp AmqpTls)
  std::vector<std::string> registry_urls;
  std::vector<std::string> peers;
  std::string advertise_host = "127.0.0.1";
  std::size_t max_subscribers = 1000;            // /api/events streams
  std::size_t max_subscribers_per_client = 32;
  std::size_t event_replay_max = 10000;  // events kept for Last-Event-ID
  std::chrono::seconds event_replay_window{600};
  common::Networks trusted_proxies;              // --trusted-proxy
  std::string queue_type = "classic";
  std::chrono::milliseconds queue_expiry{7LL * 24 * 3600 * 1000};
  std::chrono::milliseconds publish_timeout{2000};
  std::chrono::milliseconds sync_timeout{2000};
  std::chrono::milliseconds anti_entropy_interval{5000};
  std::chrono::milliseconds bootstrap_timeout{120000};
  int lease_renewal_s = 1;
  int lease_duration_s = 3;
  std::chrono::milliseconds drain_grace{1500};  // deregistered but still serving (registry only)
  // Identity and access (CONTRACT §6).
  bool auth_required = true;
  AuthOptions auth;
  std::string admin_password_file;
  std::string cluster_key_file;
  std::string oidc_issuer, oidc_audience, oidc_jwks_file, oidc_username_claim = "preferred_username";
};

/// The option table of status-node, storing into `o` (also read by the deploy/flag
/// consistency test through --help).
std::vector<common::Option> node_option_table(NodeOptions& o);
/// After the table was parsed into `o`: the rules between options and the derived values.
/// Throws common::ConfigError with one clear line.
void finish_node_options(NodeOptions& o, const common::Config& c);

/// Owns every part of one node. start() from the main thread; stop() drains and joins.
///
/// States: STARTING (until its state is known complete and the start-up checks passed; again
/// while it resynchronises after a lost backlog) → UP → DRAINING. DEGRADED while its clock is
/// off its peers (reads served, writes refused).
class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();
  void start();
  void stop();
  unsigned short port() const { return server_->port(); }
  const std::string& node_id() const { return store_->node_id(); }
  bool ready() const { return ready_.load() && !draining_.load(); }
  /// Called (once, from a background thread) when the node cannot go on: e.g. another live
  /// process has its node id. main() prints the reason and exits non-zero.
  void on_fatal(std::function<void(const std::string&)> f) { on_fatal_ = std::move(f); }

 private:
  void add_routes();
  common::Response health(const common::Request& req) const;
  std::string metrics_text() const;

  // Background work, each on a PeriodicTask of its own.
  void sync_step();         // start-up checks, bootstrap / resync until complete
  void become_ready(const char* how);
  void backlog_lost();      // replicator: the broker dropped this node's queue
  void fatal(const std::string& reason);
  std::optional<std::string> clock_problem() const;

  NodeOptions options_;
  HybridClock clock_;
  common::Metrics metrics_;
  std::string incarnation_;
  std::unique_ptr<Store> store_;
  EventHub events_;
  std::unique_ptr<PeerDirectory> directory_;
  std::unique_ptr<PeerSync> peer_sync_;
  std::unique_ptr<Replicator> replicator_;
  std::unique_ptr<WriteAnswerer> answerer_;
  std::unique_ptr<ApiDeps> api_;
  std::unique_ptr<InternalDeps> internal_;
  std::optional<ClusterKey> cluster_key_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<HashWorkers> hashes_;
  LoginThrottle throttle_;
  std::unique_ptr<AccountsDeps> accounts_;
  common::Router router_;  // every route of the node (built in the constructor, read-only after)
  std::unique_ptr<common::HttpServer> server_;
  std::unique_ptr<common::EurekaClient> registration_;
  std::vector<std::unique_ptr<common::PeriodicTask>> tasks_;
  common::PeriodicTask* sync_task_ = nullptr;
  common::PeriodicTask* peers_task_ = nullptr;
  common::PeriodicTask* repair_task_ = nullptr;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> malformed_{0};
  bool started_ = false;  // the server listens: stop() has something to undo
  std::chrono::steady_clock::time_point started_at_{};
  std::mutex fatal_mutex_;
  bool fatal_called_ = false;
  std::function<void(const std::string&)> on_fatal_;
  std::string wait_reason_;  // sync task only: the last reason logged for waiting
  bool registered_ = false;  // sync task only: registration started
};

}  // namespace status::node
