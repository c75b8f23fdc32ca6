#include "node/status_index.hpp"

#include <algorithm>
#include <cmath>
#include <chrono>
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

// One entry's share of the digest: depends on (username, version, deleted) and the versions of
// its history (two nodes that agree on the status but not on its history repair it).
std::uint64_t digest_part(std::string_view username, const Status& s) {
  std::uint64_t h = fnv(s.version.node, mix(fnv(username) ^ s.version.hlc));
  h = mix(h + (s.deleted ? 1 : 0));
  for (const auto& p : s.past) h = mix(fnv(p.version.node, h ^ p.version.hlc));
  return h;
}

// Lower case of the letters of Latin-1, Latin Extended-A, Greek and Cyrillic; others unchanged.
char32_t fold(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x178) return 0xFF;
    bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    return (c % 2 == (odd_upper ? 1 : 0)) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

// Decodes valid UTF-8 (what the index holds) one code point at a time.
char32_t next_cp(std::string_view s, std::size_t& i) {
  auto c = static_cast<unsigned char>(s[i++]);
  if (c < 0x80) return c;
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
  char32_t cp = c & (0x3F >> extra);
  for (int k = 0; k < extra && i < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return cp;
}

bool served(const Status& s, std::uint64_t min_tombstone_hlc) {
  return !s.deleted || s.version.hlc >= min_tombstone_hlc;
}

}  // namespace

std::string fold_text(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {  // the common case, byte by byte
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    std::size_t start = i;
    char32_t cp = next_cp(utf8, i);
    char32_t f = fold(cp);
    if (f == cp) {
      out.append(utf8.substr(start, i - start));
    } else if (f < 0x800) {  // every folded letter here is below U+0800: two bytes
      out += static_cast<char>(0xC0 | (f >> 6));
      out += static_cast<char>(0x80 | (f & 0x3F));
    } else {
      out.append(utf8.substr(start, i - start));
    }
  }
  return out;
}

std::int64_t StatusIndex::system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Entry Entry::make(Status s) {
  Entry e;
  e.status = std::move(s);
  return e;
}

std::string Entry::api_json() const {
  if (status.deleted || status.kind() != Kind::kStatus) return {};
  return to_api_json(status);
}

std::size_t StatusIndex::slot_of(std::string_view username, std::size_t slots) {
  return mix(fnv(username)) % slots;
}

void StatusIndex::account(const Entry& e, bool add) {
  auto i = slot_of(e.status.username);
  auto& slot = slots_[i];
  auto part = digest_part(e.status.username, e.status);
  slot = add ? slot + part : slot - part;  // unsigned: wraps both ways
  auto& members = members_[i];
  if (add) {
    members.push_back(&e);
  } else if (auto it = std::find(members.begin(), members.end(), &e); it != members.end()) {
    *it = members.back();
    members.pop_back();
  }
}

void StatusIndex::remove(std::string_view username) {
  auto old = entries_.find(username);
  if (old == entries_.end()) return;
  const Status& s = old->second.status;
  if (s.deleted) tombstones_.erase({s.version.hlc, old->first});
  else if (s.kind() == Kind::kStatus) {
    list_remove(old->second);
    if (s.expires_at_ms) expiring_.erase({s.expires_at_ms, old->first});
  }
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
  else if (s.kind() == Kind::kStatus && !s.expired(now_())) {
    list_add(it->second);
    if (s.expires_at_ms) expiring_.emplace(s.expires_at_ms, it->first);
  }
  else if (s.kind() == Kind::kSession) sessions_.emplace(s.time_ms, it->first);
  account(it->second, true);
}

void StatusIndex::list_add(Entry& e) {
  by_time_.insert(&e);
  const Status& s = e.status;
  std::string user = fold_text(s.username), text = fold_text(s.text);
  ScanRow r{&e, s.time_ms,
            s.latitude ? *s.latitude : std::nan(""), s.longitude ? *s.longitude : std::nan(""),
            static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(user.size()),
            static_cast<std::uint32_t>(text.size()), s.availability};
  arena_ += user;
  arena_ += text;
  e.row = static_cast<std::uint32_t>(rows_.size());
  rows_.push_back(r);
}

void StatusIndex::list_remove(Entry& e) {
  if (!by_time_.erase(&e) || e.row == Entry::kNoRow) return;
  ScanRow& r = rows_[e.row];
  arena_dead_ += r.user_len + r.text_len;
  if (e.row + 1 != rows_.size()) {
    r = rows_.back();
    const_cast<Entry*>(r.e)->row = e.row;  // the entries are the index's own
  }
  rows_.pop_back();
  e.row = Entry::kNoRow;
  if (arena_dead_ > (1u << 20) && arena_dead_ > arena_.size() / 2) compact_arena();
}

