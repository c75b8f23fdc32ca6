// The write path's pure rules: preconditions (RFC 9110 §13.1), the stamp and outcome of a local
// write, last-writer-wins for replicated states, the tombstone horizon and the clock-offset cap.
#include "node/write_rules.hpp"

#include <gtest/gtest.h>

using namespace status::node;

namespace {

Status live(std::string user, std::uint64_t hlc, std::string node = "n2") {
  Status s;
  s.username = std::move(user);
  s.text = "text";
  s.time_ms = 1000;
  s.version = {hlc, std::move(node)};
  return s;
}

Status tomb(std::string user, std::uint64_t hlc, std::string node = "n2") {
  Status s;
  s.username = std::move(user);
  s.deleted = true;
  s.version = {hlc, std::move(node)};
  return s;
}

LocalRequest upsert(std::string user, std::string text, Preconditions pre = {}) {
  LocalRequest w;
  w.username = user;
  w.input.username = std::move(user);
  w.input.text = std::move(text);
  w.pre = std::move(pre);
  return w;
}

LocalRequest del(std::string user, Preconditions pre = {}) {
  LocalRequest w;
  w.is_delete = true;
  w.username = std::move(user);
  w.pre = std::move(pre);
  return w;
}

Preconditions if_match(std::vector<std::string> tags) { return {std::move(tags), {}}; }
Preconditions if_none_match(std::vector<std::string> tags) { return {{}, std::move(tags)}; }

constexpr std::int64_t kNow = 1'800'000'000'000;  // wall clock of merge_remote

}  // namespace

// ---- preconditions_hold ----

TEST(PreconditionsTest, NoHeadersAlwaysHold) {
  Status s = live("alice", 5);
  EXPECT_TRUE(preconditions_hold({}, nullptr));
  EXPECT_TRUE(preconditions_hold({}, &s));
}

TEST(PreconditionsTest, IfMatchNeedsALiveRepresentationWithAListedTag) {
  Status s = live("alice", 0x1234, "n1");
  const std::string tag = s.version.str();
  EXPECT_TRUE(preconditions_hold(if_match({tag}), &s));
  EXPECT_TRUE(preconditions_hold(if_match({"other", tag}), &s));
  EXPECT_TRUE(preconditions_hold(if_match({"*"}), &s));
  EXPECT_FALSE(preconditions_hold(if_match({"other"}), &s));
  // Same hlc, other node: a different tag.
  EXPECT_FALSE(preconditions_hold(if_match({Version{0x1234, "n2"}.str()}), &s));
  // No current representation: nothing matches, not even "*".
  EXPECT_FALSE(preconditions_hold(if_match({"*"}), nullptr));
  EXPECT_FALSE(preconditions_hold(if_match({tag}), nullptr));
}

TEST(PreconditionsTest, IfNoneMatchFailsWhenTheCurrentRepresentationIsListed) {
  Status s = live("alice", 0x99, "n1");
  const std::string tag = s.version.str();
  EXPECT_FALSE(preconditions_hold(if_none_match({tag}), &s));
  EXPECT_FALSE(preconditions_hold(if_none_match({"x", tag}), &s));
  EXPECT_FALSE(preconditions_hold(if_none_match({"*"}), &s));
  EXPECT_TRUE(preconditions_hold(if_none_match({"x"}), &s));
  // Nothing here: If-None-Match holds, whatever it lists.
  EXPECT_TRUE(preconditions_hold(if_none_match({"*"}), nullptr));
  EXPECT_TRUE(preconditions_hold(if_none_match({tag}), nullptr));
}

TEST(PreconditionsTest, BothHeadersMustHold) {
  Status s = live("alice", 7, "n1");
  const std::string tag = s.version.str();
  EXPECT_TRUE(preconditions_hold({{tag}, {"other"}}, &s));
  EXPECT_FALSE(preconditions_hold({{tag}, {tag}}, &s));
  EXPECT_FALSE(preconditions_hold({{"other"}, {"other"}}, &s));
}

// ---- local_stamp ----

TEST(LocalStampTest, ClockStampWhenAheadOfTheCurrentVersion) {
  EXPECT_EQ(local_stamp(100, nullptr), 100u);
  Status s = live("alice", 50);
  EXPECT_EQ(local_stamp(100, &s), 100u);
}

