#include "node/replication_wire.hpp"

#include <algorithm>

namespace status::node {

PackedMessage pack(std::deque<OutboxRow>& pending, std::size_t max_changes, std::size_t max_bytes) {
  PackedMessage m;
  m.first_seq = pending.front().seq;
  while (!pending.empty() && m.count < max_changes &&
         (m.count == 0 || m.body.size() + pending.front().payload.size() < max_bytes)) {
    if (m.count > 0) m.body += ',';
    m.body += pending.front().payload;
    m.last_seq = std::max(m.last_seq, pending.front().seq);
    pending.pop_front();
    ++m.count;
  }
  if (m.count > 1) m.body = "[" + m.body + "]";
  return m;
}

std::uint64_t ConfirmTracker::published(const PackedMessage& m) {
  in_flight_[++next_tag_] = {m.first_seq, m.count, m.body.size()};
  bytes_ += m.body.size();
  return next_tag_;
}

std::size_t ConfirmTracker::ack(std::uint64_t tag, bool multiple) {
  auto end = multiple ? in_flight_.upper_bound(tag) : in_flight_.find(tag);
  auto begin = multiple ? in_flight_.begin() : end;
  if (!multiple && end != in_flight_.end()) ++end;
  std::size_t changes = 0;
  for (auto it = begin; it != end; ++it) {
    changes += it->second.count;
    bytes_ -= it->second.bytes;
  }
  in_flight_.erase(begin, end);
  return changes;
}

std::int64_t ConfirmTracker::confirmed_upto(std::int64_t handed_out,
                                            std::int64_t next_pending) const {
  std::int64_t upto = in_flight_.empty() ? handed_out : in_flight_.begin()->second.first_seq - 1;
  if (next_pending > 0) upto = std::min(upto, next_pending - 1);
  return upto;
}

Decoded decode_message(std::string_view body) {
  Decoded d;
  if (!body.empty() && body.front() == '[') {
    if (auto many = from_wire_array(body, &d.bad, &d.traces)) d.states = std::move(*many);
    else d.bad = 1;
  } else if (std::string tp; auto s = from_wire_json(body, &tp)) {
    if (!tp.empty()) d.traces.emplace_back(0, std::move(tp));
    d.states.push_back(std::move(*s));
  } else {
    d.bad = 1;
  }
  return d;
}

}  // namespace status::node
