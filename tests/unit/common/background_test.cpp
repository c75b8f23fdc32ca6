// The background-work model: FakeClock, Gate, and PeriodicTask (first run, interval, first delay,
// wake, pause, stop while running, an exception in fn keeps the task alive). Time moves on a
// FakeClock; real waits are only bounded polls for another thread to get somewhere, and the
// short sleeps that show that something does *not* happen.
#include "common/background.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include "../eventually.hpp"

using namespace status::common;
using namespace std::chrono_literals;

using status::test::eventually;

namespace {

/// Long enough for a task polling the fake clock every real millisecond to have run, if it
/// were going to.
constexpr auto kQuiet = 30ms;

/// Waits until the task has finished `runs` runs and parked on the clock again.
void parked(FakeClock& clock, PeriodicTask& t, std::uint64_t runs) {
  ASSERT_TRUE(eventually([&] { return t.runs() == runs && clock.waiters() == 1; }))
      << "runs=" << t.runs() << " waiters=" << clock.waiters();
}

}  // namespace

// ---- FakeClock ----

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock c;
  auto t0 = c.now();
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(c.now(), t0);
  c.advance(1500ms);
  EXPECT_EQ(c.now() - t0, 1500ms);
}

TEST(FakeClockTest, WaitUntilReturnsAtTheFakeDeadlineOrWhenDone) {
  FakeClock c;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  auto deadline = c.now() + 100ms;
  auto waiter = std::async(std::launch::async, [&] {
    std::unique_lock lock(m);
    c.wait_until(lock, cv, deadline, [&] { return done; });
    return c.now() >= deadline;
  });
  ASSERT_TRUE(eventually([&] { return c.waiters() == 1; }));
  EXPECT_EQ(waiter.wait_for(kQuiet), std::future_status::timeout);  // real time does not count
  c.advance(99ms);
  EXPECT_EQ(waiter.wait_for(kQuiet), std::future_status::timeout);
  c.advance(1ms);
  ASSERT_EQ(waiter.wait_for(500ms), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(c.waiters(), 0u);

  // done() ends the wait without the clock moving.
  auto waiter2 = std::async(std::launch::async, [&] {
    std::unique_lock lock(m);
    c.wait_until(lock, cv, c.now() + 1h, [&] { return done; });
    return done;
  });
  ASSERT_TRUE(eventually([&] { return c.waiters() == 1; }));
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  ASSERT_EQ(waiter2.wait_for(500ms), std::future_status::ready);
  EXPECT_TRUE(waiter2.get());
}

// ---- Gate ----

TEST(GateTest, PassesCountAndCloseWaitsForThem) {
  Gate g;
  EXPECT_FALSE(g.closed());
  auto p1 = g.enter();
  auto p2 = g.enter();
  EXPECT_TRUE(p1);
  EXPECT_TRUE(p2);
  EXPECT_EQ(g.inside(), 2u);
  {
    Gate::Pass moved(std::move(p2));
    EXPECT_FALSE(p2);
    EXPECT_TRUE(moved);
    EXPECT_EQ(g.inside(), 2u);  // a move is not a second pass
  }
  EXPECT_EQ(g.inside(), 1u);
  auto closer = std::async(std::launch::async, [&] { g.close_and_wait(); });
  ASSERT_TRUE(eventually([&] { return g.closed(); }));
  EXPECT_EQ(closer.wait_for(kQuiet), std::future_status::timeout);  // p1 still inside
  EXPECT_FALSE(g.enter());                                          // closed: no new work
  EXPECT_EQ(g.inside(), 1u);
  p1 = Gate::Pass();  // move-assigning releases the old pass
  ASSERT_EQ(closer.wait_for(500ms), std::future_status::ready);
  EXPECT_EQ(g.inside(), 0u);
  g.close_and_wait();  // nothing inside: returns at once
}

TEST(GateTest, MoveAssignmentBetweenPasses) {
  Gate g;
  auto a = g.enter();
  auto b = g.enter();
  EXPECT_EQ(g.inside(), 2u);
  a = std::move(b);  // a's pass leaves, b's moves into a
  EXPECT_EQ(g.inside(), 1u);
  EXPECT_TRUE(a);
  EXPECT_FALSE(b);
  auto& self = a;
  a = std::move(self);  // self-assignment keeps the pass
  EXPECT_EQ(g.inside(), 1u);
  EXPECT_TRUE(a);
}

// ---- PeriodicTask ----

TEST(PeriodicTaskTest, FirstRunAtOnceThenEveryInterval) {
  FakeClock clock;
  std::atomic<int> n{0};
  PeriodicTask t(
      "t", 100ms, [&] { ++n; }, clock);
  t.start();
  parked(clock, t, 1);
  EXPECT_EQ(n.load(), 1);
  clock.advance(99ms);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(t.runs(), 1u);
  clock.advance(1ms);
  parked(clock, t, 2);
  clock.advance(100ms);
  parked(clock, t, 3);
  // A jump over several intervals is one run, not a burst of catch-up runs.
  clock.advance(1000ms);
  parked(clock, t, 4);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(t.runs(), 4u);
  t.stop();
  EXPECT_EQ(n.load(), 4);
}

TEST(PeriodicTaskTest, FirstDelay) {
  FakeClock clock;
  PeriodicTask t(
      "t", 100ms, [] {}, clock);
  t.start(250ms);
  ASSERT_TRUE(eventually([&] { return clock.waiters() == 1; }));
  clock.advance(249ms);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(t.runs(), 0u);
  clock.advance(1ms);
  parked(clock, t, 1);
  t.stop();
}

TEST(PeriodicTaskTest, WakeRunsEarlyAndTheIntervalCountsFromThatRun) {
  FakeClock clock;
  PeriodicTask t(
      "t", 100ms, [] {}, clock);
  t.start();
  parked(clock, t, 1);
  clock.advance(40ms);
  t.wake();
  parked(clock, t, 2);  // without the clock reaching the interval
  clock.advance(99ms);  // 139 ms after the first run, 99 after the woken one
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(t.runs(), 2u);
  clock.advance(1ms);
  parked(clock, t, 3);
  t.stop();
}

TEST(PeriodicTaskTest, WakeDuringARunRunsOnceMoreRightAfter) {
  FakeClock clock;
  std::promise<void> entered;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  std::atomic<int> n{0};
  PeriodicTask t(
      "t", 1h,
      [&] {
        if (n++ == 1) {
          entered.set_value();
          release_f.wait();
        }
      },
      clock);
  t.start();
  parked(clock, t, 1);
  t.wake();
  entered.get_future().wait();  // second run in progress
  t.wake();                     // asked again while it runs
  release.set_value();
  parked(clock, t, 3);
  t.stop();
  EXPECT_EQ(n.load(), 3);
}

TEST(PeriodicTaskTest, AnExceptionInFnIsLoggedAndTheTaskCarriesOn) {
  FakeClock clock;
  std::atomic<int> n{0};
  PeriodicTask t(
      "t", 100ms,
      [&] {
        if (n++ == 0) throw std::runtime_error("first run fails");
      },
      clock);
  t.start();
  parked(clock, t, 1);  // the failed run counts as a run
  clock.advance(100ms);
  parked(clock, t, 2);  // and the next one comes at the interval
  EXPECT_EQ(n.load(), 2);
  t.stop();
}

// Regression: an exception that is not a std::exception used to escape the task's thread
// (std::terminate). Run in a child process; it must exit normally after the task survived it.
TEST(PeriodicTaskDeathTest, ANonStdExceptionInFnKeepsTheTaskAlive) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeClock clock;
        std::atomic<int> n{0};
        PeriodicTask t(
            "t", 100ms,
            [&] {
              if (n++ == 0) throw 42;
            },
            clock);
        t.start();
        bool ok = eventually([&] { return t.runs() == 1 && clock.waiters() == 1; });
        t.stop();
        std::_Exit(ok ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(PeriodicTaskTest, StopWaitsForARunInProgressAndEndsTheTask) {
  FakeClock clock;
  std::promise<void> entered;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  std::atomic<bool> finished{false};
  PeriodicTask t(
      "t", 100ms,
      [&] {
        entered.set_value();
        release_f.wait();
        finished = true;
      },
      clock);
  t.start();
  entered.get_future().wait();
  auto stopper = std::async(std::launch::async, [&] { t.stop(); });
  ASSERT_TRUE(eventually([&] { return t.stopping(); }));
  EXPECT_EQ(stopper.wait_for(kQuiet), std::future_status::timeout);  // the run is not cut off
  release.set_value();
  ASSERT_EQ(stopper.wait_for(500ms), std::future_status::ready);
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(t.runs(), 1u);
  // Stopped for good: the clock moving past many intervals runs nothing.
  clock.advance(1000ms);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(t.runs(), 1u);
  t.stop();  // idempotent
}

TEST(PeriodicTaskTest, StopWhileParkedReturnsWithoutTheClockMoving) {
  FakeClock clock;
  PeriodicTask t(
      "t", 1h, [] {}, clock);
  t.start();
  parked(clock, t, 1);
  auto stopper = std::async(std::launch::async, [&] { t.stop(); });
  ASSERT_EQ(stopper.wait_for(500ms), std::future_status::ready);
  EXPECT_EQ(t.runs(), 1u);
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(PeriodicTaskTest, StopBeforeStartAndDestructorWithoutStart) {
  FakeClock clock;
  {
    PeriodicTask t(
        "t", 100ms, [] {}, clock);
    t.stop();
    EXPECT_TRUE(t.stopping());
    EXPECT_EQ(t.runs(), 0u);
  }
  {
    PeriodicTask never(
        "never", 100ms, [] {}, clock);
  }
  SUCCEED();
}

TEST(PeriodicTaskTest, PauseSleepsOnTheTaskClock) {
  FakeClock clock;
  std::atomic<int> pause_result{-1};
  std::atomic<bool> in_pause{false};
  PeriodicTask t(
      "t", 1h,
      [&] {
        in_pause = true;
        pause_result = t.pause(200ms) ? 1 : 0;
        in_pause = false;
      },
      clock);
  t.start();
  ASSERT_TRUE(eventually([&] { return in_pause.load() && clock.waiters() == 1; }));
  clock.advance(199ms);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(pause_result.load(), -1);
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return pause_result.load() == 1; }));
  parked(clock, t, 1);
  // wake() is not a reason to cut a pause short (only stop is).
  pause_result = -1;
  t.wake();
  ASSERT_TRUE(eventually([&] { return in_pause.load() && clock.waiters() == 1; }));
  t.wake();
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(pause_result.load(), -1);
  clock.advance(200ms);
  ASSERT_TRUE(eventually([&] { return pause_result.load() == 1; }));
  t.stop();
}

