#include "node/node.hpp"

#include "common/eureka_client.hpp"
#include "common/http_client.hpp"
#include "common/jwt.hpp"
#include "common/server_main.hpp"
#include "common/tls.hpp"
#include "node/bootstrap.hpp"
#include "node/internal_api.hpp"
#include "node/peer_directory.hpp"
#include "node/peer_sync.hpp"
#include "node/replicator.hpp"
#include "node/write_path.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <sstream>
#include <fstream>
#include <cstdlib>
#include <future>

namespace status::node {

namespace http = common::http;
using common::ConfigError;
using common::Option;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::vector<Option> node_option_table(NodeOptions& o) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  constexpr long long kYear = 366LL * 24 * 3600;
  return common::server_table(o.server, {.port = 8081}, {
      Option::text("node-id", &o.store.node_id, "",
                   "this node's id (default: the id persisted in the data dir)")
          .valid_if(valid_username, "1-64 characters of A-Z a-z 0-9 . _ -"),
      Option::text("data-dir", &o.store.data_dir, "", "directory of the node's SQLite database")
          .required(),
      Option::each(
          "amqp-url",
          [&o](const std::string& v) {
            try {
              parse_amqp_url(v);
            } catch (const AmqpError&) {
              return false;
            }
            o.amqp_urls.push_back(v);
            return true;
          },
          "an amqp:// or amqps:// URL", "",
          "RabbitMQ URL amqp://user:pass@host:5672/vhost, or amqps://user:pass@host:5671/vhost over TLS; several = a cluster, tried in turn")
          .secret(),
      Option::text("amqp-ca", &o.amqp_ca_file, "",
                   "PEM file of the CA certificates an amqps:// broker's certificate must chain to (default: --tls-ca, else the system's trust store)"),
      Option::text("amqp-cert", &o.amqp_cert_file, "",
                   "PEM file of a client certificate (chain) shown to an amqps:// broker (with --amqp-key)"),
      Option::text("amqp-key", &o.amqp_key_file, "",
                   "PEM file of that certificate's private key (unencrypted; with --amqp-cert)"),
      common::base_url_option("registry-url", &o.registry_urls,
                              "Eureka registry base URL, e.g. http://127.0.0.1:8761/eureka")
          .secret(),
      common::base_url_option("peer", &o.peers,
                              "a peer node's base URL for bootstrap and repair, e.g. http://127.0.0.1:8082"),
      Option::text("advertise-host", &o.advertise_host, "",
                   "host name other processes use to reach this node (default: --bind; bound to any "
                   "address, the one this host routes to the registries or peers from)"),
      Option::choice<bool>("sync", &o.store.sync_full, {{"normal", false}, {"full", true}}, "normal",
                           "SQLite synchronous mode: normal (a commit survives kill -9 of the node) or full (also power loss; fsync per commit)"),
      Option::choice("queue-type", &o.queue_type, {"classic", "quorum"}, "classic",
                     "RabbitMQ queue type of this node's queue"),
      Option::duration<seconds>("queue-expiry", &o.queue_expiry, 1, 10 * kYear, 604800,
                                "an unused queue of this node lives this long on the broker (x-expires); a node away longer resynchronises"),
      Option::integer(
          "tombstone-ttl", [&o](long long s) { o.store.tombstone_ttl_ms = s * 1000; }, 1,
          10 * kYear, 691200, "seconds deletes are remembered; must be longer than --queue-expiry"),
      Option::duration<milliseconds>("publish-timeout", &o.publish_timeout, 50, 60000, 2000,
                                     "a write is answered at most this long after its commit, confirmed by the broker or not"),
      Option::integer("max-clock-offset", &o.store.max_clock_offset_ms, 10, 3600000, 1000,
                      "ms: a node further off its peers refuses writes; remote stamps further ahead are refused"),
      Option::duration<milliseconds>("sync-timeout-ms", &o.sync_timeout, 1, 60000, 2000,
                                     "longest wait of an X-Consistency: all write"),
      Option::duration<milliseconds>("anti-entropy-interval-ms", &o.anti_entropy_interval, 100,
                                     3600000, 5000, "how often to compare state digests with peers"),
      Option::duration<milliseconds>("bootstrap-timeout-ms", &o.bootstrap_timeout, 1000, 3600000,
                                     120000, "longest one snapshot transfer from a peer may take"),
      Option::integer("lease-renewal-s", &o.lease_renewal_s, 1, 3600, 1,
                      "registry heartbeat interval (seconds)"),
      Option::integer("lease-duration-s", &o.lease_duration_s, 1, 36000, 3,
                      "registry lease duration (seconds)"),
      Option::duration<milliseconds>("drain-grace-ms", &o.drain_grace, 0, 60000, 1500,
                                     "on shutdown: time between deregistering and refusing new requests"),
      Option::choice<bool>("auth", &o.auth_required, {{"required", true}, {"off", false}}, "required",
                           "required: only a user (or an admin) changes the user's status; off: anyone may write anything (no accounts)"),
      Option::choice<bool>("signup", &o.auth.signup_open, {{"open", true}, {"admin", false}}, "open",
                           "open: anyone may create an account; admin: only admins may"),
      Option::choice<bool>("read-access", &o.auth.read_authenticated,
                           {{"open", false}, {"authenticated", true}}, "open",
                           "open, or authenticated: reads need credentials too"),
      Option::duration<seconds>("session-ttl", &o.auth.session_ttl, 60, kYear, 604800,
                                "a session token is valid this long"),
      Option::text("admin-password-file", &o.admin_password_file, "",
                   "file holding the password of account 'admin' (created or reset at start)"),
      Option::text("cluster-key-file", &o.cluster_key_file, "",
                   "file holding the cluster key (>= 32 bytes): nodes authenticate /internal requests and replicated messages with it"),
      Option::text("oidc-issuer", &o.oidc_issuer, "",
                   "OpenID Connect: the issuer (iss) of accepted bearer JWTs"),
      Option::text("oidc-audience", &o.oidc_audience, "",
                   "OpenID Connect: the audience (aud) they must name"),
      Option::text("oidc-jwks-file", &o.oidc_jwks_file, "",
                   "OpenID Connect: the issuer's keys (a JWKS document)"),
      Option::text("oidc-username-claim", &o.oidc_username_claim, "preferred_username",
                   "OpenID Connect: the claim that names the user"),
      Option::integer("max-event-subscribers", &o.max_subscribers, 1, 1000000, 1000,
                      "open /api/events streams at most"),
      Option::integer("max-event-subscribers-per-client", &o.max_subscribers_per_client, 0, 1000000,
                      32, "open /api/events streams one client may hold (0: no cap); behind a --trusted-proxy the client is the one it names in X-Forwarded-For"),
      Option::integer("event-replay-max", &o.event_replay_max, 0, 1000000, 10000,
                      "events kept for clients that reconnect with Last-Event-ID (older gaps get event: reset)"),
      Option::duration<seconds>("event-replay-window-s", &o.event_replay_window, 1, 86400, 600,
                                "events are kept this long for reconnecting clients"),
      Option::each(
          "trusted-proxy",
          [&o](const std::string& v) {
            if (v != "none") o.trusted_proxies.add(v);  // throws std::invalid_argument
            return true;
          },
          "an ADDRESS or ADDRESS/PREFIX (prefix 0-32 for IPv4, 0-128 for IPv6), or 'none'",
          "127.0.0.1,::1",
          "a proxy in front of the node (the gateway): it is exempt from the per-client connection cap, and its X-Forwarded-For names the client; 'none' for none")
          .comma_lists(),
  }, o.log);
}

