#include "registry/replicator.hpp"

#include <spdlog/spdlog.h>

#include "common/eureka_client.hpp"
#include "registry/instance_codec.hpp"

namespace status::registry {

namespace http = common::http;

struct Replicator::Peer {
  explicit Peer(common::BaseUrl u) : url(std::move(u)), label(url.str()) {}
  common::BaseUrl url;
  std::string label;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<ReplicationTask> queue;
  bool stopping = false;
  std::chrono::steady_clock::time_point down_until{};
  bool reported_down = false;
  int reported_refusal = 0;  // 401 or 403 last logged, so a refusal is logged once
  std::thread thread;
};

namespace {

const char* kind_name(ReplicationTask::Kind kind) {
  switch (kind) {
    case ReplicationTask::Kind::kRegister:
      return "register";
    case ReplicationTask::Kind::kHeartbeat:
      return "heartbeat";
    case ReplicationTask::Kind::kCancel:
      return "cancel";
    case ReplicationTask::Kind::kStatus:
      return "status";
    case ReplicationTask::Kind::kDeleteStatus:
      break;
  }
  return "delete_status";
}

const common::Headers kReplicaHeaders = {{std::string(kReplicationHeader), "true"},
                                         {"Accept", "application/json"}};

}  // namespace

Replicator::Replicator(std::vector<common::BaseUrl> peers, InstanceSource source,
                       common::Metrics* metrics, Options options)
    : source_(std::move(source)), metrics_(metrics), options_(options) {
  for (auto& p : peers) peers_.push_back(std::make_unique<Peer>(std::move(p)));
  if (metrics_) {
    metrics_->describe("registry_replication_total", "counter",
                       "Calls replicated to peers, by peer, kind and result");
    metrics_->describe("registry_replication_dropped_total", "counter",
                       "Replication tasks dropped because a peer was unreachable or behind");
  }
}

Replicator::~Replicator() { stop(); }

void Replicator::start() {
  for (auto& p : peers_)
    if (!p->thread.joinable()) p->thread = std::thread([this, peer = p.get()] { run(*peer); });
}

void Replicator::stop() {
  for (auto& p : peers_) {
    {
      std::lock_guard lock(p->mutex);
      p->stopping = true;
    }
    p->wake.notify_all();
  }
  for (auto& p : peers_)
    if (p->thread.joinable()) p->thread.join();
}

void Replicator::replicate(ReplicationTask task) {
  for (auto& p : peers_) {
    std::size_t dropped = 0;
    {
      std::lock_guard lock(p->mutex);
      if (p->stopping) continue;
      if (std::chrono::steady_clock::now() < p->down_until) {
        dropped = 1;  // unreachable: it will catch up through 404 → register
      } else {
        p->queue.push_back(task);
        if (p->queue.size() > options_.queue_limit) {
          p->queue.pop_front();
          dropped = 1;
        }
      }
    }
    if (dropped && metrics_)
      metrics_->inc("registry_replication_dropped_total", {{"peer", p->label}});
    p->wake.notify_one();
  }
}

void Replicator::run(Peer& peer) {
  std::unique_lock lock(peer.mutex);
  while (true) {
    peer.wake.wait(lock, [&] { return peer.stopping || !peer.queue.empty(); });
    if (peer.stopping) return;
    ReplicationTask task = std::move(peer.queue.front());
    peer.queue.pop_front();
    lock.unlock();
    bool reachable = send(peer, task);
    lock.lock();
    if (!reachable) {
      std::size_t dropped = peer.queue.size();
      peer.queue.clear();
      peer.down_until = std::chrono::steady_clock::now() + options_.backoff;
      if (dropped && metrics_)
        metrics_->inc("registry_replication_dropped_total", {{"peer", peer.label}},
                      static_cast<double>(dropped));
      if (!peer.reported_down)
        spdlog::warn("event=peer_unreachable peer={} backoff_ms={}", peer.label,
                     options_.backoff.count());
      peer.reported_down = true;
    } else if (peer.reported_down) {
      spdlog::info("event=peer_reachable peer={}", peer.label);
      peer.reported_down = false;
    }
  }
}

// Sends one task; false when the peer could not be reached at all.
bool Replicator::send(Peer& peer, const ReplicationTask& task) {
  std::string path =
      "/apps/" + common::encode_path_segment(task.app) + "/" + common::encode_path_segment(task.id);
  auto call = [&](http::verb verb, const std::string& target, const std::string& body) {
    return common::http_request(verb, peer.url, target, body, kReplicaHeaders, options_.timeout);
  };
  auto register_body = [&] { return source_ ? source_(task.app, task.id) : std::nullopt; };
  common::ClientResult r;
  switch (task.kind) {
    case ReplicationTask::Kind::kRegister:
    case ReplicationTask::Kind::kHeartbeat: {
      if (task.kind == ReplicationTask::Kind::kHeartbeat) {
        r = call(http::verb::put,
                 path + "?status=" + common::encode_path_segment(task.status) +
                     "&lastDirtyTimestamp=" + std::to_string(task.last_dirty_ts),
                 {});
        if (!r.ok() || r.res.result_int() != 404) break;
      }
      // A registration, or a heartbeat the peer did not know: send what we hold now.
      auto body = register_body();
      if (!body) return true;  // gone meanwhile; its cancel follows
      r = call(http::verb::post, "/apps/" + common::encode_path_segment(task.app), *body);
      break;
    }
    case ReplicationTask::Kind::kCancel:
      r = call(http::verb::delete_, path, {});
      break;
    case ReplicationTask::Kind::kStatus:
      r = call(http::verb::put, path + "/status?value=" + common::encode_path_segment(task.status),
               {});
      break;
    case ReplicationTask::Kind::kDeleteStatus:
      r = call(http::verb::delete_, path + "/status", {});
      break;
  }
  std::string result = r.ok() ? std::to_string(r.res.result_int()) : "error";
  if (metrics_)
    metrics_->inc("registry_replication_total",
                  {{"peer", peer.label}, {"kind", kind_name(task.kind)}, {"result", result}});
  int code = r.ok() ? r.res.result_int() : 0;
  if (code == 401 || code == 403) {
    // Credentials missing or wrong, or not a peer user there: a configuration error.
    if (peer.reported_refusal != code)
      spdlog::warn("event=replication_refused peer={} status={} reason=\"{}\"", peer.label, code,
                   code == 401 ? "the peer does not accept this registry's credentials"
                               : "the peer's --peer list does not name this registry's user");
    peer.reported_refusal = code;
  } else if (code >= 400 && task.kind != ReplicationTask::Kind::kCancel) {
    spdlog::debug("event=replication_refused peer={} kind={} instance={} status={}", peer.label,
                  kind_name(task.kind), task.id, result);
  } else if (code != 0) {
    peer.reported_refusal = 0;
  }
  return r.ok();
}

std::optional<std::size_t> sync_from_peers(const std::vector<common::BaseUrl>& peers,
                                           Registry& registry, std::chrono::milliseconds timeout,
                                           bool keep_owners) {
  for (const auto& peer : peers) {
    auto r = common::http_request(http::verb::get, peer, "/apps", {}, kReplicaHeaders, timeout);
    if (!r.ok() || r.res.result_int() != 200) {
      spdlog::info("event=sync_skipped peer={} reason=\"{}\"", peer.str(),
                   r.ok() ? "status " + std::to_string(r.res.result_int()) : r.ec.message());
      continue;
    }
    auto instances = parse_applications(r.res.body());
    if (!instances) {
      spdlog::warn("event=sync_skipped peer={} reason=\"not an applications document\"",
                   peer.str());
      continue;
    }
    for (auto& in : *instances) {
      if (!keep_owners) in.owner.clear();
      registry.register_instance(std::move(in), Caller{"", true});
    }
    spdlog::info("event=sync_done peer={} instances={}", peer.str(), instances->size());
    return instances->size();
  }
  return std::nullopt;
}

}  // namespace status::registry
