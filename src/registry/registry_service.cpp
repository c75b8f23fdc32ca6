#include "registry/registry_service.hpp"

#include <spdlog/spdlog.h>

#include "registry/handlers.hpp"
#include "registry/instance_codec.hpp"

namespace status::registry {

RegistryService::RegistryService(ServiceOptions options, common::Metrics& metrics, Clock clock)
    : options_(std::move(options)),
      metrics_(metrics),
      registry_(std::move(clock), options_.registry),
      replicator_(
          options_.peers,
          [this](const std::string& app, const std::string& id) -> std::optional<std::string> {
            auto in = registry_.find(app, id);
            if (!in) return std::nullopt;
            return instance_document(*in, StatusView::kOwn, OwnerView::kShown);
          },
          &metrics, Replicator::Options{options_.peer_timeout}),
      deps_{registry_, options_.peers.empty() ? nullptr : &replicator_, &metrics_,
            &options_.access},
      router_(make_router(deps_)),
      server_(
          options_.server,
          [this](common::Request&& req, common::ExchangePtr ex) {
            serve(router_, std::move(req), ex);
          },
          &metrics) {
  describe_metrics(metrics_, registry_);
}

RegistryService::~RegistryService() { stop(); }

void RegistryService::start() {
  if (!options_.peers.empty() &&
      !sync_from_peers(options_.peers, registry_, options_.peer_timeout, !options_.access.open()))
    spdlog::info("event=sync_none peers={} reason=\"no peer answered; starting empty\"",
                 options_.peers.size());
  server_.start();
  replicator_.start();
  evictor_ = std::thread([this] { evict_loop(); });
  spdlog::info("event=listening bind={} port={} peers={} eviction_interval_ms={} access={}",
               options_.server.bind, server_.port(), options_.peers.size(),
               options_.eviction_interval.count(),
               options_.access.open()            ? "open"
               : options_.access.protect_reads() ? "credentials"
                                                 : "credentials-for-writes");
  if (options_.access.open())
    spdlog::warn(
        "event=registry_open reason=\"no --credentials-file: anyone who can reach this "
        "port may register, change and remove instances\"");
}

void RegistryService::evict_loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, options_.eviction_interval, [this] { return stopping_; })) {
    lock.unlock();
    for (const auto& in : registry_.evict_expired()) {
      metrics_.inc("registry_evictions_total");
      spdlog::info("event=evict app={} instance={} last_renewal_ms_ago={} duration_s={}", in.app,
                   in.instance_id, in.eviction_ts - in.last_renewal_ts, in.duration_s);
    }
    lock.lock();
  }
}

void RegistryService::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (evictor_.joinable()) evictor_.join();
  server_.stop();
  replicator_.stop();
}

}  // namespace status::registry