namespace {

std::vector<common::BaseUrl> parse_urls(const std::vector<std::string>& urls) {
  std::vector<common::BaseUrl> out;
  for (const auto& u : urls) out.push_back(common::parse_base_url(u));
  return out;
}

/// --advertise-host's default: the bind address, or with a wildcard bind the address this host
/// routes to the registries (else the peers) from; 127.0.0.1 with a warning when there is none.
std::string advertised_host(const NodeOptions& o) {
  auto towards = parse_urls(o.registry_urls);
  for (const auto& p : parse_urls(o.peers)) towards.push_back(p);
  if (auto host = common::reachable_host(o.server.bind, towards)) {
    if (common::is_wildcard_bind(o.server.bind))
      spdlog::info("event=advertise host={} bind={} source=route", *host, o.server.bind);
    return *host;
  }
  spdlog::warn("event=advertise host=127.0.0.1 bind={} reason=\"no registry or peer to route "
               "to; other hosts cannot reach this address: give --advertise-host\"",
               o.server.bind);
  return "127.0.0.1";
}

}  // namespace

void finish_node_options(NodeOptions& o, const common::Config& c) {
  o.server.per_client_exempt = o.trusted_proxies;
  auto queue_expiry_s = std::chrono::duration_cast<std::chrono::seconds>(o.queue_expiry).count();
  auto ttl_s = o.store.tombstone_ttl_ms / 1000;
  if (ttl_s <= queue_expiry_s)
    throw ConfigError("--tombstone-ttl (" + std::to_string(ttl_s) +
                      " s) must be longer than --queue-expiry (" + std::to_string(queue_expiry_s) +
                      " s): a node away longer than its queue lives would bring deletes back");
  o.store.outbox = !o.amqp_urls.empty();
  if (o.amqp_cert_file.empty() != o.amqp_key_file.empty())
    throw ConfigError("--amqp-cert and --amqp-key go together: give both or neither");
  if (o.amqp_ca_file.empty()) o.amqp_ca_file = o.server.tls_ca_file;  // one CA for every hop
  if (!o.amqp_ca_file.empty())
    if (auto problem = amqp_ca_file_problem(o.amqp_ca_file); !problem.empty())
      throw ConfigError("--amqp-ca: " + problem);
  // Read at every connect; checked here too, so that a typo stops the start rather than every
  // connection to the broker. A client certificate is checked as a server's is (a PEM chain, an
  // unencrypted key, the two matching).
  if (!o.amqp_cert_file.empty()) {
    try {
      common::TlsContext check(o.amqp_cert_file, o.amqp_key_file);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("--amqp-cert/--amqp-key: ") + e.what());
    }
  }
  if (c.get("advertise-host").empty()) o.advertise_host = advertised_host(o);
  bool oidc_any = !o.oidc_issuer.empty() || !o.oidc_audience.empty() || !o.oidc_jwks_file.empty();
  if (oidc_any && (o.oidc_issuer.empty() || o.oidc_audience.empty() || o.oidc_jwks_file.empty()))
    throw ConfigError("OpenID Connect needs --oidc-issuer, --oidc-audience and --oidc-jwks-file together");
  bool replicates = !o.amqp_urls.empty() || !o.peers.empty();
  if (o.auth_required && replicates && o.cluster_key_file.empty())
    throw ConfigError("--auth required with replication needs --cluster-key-file (at least 32 bytes): "
                      "without it anyone who reaches a node or the broker could write as any node");
}

