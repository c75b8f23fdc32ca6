// Writes waiting for their outbox row's confirm: answered on confirm, at their deadline (by the
// sweeper, on a fake clock), by release_all and by stop — each exactly once.
#include "node/confirm_waiters.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include "../eventually.hpp"

using namespace status::node;
using namespace std::chrono_literals;

using status::test::eventually;

namespace {

/// Counts how often each seq's callback ran. Declared before the waiters in each test: their
/// destructor answers whoever still waits.
struct Calls {
  std::mutex m;
  std::map<std::int64_t, int> n;
  std::function<void()> of(std::int64_t seq) {
    return [this, seq] {
      std::lock_guard lock(m);
      ++n[seq];
    };
  }
  int count(std::int64_t seq) {
    std::lock_guard lock(m);
    return n.count(seq) ? n[seq] : 0;
  }
  int total() {
    std::lock_guard lock(m);
    int t = 0;
    for (auto& [k, v] : n) t += v;
    return t;
  }
};

}  // namespace

TEST(ConfirmWaitersTest, ConfirmAnswersEveryWaiterUpToIt) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  for (std::int64_t s = 1; s <= 5; ++s) w.wait(s, clock.now(), calls.of(s));
  EXPECT_EQ(w.waiting(), 5u);
  EXPECT_EQ(calls.total(), 0);
  w.confirmed(3);
  EXPECT_EQ(calls.count(1), 1);
  EXPECT_EQ(calls.count(2), 1);
  EXPECT_EQ(calls.count(3), 1);
  EXPECT_EQ(calls.count(4), 0);
  EXPECT_EQ(w.waiting(), 2u);
  // A lower confirm changes nothing.
  w.confirmed(2);
  EXPECT_EQ(calls.total(), 3);
  w.confirmed(10);
  EXPECT_EQ(calls.count(4), 1);
  EXPECT_EQ(calls.count(5), 1);
  EXPECT_EQ(w.waiting(), 0u);
  EXPECT_EQ(w.timeouts(), 0u);
}

TEST(ConfirmWaitersTest, AnAlreadyConfirmedRowIsAnsweredAtOnce) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  w.confirmed(7);
  w.wait(7, clock.now(), calls.of(7));
  w.wait(3, clock.now(), calls.of(3));
  EXPECT_EQ(calls.count(7), 1);
  EXPECT_EQ(calls.count(3), 1);
  EXPECT_EQ(w.waiting(), 0u);
  w.wait(8, clock.now(), calls.of(8));
  EXPECT_EQ(calls.count(8), 0);
  EXPECT_EQ(w.waiting(), 1u);
}

TEST(ConfirmWaitersTest, ExpireAnswersOnlyThosePastTheirDeadline) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  auto t0 = clock.now();
  w.wait(1, t0, calls.of(1));
  w.wait(2, t0 + 300ms, calls.of(2));
  w.wait(3, t0 + 600ms, calls.of(3));
  clock.advance(999ms);
  w.expire();
  EXPECT_EQ(calls.total(), 0);
  clock.advance(1ms);  // exactly at the first deadline
  w.expire();
  EXPECT_EQ(calls.count(1), 1);
  EXPECT_EQ(calls.count(2), 0);
  EXPECT_EQ(w.timeouts(), 1u);
  clock.advance(600ms);  // past 2 and 3
  w.expire();
  EXPECT_EQ(calls.count(2), 1);
  EXPECT_EQ(calls.count(3), 1);
  EXPECT_EQ(w.timeouts(), 3u);
  EXPECT_EQ(w.waiting(), 0u);
  // A late confirm does not answer them a second time.
  w.confirmed(3);
  EXPECT_EQ(calls.total(), 3);
}

TEST(ConfirmWaitersTest, TheDeadlineCountsFromTheCommitNotFromTheWait) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  auto committed = clock.now();
  clock.advance(800ms);
  w.wait(1, committed, calls.of(1));  // registered 800 ms after its commit
  clock.advance(200ms);
  w.expire();
  EXPECT_EQ(calls.count(1), 1);
  // A commit time already past its deadline: answered at the next sweep.
  w.wait(2, clock.now() - 5000ms, calls.of(2));
  EXPECT_EQ(calls.count(2), 0);
  w.expire();
  EXPECT_EQ(calls.count(2), 1);
}

