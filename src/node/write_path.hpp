#pragma once
// When a committed write is answered — the last step of the write path:
//
//   request → validate → Store::write (queued) → writer: decide, row + outbox row, COMMIT
//     → memory, event stream, publisher handed the row → WriteAnswerer::committed
//     → async:  answer on the broker's confirm of the row, or publish_timeout after the commit,
//               or at once when the broker is unreachable (the row waits in the outbox);
//     → X-Consistency: all: answer when every UP peer applied the pushed state, or
//               sync_timeout after the commit, with X-Replicated: applied/expected.
//
// See docs/architecture.md for the picture and where each failure is handled.

#include "node/peer_sync.hpp"
#include "node/replicator.hpp"
#include "node/store.hpp"

#include <chrono>
#include <functional>
#include <optional>

namespace status::node {

class WriteAnswerer {
 public:
  /// `replicator` and `peers` may be null (a node alone, or without a broker).
  WriteAnswerer(Replicator* replicator, PeerSync* peers, std::chrono::milliseconds sync_timeout)
      : replicator_(replicator), peers_(peers), sync_timeout_(sync_timeout) {}

  using Answer = std::function<void(std::optional<ReplicationReport>)>;
  /// Calls `answer` exactly once, from the writer, publisher, sweeper or push thread. The report
  /// is set for a changing `sync_all` write.
  void committed(const WriteResult& r, bool sync_all, Answer answer) const {
    bool changed = r.outcome == Outcome::kCreated || r.outcome == Outcome::kReplaced ||
                   r.outcome == Outcome::kDeleted;
    if (!changed) return answer(std::nullopt);
    if (sync_all) {
      if (!peers_) return answer(ReplicationReport{1, 1});
      return peers_->push_all(r.status, r.committed_at + sync_timeout_,
                              [answer](ReplicationReport rep) { answer(rep); });
    }
    if (replicator_ && r.outbox_seq > 0)
      return replicator_->when_published(r.outbox_seq, r.committed_at,
                                         [answer] { answer(std::nullopt); });
    answer(std::nullopt);
  }

 private:
  Replicator* replicator_;
  PeerSync* peers_;
  std::chrono::milliseconds sync_timeout_;
};

}  // namespace status::node