TEST(LocalStampTest, AboveTheCurrentVersionWhenTheClockIsNotAhead) {
  Status s = live("alice", 100);
  EXPECT_EQ(local_stamp(100, &s), 101u);  // equal: one above
  Status ahead = live("alice", 5000);
  EXPECT_EQ(local_stamp(100, &ahead), 5001u);
  // A tombstone's stamp counts as well: the re-create must win over the delete everywhere.
  Status t = tomb("alice", 7000);
  EXPECT_EQ(local_stamp(100, &t), 7001u);
}

// ---- decide_local ----

TEST(DecideLocalTest, CreateWhenNothingIsThere) {
  auto w = upsert("alice", "hello");
  w.input.latitude = 1.5;
  w.input.longitude = -2.5;
  const std::uint64_t stamp = (std::uint64_t{1'800'000'000'123} << 16) | 7;
  auto d = decide_local(w, nullptr, stamp, "n1");
  EXPECT_EQ(d.outcome, Outcome::kCreated);
  ASSERT_TRUE(d.next);
  EXPECT_EQ(d.next->username, "alice");
  EXPECT_EQ(d.next->text, "hello");
  EXPECT_FALSE(d.next->deleted);
  EXPECT_EQ(d.next->version, (Version{stamp, "n1"}));
  // No client time: the physical part of the stamp, in ms.
  EXPECT_EQ(d.next->time_ms, 1'800'000'000'123);
  EXPECT_EQ(d.next->latitude, 1.5);
  EXPECT_EQ(d.next->longitude, -2.5);
}

TEST(DecideLocalTest, ClientTimeIsKept) {
  auto w = upsert("alice", "x");
  w.input.time_ms = 42;
  auto d = decide_local(w, nullptr, 1 << 20, "n1");
  ASSERT_TRUE(d.next);
  EXPECT_EQ(d.next->time_ms, 42);
  EXPECT_FALSE(d.next->latitude);
}

TEST(DecideLocalTest, ReplaceALiveStatusCreateOverATombstone) {
  Status cur = live("alice", 10);
  auto d = decide_local(upsert("alice", "new"), &cur, 11, "n1");
  EXPECT_EQ(d.outcome, Outcome::kReplaced);
  ASSERT_TRUE(d.next);
  EXPECT_EQ(d.next->text, "new");
  Status t = tomb("alice", 10);
  auto d2 = decide_local(upsert("alice", "back"), &t, 11, "n1");
  EXPECT_EQ(d2.outcome, Outcome::kCreated);
  ASSERT_TRUE(d2.next);
  EXPECT_FALSE(d2.next->deleted);
}

TEST(DecideLocalTest, DeleteLeavesATombstone) {
  Status cur = live("alice", 10);
  cur.latitude = 1;
  cur.longitude = 2;
  auto d = decide_local(del("alice"), &cur, 11, "n1");
  EXPECT_EQ(d.outcome, Outcome::kDeleted);
  ASSERT_TRUE(d.next);
  EXPECT_TRUE(d.next->deleted);
  EXPECT_EQ(d.next->username, "alice");
  EXPECT_EQ(d.next->version, (Version{11, "n1"}));
  EXPECT_TRUE(d.next->text.empty());
  EXPECT_FALSE(d.next->latitude);
}

TEST(DecideLocalTest, DeleteOfNothingOrOfATombstoneIsNotFound) {
  auto d = decide_local(del("alice"), nullptr, 11, "n1");
  EXPECT_EQ(d.outcome, Outcome::kNotFound);
  EXPECT_FALSE(d.next);
  Status t = tomb("alice", 10);
  auto d2 = decide_local(del("alice"), &t, 11, "n1");
  EXPECT_EQ(d2.outcome, Outcome::kNotFound);
  EXPECT_FALSE(d2.next);
}

