#include "node/write_rules.hpp"

#include <algorithm>

namespace status::node {

namespace {

bool matches(const std::vector<std::string>& tags, const Status* cur) {
  for (const auto& t : tags)
    if (t == "*" || (cur && t == cur->version.str())) return true;
  return false;
}

}  // namespace

bool preconditions_hold(const Preconditions& pre, const Status* live) {
  if (!pre.if_match.empty() && (!live || !matches(pre.if_match, live))) return false;
  if (!pre.if_none_match.empty() && live && matches(pre.if_none_match, live)) return false;
  return true;
}

std::uint64_t local_stamp(std::uint64_t clock_stamp, const Status* current) {
  if (current && current->version.hlc >= clock_stamp) return current->version.hlc + 1;
  return clock_stamp;
}

LocalDecision decide_local(const LocalRequest& w, const Status* current, std::uint64_t stamp,
                           std::string_view node) {
  const auto stamp_ms = static_cast<std::int64_t>(stamp >> 16);
  const Status* live =
      current && !current->deleted && !current->expired(stamp_ms) ? current : nullptr;
  LocalDecision d;
  if (w.purge) {  // the history goes too: whatever is stored, a purging tombstone replaces it
    if (!current) {
      d.outcome = Outcome::kNotFound;
      return d;
    }
    Status s;
    s.username = w.username;
    s.version = {stamp, std::string(node)};
    s.deleted = s.purge = true;
    d.outcome = Outcome::kDeleted;
    d.next = std::move(s);
    return d;
  }
  if (!preconditions_hold(w.pre, live)) {
    d.outcome = Outcome::kPreconditionFailed;
    return d;
  }
  if (w.is_delete && !live) {
    d.outcome = Outcome::kNotFound;
    return d;
  }
  if (w.record) {
    if (w.create_only && live) {
      d.outcome = Outcome::kConflict;
      return d;
    }
    Status s = *w.record;
    s.username = w.username;
    s.deleted = w.is_delete;
    s.version = {stamp, std::string(node)};
    d.outcome = w.is_delete ? Outcome::kDeleted : live ? Outcome::kReplaced : Outcome::kCreated;
    d.next = std::move(s);
    return d;
  }
  Status s;
  s.username = w.username;
  s.version = {stamp, std::string(node)};
  if (w.is_delete) {
    s.deleted = true;
    d.outcome = Outcome::kDeleted;
  } else {
    s.text = w.input.text;
    s.time_ms = w.input.time_ms.value_or(stamp_ms);
    s.latitude = w.input.latitude;
    s.longitude = w.input.longitude;
    s.emoji = w.input.emoji.value_or("");
    s.availability = w.input.availability;
    s.expires_at_ms = w.input.expires_at_ms.value_or(0);
    d.outcome = live ? Outcome::kReplaced : Outcome::kCreated;
  }
  if (current) {
    s.past = current->past;
    s.past.push_back(as_past(*current));
    normalize_past(s);
  }
  d.next = std::move(s);
  return d;
}

std::optional<Status> merged_state(const Status& incoming, const Status* current,
                                   std::uint64_t horizon_hlc, std::int64_t now_ms) {
  Merge m = merge_remote(incoming, current, horizon_hlc, now_ms);
  if (m == Merge::kExpired) return std::nullopt;
  if (!current || incoming.kind() != Kind::kStatus) {
    if (m == Merge::kApply) return incoming;
    return std::nullopt;
  }
  bool newer = m == Merge::kApply;
  const Status& win = newer ? incoming : *current;
  const Status& lose = newer ? *current : incoming;
  Status r = win;
  r.past.insert(r.past.end(), lose.past.begin(), lose.past.end());
  if (lose.version != win.version) r.past.push_back(as_past(lose));
  normalize_past(r);
  if (!newer) {
    auto same = std::equal(r.past.begin(), r.past.end(), current->past.begin(), current->past.end(),
                           [](const Past& a, const Past& b) { return a.version == b.version; });
    if (same) return std::nullopt;
  }
  return r;
}

Merge merge_remote(const Status& incoming, const Status* current, std::uint64_t horizon_hlc,
                   std::int64_t now_ms) {
  if (!incoming.deleted && incoming.kind() == Kind::kSession && incoming.time_ms < now_ms)
    return Merge::kExpired;
  if (current) return current->version >= incoming.version ? Merge::kStale : Merge::kApply;
  if (incoming.deleted && incoming.version.hlc < horizon_hlc) return Merge::kExpired;
  return Merge::kApply;
}

std::int64_t horizon_step_ms(std::int64_t ttl_ms) {
  return std::clamp<std::int64_t>(ttl_ms / 16, 1000, 3600 * 1000);
}

std::int64_t gc_horizon_ms(std::int64_t wall_ms, std::int64_t ttl_ms) {
  std::int64_t step = horizon_step_ms(ttl_ms);
  std::int64_t h = wall_ms - ttl_ms;
  if (h <= 0) return 0;
  return h / step * step;
}

}  // namespace status::node