TEST(ConfirmWaitersTest, TheSweeperAnswersLateWaitersOnItsOwn) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(500ms, clock);
  w.start();
  w.wait(1, clock.now(), calls.of(1));
  w.wait(2, clock.now() + 1000ms, calls.of(2));
  // The sweeper parks on the fake clock: nothing happens until it moves.
  ASSERT_TRUE(eventually([&] { return clock.waiters() >= 1; }));
  EXPECT_EQ(calls.total(), 0);
  clock.advance(510ms);
  ASSERT_TRUE(eventually([&] { return calls.count(1) == 1; }));
  EXPECT_EQ(calls.count(2), 0);
  EXPECT_EQ(w.timeouts(), 1u);
  clock.advance(1010ms);
  ASSERT_TRUE(eventually([&] { return calls.count(2) == 1; }));
  EXPECT_EQ(w.timeouts(), 2u);
  w.stop();
  EXPECT_EQ(calls.total(), 2);
}

TEST(ConfirmWaitersTest, ReleaseAllAnswersEveryoneWithoutCountingTimeouts) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  for (std::int64_t s = 1; s <= 4; ++s) w.wait(s, clock.now(), calls.of(s));
  w.release_all();
  EXPECT_EQ(calls.total(), 4);
  EXPECT_EQ(w.waiting(), 0u);
  EXPECT_EQ(w.timeouts(), 0u);
  // Not stopped: new waiters wait again, and the released rows count as unconfirmed.
  w.wait(5, clock.now(), calls.of(5));
  EXPECT_EQ(w.waiting(), 1u);
  w.confirmed(5);
  EXPECT_EQ(calls.count(5), 1);
  EXPECT_EQ(calls.total(), 5);
}

TEST(ConfirmWaitersTest, StopAnswersEveryoneAndLaterWaitsAtOnce) {
  status::common::FakeClock clock;
  Calls calls;
  {
    ConfirmWaiters w(1000ms, clock);
    w.start();
    w.wait(1, clock.now(), calls.of(1));
    w.wait(2, clock.now(), calls.of(2));
    w.stop();
    EXPECT_EQ(calls.count(1), 1);
    EXPECT_EQ(calls.count(2), 1);
    w.wait(3, clock.now(), calls.of(3));
    EXPECT_EQ(calls.count(3), 1);
    EXPECT_EQ(w.waiting(), 0u);
    w.stop();  // idempotent
    w.wait(4, clock.now(), calls.of(4));
  }  // and the destructor answers nobody twice
  EXPECT_EQ(calls.total(), 4);
}

TEST(ConfirmWaitersTest, DestructorAnswersWhoIsStillWaiting) {
  status::common::FakeClock clock;
  Calls calls;
  {
    ConfirmWaiters w(1000ms, clock);
    w.start();
    w.wait(1, clock.now(), calls.of(1));
  }
  EXPECT_EQ(calls.count(1), 1);
}

TEST(ConfirmWaitersTest, CallbacksRunOutsideTheLock) {
  // A callback that calls back into the waiters (as a write's answer path may) must not deadlock.
  status::common::FakeClock clock;
  std::atomic<int> seen{-1};
  std::atomic<bool> expired_cb{false};
  ConfirmWaiters w(1000ms, clock);
  w.wait(1, clock.now(), [&] { seen = static_cast<int>(w.waiting()); });
  w.wait(2, clock.now(), [&] { w.wait(10, clock.now(), [] {}); });
  w.confirmed(2);
  EXPECT_EQ(seen.load(), 0);   // both were taken off before any callback ran
  EXPECT_EQ(w.waiting(), 1u);  // the one added from the callback
  clock.advance(1000ms);
  w.wait(11, clock.now() - 1000ms, [&] { expired_cb = w.waiting() == 0; });
  w.expire();
  EXPECT_TRUE(expired_cb.load());
  w.wait(12, clock.now(), [&] { w.release_all(); });
  w.release_all();
  EXPECT_EQ(w.waiting(), 0u);
}

TEST(ConfirmWaitersTest, ManyThreadsEachAnsweredOnce) {
  status::common::FakeClock clock;
  Calls calls;
  ConfirmWaiters w(1000ms, clock);
  w.start();
  std::vector<std::thread> ts;
  constexpr int kThreads = 4, kEach = 200;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::int64_t seq = t * kEach + i + 1;
        w.wait(seq, clock.now(), calls.of(seq));
      }
    });
  std::thread confirmer([&] {
    for (std::int64_t s = 0; s <= kThreads * kEach; s += 50) w.confirmed(s);
  });
  for (auto& t : ts) t.join();
  confirmer.join();
  w.confirmed(kThreads * kEach);
  EXPECT_EQ(calls.total(), kThreads * kEach);
  for (std::int64_t s = 1; s <= kThreads * kEach; ++s) ASSERT_EQ(calls.count(s), 1) << s;
  w.stop();
  EXPECT_EQ(calls.total(), kThreads * kEach);
}