namespace {

const char* queue_health_name(QueueHealth h) {
  switch (h) {
    case QueueHealth::kOk:
      return "ok";
    case QueueHealth::kMismatch:
      return "mismatch";
    case QueueHealth::kLost:
      return "lost";
    case QueueHealth::kUnknown:
      break;
  }
  return "unknown";
}

const char* sync_name(SyncState s) {
  return s == SyncState::kDone ? "done" : s == SyncState::kResync ? "resync" : "bootstrap";
}

}  // namespace

Node::Node(NodeOptions options) : options_(std::move(options)), incarnation_(common::random_id()) {
  Passwords::init();
  if (!options_.cluster_key_file.empty())
    cluster_key_ = ClusterKey::from_file(options_.cluster_key_file);
  common::Headers internal_headers;
  if (cluster_key_) internal_headers.emplace_back("Authorization", cluster_key_->internal_token());
  store_ = std::make_unique<Store>(options_.store, clock_);
  options_.server.answer_headers.emplace_back("X-Served-By", store_->node_id());
  directory_ = std::make_unique<PeerDirectory>(options_.peers, parse_urls(options_.registry_urls),
                                               internal_headers);
  peer_sync_ = std::make_unique<PeerSync>(*store_, *directory_, metrics_, internal_headers);
  if (!options_.amqp_urls.empty()) {
    ReplicatorOptions ro;
    ro.urls = options_.amqp_urls;
    ro.tls = {options_.amqp_ca_file, options_.amqp_cert_file, options_.amqp_key_file};
    ro.queue_type = options_.queue_type;
    ro.queue_expires = options_.queue_expiry;
    ro.publish_timeout = options_.publish_timeout;
    if (cluster_key_) {
      const ClusterKey* key = &*cluster_key_;
      ro.sign = [key](std::string_view body) { return key->sign(body); };
      ro.verify = [key](std::string_view body, std::string_view mac) { return key->verify(body, mac); };
    }
    Replicator::Hooks hooks;
    hooks.backlog_lost = [this] { backlog_lost(); };
    hooks.rejected = [this](std::size_t n) { malformed_ += n; };
    replicator_ = std::make_unique<Replicator>(ro, *store_, metrics_, std::move(hooks));
  }
  bool has_peers = !options_.amqp_urls.empty() || !options_.peers.empty() ||
                   !options_.registry_urls.empty();
  answerer_ = std::make_unique<WriteAnswerer>(replicator_.get(), has_peers ? peer_sync_.get() : nullptr,
                                              options_.sync_timeout);
  api_ = std::make_unique<ApiDeps>(ApiDeps{*store_, events_, *answerer_, store_->node_id()});
  api_->trusted_proxies = &options_.trusted_proxies;
  events_.set_limits(options_.max_subscribers, options_.max_subscribers_per_client);
  events_.set_state_since([this](std::int64_t from_ms) -> std::optional<std::vector<Change>> {
    auto entries = store_->index().changed_since(from_ms, options_.event_replay_max);
    if (!entries) return std::nullopt;
    auto now = static_cast<std::int64_t>(HybridClock::system_ms());
    std::vector<Change> out;
    out.reserve(entries->size());
    for (auto& e : *entries) {
      auto what = e.status.expired(now) ? Change::What::kExpire : Change::What::kState;
      auto json = e.api_json();
      out.push_back({std::move(e.status), std::move(json), 0, what});
    }
    return out;
  });
  events_.set_replay(options_.event_replay_max,
                     std::chrono::duration_cast<std::chrono::milliseconds>(options_.event_replay_window).count());
  api_->unavailable = [this]() -> std::optional<std::string> {
    if (draining_) return "this node is stopping";
    if (!ready_) return store_->sync_state() == SyncState::kDone
                            ? "this node is starting"
                            : "this node is loading the cluster's state from a peer";
    return std::nullopt;
  };
  api_->writes_refused = [this] { return clock_problem(); };
  if (options_.auth_required) {
    if (!options_.oidc_issuer.empty())
      options_.auth.oidc = std::make_shared<common::JwksVerifier>(common::JwksVerifier::from_file(
          options_.oidc_jwks_file, {options_.oidc_issuer, options_.oidc_audience,
                                    options_.oidc_username_claim}));
    auth_ = std::make_unique<Authenticator>(store_->index(), options_.auth);
    hashes_ = std::make_unique<HashWorkers>(2, 64);
    accounts_ = std::make_unique<AccountsDeps>(
        AccountsDeps{*store_, *auth_, *hashes_, throttle_, store_->node_id(), answerer_.get(),
                     options_.server.tls != nullptr, &options_.trusted_proxies});
    api_->auth = auth_.get();
  }
  add_routes();
  server_ = std::make_unique<common::HttpServer>(
      options_.server,
      [this](common::Request&& req, common::ExchangePtr ex) { router_.dispatch(std::move(req), ex); },
      &metrics_);
  store_->set_change_listener([this](const std::vector<Change>& changes) {
    if (replicator_) replicator_->on_changes(changes);
    // Accounts and sessions replicate like statuses, but they are nobody's event: the stream
    // carries statuses only.
    bool records = std::any_of(changes.begin(), changes.end(),
                               [](const Change& c) { return c.status.kind() != Kind::kStatus; });
    if (!records) return events_.publish(changes);  // (history-only changes: no event)
    if (auth_) auth_->records_changed();
    std::vector<Change> statuses;
    for (const auto& c : changes)
      if (c.status.kind() == Kind::kStatus) statuses.push_back(c);
    if (!statuses.empty()) events_.publish(statuses);
  });
  metrics_.add_collector([this] { return metrics_text(); });
}

