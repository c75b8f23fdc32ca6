#include "node/node.hpp"

#include "common/eureka_client.hpp"
#include "common/http_client.hpp"
#include "common/jwt.hpp"
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

std::vector<Option> node_option_table() {
  std::vector<Option> table{
      {"port", "8081", "TCP port to listen on (0: any free port, logged)"},
      {"bind", "127.0.0.1", "address to listen on"},
      {"node-id", "", "this node's id (default: the id persisted in the data dir)"},
      {"data-dir", "", "directory of the node's SQLite database (required)"},
      {"amqp-url", "", "RabbitMQ URL amqp://user:pass@host:5672/vhost; several = a cluster, tried in turn", true},
      {"registry-url", "", "Eureka registry base URL, e.g. http://127.0.0.1:8761/eureka", true},
      {"peer", "", "a peer node's base URL for bootstrap and repair, e.g. http://127.0.0.1:8082", true},
      {"advertise-host", "", "host name other processes use to reach this node (default: --bind, or 127.0.0.1)"},
      {"threads", std::to_string(common::default_threads()), "number of I/O threads"},
      {"sync", "normal", "SQLite synchronous mode: normal (a commit survives kill -9 of the node) or full (also power loss; fsync per commit)"},
      {"queue-type", "classic", "RabbitMQ queue type of this node's queue: classic or quorum"},
      {"queue-expiry", "604800", "seconds an unused queue of this node lives on the broker (x-expires); a node away longer resynchronises"},
      {"tombstone-ttl", "691200", "seconds deletes are remembered; must be longer than --queue-expiry"},
      {"publish-timeout", "2000", "ms: a write is answered at most this long after its commit, confirmed by the broker or not"},
      {"max-clock-offset", "1000", "ms: a node further off its peers refuses writes; remote stamps further ahead are refused"},
      {"sync-timeout-ms", "2000", "longest wait of an X-Consistency: all write"},
      {"anti-entropy-interval-ms", "5000", "how often to compare state digests with peers"},
      {"bootstrap-timeout-ms", "120000", "longest one snapshot transfer from a peer may take"},
      {"lease-renewal-s", "1", "registry heartbeat interval (seconds)"},
      {"lease-duration-s", "3", "registry lease duration (seconds)"},
      {"drain-grace-ms", "1500", "on shutdown: time between deregistering and refusing new requests"},
      {"idle-timeout-ms", "30000", "close kept-alive connections idle this long"},
      {"read-timeout-ms", "10000", "a started request must arrive within this time"},
      {"auth", "required", "required: only a user (or an admin) changes the user's status; off: anyone may write anything (no accounts)"},
      {"signup", "open", "open: anyone may create an account; admin: only admins may"},
      {"read-access", "open", "open, or authenticated: reads need credentials too"},
      {"session-ttl", "604800", "seconds a session token is valid"},
      {"admin-password-file", "", "file holding the password of account 'admin' (created or reset at start)"},
      {"cluster-key-file", "", "file holding the cluster key (>= 32 bytes): nodes authenticate /internal requests and replicated messages with it"},
      {"oidc-issuer", "", "OpenID Connect: the issuer (iss) of accepted bearer JWTs"},
      {"oidc-audience", "", "OpenID Connect: the audience (aud) they must name"},
      {"oidc-jwks-file", "", "OpenID Connect: the issuer's keys (a JWKS document)"},
      {"oidc-username-claim", "preferred_username", "OpenID Connect: the claim that names the user"},
      {"max-event-subscribers", "1000", "open /api/events streams at most"},
      {"max-event-subscribers-per-client", "32",
       "open /api/events streams one client may hold (0: no cap); behind a --trusted-proxy the client is the one it names in X-Forwarded-For"},
      {"event-replay-max", "10000",
       "events kept for clients that reconnect with Last-Event-ID (older gaps get event: reset)"},
      {"event-replay-window-s", "600", "seconds events are kept for reconnecting clients"},
      {"trusted-proxy", "127.0.0.1,::1",
       "address or ADDRESS/PREFIX of a proxy in front of the node (the gateway): it is exempt from the per-client connection cap, and its X-Forwarded-For names the client; 'none' for none",
       true},
      {"log-level", "info", "debug, info, warn or error"},
  };
  for (auto& o : common::server_limit_options()) table.push_back(std::move(o));
  return table;
}

