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

std::optional<std::string> oversize_reason(const Instance& in) {
  auto over = [](std::string_view what, std::size_t size, std::size_t limit) {
    return std::string(what) + " is " + std::to_string(size) + " bytes; at most " +
           std::to_string(limit) + " are allowed";
  };
  struct Field {
    const char* name;
    const std::string* value;
    std::size_t limit;
  };
  std::size_t total = 0;
  for (const auto& f : {Field{"instanceId", &in.instance_id, kMaxIdentityBytes},
                        Field{"app", &in.app, kMaxIdentityBytes},
                        Field{"hostName", &in.host_name, kMaxIdentityBytes},
                        Field{"ipAddr", &in.ip_addr, kMaxIdentityBytes},
                        Field{"vipAddress", &in.vip_address, kMaxFieldBytes},
                        Field{"secureVipAddress", &in.secure_vip_address, kMaxFieldBytes},
                        Field{"homePageUrl", &in.home_page_url, kMaxFieldBytes},
                        Field{"statusPageUrl", &in.status_page_url, kMaxFieldBytes},
                        Field{"healthCheckUrl", &in.health_check_url, kMaxFieldBytes},
                        Field{"secureHealthCheckUrl", &in.secure_health_check_url, kMaxFieldBytes},
                        Field{"appGroupName", &in.app_group_name, kMaxFieldBytes},
                        Field{"dataCenterInfo.@class", &in.data_center_class, kMaxFieldBytes},
                        Field{"dataCenterInfo.name", &in.data_center_name, kMaxFieldBytes}}) {
    if (f.value->size() > f.limit) return over(f.name, f.value->size(), f.limit);
    total += f.value->size();
  }
  for (const auto& [name, map] : {std::pair{"metadata", &in.metadata},
                                  {"dataCenterInfo.metadata", &in.data_center_metadata}}) {
    if (map->size() > kMaxMetadataEntries)
      return std::string(name) + " has " + std::to_string(map->size()) + " entries; at most " +
             std::to_string(kMaxMetadataEntries) + " are allowed";
    for (const auto& [k, v] : *map) {
      if (k.size() > kMaxMetadataKeyBytes)
        return over(std::string(name) + " key", k.size(), kMaxMetadataKeyBytes);
      if (v.size() > kMaxMetadataValueBytes)
        return over(std::string(name) + "." + k.substr(0, 64), v.size(), kMaxMetadataValueBytes);
      total += k.size() + v.size();
    }
  }
  if (total > kMaxInstanceBytes) return over("the instance", total, kMaxInstanceBytes);
  return std::nullopt;
}

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Registry::Registry(Clock clock, RegistryOptions options)
    : clock_(std::move(clock)), options_(options) {}

Outcome Registry::writable(const std::string& app, const std::string& id, const Caller& caller,
                           Instance*& out) {
  auto it = instances_.find({upper_case(app), id});
  if (it == instances_.end()) return Outcome::kNotFound;
  if (!caller.peer && it->second.owner != caller.user) return Outcome::kConflict;
  out = &it->second;
  return Outcome::kOk;
}

void Registry::record(Instance& instance, ActionType action, std::int64_t now) {
  instance.action_type = action;
  if (action != ActionType::kAdded) instance.last_updated_ts = now;
  ++version_;
  Key key{instance.app, instance.instance_id};
  std::uint64_t seq = ++next_seq_;
  Latest& latest = latest_[key];
  latest = {seq, now, action, std::nullopt};
  if (action == ActionType::kDeleted) {
    // Enough for a delta reader to remove it (Eureka's clients go by app and id).
    Instance gone = instance;
    gone.metadata.clear();
    gone.data_center_metadata.clear();
    gone.home_page_url.clear();
    gone.status_page_url.clear();
    gone.health_check_url.clear();
    gone.secure_health_check_url.clear();
    gone.app_group_name.clear();
    latest.deleted = std::move(gone);
  }
  changes_.push_back({now, std::move(key), seq});
  trim_changes(now);
}

void Registry::trim_changes(std::int64_t now) {
  while (!changes_.empty() && (changes_.front().at < now - options_.delta_retention_ms ||
                               changes_.size() > options_.max_changes)) {
    auto it = latest_.find(changes_.front().key);
    if (it != latest_.end() && it->second.seq == changes_.front().seq) latest_.erase(it);
    changes_.pop_front();
  }
}