TEST(DecideLocalTest, FailedPreconditionStoresNothing) {
  Status cur = live("alice", 10, "n1");
  auto d = decide_local(upsert("alice", "x", if_match({"nope"})), &cur, 11, "n1");
  EXPECT_EQ(d.outcome, Outcome::kPreconditionFailed);
  EXPECT_FALSE(d.next);
  auto d2 = decide_local(del("alice", if_none_match({"*"})), &cur, 11, "n1");
  EXPECT_EQ(d2.outcome, Outcome::kPreconditionFailed);
  EXPECT_FALSE(d2.next);
  // A tombstone is no current representation: If-Match: * fails on it, and it beats NotFound.
  Status t = tomb("alice", 10);
  EXPECT_EQ(decide_local(upsert("alice", "x", if_match({"*"})), &t, 11, "n1").outcome,
            Outcome::kPreconditionFailed);
  EXPECT_EQ(decide_local(del("alice", if_match({"*"})), nullptr, 11, "n1").outcome,
            Outcome::kPreconditionFailed);
  // If-None-Match: * on a tombstone holds: a create.
  EXPECT_EQ(decide_local(upsert("alice", "x", if_none_match({"*"})), &t, 11, "n1").outcome,
            Outcome::kCreated);
  // A matching If-Match replaces.
  EXPECT_EQ(
      decide_local(upsert("alice", "x", if_match({cur.version.str()})), &cur, 11, "n1").outcome,
      Outcome::kReplaced);
}

// ---- merge_remote ----

TEST(MergeRemoteTest, HigherVersionWins) {
  Status cur = live("alice", 10, "n2");
  EXPECT_EQ(merge_remote(live("alice", 11, "n1"), &cur, 0, kNow), Merge::kApply);
  EXPECT_EQ(merge_remote(live("alice", 9, "n9"), &cur, 0, kNow), Merge::kStale);
  EXPECT_EQ(merge_remote(live("alice", 10, "n2"), &cur, 0, kNow), Merge::kStale);  // duplicate
  // Same hlc: the node id breaks the tie, the same way on every node.
  EXPECT_EQ(merge_remote(live("alice", 10, "n3"), &cur, 0, kNow), Merge::kApply);
  EXPECT_EQ(merge_remote(live("alice", 10, "n1"), &cur, 0, kNow), Merge::kStale);
}

TEST(MergeRemoteTest, TombstonesAndLiveStatesCompareAlike) {
  Status cur = live("alice", 10);
  EXPECT_EQ(merge_remote(tomb("alice", 11), &cur, 0, kNow), Merge::kApply);
  EXPECT_EQ(merge_remote(tomb("alice", 9), &cur, 0, kNow), Merge::kStale);
  Status t = tomb("alice", 10);
  EXPECT_EQ(merge_remote(live("alice", 9), &t, 0, kNow), Merge::kStale);
  EXPECT_EQ(merge_remote(live("alice", 11), &t, 0, kNow), Merge::kApply);
}

TEST(MergeRemoteTest, UnknownUserIsApplied) {
  EXPECT_EQ(merge_remote(live("alice", 1), nullptr, 0, kNow), Merge::kApply);
  EXPECT_EQ(merge_remote(tomb("alice", 1), nullptr, 0, kNow), Merge::kApply);
}

TEST(MergeRemoteTest, OnlyTombstonesOfUnknownUsersBelowTheHorizonExpire) {
  EXPECT_EQ(merge_remote(tomb("alice", 99), nullptr, 100, kNow), Merge::kExpired);
  EXPECT_EQ(merge_remote(tomb("alice", 100), nullptr, 100, kNow), Merge::kApply);  // at the horizon
  // A live status is never "expired", however old.
  EXPECT_EQ(merge_remote(live("alice", 1), nullptr, 100, kNow), Merge::kApply);
  // A user that is known: an old but newer tombstone still deletes it.
  Status cur = live("alice", 10);
  EXPECT_EQ(merge_remote(tomb("alice", 20), &cur, 100, kNow), Merge::kApply);
}

