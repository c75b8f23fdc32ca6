// The replication protocol's arithmetic: packing outbox rows into messages, confirm tracking
// (delivery tags, bytes in flight, the confirmed prefix of the outbox) and decoding a message.
#include "node/replication_wire.hpp"

#include <gtest/gtest.h>

using namespace status::node;

namespace {

Status state(std::string user, std::uint64_t hlc, bool deleted = false) {
  Status s;
  s.username = std::move(user);
  s.version = {hlc, "n1"};
  s.deleted = deleted;
  if (!deleted) {
    s.text = "text of " + s.username;
    s.time_ms = 1'800'000'000'000;
  }
  return s;
}

OutboxRow row(std::int64_t seq, std::string user) {
  Status s = state(std::move(user), static_cast<std::uint64_t>(seq) << 16 | 1);
  return {seq, s.version.hlc, to_wire_json(s)};
}

std::deque<OutboxRow> rows(std::int64_t first, std::int64_t n) {
  std::deque<OutboxRow> out;
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back(row(first + i, "u" + std::to_string(first + i)));
  return out;
}

PackedMessage message(std::int64_t first_seq, std::size_t count, std::size_t bytes) {
  PackedMessage m;
  m.first_seq = first_seq;
  m.last_seq = first_seq + static_cast<std::int64_t>(count) - 1;
  m.count = count;
  m.body.assign(bytes, 'x');
  return m;
}

}  // namespace

// ---- pack ----

TEST(PackTest, ASingleChangeTravelsAsALoneObject) {
  auto pending = rows(5, 1);
  const std::string payload = pending.front().payload;
  auto m = pack(pending, 100, 1 << 20);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(m.count, 1u);
  EXPECT_EQ(m.first_seq, 5);
  EXPECT_EQ(m.last_seq, 5);
  EXPECT_EQ(m.body, payload);
  auto d = decode_message(m.body);
  EXPECT_EQ(d.bad, 0u);
  ASSERT_EQ(d.states.size(), 1u);
  EXPECT_EQ(d.states[0].username, "u5");
}

TEST(PackTest, SeveralChangesTravelAsAnArrayInSeqOrder) {
  auto pending = rows(1, 5);
  auto m = pack(pending, 100, 1 << 20);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(m.count, 5u);
  EXPECT_EQ(m.first_seq, 1);
  EXPECT_EQ(m.last_seq, 5);
  EXPECT_EQ(m.body.front(), '[');
  auto d = decode_message(m.body);
  EXPECT_EQ(d.bad, 0u);
  ASSERT_EQ(d.states.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(d.states[i].username, "u" + std::to_string(i + 1));
}

TEST(PackTest, AtMostMaxChangesPerMessage) {
  auto pending = rows(1, 10);
  auto m1 = pack(pending, 4, 1 << 20);
  EXPECT_EQ(m1.count, 4u);
  EXPECT_EQ(m1.first_seq, 1);
  EXPECT_EQ(m1.last_seq, 4);
  ASSERT_EQ(pending.size(), 6u);
  EXPECT_EQ(pending.front().seq, 5);
  auto m2 = pack(pending, 4, 1 << 20);
  auto m3 = pack(pending, 4, 1 << 20);
  EXPECT_EQ(m2.first_seq, 5);
  EXPECT_EQ(m2.last_seq, 8);
  EXPECT_EQ(m3.count, 2u);
  EXPECT_EQ(m3.first_seq, 9);
  EXPECT_EQ(m3.last_seq, 10);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(decode_message(m3.body).states.size(), 2u);
}

TEST(PackTest, BytesBoundTheMessageBeyondTheFirstChange) {
  auto pending = rows(1, 20);
  const std::size_t one = pending.front().payload.size();
  // Room for about three payloads.
  const std::size_t max_bytes = 3 * one + 5;
  std::size_t taken = 0;
  while (!pending.empty()) {
    auto before = pending.size();
    auto m = pack(pending, 1000, max_bytes);
    EXPECT_EQ(before - pending.size(), m.count);
    EXPECT_GE(m.count, 1u);
    // The packed changes (without the array's brackets) stay within the limit.
    EXPECT_LE(m.body.size() - (m.count > 1 ? 2 : 0), max_bytes);
    EXPECT_EQ(decode_message(m.body).states.size(), m.count);
    EXPECT_EQ(m.last_seq - m.first_seq + 1, static_cast<std::int64_t>(m.count));
    taken += m.count;
  }
  EXPECT_EQ(taken, 20u);
  // A change larger than the limit still goes, alone.
  auto big = rows(1, 3);
  auto m = pack(big, 1000, 10);
  EXPECT_EQ(m.count, 1u);
  EXPECT_GT(m.body.size(), 10u);
  EXPECT_EQ(big.size(), 2u);
}

TEST(PackTest, SeqGapsAreCarried) {
  // Seqs of failed commits are never reused, so the outbox may have gaps.
  std::deque<OutboxRow> pending{row(3, "a"), row(7, "b"), row(8, "c")};
  auto m = pack(pending, 100, 1 << 20);
  EXPECT_EQ(m.first_seq, 3);
  EXPECT_EQ(m.last_seq, 8);
  EXPECT_EQ(m.count, 3u);
}

// ---- ConfirmTracker ----

TEST(ConfirmTrackerTest, TagsCountFromOne) {
  ConfirmTracker t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.published(message(1, 2, 10)), 1u);
  EXPECT_EQ(t.published(message(3, 1, 10)), 2u);
  EXPECT_EQ(t.published(message(4, 5, 10)), 3u);
  EXPECT_EQ(t.in_flight(), 3u);
  EXPECT_FALSE(t.empty());
}

