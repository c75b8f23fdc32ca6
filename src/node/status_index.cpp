#include "node/status_index.hpp"

#include <mutex>

namespace status::node {

namespace {

std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::uint64_t fnv(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// One entry's share of the digest: depends on (username, version, deleted) only.
std::uint64_t digest_part(std::string_view username, const Status& s) {
  std::uint64_t h = fnv(s.version.node, mix(fnv(username) ^ s.version.hlc));
  return mix(h + (s.deleted ? 1 : 0));
}

bool served(const Status& s, std::uint64_t min_tombstone_hlc) {
  return !s.deleted || s.version.hlc >= min_tombstone_hlc;
}

}  // namespace

Entry Entry::make(Status s) {
  Entry e;
  if (!s.deleted && s.kind() == Kind::kStatus) {
    e.api_json = to_api_json(s);
    // Kept for the entry's lifetime: drop the serializer's growth slack (typically ~70 bytes per
    // status, 7 MiB of 100,000; see docs/node.md, Performance).
    e.api_json.shrink_to_fit();
  }
  e.status = std::move(s);
  return e;
}

std::size_t StatusIndex::slot_of(std::string_view username, std::size_t slots) {
  return mix(fnv(username)) % slots;
}

void StatusIndex::account(const Entry& e, bool add) {
  auto& slot = slots_[slot_of(e.status.username)];
  auto part = digest_part(e.status.username, e.status);
  slot = add ? slot + part : slot - part;  // unsigned: wraps both ways
}

void StatusIndex::remove(std::string_view username) {
  auto old = entries_.find(username);
  if (old == entries_.end()) return;
  const Status& s = old->second.status;
  if (s.deleted) tombstones_.erase({s.version.hlc, old->first});
  else if (s.kind() == Kind::kStatus) by_time_.erase(&old->second);
  else if (s.kind() == Kind::kSession) sessions_.erase({s.time_ms, old->first});
  account(old->second, false);
  entries_.erase(old);
}

void StatusIndex::put(Entry e) {
  remove(e.status.username);  // the key views the old entry's name: re-key with the new one
  // Insert under a placeholder no record can have (a control character), then point the key at
  // the stored name (node-based map: stable address).
  static const std::string kPlaceholder("\x01(inserting)");
  auto node = entries_.extract(entries_.emplace(kPlaceholder, std::move(e)).first);
  node.key() = node.mapped().status.username;
  auto it = entries_.insert(std::move(node)).position;
  const Status& s = it->second.status;
  if (s.deleted) tombstones_.emplace(s.version.hlc, it->first);
  else if (s.kind() == Kind::kStatus) by_time_.insert(&it->second);
  else if (s.kind() == Kind::kSession) sessions_.emplace(s.time_ms, it->first);
  account(it->second, true);
}

void StatusIndex::install(std::vector<Entry> entries) {
  if (entries.empty()) return;
  std::unique_lock lock(mutex_);
  for (auto& e : entries) put(std::move(e));
}

void StatusIndex::erase(const std::vector<std::string>& usernames) {
  if (usernames.empty()) return;
  std::unique_lock lock(mutex_);
  for (const auto& u : usernames) remove(u);
}

const Entry* StatusIndex::find_for_writer(std::string_view username) const {
  auto it = entries_.find(username);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> StatusIndex::tombstones_before(std::uint64_t hlc, std::size_t max) const {
  std::vector<std::string> out;
  std::shared_lock lock(mutex_);
  for (auto it = tombstones_.begin(); it != tombstones_.end() && it->first < hlc && out.size() < max;
       ++it)
    out.emplace_back(it->second);
  return out;
}

std::vector<std::string> StatusIndex::sessions_expired_before(std::int64_t ms,
                                                              std::size_t max) const {
  std::vector<std::string> out;
  std::shared_lock lock(mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end() && it->first < ms && out.size() < max; ++it)
    out.emplace_back(it->second);
  return out;
}

std::vector<Status> StatusIndex::sessions_of(std::string_view username) const {
  std::vector<Status> out;
  std::shared_lock lock(mutex_);
  for (const auto& [expiry, key] : sessions_) {
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.status.text == username) out.push_back(it->second.status);
  }
  return out;
}

std::optional<Status> StatusIndex::record(const std::string& key) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.status.deleted) return std::nullopt;
  return it->second.status;
}

std::vector<std::string> StatusIndex::older_than(std::size_t first, std::size_t last,
                                                 std::uint64_t hlc) const {
  std::vector<std::string> out;
  std::shared_lock lock(mutex_);
  for (const auto& [k, e] : entries_) {
    auto slot = slot_of(k);
    if (slot >= first && slot < last && e.status.version.hlc < hlc) out.emplace_back(k);
  }
  return out;
}

bool StatusIndex::visit(const std::string& username,
                        const std::function<void(const Entry&)>& fn) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted) return false;
  fn(it->second);
  return true;
}

std::optional<Entry> StatusIndex::get(const std::string& username) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted) return std::nullopt;
  return it->second;
}

StatusIndex::Page StatusIndex::list(std::size_t offset, std::size_t limit) const {
  Page p;
  std::shared_lock lock(mutex_);
  p.total = by_time_.size();
  if (offset >= p.total) return p;
  auto it = by_time_.begin();
  std::advance(it, static_cast<long>(offset));
  for (; it != by_time_.end() && p.items.size() < limit; ++it) p.items.push_back((*it)->api_json);
  return p;
}

std::size_t StatusIndex::live_count() const {
  std::shared_lock lock(mutex_);
  return by_time_.size();
}

std::size_t StatusIndex::tombstone_count() const {
  std::shared_lock lock(mutex_);
  return tombstones_.size();
}

std::vector<std::uint64_t> StatusIndex::digest(std::size_t buckets) const {
  std::vector<std::uint64_t> d(buckets, 0);
  std::shared_lock lock(mutex_);
  if (buckets > 0 && kDigestSlots % buckets == 0) {
    // slot_of(u, n) == slot_of(u, kDigestSlots) % n when n divides kDigestSlots.
    for (std::size_t i = 0; i < kDigestSlots; ++i) d[i % buckets] += slots_[i];
    return d;
  }
  for (const auto& [k, e] : entries_) d[slot_of(k, buckets)] += digest_part(k, e.status);
  return d;
}

std::vector<Status> StatusIndex::buckets(const std::vector<std::size_t>& indices,
                                         std::size_t buckets,
                                         std::uint64_t min_tombstone_hlc) const {
  std::vector<bool> wanted(buckets, false);
  for (auto i : indices)
    if (i < buckets) wanted[i] = true;
  std::vector<Status> out;
  std::shared_lock lock(mutex_);
  for (const auto& [k, e] : entries_)
    if (wanted[slot_of(k, buckets)] && served(e.status, min_tombstone_hlc)) out.push_back(e.status);
  return out;
}

std::vector<Status> StatusIndex::slots(std::size_t first, std::size_t last,
                                       std::uint64_t min_tombstone_hlc) const {
  std::vector<Status> out;
  std::shared_lock lock(mutex_);
  for (const auto& [k, e] : entries_) {
    auto slot = slot_of(k);
    if (slot >= first && slot < last && served(e.status, min_tombstone_hlc)) out.push_back(e.status);
  }
  return out;
}

}  // namespace status::node
