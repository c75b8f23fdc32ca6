#include "node/node.hpp"

#include "common/http_client.hpp"
#include "node/peer_sync.hpp"
#include "node/replicator.hpp"

#include "common/eureka_client.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

namespace status::node {

namespace http = common::http;
using common::ConfigError;
using common::Option;
using namespace std::chrono_literals;

std::vector<Option> node_option_table() {
  return {
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
      {"sync-timeout-ms", "2000", "longest wait of an X-Consistency: all write"},
      {"anti-entropy-interval-ms", "5000", "how often to compare state digests with peers"},
      {"lease-renewal-s", "1", "registry heartbeat interval (seconds)"},
      {"lease-duration-s", "3", "registry lease duration (seconds)"},
      {"drain-grace-ms", "1500", "on shutdown: time between deregistering and refusing new requests"},
      {"idle-timeout-ms", "30000", "close kept-alive connections idle this long"},
      {"read-timeout-ms", "10000", "a started request must arrive within this time"},
      {"tombstone-ttl-hours", "168", "how long deletes are remembered (longer than any replay window)"},
      {"log-level", "info", "debug, info, warn or error"},
  };
}

NodeOptions node_options_from(const common::Config& c) {
  NodeOptions o;
  o.server.bind = c.get("bind");
  o.server.port = static_cast<unsigned short>(c.get_int("port", 0, 65535));
  o.server.threads = static_cast<int>(c.get_int("threads", 1, 256));
  o.server.idle_timeout = std::chrono::milliseconds(c.get_int("idle-timeout-ms", 100, 3600000));
  o.server.read_timeout = std::chrono::milliseconds(c.get_int("read-timeout-ms", 100, 3600000));
  o.store.data_dir = c.get("data-dir");
  if (o.store.data_dir.empty()) throw ConfigError("--data-dir is required (or STATUS_DATA_DIR)");
  o.store.node_id = c.get("node-id");
  if (!o.store.node_id.empty() && !valid_username(o.store.node_id))
    throw ConfigError("--node-id must be 1-64 characters of A-Z a-z 0-9 . _ -");
  std::string sync = c.get("sync");
  if (sync != "full" && sync != "normal") throw ConfigError("--sync must be full or normal");
  o.store.sync_full = sync == "full";
  o.store.tombstone_ttl_ms = c.get_int("tombstone-ttl-hours", 1, 100000) * 3600 * 1000;
  o.amqp_urls = c.get_all("amqp-url");
  for (const auto& u : o.amqp_urls)
    if (u.rfind("amqp://", 0) != 0) throw ConfigError("--amqp-url '" + u + "' must start with amqp://");
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
  o.lease_renewal_s = static_cast<int>(c.get_int("lease-renewal-s", 1, 3600));
  o.lease_duration_s = static_cast<int>(c.get_int("lease-duration-s", 1, 36000));
  o.drain_grace = std::chrono::milliseconds(c.get_int("drain-grace-ms", 0, 60000));
  return o;
}

Node::Node(NodeOptions options) : options_(std::move(options)) {
  store_ = std::make_unique<Store>(options_.store, clock_);
  options_.server.answer_headers.emplace_back("X-Served-By", store_->node_id());
  api_ = std::make_unique<ApiDeps>(ApiDeps{*store_, events_, store_->node_id(), {}, {}, {}});
  api_->ready = [this] { return ready(); };
  server_ = std::make_unique<common::HttpServer>(
      options_.server, [this](common::Request&& req, common::ExchangePtr ex) { handle(std::move(req), std::move(ex)); },
      &metrics_);
  peer_sync_ = std::make_unique<PeerSync>(*store_, [this] { return peer_urls(); });
  if (!options_.amqp_urls.empty()) {
    ReplicatorOptions ro;
    ro.urls = options_.amqp_urls;
    ro.queue_type = options_.queue_type;
    replicator_ = std::make_unique<Replicator>(ro, *store_, metrics_);
    api_->after_publish = [this](std::int64_t seq, std::function<void()> fn) {
      replicator_->when_published(seq, std::move(fn));
    };
  }
  if (!options_.amqp_urls.empty() || !options_.peers.empty() || !options_.registry_urls.empty()) {
    api_->replicate_all = [this](const Status& s, std::function<void(ReplicationReport)> done) {
      std::thread([this, s, done = std::move(done)] { done(peer_sync_->push_all(s, options_.sync_timeout)); })
          .detach();
    };
  }
  store_->set_change_listener([this](const std::vector<Change>& changes) {
    if (replicator_) replicator_->on_changes(changes);
    events_.publish(changes);
  });
  metrics_.add_collector([this] {
    std::string out;
    out += "# TYPE status_statuses gauge\nstatus_statuses " + std::to_string(store_->live_count()) + "\n";
    out += "# TYPE status_tombstones gauge\nstatus_tombstones " + std::to_string(store_->tombstone_count()) + "\n";
    out += "# TYPE status_outbox gauge\nstatus_outbox " + std::to_string(store_->outbox_size()) + "\n";
    out += "# TYPE status_event_subscribers gauge\nstatus_event_subscribers " +
           std::to_string(events_.subscribers()) + "\n";
    out += "# TYPE http_connections gauge\nhttp_connections " + std::to_string(server_->connections()) + "\n";
    return out;
  });
}

Node::~Node() { stop(); }

std::vector<std::string> Node::peer_urls() {
  std::vector<std::string> urls;
  auto self = [this](const std::string& url) {
    try {
      auto b = common::parse_base_url(url);
      return b.port == port() && (b.host == options_.advertise_host || b.host == "127.0.0.1" ||
                                  b.host == "localhost");
    } catch (const std::exception&) {
      return true;  // unusable: validated at startup, so never reached
    }
  };
  for (const auto& p : options_.peers)
    if (!self(p)) urls.push_back(p);
  if (!options_.registry_urls.empty()) {
    std::vector<common::BaseUrl> regs;
    for (const auto& u : options_.registry_urls) regs.push_back(common::parse_base_url(u));
    if (auto found = common::fetch_instances(regs, "STATUS-NODE", 2s)) {
      for (const auto& i : *found) {
        if (i.instance_id == node_id() || i.status != "UP" || self(i.url)) continue;
        if (std::find(urls.begin(), urls.end(), i.url) == urls.end()) urls.push_back(i.url);
      }
    }
  }
  return urls;
}

void Node::start() {
  store_->start();
  server_->start();
  started_ = true;
  spdlog::info("event=listening node_id={} port={} data_dir={} replication={}", node_id(), port(),
               options_.store.data_dir, replicator_ ? "rabbitmq" : "off");
  if (!options_.registry_urls.empty()) {
    std::vector<common::BaseUrl> regs;
    for (const auto& u : options_.registry_urls) regs.push_back(common::parse_base_url(u));
    common::InstanceInfo info;
    info.instance_id = node_id();
    info.host = options_.advertise_host;
    info.port = port();
    info.renewal_interval_s = options_.lease_renewal_s;
    info.duration_s = options_.lease_duration_s;
    registration_ = std::make_unique<common::EurekaClient>(regs, info);
    registration_->start("STARTING");
  }
  if (replicator_) replicator_->start();
  maintenance_ = std::thread([this] { maintenance_loop(); });
}

void Node::maintenance_loop() {
  // 1. Bootstrap: a node with an empty data dir, or whose queue the broker lost, loads the full
  //    state from a peer before it serves /api.
  bool must_sync = store_->was_empty();
  if (replicator_) {
    auto q = replicator_->wait_queue_state(5s);
    if (q == Replicator::QueueState::kCreated && !store_->was_empty()) {
      spdlog::warn("event=backlog_lost queue_recreated=1 action=resync");
      must_sync = true;
    }
  }
  if (must_sync && !peer_urls().empty()) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!stopping_ && !peer_sync_->bootstrap() && std::chrono::steady_clock::now() < deadline) {
      std::unique_lock lock(maintenance_mutex_);
      maintenance_cv_.wait_for(lock, 500ms, [&] { return stopping_.load(); });
    }
  }
  if (stopping_) return;
  store_->set_meta("bootstrapped", "1");
  ready_ = true;
  spdlog::info("event=ready node_id={} statuses={}", node_id(), store_->live_count());
  if (registration_) registration_->set_status("UP");

  // 2. Periodic work: keep event streams alive, repair divergence, forget old tombstones.
  auto next_ping = std::chrono::steady_clock::now() + 15s;
  auto next_repair = std::chrono::steady_clock::now() + options_.anti_entropy_interval;
  auto next_checkpoint = std::chrono::steady_clock::now() + 250ms;
  auto next_collect = std::chrono::steady_clock::now();
  while (!stopping_) {
    {
      std::unique_lock lock(maintenance_mutex_);
      maintenance_cv_.wait_for(lock, 250ms, [&] { return stopping_.load(); });
    }
    if (stopping_) break;
    auto now = std::chrono::steady_clock::now();
    if (now >= next_ping) {
      events_.ping();
      next_ping = now + 15s;
    }
    if (now >= next_checkpoint) {
      store_->checkpoint();
      next_checkpoint = now + 250ms;
    }
    if (now >= next_collect) {
      store_->collect_tombstones();
      next_collect = now + 1h;
    }
    if (now >= next_repair) {
      peer_sync_->anti_entropy_round();
      next_repair = std::chrono::steady_clock::now() + options_.anti_entropy_interval;
    }
  }
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
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  events_.close_all();
  server_->stop();
  if (replicator_) replicator_->stop();
  store_->stop();
  spdlog::info("event=stopped node_id={}", node_id());
}

