#pragma once
// The replication protocol's arithmetic, as pure pieces with no broker in sight: packing outbox
// rows into messages, tracking which messages the broker confirmed, and decoding a received
// message. The publisher and consumer loops (replicator.cpp) only move data through them.

#include "node/status.hpp"
#include "node/status_db.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace status::node {

/// One message: a JSON array of wire states (or a lone object for a single change).
struct PackedMessage {
  std::int64_t first_seq = 0, last_seq = 0;
  std::size_t count = 0;
  std::string body;
};

/// Takes rows from the front of `pending` into one message: at most `max_changes` of them and,
/// beyond the first, no more than `max_bytes` of body. `pending` must not be empty.
PackedMessage pack(std::deque<OutboxRow>& pending, std::size_t max_changes, std::size_t max_bytes);

/// Which published messages the broker has confirmed. Delivery tags count from 1 per channel.
class ConfirmTracker {
 public:
  /// Records a published message; returns its delivery tag.
  std::uint64_t published(const PackedMessage& m);
  /// basic.ack (`multiple`: every tag up to this one). Returns the changes it confirmed.
  std::size_t ack(std::uint64_t tag, bool multiple);
  std::size_t in_flight() const { return in_flight_.size(); }
  /// Body bytes published and not yet confirmed.
  std::size_t unconfirmed_bytes() const { return bytes_; }
  bool empty() const { return in_flight_.empty(); }
  /// Every outbox seq up to this is confirmed, given that rows up to `handed_out` were published
  /// (or left out) and `next_pending` is the first row not yet published (0: none).
  std::int64_t confirmed_upto(std::int64_t handed_out, std::int64_t next_pending) const;

 private:
  struct Message {
    std::int64_t first_seq;
    std::size_t count;
    std::size_t bytes;
  };
  std::uint64_t next_tag_ = 0;
  std::size_t bytes_ = 0;
  std::map<std::uint64_t, Message> in_flight_;
};

/// A received message's changes. `bad` counts elements that were not valid states (a malformed
/// message counts 1); they are left out, the others kept.
struct Decoded {
  std::vector<Status> states;
  std::size_t bad = 0;
  std::vector<std::pair<std::size_t, std::string>> traces;  // (index in states, traceparent)
};
Decoded decode_message(std::string_view body);

}  // namespace status::node