Node::~Node() { stop(); }

std::string Node::metrics_text() const {
  std::string out;
  auto metric = [&](const char* type, const char* name, long long v) {
    out += std::string("# TYPE ") + name + " " + type + "\n" + name + " " + std::to_string(v) + "\n";
  };
  auto count = [](auto v) { return static_cast<long long>(v); };
  metric("gauge", "status_statuses", count(store_->live_count()));
  metric("gauge", "status_tombstones", count(store_->tombstone_count()));
  metric("gauge", "status_outbox", count(store_->outbox_size()));
  metric("gauge", "status_event_subscribers", count(events_.subscribers()));
  metric("gauge", "http_connections", count(server_->connections()));
  if (auto c = directory_->clock(); c.measured) metric("gauge", "status_clock_offset_ms", c.offset_ms);
  metric("counter", "status_write_failures_total", count(store_->failures()));
  metric("counter", "status_replication_rejected_total", count(store_->rejected() + malformed_.load()));
  if (replicator_) {
    metric("counter", "status_publish_timeouts_total", count(replicator_->publish_timeouts()));
    out += "# TYPE status_broker_connected gauge\n";
    out += std::string("status_broker_connected{role=\"publisher\"} ") +
           (replicator_->publisher_connected() ? "1" : "0") + "\n";
    out += std::string("status_broker_connected{role=\"consumer\"} ") +
           (replicator_->consumer_connected() ? "1" : "0") + "\n";
    if (auto lag = replicator_->replication_lag_ms(); lag >= 0)
      metric("gauge", "status_replication_lag_ms", lag);
  }
  return out;
}

