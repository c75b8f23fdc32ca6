#include "registry/registry.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

namespace status::registry {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kUp:
      return "UP";
    case Status::kDown:
      return "DOWN";
    case Status::kStarting:
      return "STARTING";
    case Status::kOutOfService:
      return "OUT_OF_SERVICE";
    case Status::kUnknown:
      break;
  }
  return "UNKNOWN";
}

std::optional<Status> parse_status(std::string_view text) {
  for (Status s :
       {Status::kUp, Status::kDown, Status::kStarting, Status::kOutOfService, Status::kUnknown})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

std::string_view to_string(ActionType action) {
  switch (action) {
    case ActionType::kAdded:
      return "ADDED";
    case ActionType::kModified:
      return "MODIFIED";
    case ActionType::kDeleted:
      break;
  }
  return "DELETED";
}

std::string upper_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Registry::Registry(Clock clock, RegistryOptions options)
    : clock_(std::move(clock)), options_(options) {}

Instance* Registry::lookup(const std::string& app, const std::string& id) {
  auto it = instances_.find({upper_case(app), id});
  return it == instances_.end() ? nullptr : &it->second;
}

void Registry::record(Instance& instance, ActionType action, std::int64_t now) {
  instance.action_type = action;
  if (action != ActionType::kAdded) instance.last_updated_ts = now;
  ++version_;
  changes_.push_back({now, instance});
  trim_changes(now);
}

void Registry::trim_changes(std::int64_t now) {
  while (!changes_.empty() && changes_.front().at < now - options_.delta_retention_ms)
    changes_.pop_front();
}

bool Registry::register_instance(Instance instance) {
  std::int64_t now = clock_();
  instance.app = upper_case(instance.app);
  std::lock_guard lock(mutex_);
  Key key{instance.app, instance.instance_id};
  auto it = instances_.find(key);
  bool is_new = it == instances_.end();
  if (!is_new) {
    const Instance& old = it->second;
    // As Eureka: a registration older than what we hold (e.g. a late replica) only renews.
    if (instance.last_dirty_ts != 0 && old.last_dirty_ts > instance.last_dirty_ts) {
      it->second.last_renewal_ts = now;
      return false;
    }
    if (instance.overridden_status == Status::kUnknown)
      instance.overridden_status = old.overridden_status;
    instance.registration_ts = old.registration_ts;
    instance.service_up_ts = old.service_up_ts;
  } else {
    instance.registration_ts = now;
    instance.service_up_ts = 0;
  }
  if (instance.service_up_ts == 0 && instance.effective_status() == Status::kUp)
    instance.service_up_ts = now;
  if (instance.last_dirty_ts == 0) instance.last_dirty_ts = now;
  instance.last_renewal_ts = now;
  instance.last_updated_ts = now;
  instance.eviction_ts = 0;
  Instance& stored = instances_[key] = std::move(instance);
  record(stored, is_new ? ActionType::kAdded : ActionType::kModified, now);
  return is_new;
}

RenewResult Registry::renew(const std::string& app, const std::string& id,
                            std::optional<Status> status,
                            std::optional<std::int64_t> last_dirty_ts) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = lookup(app, id);
  if (!in) return RenewResult::kNotFound;
  // As Eureka: a client whose data is newer than ours must send it again (re-register).
  if (last_dirty_ts && *last_dirty_ts > in->last_dirty_ts) return RenewResult::kNotFound;
  in->last_renewal_ts = now;
  if (status && *status != Status::kUnknown && *status != in->status) {
    in->status = *status;
    if (in->service_up_ts == 0 && in->effective_status() == Status::kUp) in->service_up_ts = now;
    record(*in, ActionType::kModified, now);
  }
  return RenewResult::kOk;
}

bool Registry::cancel(const std::string& app, const std::string& id) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  auto it = instances_.find({upper_case(app), id});
  if (it == instances_.end()) return false;
  it->second.eviction_ts = now;
  record(it->second, ActionType::kDeleted, now);
  instances_.erase(it);
  return true;
}

bool Registry::set_override(const std::string& app, const std::string& id, Status status) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = lookup(app, id);
  if (!in) return false;
  if (in->overridden_status != status) {
    in->overridden_status = status;
    if (in->service_up_ts == 0 && in->effective_status() == Status::kUp) in->service_up_ts = now;
    record(*in, ActionType::kModified, now);
  }
  return true;
}

bool Registry::delete_override(const std::string& app, const std::string& id,
                               std::optional<Status> own_status) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = lookup(app, id);
  if (!in) return false;
  in->overridden_status = Status::kUnknown;
  if (own_status && *own_status != Status::kUnknown) in->status = *own_status;
  record(*in, ActionType::kModified, now);
  return true;
}

bool Registry::update_metadata(const std::string& app, const std::string& id,
                               const std::map<std::string, std::string>& metadata) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = lookup(app, id);
  if (!in) return false;
  for (const auto& [k, v] : metadata) in->metadata[k] = v;
  record(*in, ActionType::kModified, now);
  return true;
}

std::vector<Instance> Registry::evict_expired() {
  std::int64_t now = clock_();
  std::vector<Instance> evicted;
  std::lock_guard lock(mutex_);
  for (auto it = instances_.begin(); it != instances_.end();) {
    if (now > it->second.expires_at()) {
      it->second.eviction_ts = now;
      record(it->second, ActionType::kDeleted, now);
      evicted.push_back(std::move(it->second));
      it = instances_.erase(it);
    } else {
      ++it;
    }
  }
  if (evicted.empty()) trim_changes(now);
  return evicted;
}

std::optional<Instance> Registry::find(const std::string& app, const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = instances_.find({upper_case(app), id});
  if (it == instances_.end()) return std::nullopt;
  return it->second;
}

std::optional<Instance> Registry::find_by_id(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, in] : instances_)
    if (key.second == id) return in;
  return std::nullopt;
}

std::string Registry::hashcode() const {
  // Eureka's reconcile hash: "<STATUS>_<count>_" per status, statuses in name order.
  std::map<std::string_view, int> counts;
  for (const auto& [key, in] : instances_) ++counts[to_string(in.effective_status())];
  std::string out;
  for (const auto& [status, n] : counts) out += std::string(status) + "_" + std::to_string(n) + "_";
  return out;
}

Snapshot Registry::snapshot(const std::optional<std::string>& app) const {
  Snapshot out;
  std::lock_guard lock(mutex_);
  std::optional<std::string> wanted;
  if (app) wanted = upper_case(*app);
  for (const auto& [key, in] : instances_)
    if (!wanted || key.first == *wanted) out.instances.push_back(in);
  out.apps_hashcode = hashcode();
  out.version = version_;
  return out;
}

Snapshot Registry::delta() const {
  std::int64_t now = clock_();
  Snapshot out;
  std::lock_guard lock(mutex_);
  std::map<Key, const Instance*> latest;
  for (const auto& change : changes_)
    if (change.at >= now - options_.delta_retention_ms)
      latest[{change.instance.app, change.instance.instance_id}] = &change.instance;
  for (const auto& [key, in] : latest) out.instances.push_back(*in);
  out.apps_hashcode = hashcode();
  out.version = version_;
  return out;
}

std::size_t Registry::size() const {
  std::lock_guard lock(mutex_);
  return instances_.size();
}

}  // namespace status::registry