TEST(PeriodicTaskTest, StopCutsAPauseShort) {
  FakeClock clock;
  std::atomic<int> pause_result{-1};
  std::atomic<bool> saw_stopping{false};
  std::atomic<bool> in_pause{false};
  PeriodicTask t(
      "t", 1h,
      [&] {
        in_pause = true;
        pause_result = t.pause(1h) ? 1 : 0;
        saw_stopping = t.stopping();
      },
      clock);
  t.start();
  ASSERT_TRUE(eventually([&] { return in_pause.load() && clock.waiters() == 1; }));
  auto stopper = std::async(std::launch::async, [&] { t.stop(); });
  ASSERT_EQ(stopper.wait_for(500ms), std::future_status::ready);
  EXPECT_EQ(pause_result.load(), 0);  // false: the task is stopping
  EXPECT_TRUE(saw_stopping.load());
  EXPECT_EQ(t.runs(), 1u);
}

TEST(PeriodicTaskTest, RealClockRunsAndStopsPromptly) {
  std::atomic<int> n{0};
  PeriodicTask t("t", 5ms, [&] { ++n; });
  t.start();
  ASSERT_TRUE(eventually([&] { return n.load() >= 3; }));
  auto start = std::chrono::steady_clock::now();
  t.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
  int after = n.load();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(n.load(), after);
}