std::optional<std::string> Node::clock_problem() const {
  auto c = directory_->clock();
  if (!c.measured) {
    // Not yet measured: only a node that has peers must wait for the measurement.
    if (directory_->refreshes() == 0 && (directory_->has_registry() || directory_->has_static_peers()))
      return std::string("this node has not yet measured its clock against its peers");
    return std::nullopt;
  }
  if (std::llabs(c.offset_ms) <= options_.store.max_clock_offset_ms) return std::nullopt;
  return "this node's clock is " + std::to_string(c.offset_ms) +
         " ms off its peers (more than --max-clock-offset " +
         std::to_string(options_.store.max_clock_offset_ms) + " ms): writes are refused";
}

void Node::start() {
  started_at_ = SteadyClock::now();
  store_->start();
  if (!options_.admin_password_file.empty()) {
    if (!auth_) throw common::ConfigError("--admin-password-file needs --auth required");
    std::ifstream in(options_.admin_password_file);
    std::string pw;
    if (!in || !std::getline(in, pw))
      throw common::ConfigError("--admin-password-file " + options_.admin_password_file + " cannot be read");
    while (!pw.empty() && (pw.back() == '\r' || pw.back() == ' ')) pw.pop_back();
    if (pw.size() < 8) throw common::ConfigError("the admin password must be at least 8 characters");
    ensure_admin(*store_, *auth_, pw);
  }
  server_->start();
  started_ = true;
  directory_->set_self(
      {node_id(), incarnation_, options_.advertise_host, port(), options_.server.tls != nullptr});
  spdlog::info("event=listening node_id={} port={} data_dir={} replication={} sync={}", node_id(),
               port(), options_.store.data_dir, replicator_ ? "rabbitmq" : "off",
               sync_name(store_->sync_state()));
  if (!options_.registry_urls.empty()) {
    common::InstanceInfo info;
    info.instance_id = node_id();
    info.host = options_.advertise_host;
    info.port = port();
    info.secure = options_.server.tls != nullptr;
    info.renewal_interval_s = options_.lease_renewal_s;
    info.duration_s = options_.lease_duration_s;
    // Registered by the sync task once the first look at the peers found no live process with
    // this node id (registering first would overwrite that process's registration).
    registration_ = std::make_unique<common::EurekaClient>(parse_urls(options_.registry_urls), info);
  }
  if (replicator_) replicator_->start();

  auto add = [this](const char* name, std::chrono::milliseconds every, std::function<void()> fn) {
    tasks_.push_back(std::make_unique<common::PeriodicTask>(name, every, std::move(fn)));
    return tasks_.back().get();
  };
  peers_task_ = add("peers", 1000ms, [this] { directory_->refresh(); });
  sync_task_ = add("sync", 500ms, [this] { sync_step(); });
  add("checkpoint", 250ms, [this] { store_->checkpoint(); });
  // Expiry: the index knows the next expiresAt; a status is gone for readers at that moment
  // and out of the list, with its expire event, within this tick.
  add("expiry", 100ms, [this] { store_->expire_due(); });
  add("tombstones", 1000ms, [this] {
    store_->probe_storage();
    store_->collect_tombstones();
  });
  add("events_ping", 15000ms, [this] { events_.ping(); });
  add("events_heartbeat", 250ms, [this] { events_.beat(); });
  repair_task_ = add("anti_entropy", options_.anti_entropy_interval, [this] {
    if (!ready()) return;
    peer_sync_->anti_entropy_round([this](std::chrono::milliseconds d) { return repair_task_->pause(d); });
  });
  for (auto& t : tasks_) t->start(t.get() == repair_task_ ? options_.anti_entropy_interval : 0ms);
}