void Node::handle(common::Request&& req, common::ExchangePtr ex) {
  std::string_view target(req.target().data(), req.target().size());
  auto [path, query] = common::split_target(target);
  if (path == "/api" || path.starts_with("/api/")) return handle_api(std::move(req), ex, *api_);
  if (path.starts_with("/internal/")) return handle_internal(std::move(req), ex);
  if (path == "/health") {
    ex->set_route("/health");
    boost::json::object o;
    const char* state = draining_ ? "DRAINING" : ready() ? "UP" : "STARTING";
    o["status"] = state;
    o["nodeId"] = node_id();
    o["statuses"] = store_->live_count();
    o["outbox"] = store_->outbox_size();
    if (replicator_) o["broker"] = replicator_->publisher_connected() ? "connected" : "disconnected";
    auto res = common::json_response(ready() ? 200 : 503, boost::json::serialize(o), req);
    res.set("X-Served-By", node_id());
    return ex->respond(std::move(res));
  }
  if (path == "/metrics") {
    ex->set_route("/metrics");
    common::Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics_.render();
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return ex->respond(std::move(res));
  }
  ex->set_route("(unknown)");
  ex->respond(problem_for(req, 404, "no such resource: " + std::string(path)));
}

void Node::handle_internal(common::Request&& req, const common::ExchangePtr& ex) {
  std::string_view target(req.target().data(), req.target().size());
  auto [path, query] = common::split_target(target);
  ex->set_route(std::string(path));
  auto json = [&](std::string body) { ex->respond(common::json_response(200, std::move(body), req)); };
  if (path == "/internal/snapshot" && req.method() == http::verb::get) return json(to_wire_array(store_->snapshot()));
  if (path == "/internal/digest" && req.method() == http::verb::get) {
    auto n = std::atoi(common::query_param(query, "buckets").value_or("64").c_str());
    if (n < 1 || n > 4096) return ex->respond(problem_for(req, 400, "buckets must be 1..4096"));
    return json(PeerSync::digest_json(*store_, static_cast<std::size_t>(n)));
  }
  if (path == "/internal/bucket" && req.method() == http::verb::get) {
    // i: one bucket index or a comma-separated list of them, each 0 <= i < n.
    auto n = std::atoi(common::query_param(query, "n").value_or("0").c_str());
    auto list = common::query_param(query, "i").value_or("");
    std::vector<std::size_t> indices;
    bool ok = n >= 1 && n <= 4096 && !list.empty();
    for (std::string_view rest = list; ok && !rest.empty();) {
      auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      int i = -1;
      auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), i);
      ok = ec == std::errc{} && end == item.data() + item.size() && i >= 0 && i < n &&
           indices.size() < static_cast<std::size_t>(n);
      indices.push_back(static_cast<std::size_t>(i));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) ok = false;  // trailing comma
    }
    if (!ok) return ex->respond(problem_for(req, 400, "need n in 1..4096 and i: indices 0 <= i < n, comma-separated"));
    return json(to_wire_array(store_->buckets(indices, static_cast<std::size_t>(n))));
  }
  if (path == "/internal/apply" && req.method() == http::verb::post) {
    auto states = from_wire_array(req.body());
    if (!states) return ex->respond(problem_for(req, 400, "body must be an array of wire states"));
    auto r = std::make_shared<common::Request>(std::move(req));
    store_->apply(std::move(*states), [ex, r](std::int64_t n) {
      if (n < 0) return ex->respond(problem_for(*r, 503, "commit failed"));
      ex->respond(common::json_response(200, "{\"applied\":" + std::to_string(n) + "}", *r));
    });
    return;
  }
  ex->respond(problem_for(req, 404, "no such resource: " + std::string(path)));
}

}  // namespace status::node
