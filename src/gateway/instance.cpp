#include "gateway/instance.hpp"

#include <algorithm>

namespace status::gateway {

bool Ejection::on_failure(Clock::time_point now) {
  if (ejected_) return false;
  ejected_ = true;
  backoff_ = policy_.base;
  until_ = now + backoff_;
  return true;
}

void Ejection::on_probe_success() {
  ejected_ = false;
  backoff_ = std::chrono::milliseconds{0};
}

void Ejection::on_probe_failure(Clock::time_point now) {
  if (!ejected_) return;
  backoff_ = std::min(policy_.max, backoff_ * 2);
  until_ = now + backoff_;
}

std::string Instance::key_of(const Discovered& d) {
  return d.address + ":" + std::to_string(d.port) + (d.tls ? " tls" : "");
}

Instance::Instance(const Discovered& d, EjectionPolicy policy)
    : key_(key_of(d)),
      address_(d.address),
      port_(d.port),
      tls_(d.tls),
      tls_name_(d.host.empty() ? d.address : d.host),
      id_(d.id),
      host_(d.host.empty() ? d.address : d.host),
      status_(d.status),
      ejection_(policy) {}

std::string Instance::id() const {
  std::lock_guard lock(mutex_);
  return id_;
}

std::string Instance::url() const {
  std::lock_guard lock(mutex_);
  return (tls_ ? "https://" : "http://") + host_ + ":" + std::to_string(port_);
}

std::string Instance::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void Instance::update(const Discovered& d) {
  std::lock_guard lock(mutex_);
  id_ = d.id;
  if (!d.host.empty()) host_ = d.host;
  status_ = d.status;
}

bool Instance::report_failure(Clock::time_point now) {
  failures.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  bool newly = ejection_.on_failure(now);
  ejected_.store(true, std::memory_order_relaxed);
  return newly;
}

bool Instance::probe_due(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return ejection_.probe_due(now);
}

void Instance::report_probe(bool ok, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (ok) ejection_.on_probe_success();
  else ejection_.on_probe_failure(now);
  ejected_.store(ejection_.ejected(), std::memory_order_relaxed);
}

Directory::Directory(std::vector<Discovered> static_upstreams, EjectionPolicy policy)
    : static_(std::move(static_upstreams)), policy_(policy) {
  update({});
}

void Directory::update(const std::vector<Discovered>& registry) {
  std::lock_guard lock(mutex_);
  std::vector<InstancePtr> next;
  auto add = [&](const Discovered& d) {
    std::string key = Instance::key_of(d);
    for (auto& i : next)
      if (i->key() == key) return i->update(d);  // the registry's view wins over --upstream
    for (auto& i : instances_)
      if (i->key() == key) {
        i->update(d);
        next.push_back(i);
        return;
      }
    next.push_back(std::make_shared<Instance>(d, policy_));
  };
  for (const auto& d : static_) add(d);
  for (const auto& d : registry) add(d);
  instances_ = next;
  publish(std::move(next));
}

void Directory::publish(std::vector<InstancePtr> all) {
  auto snap = std::make_shared<Snapshot>();
  for (auto& i : all)
    if (i->status() == "UP") snap->routable.push_back(i);
  snap->all = std::move(all);
  bool changed = !snapshot_ || snapshot_->all != snap->all ||
                 snapshot_->routable != snap->routable;
  if (!changed) return;
  snapshot_ = std::move(snap);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const Snapshot> Directory::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

}  // namespace status::gateway