Outcome Registry::register_instance(Instance instance, const Caller& caller) {
  std::int64_t now = clock_();
  instance.app = upper_case(instance.app);
  if (!caller.peer || instance.owner.empty()) instance.owner = caller.user;
  if (oversize_reason(instance)) return Outcome::kTooLarge;
  std::lock_guard lock(mutex_);
  Key key{instance.app, instance.instance_id};
  auto it = instances_.find(key);
  bool is_new = it == instances_.end();
  if (!is_new) {
    const Instance& old = it->second;
    // No takeover of a live instance registered under other credentials. One whose lease ran
    // out is gone, even if the eviction timer has not removed it yet.
    if (!caller.peer && old.owner != instance.owner && now <= old.expires_at())
      return Outcome::kConflict;
    // As Eureka: a registration older than what we hold (e.g. a late replica) only renews.
    if (instance.last_dirty_ts != 0 && old.last_dirty_ts > instance.last_dirty_ts) {
      it->second.last_renewal_ts = now;
      return Outcome::kOk;
    }
    if (old.owner == instance.owner) {
      if (instance.overridden_status == Status::kUnknown)
        instance.overridden_status = old.overridden_status;
      instance.registration_ts = old.registration_ts;
      instance.service_up_ts = old.service_up_ts;
    } else {  // an expired instance of another owner: nothing of it carries over
      instance.registration_ts = now;
      instance.service_up_ts = 0;
    }
  } else {
    if (instances_.size() >= options_.max_instances) return Outcome::kFull;
    if (!app_sizes_.count(key.first) && app_sizes_.size() >= options_.max_apps)
      return Outcome::kFull;
    ++app_sizes_[key.first];
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
  return is_new ? Outcome::kCreated : Outcome::kOk;
}

Outcome Registry::renew(const std::string& app, const std::string& id, std::optional<Status> status,
                        std::optional<std::int64_t> last_dirty_ts, const Caller& caller) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = nullptr;
  if (auto why = writable(app, id, caller, in); why != Outcome::kOk) return why;
  // As Eureka: a client whose data is newer than ours must send it again (re-register).
  if (last_dirty_ts && *last_dirty_ts > in->last_dirty_ts) return Outcome::kNotFound;
  in->last_renewal_ts = now;
  if (status && *status != Status::kUnknown && *status != in->status) {
    in->status = *status;
    if (in->service_up_ts == 0 && in->effective_status() == Status::kUp) in->service_up_ts = now;
    record(*in, ActionType::kModified, now);
  }
  return Outcome::kOk;
}

void Registry::erase(std::map<Key, Instance>::iterator it) {
  auto app = app_sizes_.find(it->first.first);
  if (app != app_sizes_.end() && --app->second == 0) app_sizes_.erase(app);
  instances_.erase(it);
}

Outcome Registry::cancel(const std::string& app, const std::string& id, const Caller& caller) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = nullptr;
  if (auto why = writable(app, id, caller, in); why != Outcome::kOk) return why;
  in->eviction_ts = now;
  record(*in, ActionType::kDeleted, now);
  erase(instances_.find({in->app, in->instance_id}));
  return Outcome::kOk;
}

Outcome Registry::set_override(const std::string& app, const std::string& id, Status status,
                               const Caller& caller) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = nullptr;
  if (auto why = writable(app, id, caller, in); why != Outcome::kOk) return why;
  if (in->overridden_status != status) {
    in->overridden_status = status;
    if (in->service_up_ts == 0 && in->effective_status() == Status::kUp) in->service_up_ts = now;
    record(*in, ActionType::kModified, now);
  }
  return Outcome::kOk;
}

Outcome Registry::delete_override(const std::string& app, const std::string& id,
                                  std::optional<Status> own_status, const Caller& caller) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = nullptr;
  if (auto why = writable(app, id, caller, in); why != Outcome::kOk) return why;
  in->overridden_status = Status::kUnknown;
  if (own_status && *own_status != Status::kUnknown) in->status = *own_status;
  record(*in, ActionType::kModified, now);
  return Outcome::kOk;
}

Outcome Registry::update_metadata(const std::string& app, const std::string& id,
                                  const std::map<std::string, std::string>& metadata,
                                  const Caller& caller) {
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  Instance* in = nullptr;
  if (auto why = writable(app, id, caller, in); why != Outcome::kOk) return why;
  auto merged = in->metadata;
  for (const auto& [k, v] : metadata) merged[k] = v;
  std::swap(in->metadata, merged);
  if (oversize_reason(*in)) {
    std::swap(in->metadata, merged);  // back to what it was
    return Outcome::kTooLarge;
  }
  record(*in, ActionType::kModified, now);
  return Outcome::kOk;
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
      erase(it++);
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
  for (const auto& [key, latest] : latest_) {
    if (latest.at < now - options_.delta_retention_ms) continue;
    if (latest.deleted) {
      out.instances.push_back(*latest.deleted);
    } else if (auto it = instances_.find(key); it != instances_.end()) {
      out.instances.push_back(it->second);
      out.instances.back().action_type = latest.action;
    }
  }
  out.apps_hashcode = hashcode();
  out.version = version_;
  return out;
}

std::size_t Registry::pending_changes() const {
  std::lock_guard lock(mutex_);
  return changes_.size();
}

std::size_t Registry::size() const {
  std::lock_guard lock(mutex_);
  return instances_.size();
}

}  // namespace status::registry