void StatusIndex::compact_arena() {
  std::string packed;
  packed.reserve(arena_.size() - arena_dead_);
  for (auto& r : rows_) {
    auto at = static_cast<std::uint32_t>(packed.size());
    packed.append(arena_, r.text_at, r.user_len + r.text_len);
    r.text_at = at;
  }
  arena_ = std::move(packed);
  arena_dead_ = 0;
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

std::vector<Status> StatusIndex::expire_due(std::int64_t now_ms, std::size_t max) {
  std::vector<Status> out;
  std::unique_lock lock(mutex_);
  while (!expiring_.empty() && expiring_.begin()->first <= now_ms && out.size() < max) {
    auto key = expiring_.begin()->second;
    expiring_.erase(expiring_.begin());
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    list_remove(it->second);
    Status gone;
    gone.username = it->second.status.username;
    gone.version = it->second.status.version;
    out.push_back(std::move(gone));
  }
  return out;
}

std::optional<std::vector<Entry>> StatusIndex::changed_since(std::int64_t from_ms,
                                                             std::size_t max) const {
  auto now = now_();
  std::uint64_t from_hlc = from_ms <= 0 ? 0 : static_cast<std::uint64_t>(from_ms) << 16;
  std::vector<Entry> out;
  std::shared_lock lock(mutex_);
  for (const auto& [k, e] : entries_) {
    const Status& s = e.status;
    if (s.kind() != Kind::kStatus) continue;
    bool changed = s.version.hlc >= from_hlc;
    bool expired = s.expired(now) && s.expires_at_ms >= from_ms;
    if (!changed && !expired) continue;
    if (out.size() >= max) return std::nullopt;
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(),
            [](const Entry& a, const Entry& b) { return a.status.version < b.status.version; });
  return out;
}

std::int64_t StatusIndex::next_expiry() const {
  std::shared_lock lock(mutex_);
  return expiring_.empty() ? 0 : expiring_.begin()->first;
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
  auto now = now_();
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted || it->second.status.expired(now)) return false;
  fn(it->second);
  return true;
}

std::optional<Entry> StatusIndex::get(const std::string& username) const {
  auto now = now_();
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted || it->second.status.expired(now))
    return std::nullopt;
  return it->second;
}

std::optional<std::string> StatusIndex::history(const std::string& username) const {
  auto now = now_();
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.kind() != Kind::kStatus) return std::nullopt;
  const Status& s = it->second.status;
  std::string h = history_json(s, now);
  if (h == "[]" && (s.deleted || s.expired(now))) return std::nullopt;
  return h;
}

bool StatusIndex::matches(const ScanRow& r, const ListFilter& f, std::string_view q,
                          std::int64_t now) const {
  if (f.availabilities && !(f.availabilities & (1u << static_cast<unsigned>(r.availability))))
    return false;
  if (f.bbox) {  // NaN (no position) fails every comparison
    if (!(r.lon >= f.bbox->min_lon && r.lon <= f.bbox->max_lon && r.lat >= f.bbox->min_lat &&
          r.lat <= f.bbox->max_lat))
      return false;
  }
  if (!q.empty()) {
    std::string_view user(arena_.data() + r.text_at, r.user_len);
    std::string_view text(arena_.data() + r.text_at + r.user_len, r.text_len);
    if (user.find(q) == std::string_view::npos && text.find(q) == std::string_view::npos)
      return false;
  }
  return !r.e->status.expired(now);  // until expire_due() takes it out
}

StatusIndex::Page StatusIndex::list(const ListFilter& f, std::size_t offset,
                                    std::size_t limit) const {
  Page p;
  auto now = now_();
  std::string q = fold_text(f.q);
  bool filtered = !f.q.empty() || f.availabilities || f.bbox;
  std::shared_lock lock(mutex_);
  if (!f.usernames.empty()) {
    std::vector<const Entry*> found;
    for (const auto& u : f.usernames) {
      auto it = entries_.find(u);
      if (it == entries_.end() || it->second.row == Entry::kNoRow ||
          !matches(rows_[it->second.row], f, q, now))
        continue;
      found.push_back(&it->second);
    }
    std::sort(found.begin(), found.end(), ByTime{});
    found.erase(std::unique(found.begin(), found.end()), found.end());
    p.total = found.size();
    for (std::size_t i = offset; i < found.size() && p.items.size() < limit; ++i)
      p.items.push_back(found[i]->api_json());
    return p;
  }
  if (!filtered) {
    // No filter: the page straight from the ordered set, without looking at the others.
    p.total = by_time_.size();
    if (offset >= p.total) return p;
    auto it = by_time_.find_by_order(offset);
    for (; it != by_time_.end() && p.items.size() < limit; ++it)
      if (!(*it)->status.expired(now)) p.items.push_back((*it)->api_json());
    return p;
  }
  // One pass over the packed rows, then only the page's share of the matches sorted.
  std::vector<const Entry*> hits;
  for (const auto& r : rows_)
    if (matches(r, f, q, now)) hits.push_back(r.e);
  p.total = hits.size();
  if (offset >= hits.size()) return p;
  auto end = std::min(hits.size(), offset + limit);
  std::partial_sort(hits.begin(), hits.begin() + static_cast<long>(end), hits.end(), ByTime{});
  for (std::size_t i = offset; i < end; ++i) p.items.push_back(hits[i]->api_json());
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
  last = std::min(last, kDigestSlots);
  for (std::size_t i = first; i < last; ++i)
    for (const Entry* e : members_[i])
      if (served(e->status, min_tombstone_hlc)) out.push_back(e->status);
  return out;
}

}  // namespace status::node