TEST(MergeRemoteTest, ExpiredSessionsAreNeverTakenIn) {
  Status session = live("session:abc", 10);
  session.text = "alice";
  session.time_ms = kNow - 1;  // its expiry
  EXPECT_EQ(merge_remote(session, nullptr, 0, kNow), Merge::kExpired);
  Status cur = live("session:abc", 5);
  EXPECT_EQ(merge_remote(session, &cur, 0, kNow), Merge::kExpired);  // even over an older one
  session.time_ms = kNow;
  EXPECT_EQ(merge_remote(session, nullptr, 0, kNow), Merge::kApply);
  // A status whose time is in the past is no session: its time is not an expiry.
  Status old = live("alice", 10);
  old.time_ms = 1;
  EXPECT_EQ(merge_remote(old, nullptr, 0, kNow), Merge::kApply);
  // A session's tombstone follows the tombstone rules.
  Status gone = tomb("session:abc", 10);
  gone.time_ms = 1;
  EXPECT_EQ(merge_remote(gone, &cur, 0, kNow), Merge::kApply);
}

// ---- the tombstone horizon ----

TEST(HorizonTest, StepIsATtlSixteenthClampedToOneSecondAndOneHour) {
  EXPECT_EQ(horizon_step_ms(0), 1000);
  EXPECT_EQ(horizon_step_ms(16'000), 1000);
  EXPECT_EQ(horizon_step_ms(160'000), 10'000);
  EXPECT_EQ(horizon_step_ms(8LL * 24 * 3600 * 1000), 3600 * 1000);  // 12 h → 1 h
  EXPECT_EQ(horizon_step_ms(5'000), 1000);
}

TEST(HorizonTest, ZeroUntilTheTtlHasPassed) {
  EXPECT_EQ(gc_horizon_ms(1000, 5000), 0);
  EXPECT_EQ(gc_horizon_ms(5000, 5000), 0);
  EXPECT_EQ(gc_horizon_ms(-10, 5000), 0);
}

TEST(HorizonTest, WallMinusTtlRoundedDownToTheStep) {
  const std::int64_t ttl = 160'000, step = 10'000;
  EXPECT_EQ(gc_horizon_ms(1'000'000, ttl), 840'000);
  EXPECT_EQ(gc_horizon_ms(1'009'999, ttl), 840'000);
  EXPECT_EQ(gc_horizon_ms(1'010'000, ttl), 850'000);
  // Always a multiple of the step, never above wall − ttl, never a step or more below it;
  // never going backwards as the wall clock advances.
  std::int64_t prev = 0;
  for (std::int64_t wall = 1'700'000'000'000; wall < 1'700'000'000'000 + 50'000; wall += 333) {
    auto h = gc_horizon_ms(wall, ttl);
    EXPECT_EQ(h % step, 0);
    EXPECT_LE(h, wall - ttl);
    EXPECT_GT(h, wall - ttl - step);
    EXPECT_GE(h, prev);
    prev = h;
  }
}

TEST(HorizonTest, ClocksAgreeingWithinASecondMostlyShareTheHorizon) {
  // Two nodes 300 ms apart agree on the horizon except within 300 ms after a step boundary.
  const std::int64_t ttl = 8LL * 24 * 3600 * 1000;
  std::int64_t agree = 0, total = 0;
  for (std::int64_t wall = 1'700'000'000'000; wall < 1'700'000'000'000 + 7'200'000;
       wall += 60'000, ++total)
    agree += gc_horizon_ms(wall, ttl) == gc_horizon_ms(wall + 300, ttl);
  EXPECT_GE(agree, total - 2);
}

TEST(HorizonTest, HlcOfMs) {
  EXPECT_EQ(hlc_of_ms(0), 0u);
  EXPECT_EQ(hlc_of_ms(-5), 0u);
  EXPECT_EQ(hlc_of_ms(1), 1u << 16);
  EXPECT_EQ(hlc_of_ms(1'800'000'000'000), std::uint64_t{1'800'000'000'000} << 16);
}

TEST(MaxAcceptableHlcTest, AnyStampUpToTheOffsetAheadIsAccepted) {
  const std::int64_t wall = 1'800'000'000'000, offset = 1000;
  auto max = max_acceptable_hlc(wall, offset);
  // A stamp made at wall + offset, with any logical counter, is accepted …
  EXPECT_GE(max, hlc_of_ms(wall + offset));
  EXPECT_GE(max, hlc_of_ms(wall + offset) | 0xffff);
  // … one a millisecond later is not.
  EXPECT_LT(max, hlc_of_ms(wall + offset + 1));
  EXPECT_EQ(max, hlc_of_ms(wall + offset + 1) - 1);
}