TEST(ConfirmTrackerTest, SingleAndMultipleAcks) {
  ConfirmTracker t;
  t.published(message(1, 2, 100));  // tag 1
  t.published(message(3, 3, 200));  // tag 2
  t.published(message(6, 4, 300));  // tag 3
  t.published(message(10, 1, 50));  // tag 4
  EXPECT_EQ(t.unconfirmed_bytes(), 650u);
  EXPECT_EQ(t.ack(2, false), 3u);  // just tag 2
  EXPECT_EQ(t.in_flight(), 3u);
  EXPECT_EQ(t.unconfirmed_bytes(), 450u);
  EXPECT_EQ(t.ack(2, false), 0u);      // twice: nothing more
  EXPECT_EQ(t.ack(99, false), 0u);     // unknown
  EXPECT_EQ(t.ack(3, true), 2u + 4u);  // tags 1 and 3 (2 already gone)
  EXPECT_EQ(t.in_flight(), 1u);
  EXPECT_EQ(t.unconfirmed_bytes(), 50u);
  EXPECT_EQ(t.ack(3, true), 0u);
  EXPECT_EQ(t.ack(4, true), 1u);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.unconfirmed_bytes(), 0u);
}

TEST(ConfirmTrackerTest, MultipleAckBeyondTheLastTagConfirmsEverything) {
  ConfirmTracker t;
  t.published(message(1, 1, 10));
  t.published(message(2, 1, 10));
  EXPECT_EQ(t.ack(0, true), 0u);
  EXPECT_EQ(t.ack(1000, true), 2u);
  EXPECT_TRUE(t.empty());
  // Tags keep counting after everything was confirmed (they are per channel, not per batch).
  EXPECT_EQ(t.published(message(3, 1, 10)), 3u);
}

TEST(ConfirmTrackerTest, ConfirmedUptoIsThePrefixBeforeTheOldestUnconfirmed) {
  ConfirmTracker t;
  // Nothing in flight: everything handed out, bounded by what is still pending.
  EXPECT_EQ(t.confirmed_upto(0, 0), 0);
  EXPECT_EQ(t.confirmed_upto(10, 0), 10);
  EXPECT_EQ(t.confirmed_upto(10, 8), 7);  // row 8 not yet published (re-read after a gap)
  t.published(message(11, 3, 10));        // tag 1: 11..13
  t.published(message(14, 2, 10));        // tag 2: 14..15
  EXPECT_EQ(t.confirmed_upto(15, 16), 10);
  // Out of order: the later message confirmed first does not move the prefix.
  t.ack(2, false);
  EXPECT_EQ(t.confirmed_upto(15, 16), 10);
  t.ack(1, false);
  EXPECT_EQ(t.confirmed_upto(15, 16), 15);
  EXPECT_EQ(t.confirmed_upto(15, 0), 15);
  // With a gap in the seqs (a failed commit), the prefix covers the gap.
  t.published(message(20, 1, 10));  // tag 3
  EXPECT_EQ(t.confirmed_upto(20, 0), 19);
  t.ack(3, true);
  EXPECT_EQ(t.confirmed_upto(20, 0), 20);
}

// ---- decode_message ----

TEST(DecodeMessageTest, LoneObjectAndArray) {
  auto one = decode_message(to_wire_json(state("alice", 5)));
  EXPECT_EQ(one.bad, 0u);
  ASSERT_EQ(one.states.size(), 1u);
  EXPECT_EQ(one.states[0].username, "alice");
  EXPECT_EQ(one.states[0].version.hlc, 5u);
  auto many = decode_message(to_wire_array({state("a", 1), state("b", 2, true), state("c", 3)}));
  EXPECT_EQ(many.bad, 0u);
  ASSERT_EQ(many.states.size(), 3u);
  EXPECT_TRUE(many.states[1].deleted);
  EXPECT_EQ(many.states[2].username, "c");
  auto empty = decode_message("[]");
  EXPECT_EQ(empty.bad, 0u);
  EXPECT_TRUE(empty.states.empty());
}

TEST(DecodeMessageTest, BadElementsAreCountedAndLeftOut) {
  Status invalid = state("bad name!", 7);  // not a valid username
  std::string body = "[" + to_wire_json(state("a", 1)) + ",{\"x\":1}," + to_wire_json(invalid) +
                     ",42," + to_wire_json(state("b", 2)) + "]";
  auto d = decode_message(body);
  EXPECT_EQ(d.bad, 3u);
  ASSERT_EQ(d.states.size(), 2u);
  EXPECT_EQ(d.states[0].username, "a");
  EXPECT_EQ(d.states[1].username, "b");
}

TEST(DecodeMessageTest, MalformedMessagesCountOne) {
  for (std::string body :
       {"", "not json", "[", "[{\"username\":", "{}", "17", "\"x\"", "{\"username\":\"a\"}"}) {
    auto d = decode_message(body);
    EXPECT_EQ(d.bad, 1u) << body;
    EXPECT_TRUE(d.states.empty()) << body;
  }
  // A lone invalid state counts one as well.
  auto d = decode_message(to_wire_json(state("bad name!", 1)));
  EXPECT_EQ(d.bad, 1u);
  EXPECT_TRUE(d.states.empty());
}