void Node::fatal(const std::string& reason) {
  {
    std::lock_guard lock(fatal_mutex_);
    if (fatal_called_) return;
    fatal_called_ = true;
  }
  spdlog::error("event=fatal reason=\"{}\"", reason);
  if (on_fatal_) on_fatal_(reason);
}

void Node::become_ready(const char* how) {
  ready_ = true;
  spdlog::info("event=ready node_id={} statuses={} how=\"{}\"", node_id(), store_->live_count(), how);
  if (registration_) registration_->set_status("UP");
}

void Node::backlog_lost() {
  // Until the snapshot is loaded this node does not know what it missed: it stops serving
  // (503, registry STARTING) and resynchronises.
  ready_ = false;
  if (registration_) registration_->set_status("STARTING");
  store_->set_sync_state(SyncState::kResync);
  if (sync_task_) sync_task_->wake();
}

void Node::sync_step() {
  if (stopping_ || fatal_called_) return;
  // Start-up checks: a second live process with this node id must not run.
  if (auto dup = directory_->duplicate(); !dup.empty())
    return fatal("another live node at " + dup + " uses node id " + node_id());
  if (replicator_ && replicator_->queue_taken() && !ready_ &&
      SteadyClock::now() - started_at_ > 8s)
    return fatal("queue status.node." + node_id() +
                 " is consumed by another process: another node runs with id " + node_id());
  if (directory_->refreshes() == 0) return;  // peers not yet asked (clock, duplicates)
  if (registration_ && !registered_) {
    registration_->start(ready_ ? "UP" : "STARTING");
    registered_ = true;
  }

  // The first consume settles whether another process holds this node's queue (a duplicate
  // id): wait for it a moment, and never serve while the queue is taken.
  if (replicator_ && !ready_) {
    if (replicator_->queue_taken()) return;
    if (!replicator_->consumer_connected() && SteadyClock::now() - started_at_ < 5s) return;
  }
  SyncState state = store_->sync_state();
  if (state == SyncState::kDone) {
    if (ready_) return;
    // Let the consumer declare the queue first: a restarted node whose queue is gone resyncs.
    if (replicator_ && replicator_->wait_queue_state(0ms) == Replicator::QueueState::kUnknown &&
        SteadyClock::now() - started_at_ < 5s)
      return;
    if (replicator_ && replicator_->queue_taken()) return;
    if (store_->sync_state() != SyncState::kDone) return;  // the declaration found it lost
    return become_ready("its state is complete");
  }
  // Bootstrap or resync: the queue must exist before the snapshot is taken, so nothing
  // published meanwhile is missed.
  if (replicator_ && replicator_->wait_queue_state(0ms) == Replicator::QueueState::kUnknown &&
      SteadyClock::now() - started_at_ < 5s)
    return;
  BootstrapView view;
  view.state = state;
  view.self_id = node_id();
  view.has_registry = directory_->has_registry();
  view.registry_reachable = directory_->registry_reachable();
  view.registry_alone_for = directory_->registry_alone_for();
  view.alone_required = std::max<std::chrono::milliseconds>(3s, 2s * options_.lease_renewal_s);
  view.has_static_peers = directory_->has_static_peers();
  view.peers = directory_->peers();
  auto d = decide_bootstrap(view);
  if (d.kind == BootstrapDecision::kWait) {
    if (d.reason != wait_reason_) spdlog::info("event=sync_waiting reason=\"{}\"", d.reason);
    wait_reason_ = d.reason;
    return;
  }
  bool loaded = d.kind == BootstrapDecision::kStartEmpty;
  for (const auto& url : d.sources) {
    if (stopping_) return;
    spdlog::info("event=sync_loading peer={} mode={}", url, sync_name(state));
    if (peer_sync_->load_snapshot(url, state == SyncState::kResync,
                                  SteadyClock::now() + options_.bootstrap_timeout)) {
      loaded = true;
      break;
    }
  }
  if (!loaded) return;  // next round: start over
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  store_->set_sync_state(SyncState::kDone, [done](bool ok) { done->set_value(ok); });
  if (!f.get()) return;
  if (state == SyncState::kResync) {
    // A backlog is rarely lost alone: a broker reset or a lost broker node takes every queue,
    // and the peer the snapshot came from may not have noticed its own loss yet. One repair
    // round against every UP peer pulls what that peer missed (the change's own writer still
    // has it), instead of waiting for the next scheduled round.
    peer_sync_->anti_entropy_round([this](std::chrono::milliseconds d) { return sync_task_->pause(d); });
  }
  become_ready(d.reason.c_str());
}