NodeOptions node_options_from(const common::Config& c) {
  NodeOptions o;
  o.server.bind = c.get("bind");
  o.server.port = static_cast<unsigned short>(c.get_int("port", 0, 65535));
  o.server.threads = static_cast<int>(c.get_int("threads", 1, 256));
  o.server.idle_timeout = std::chrono::milliseconds(c.get_int("idle-timeout-ms", 100, 3600000));
  o.server.read_timeout = std::chrono::milliseconds(c.get_int("read-timeout-ms", 100, 3600000));
  common::apply_server_limits(c, o.server);
  o.max_subscribers = static_cast<std::size_t>(c.get_int("max-event-subscribers", 1, 1000000));
  o.max_subscribers_per_client =
      static_cast<std::size_t>(c.get_int("max-event-subscribers-per-client", 0, 1000000));
  o.event_replay_max = static_cast<std::size_t>(c.get_int("event-replay-max", 0, 1000000));
  o.event_replay_window = std::chrono::seconds(c.get_int("event-replay-window-s", 1, 86400));
  for (const auto& list : c.get_all("trusted-proxy")) {
    std::stringstream ss(list);
    std::string one;
    while (std::getline(ss, one, ',')) {
      if (one.empty() || one == "none") continue;
      try {
        o.trusted_proxies.add(one);
      } catch (const std::invalid_argument& e) {
        throw ConfigError(std::string("--trusted-proxy: ") + e.what());
      }
    }
  }
  o.server.per_client_exempt = o.trusted_proxies;
  o.store.data_dir = c.get("data-dir");
  if (o.store.data_dir.empty()) throw ConfigError("--data-dir is required (or STATUS_DATA_DIR)");
  o.store.node_id = c.get("node-id");
  if (!o.store.node_id.empty() && !valid_username(o.store.node_id))
    throw ConfigError("--node-id must be 1-64 characters of A-Z a-z 0-9 . _ -");
  std::string sync = c.get("sync");
  if (sync != "full" && sync != "normal") throw ConfigError("--sync must be full or normal");
  o.store.sync_full = sync == "full";
  constexpr long kYear = 366L * 24 * 3600;
  long queue_expiry_s = c.get_int("queue-expiry", 1, 10 * kYear);
  long ttl_s = c.get_int("tombstone-ttl", 1, 10 * kYear);
  if (ttl_s <= queue_expiry_s)
    throw ConfigError("--tombstone-ttl (" + std::to_string(ttl_s) +
                      " s) must be longer than --queue-expiry (" + std::to_string(queue_expiry_s) +
                      " s): a node away longer than its queue lives would bring deletes back");
  o.queue_expiry = std::chrono::seconds(queue_expiry_s);
  o.store.tombstone_ttl_ms = ttl_s * 1000;
  o.store.max_clock_offset_ms = c.get_int("max-clock-offset", 10, 3600000);
  o.publish_timeout = std::chrono::milliseconds(c.get_int("publish-timeout", 50, 60000));
  o.amqp_urls = c.get_all("amqp-url");
  for (const auto& u : o.amqp_urls)
    if (u.rfind("amqp://", 0) != 0) throw ConfigError("--amqp-url must start with amqp://");
  o.store.outbox = !o.amqp_urls.empty();
  o.registry_urls = c.get_all("registry-url");
  o.peers = c.get_all("peer");
  for (const auto& u : o.registry_urls) {
    try {
      common::parse_base_url(u);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("--registry-url: ") + e.what());
    }
  }
  for (const auto& u : o.peers) {
    try {
      common::parse_base_url(u);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("--peer: ") + e.what());
    }
  }
  o.advertise_host = c.get("advertise-host");
  if (o.advertise_host.empty())
    o.advertise_host = (o.server.bind == "0.0.0.0" || o.server.bind == "::") ? "127.0.0.1" : o.server.bind;
  o.queue_type = c.get("queue-type");
  if (o.queue_type != "classic" && o.queue_type != "quorum")
    throw ConfigError("--queue-type must be classic or quorum");
  o.sync_timeout = std::chrono::milliseconds(c.get_int("sync-timeout-ms", 1, 60000));
  o.anti_entropy_interval = std::chrono::milliseconds(c.get_int("anti-entropy-interval-ms", 100, 3600000));
  o.bootstrap_timeout = std::chrono::milliseconds(c.get_int("bootstrap-timeout-ms", 1000, 3600000));
  o.lease_renewal_s = static_cast<int>(c.get_int("lease-renewal-s", 1, 3600));
  o.lease_duration_s = static_cast<int>(c.get_int("lease-duration-s", 1, 36000));
  o.drain_grace = std::chrono::milliseconds(c.get_int("drain-grace-ms", 0, 60000));
  auto one_of = [&](const char* name, std::initializer_list<const char*> allowed) {
    std::string v = c.get(name);
    for (const char* a : allowed)
      if (v == a) return v;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : " or ") + std::string(a);
    throw ConfigError("--" + std::string(name) + " must be " + list);
  };
  o.auth_required = one_of("auth", {"required", "off"}) == "required";
  o.auth.signup_open = one_of("signup", {"open", "admin"}) == "open";
  o.auth.read_authenticated = one_of("read-access", {"open", "authenticated"}) == "authenticated";
  o.auth.session_ttl = std::chrono::seconds(c.get_int("session-ttl", 60, 366L * 24 * 3600));
  o.admin_password_file = c.get("admin-password-file");
  o.cluster_key_file = c.get("cluster-key-file");
  o.oidc_issuer = c.get("oidc-issuer");
  o.oidc_audience = c.get("oidc-audience");
  o.oidc_jwks_file = c.get("oidc-jwks-file");
  o.oidc_username_claim = c.get("oidc-username-claim");
  bool oidc_any = !o.oidc_issuer.empty() || !o.oidc_audience.empty() || !o.oidc_jwks_file.empty();
  if (oidc_any && (o.oidc_issuer.empty() || o.oidc_audience.empty() || o.oidc_jwks_file.empty()))
    throw ConfigError("OpenID Connect needs --oidc-issuer, --oidc-audience and --oidc-jwks-file together");
  bool replicates = !o.amqp_urls.empty() || !o.peers.empty();
  if (o.auth_required && replicates && o.cluster_key_file.empty())
    throw ConfigError("--auth required with replication needs --cluster-key-file (at least 32 bytes): "
                      "without it anyone who reaches a node or the broker could write as any node");
  return o;
}

namespace {

std::vector<common::BaseUrl> parse_urls(const std::vector<std::string>& urls) {
  std::vector<common::BaseUrl> out;
  for (const auto& u : urls) out.push_back(common::parse_base_url(u));
  return out;
}

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
      out.push_back({std::move(e.status), std::move(e.api_json), 0, what});
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
        AccountsDeps{*store_, *auth_, *hashes_, throttle_, store_->node_id(), answerer_.get()});
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
  if (replicator_)
    metric("counter", "status_publish_timeouts_total", count(replicator_->publish_timeouts()));
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
  directory_->set_self({node_id(), incarnation_, options_.advertise_host, port()});
  spdlog::info("event=listening node_id={} port={} data_dir={} replication={} sync={}", node_id(),
               port(), options_.store.data_dir, replicator_ ? "rabbitmq" : "off",
               sync_name(store_->sync_state()));
  if (!options_.registry_urls.empty()) {
    common::InstanceInfo info;
    info.instance_id = node_id();
    info.host = options_.advertise_host;
    info.port = port();
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