void Node::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  spdlog::info("event=stopping node_id={}", node_id());
  // Deregister first and keep serving for a moment, so gateways stop sending new requests
  // before the node stops accepting them; then drain what is in flight.
  if (registration_) {
    registration_->stop();
    std::this_thread::sleep_for(options_.drain_grace);
  }
  draining_ = true;
  for (auto& t : tasks_) t->stop();
  events_.close_all();
  server_->stop();
  peer_sync_->stop();
  if (hashes_) hashes_->stop();
  if (replicator_) replicator_->stop();
  store_->stop();
  spdlog::info("event=stopped node_id={}", node_id());
}

common::Response Node::health(const common::Request& req) const {
  boost::json::object o;
  auto clock = clock_problem();
  // DEGRADED: serving reads, refusing writes (a clock off its peers, or storage failing).
  const char* state = draining_                                 ? "DRAINING"
                      : !ready_                                 ? "STARTING"
                      : (clock || store_->storage_failing())    ? "DEGRADED"
                                                                : "UP";
  o["status"] = state;
  o["nodeId"] = node_id();
  o["statuses"] = store_->live_count();
  o["outbox"] = store_->outbox_size();
  o["sync"] = sync_name(store_->sync_state());
  if (replicator_) {
    o["broker"] = !replicator_->publisher_connected() ? "disconnected"
                  : replicator_->publisher_blocked()  ? "blocked"
                                                      : "connected";
    o["consumer"] = replicator_->consumer_connected() ? "connected" : "disconnected";
    o["queue"] = queue_health_name(replicator_->queue_health());
  }
  auto c = directory_->clock();
  if (c.measured) o["clockOffsetMs"] = c.offset_ms;
  else o["clockOffsetMs"] = nullptr;
  o["clock"] = !c.measured ? "unmeasured" : clock ? "skewed" : "ok";
  o["storage"] = store_->storage_failing() ? "failing" : "ok";
  bool up = std::string_view(state) == "UP";
  auto res = common::json_response(up ? 200 : 503, boost::json::serialize(o), req);
  res.set("X-Served-By", node_id());
  return res;
}

void Node::add_routes() {
  add_api_routes(router_, *api_);
  if (accounts_) add_account_routes(router_, *accounts_, kServing);
  router_.set_guard([this](const common::Request& req, const common::RouteMatch& m)
                        -> std::optional<common::HttpError> {
    if (m.access == kCluster && cluster_key_) {
      auto a = common::header(req, "Authorization");
      if (!a || !cluster_key_->accepts(*a))
        return common::HttpError(401, "this endpoint is for the cluster's nodes only",
                                 {{"WWW-Authenticate", "Cluster"}});
      return std::nullopt;
    }
    return api_guard(*api_, req, m);
  });
  router_.set_decorate([this](common::Response& res, const common::RouteMatch& m) {
    decorate_api(*api_, res, m);
  });
  using common::RouteMatch;
  router_.add(http::verb::get, "/health", [this](common::Request&& req, const RouteMatch&,
                                                 const common::ExchangePtr& ex) {
    ex->respond(health(req));
  });
  router_.add(http::verb::get, "/metrics", [this](common::Request&& req, const RouteMatch&,
                                                  const common::ExchangePtr& ex) {
    common::Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics_.render();
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    ex->respond(std::move(res));
  });
  internal_ = std::make_unique<InternalDeps>(InternalDeps{
      *store_,
      [this] {
        const char* state = draining_ ? "DRAINING" : !ready_ ? "STARTING" : "UP";
        return PeerDirectory::state_json({node_id(), incarnation_, options_.advertise_host, port()},
                                         state, sync_name(store_->sync_state()),
                                         static_cast<std::int64_t>(clock_.wall_ms()));
      },
      [this] { return ready(); },
      malformed_,
      [this](std::string_view id, const std::string& url) {
        if (directory_->heard_from(id, url) && peers_task_) peers_task_->wake();
      }});
  add_internal_routes(router_, *internal_, kCluster);
}

}  // namespace status::node
