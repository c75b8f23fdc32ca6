// The SQLite store: local writes with preconditions, listing, durability across reopen, and
// last-writer-wins application of replicated states.
#include "node/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace status::node;

namespace {

/// A unique temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("store_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

/// Physical time the test moves by hand, so versions do not depend on the wall clock.
struct ManualTime {
  std::shared_ptr<std::atomic<std::uint64_t>> ms =
      std::make_shared<std::atomic<std::uint64_t>>(1'800'000'000'000ULL);
  HybridClock::PhysicalClock fn() const {
    return [m = ms] { return m->load(); };
  }
};

LocalRequest local(StatusInput in, Preconditions pre = {}) {
  LocalRequest w;
  w.username = in.username.value_or("");
  w.input = std::move(in);
  w.pre = std::move(pre);
  return w;
}

LocalRequest local_delete(std::string user, Preconditions pre = {}) {
  LocalRequest w;
  w.is_delete = true;
  w.username = std::move(user);
  w.pre = std::move(pre);
  return w;
}

StatusInput input(std::string user, std::string text, std::optional<std::int64_t> time = {}) {
  StatusInput in;
  in.username = std::move(user);
  in.text = std::move(text);
  in.time_ms = time;
  return in;
}

class StoreTest : public ::testing::Test {
 protected:
  void open(std::string node_id = "n1") {
    store_.reset();
    Store::Options o;
    o.data_dir = dir_.str();
    o.node_id = std::move(node_id);
    store_ = std::make_unique<Store>(o, clock_);
    store_->start();
  }
  void SetUp() override { open(); }

  WriteResult upsert(StatusInput in, Preconditions pre = {}) {
    std::promise<WriteResult> p;
    auto f = p.get_future();
    store_->write(local(std::move(in), std::move(pre)), [&p](WriteResult r) { p.set_value(std::move(r)); });
    return f.get();
  }
  WriteResult remove(std::string u, Preconditions pre = {}) {
    std::promise<WriteResult> p;
    auto f = p.get_future();
    store_->write(local_delete(std::move(u), std::move(pre)),
                  [&p](WriteResult r) { p.set_value(std::move(r)); });
    return f.get();
  }
  std::int64_t apply(std::vector<Status> states) {
    std::promise<std::int64_t> p;
    auto f = p.get_future();
    store_->apply(std::move(states), [&p](ApplyResult r) { p.set_value(r.failed ? -1 : r.applied); });
    return f.get();
  }

  TempDir dir_;
  ManualTime time_;
  HybridClock clock_{time_.fn()};
  std::unique_ptr<Store> store_;
};

/// An HLC stamp `n` ticks after the test's start time (tombstones far older than the tombstone
/// TTL are dropped on apply, so stamps must look like recent ones).
constexpr std::uint64_t stamp(std::uint64_t n) { return (1'800'000'000'000ULL << 16) + n; }

Status remote(std::string user, std::string text, std::uint64_t n, std::string node = "n2",
              std::int64_t time_ms = 1'800'000'000'000) {
  Status s;
  s.username = std::move(user);
  s.text = std::move(text);
  s.time_ms = time_ms;
  s.version = {stamp(n), std::move(node)};
  return s;
}

Status tombstone(std::string user, std::uint64_t n, std::string node = "n2") {
  Status s;
  s.username = std::move(user);
  s.deleted = true;
  s.version = {stamp(n), std::move(node)};
  return s;
}

}  // namespace

TEST_F(StoreTest, UpsertCreatesThenReplaces) {
  auto r1 = upsert(input("alice", "one"));
  ASSERT_EQ(r1.outcome, Outcome::kCreated);
  EXPECT_EQ(r1.status.username, "alice");
  EXPECT_EQ(r1.status.version.node, "n1");
  EXPECT_NE(r1.api_json.find("\"statusText\":\"one\""), std::string::npos);
  auto r2 = upsert(input("alice", "two"));
  ASSERT_EQ(r2.outcome, Outcome::kReplaced);
  EXPECT_GT(r2.status.version, r1.status.version);
  auto e = store_->get("alice");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status.text, "two");
  EXPECT_EQ(e->etag(), "\"" + r2.status.version.str() + "\"");
  EXPECT_EQ(store_->live_count(), 1u);
  EXPECT_FALSE(store_->get("bob"));
}

TEST_F(StoreTest, TimeDefaultsToServerTimeOfTheWrite) {
  auto r = upsert(input("alice", "x"));
  EXPECT_EQ(r.status.time_ms, static_cast<std::int64_t>(time_.ms->load()));
  auto r2 = upsert(input("bob", "x", 1234));
  EXPECT_EQ(r2.status.time_ms, 1234);
}

TEST_F(StoreTest, DeleteLeavesTombstone) {
  upsert(input("alice", "x"));
  auto d = remove("alice");
  ASSERT_EQ(d.outcome, Outcome::kDeleted);
  EXPECT_TRUE(d.status.deleted);
  EXPECT_FALSE(store_->get("alice"));
  EXPECT_EQ(store_->live_count(), 0u);
  EXPECT_EQ(store_->tombstone_count(), 1u);
  EXPECT_EQ(store_->index().list(0, 10).total, 0u);
  auto snap = store_->index().snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_TRUE(snap[0].deleted);
  EXPECT_EQ(remove("alice").outcome, Outcome::kNotFound);
  EXPECT_EQ(remove("nobody").outcome, Outcome::kNotFound);
  // Re-creating after a delete is a create, with a later version than the tombstone.
  auto r = upsert(input("alice", "back"));
  EXPECT_EQ(r.outcome, Outcome::kCreated);
  EXPECT_GT(r.status.version, d.status.version);
  EXPECT_EQ(store_->tombstone_count(), 0u);
}

TEST_F(StoreTest, IfMatch) {
  auto r = upsert(input("alice", "x"));
  std::string v = r.status.version.str();
  EXPECT_EQ(upsert(input("alice", "y"), {{"0000000000000001.zz"}, {}}).outcome,
            Outcome::kPreconditionFailed);
  EXPECT_EQ(store_->get("alice")->status.text, "x");
  auto ok = upsert(input("alice", "y"), {{"bogus", v}, {}});
  EXPECT_EQ(ok.outcome, Outcome::kReplaced);
  // The old tag no longer matches.
  EXPECT_EQ(remove("alice", {{v}, {}}).outcome, Outcome::kPreconditionFailed);
  EXPECT_TRUE(store_->get("alice"));
  // "*" matches any existing status, but not a missing one.
  EXPECT_EQ(upsert(input("alice", "z"), {{"*"}, {}}).outcome, Outcome::kReplaced);
  EXPECT_EQ(upsert(input("carol", "z"), {{"*"}, {}}).outcome, Outcome::kPreconditionFailed);
  EXPECT_FALSE(store_->get("carol"));
  EXPECT_EQ(remove("alice", {{store_->get("alice")->status.version.str()}, {}}).outcome,
            Outcome::kDeleted);
}

TEST_F(StoreTest, IfNoneMatch) {
  EXPECT_EQ(upsert(input("alice", "x"), {{}, {"*"}}).outcome, Outcome::kCreated);
  EXPECT_EQ(upsert(input("alice", "y"), {{}, {"*"}}).outcome, Outcome::kPreconditionFailed);
  EXPECT_EQ(store_->get("alice")->status.text, "x");
  std::string v = store_->get("alice")->status.version.str();
  EXPECT_EQ(upsert(input("alice", "y"), {{}, {v}}).outcome, Outcome::kPreconditionFailed);
  EXPECT_EQ(upsert(input("alice", "y"), {{}, {"0000000000000001.zz"}}).outcome, Outcome::kReplaced);
  // A tombstone is no current representation: If-None-Match: * succeeds after a delete.
  remove("alice");
  EXPECT_EQ(upsert(input("alice", "again"), {{}, {"*"}}).outcome, Outcome::kCreated);
}

TEST_F(StoreTest, ConcurrentIfMatchWritesOnlyOneWins) {
  // Queued together they land in one batch: the second must see the first's new version.
  std::string v = upsert(input("alice", "x")).status.version.str();
  std::vector<std::future<WriteResult>> fs;
  for (int i = 0; i < 8; ++i) {
    auto p = std::make_shared<std::promise<WriteResult>>();
    fs.push_back(p->get_future());
    store_->write(local(input("alice", "w" + std::to_string(i)), {{v}, {}}),
                   [p](WriteResult r) { p->set_value(std::move(r)); });
  }
  int replaced = 0, failed = 0;
  for (auto& f : fs) {
    auto o = f.get().outcome;
    replaced += o == Outcome::kReplaced;
    failed += o == Outcome::kPreconditionFailed;
  }
  EXPECT_EQ(replaced, 1);
  EXPECT_EQ(failed, 7);
}

TEST_F(StoreTest, ListNewestFirstWithPaging) {
  // Times out of insertion order; the list follows the status time, not the write order.
  upsert(input("a", "x", 3000));
  upsert(input("b", "x", 1000));
  upsert(input("c", "x", 5000));
  upsert(input("d", "x", 2000));
  upsert(input("e", "x", 4000));
  auto page = store_->index().list(0, 100);
  EXPECT_EQ(page.total, 5u);
  std::vector<std::string> users;
  for (const auto& j : page.items) users.push_back(j.substr(13, 1));  // {"username":"X"
  EXPECT_EQ(users, (std::vector<std::string>{"c", "e", "a", "d", "b"}));
  auto p2 = store_->index().list(1, 2);
  EXPECT_EQ(p2.total, 5u);
  ASSERT_EQ(p2.items.size(), 2u);
  EXPECT_EQ(p2.items[0], page.items[1]);
  EXPECT_EQ(p2.items[1], page.items[2]);
  EXPECT_EQ(store_->index().list(4, 10).items.size(), 1u);
  EXPECT_TRUE(store_->index().list(5, 10).items.empty());
  EXPECT_TRUE(store_->index().list(1000, 10).items.empty());
  // Moving a status in time re-sorts it; deleting removes it from the listing.
  upsert(input("b", "x", 9000));
  EXPECT_EQ(store_->index().list(0, 1).items[0].substr(13, 1), "b");
  remove("c");
  EXPECT_EQ(store_->index().list(0, 100).total, 4u);
  // Equal times: a stable order, every entry exactly once.
  upsert(input("y", "x", 100));
  upsert(input("x", "x", 100));
  auto all = store_->index().list(0, 100);
  EXPECT_EQ(all.items.size(), 6u);
}

TEST_F(StoreTest, ReopenBringsEverythingBack) {
  auto a = upsert(input("alice", "hello €", 1111));
  StatusInput geo = input("bob", "geo");
  geo.latitude = 48.2082;
  geo.longitude = -16.3738;
  auto b = upsert(geo);
  upsert(input("carol", "gone"));
  auto c = remove("carol");
  for (int i = 0; i < 200; ++i) upsert(input("u" + std::to_string(i), "t" + std::to_string(i)));
  std::string node = store_->node_id();
  auto digest = store_->index().digest(16);

  open("");  // no explicit id: the persisted one
  EXPECT_EQ(store_->node_id(), node);
  // Never marked complete (no node ran a bootstrap): it would start over, not serve.
  EXPECT_EQ(store_->sync_state(), SyncState::kBootstrap);
  EXPECT_EQ(store_->live_count(), 202u);
  EXPECT_EQ(store_->tombstone_count(), 1u);
  EXPECT_EQ(store_->index().digest(16), digest);
  auto ea = store_->get("alice");
  ASSERT_TRUE(ea);
  EXPECT_EQ(ea->status.text, "hello €");
  EXPECT_EQ(ea->status.time_ms, 1111);
  EXPECT_EQ(ea->status.version, a.status.version);
  EXPECT_EQ(ea->api_json(), a.api_json);
  auto eb = store_->get("bob");
  ASSERT_TRUE(eb);
  EXPECT_EQ(eb->status.latitude, 48.2082);
  EXPECT_EQ(eb->status.longitude, -16.3738);
  EXPECT_FALSE(store_->get("carol"));
  // The clock never stamps below what was stored, even if the wall clock went back.
  time_.ms->store(1'000'000'000'000ULL);
  HybridClock fresh(time_.fn());
  Store::Options o;
  o.data_dir = dir_.str();
  store_.reset();
  store_ = std::make_unique<Store>(o, fresh);
  store_->start();
  auto r = upsert(input("alice", "later"));
  EXPECT_GT(r.status.version, c.status.version);
  store_.reset();  // before `fresh` goes away
}

TEST_F(StoreTest, GeneratedNodeIdIsPersisted) {
  TempDir other;
  Store::Options o;
  o.data_dir = other.str();
  std::string id;
  {
    Store s(o, clock_);
    id = s.node_id();
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(s.sync_state(), SyncState::kBootstrap);
  }
  Store again(o, clock_);
  EXPECT_EQ(again.node_id(), id);
}

TEST_F(StoreTest, ApplyLastWriterWins) {
  EXPECT_EQ(apply({remote("alice", "v10", 10)}), 1);
  EXPECT_EQ(store_->get("alice")->status.text, "v10");
  // Older version: ignored.
  EXPECT_EQ(apply({remote("alice", "v5", 5)}), 0);
  EXPECT_EQ(store_->get("alice")->status.text, "v10");
  // Same version twice: nothing changes.
  auto before = store_->index().digest(8);
  EXPECT_EQ(apply({remote("alice", "v10-dup", 10)}), 0);
  EXPECT_EQ(store_->get("alice")->status.text, "v10");
  EXPECT_EQ(store_->index().digest(8), before);
  // Same hlc, tie broken by node id.
  EXPECT_EQ(apply({remote("alice", "tie-n1", 10, "n1")}), 0);  // "n1" < "n2"
  EXPECT_EQ(apply({remote("alice", "tie-n3", 10, "n3")}), 1);
  EXPECT_EQ(store_->get("alice")->status.text, "tie-n3");
  // Newer wins.
  EXPECT_EQ(apply({remote("alice", "v20", 20)}), 1);
  EXPECT_EQ(store_->get("alice")->status.text, "v20");
  // Within one batch, order does not matter: the newest stays.
  EXPECT_EQ(apply({remote("bob", "b30", 30), remote("bob", "b25", 25)}), 1);
  EXPECT_EQ(store_->get("bob")->status.text, "b30");
}

TEST_F(StoreTest, DeleteNotUndoneByOlderUpdate) {
  apply({remote("alice", "v10", 10)});
  EXPECT_EQ(apply({tombstone("alice", 20)}), 1);
  EXPECT_FALSE(store_->get("alice"));
  EXPECT_EQ(store_->tombstone_count(), 1u);
  EXPECT_EQ(apply({remote("alice", "late", 15)}), 0);
  EXPECT_FALSE(store_->get("alice"));
  // An older tombstone does not delete a newer status either.
  EXPECT_EQ(apply({remote("alice", "v30", 30)}), 1);
  EXPECT_EQ(apply({tombstone("alice", 25)}), 0);
  ASSERT_TRUE(store_->get("alice"));
  EXPECT_EQ(store_->get("alice")->status.text, "v30");
  // A tombstone for an unknown user is remembered, so the older write arriving later loses.
  EXPECT_EQ(apply({tombstone("ghost", 100)}), 1);
  EXPECT_EQ(apply({remote("ghost", "old", 50)}), 0);
  EXPECT_FALSE(store_->get("ghost"));
}

TEST_F(StoreTest, TombstonesOlderThanTheTtlAreNotRecorded) {
  // A delete of a user this node never knew, older than the tombstone TTL (7 days), is dropped:
  // every live copy it could hide is older still and long replaced or deleted.
  Status old = tombstone("ancient", 0);
  old.version.hlc = (1'000'000'000'000ULL << 16);
  EXPECT_EQ(apply({old}), 0);
  EXPECT_EQ(store_->tombstone_count(), 0u);
  // A recent one is kept.
  EXPECT_EQ(apply({tombstone("recent", 1)}), 1);
  EXPECT_EQ(store_->tombstone_count(), 1u);
}

TEST_F(StoreTest, ApplyTombstonesSurviveReopen) {
  apply({remote("alice", "v10", 10), tombstone("bob", 11)});
  open("n1");
  EXPECT_TRUE(store_->get("alice"));
  EXPECT_EQ(store_->tombstone_count(), 1u);
  EXPECT_EQ(apply({remote("bob", "older", 5)}), 0);
  EXPECT_FALSE(store_->get("bob"));
}

TEST_F(StoreTest, LocalWritesOrderAfterObservedRemoteStamps) {
  const std::uint64_t ahead = 800ULL << 16;  // a peer clock 0.8 s ahead: within the offset
  const std::uint64_t far = stamp(ahead);
  apply({remote("alice", "remote", ahead)});
  auto r = upsert(input("alice", "local"));
  EXPECT_EQ(r.outcome, Outcome::kReplaced);
  EXPECT_GT(r.status.version.hlc, far);
  EXPECT_EQ(store_->get("alice")->status.text, "local");
}

TEST_F(StoreTest, StampsTooFarAheadAreRefusedAndDoNotMoveTheClock) {
  const std::uint64_t hour = 3'600'000ULL << 16;  // a peer clock an hour ahead of ours
  std::promise<ApplyResult> p;
  auto f = p.get_future();
  store_->apply({remote("alice", "future", hour), remote("bob", "now", 1)},
                [&p](ApplyResult r) { p.set_value(r); });
  auto r = f.get();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(r.rejected, 1);
  EXPECT_FALSE(store_->get("alice"));
  EXPECT_EQ(store_->rejected(), 1u);
  auto w = upsert(input("carol", "local"));
  EXPECT_LT(w.status.version.hlc, stamp(hour));  // the clock did not follow the refused stamp
}

TEST_F(StoreTest, DigestEqualForEqualStatesDifferentOtherwise) {
  TempDir d2;
  Store::Options o;
  o.data_dir = d2.str();
  o.node_id = "n9";
  HybridClock c2(time_.fn());
  Store other(o, c2);
  other.start();
  auto apply_to = [](Store& s, std::vector<Status> v) {
    std::promise<std::int64_t> p;
    auto f = p.get_future();
    s.apply(std::move(v), [&p](ApplyResult r) { p.set_value(r.applied); });
    return f.get();
  };
  std::vector<Status> states = {remote("a", "1", 1), remote("b", "2", 2, "n3"), tombstone("c", 3)};
  apply(states);
  // Same states, other order, other store.
  apply_to(other, {states[2], states[0], states[1]});
  EXPECT_EQ(store_->index().digest(64), other.index().digest(64));
  EXPECT_EQ(store_->index().digest(1), other.index().digest(1));
  // A newer version of one user changes exactly its bucket.
  apply_to(other, {remote("a", "1", 4)});
  auto d1 = store_->index().digest(64), d2v = other.index().digest(64);
  EXPECT_NE(d1, d2v);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < d1.size(); ++i) differing += d1[i] != d2v[i];
  EXPECT_EQ(differing, 1u);
  EXPECT_NE(d1[StatusIndex::slot_of("a", 64)], d2v[StatusIndex::slot_of("a", 64)]);
  // Same hlc, other node: different.
  apply({remote("a", "1", 4, "n0")});
  EXPECT_NE(store_->index().digest(64), other.index().digest(64));
  apply({remote("a", "1", 4, "n2")});
  // Same status now, but not the same history: store_ saw a@1, a@4.n0 and a@4.n1 go by.
  EXPECT_NE(store_->index().digest(64), other.index().digest(64));
  apply_to(other, {remote("a", "1", 4, "n0"), remote("a", "1", 4, "n2")});
  apply_to(other, {remote("a", "1", 1)});
  EXPECT_EQ(store_->index().digest(64), other.index().digest(64));
  // A tombstone differs from a live status with the same version.
  apply({remote("z", "live", 7)});
  apply_to(other, {tombstone("z", 7)});
  EXPECT_NE(store_->index().digest(64), other.index().digest(64));
  // The bucket holds what the digest covers.
  auto bucket = store_->index().bucket(StatusIndex::slot_of("z", 64), 64);
  EXPECT_TRUE(std::any_of(bucket.begin(), bucket.end(), [](const Status& s) { return s.username == "z"; }));
  // Several buckets in one pass: exactly the union.
  auto both = store_->index().buckets({StatusIndex::slot_of("z", 64), StatusIndex::slot_of("b", 64)}, 64);
  std::size_t expected = bucket.size();
  if (StatusIndex::slot_of("b", 64) != StatusIndex::slot_of("z", 64))
    expected += store_->index().bucket(StatusIndex::slot_of("b", 64), 64).size();
  EXPECT_EQ(both.size(), expected);
  other.stop();
}

// Under a steady write load a passive checkpoint never reaches the WAL's end, so SQLite never
// rewinds the WAL by itself; checkpoint() has the writer rewind it between two batches, which
// keeps the WAL file to what one round appends. The rounds are counted in batches, not in time
// (the maintenance thread's 250 ms, a sleep here), so that a slow, shared machine measures the
// same: ~5 MB with a checkpoint every 25 batches; without checkpoint() the same writes grow the
// WAL to SQLite's 64 MiB backstop and beyond (~68 MB).
TEST_F(StoreTest, CheckpointKeepsTheWalSmallUnderSteadyWrites) {
  constexpr int kBatches = 3000, kPerRound = 25;
  std::atomic<bool> done{false};
  std::atomic<int> batches{0};
  std::atomic<int> checkpointed{0};  // batches written when the last checkpoint ended
  std::thread writer([&] {
    std::mt19937 rng(7);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int n = 0; n < kBatches && std::chrono::steady_clock::now() < end; ++n) {
      // A round is a round on a loaded machine too: the writer does not run more than two
      // rounds ahead of the checkpoints (it would when the scheduler starves their thread).
      while (batches - checkpointed >= 2 * kPerRound && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::vector<Status> batch;
      for (int i = 0; i < 25; ++i) {
        // Rewrites of 20,000 users whose history is erased each time (a purge, as an account
        // deletion makes): a user's row would otherwise grow with its history, and the WAL
        // with it, which is not what this test measures.
        auto user = "user" + std::to_string(rng() % 20000);
        std::uint64_t n2 = 10 + (static_cast<std::uint64_t>(n) * 50 + i) * 2;
        Status purge = tombstone(user, n2);
        purge.purge = true;
        batch.push_back(purge);
        batch.push_back(remote(user, "text", n2 + 1));
      }
      apply(std::move(batch));
      ++batches;
    }
    done = true;
  });
  // The checkpoints run beside the writer (as the maintenance thread's do), one per round.
  for (int next = kPerRound; !done;) {
    if (batches < next) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    store_->checkpoint();
    checkpointed = batches.load();
    next = batches + kPerRound;
  }
  writer.join();
  auto wal = std::filesystem::file_size(dir_.str() + "/status.db-wal");
  auto db = std::filesystem::file_size(dir_.str() + "/status.db");
  EXPECT_EQ(batches.load(), kBatches);
  EXPECT_LT(wal, 24u << 20) << "WAL " << wal << " bytes, database " << db << " bytes, "
                                      << batches.load() << " batches";
}

// A reopened store reads its node id from the meta table; that read must not leave a statement
// (and with it a read transaction) open, or no checkpoint could ever rewind the WAL again.
TEST_F(StoreTest, TheWalIsRewoundAfterAReopenToo) {
  upsert(input("alice", "x"));
  open("n1");  // meta("node_id") now finds a row
  for (int round = 0; round < 20; ++round) {
    std::vector<Status> batch;
    for (int i = 0; i < 200; ++i)
      batch.push_back(remote("user" + std::to_string(i), std::string(400, 'x'), 10 + round * 200 + i));
    apply(std::move(batch));
    store_->checkpoint();
    store_->barrier();
  }
  auto wal = std::filesystem::file_size(dir_.str() + "/status.db-wal");
  EXPECT_LT(wal, 4u << 20) << "WAL " << wal << " bytes after 4,000 writes";
}

// Bucket counts dividing StatusIndex::kDigestSlots are folded from sums kept up to date on every
// change; other counts are computed by a pass over every status. Both must agree in total,
// after overwrites, deletes, tombstones and a reopen.
TEST_F(StoreTest, IncrementalDigestMatchesAFullPass) {
  auto total = [](const std::vector<std::uint64_t>& d) {
    std::uint64_t t = 0;
    for (auto v : d) t += v;
    return t;
  };
  auto check = [&] {
    auto folded = store_->index().digest(1024);
    EXPECT_EQ(total(folded), store_->index().digest(1)[0]);
    EXPECT_EQ(total(folded), total(store_->index().digest(3)));     // full pass
    EXPECT_EQ(total(folded), total(store_->index().digest(1000)));  // full pass
  };
  for (int i = 0; i < 50; ++i) apply({remote("user" + std::to_string(i), "t", 10 + i)});
  check();
  for (int i = 0; i < 50; i += 3) apply({remote("user" + std::to_string(i), "newer", 100 + i)});
  for (int i = 1; i < 50; i += 7) apply({tombstone("user" + std::to_string(i), 200 + i)});
  check();
  auto before = store_->index().digest(1024);
  open();
  EXPECT_EQ(store_->index().digest(1024), before);
  check();
}

TEST_F(StoreTest, ChangeListenerSeesEveryAppliedChange) {
  std::vector<Change> seen;
  std::mutex m;
  store_.reset();
  Store::Options o;
  o.data_dir = dir_.str();
  o.node_id = "n1";
  store_ = std::make_unique<Store>(o, clock_);
  store_->set_change_listener([&](const std::vector<Change>& cs) {
    std::lock_guard lock(m);
    seen.insert(seen.end(), cs.begin(), cs.end());
  });
  store_->start();
  upsert(input("alice", "x"));
  upsert(input("alice", "x"), {{"nomatch"}, {}});  // failed precondition: no change
  remove("alice");
  apply({remote("bob", "b", 5)});
  apply({remote("bob", "older", 4)});  // older: only joins bob's history, nobody's event
  apply({remote("bob", "older", 4)});  // a duplicate: no change at all
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].what, Change::What::kHistory);
  EXPECT_FALSE(seen[0].status.deleted);
  EXPECT_FALSE(seen[0].api_json.empty());
  EXPECT_TRUE(seen[1].status.deleted);
  EXPECT_EQ(seen[2].status.username, "bob");
}

TEST_F(StoreTest, ConcurrentWritersAllCommitted) {
  constexpr int kThreads = 4, kPerThread = 250;
  std::atomic<int> created{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::vector<std::future<WriteResult>> fs;
      for (int i = 0; i < kPerThread; ++i) {
        auto p = std::make_shared<std::promise<WriteResult>>();
        fs.push_back(p->get_future());
        store_->write(local(input("t" + std::to_string(t) + "_" + std::to_string(i), "x")),
                       [p](WriteResult r) { p->set_value(std::move(r)); });
      }
      for (auto& f : fs)
        if (f.get().outcome == Outcome::kCreated) ++created;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(created.load(), kThreads * kPerThread);
  EXPECT_EQ(store_->live_count(), static_cast<std::size_t>(kThreads * kPerThread));
  open("n1");
  EXPECT_EQ(store_->live_count(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST_F(StoreTest, OutboxRecordsLocalChangesOnly) {
  store_.reset();
  Store::Options o;
  o.data_dir = dir_.str();
  o.node_id = "n1";
  o.outbox = true;
  store_ = std::make_unique<Store>(o, clock_);
  store_->start();
  auto r = upsert(input("alice", "x"));
  EXPECT_GT(r.outbox_seq, 0);
  apply({remote("bob", "b", 5)});
  EXPECT_EQ(store_->outbox_size(), 1u);
  auto rows = OutboxReader(store_->db_path()).pending(0, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(from_wire_json(rows[0].payload)->username, "alice");
  store_->outbox_delete_upto(rows[0].seq);
  store_->barrier();
  EXPECT_TRUE(OutboxReader(store_->db_path()).pending(0, 10).empty());
  EXPECT_EQ(store_->outbox_size(), 0u);
}

TEST_F(StoreTest, CollectTombstonesForgetsOnlyThoseOlderThanTheTtl) {
  upsert(input("old", "x"));
  upsert(input("recent", "y"));
  upsert(input("alive", "z"));
  remove("old");
  time_.ms->fetch_add(9LL * 24 * 3600 * 1000);  // past the default 8-day TTL
  remove("recent");
  store_->collect_tombstones();
  store_->checkpoint();
  auto names = [&] {
    std::set<std::string> out;
    for (const auto& s : store_->index().snapshot()) out.insert(s.username);
    return out;
  };
  EXPECT_EQ(names(), (std::set<std::string>{"recent", "alive"}));
  EXPECT_EQ(store_->tombstone_count(), 1u);
  open();  // and in SQLite too
  EXPECT_EQ(names(), (std::set<std::string>{"recent", "alive"}));
}

// ---- batches: a batch commits whole or fails whole; every item is answered ----
//
// Failures are real SQLite failures: a trigger (installed from a second connection) that
// refuses one username, or a second connection holding the write lock. Items queued before
// start() are taken by the writer as one batch.

namespace {

/// Runs SQL on a connection of its own (as an operator's sqlite3 shell would).
void exec_sql(const std::string& path, const std::string& sql) {
  Db db(path);
  db.exec(sql);
}

std::string poison_trigger(const std::string& raise = "FAIL") {
  // The store writes with INSERT OR REPLACE: a BEFORE INSERT trigger fires for it.
  return "CREATE TRIGGER boom BEFORE INSERT ON statuses WHEN NEW.username='boom' "
         "BEGIN SELECT RAISE(" +
         raise + ",'boom'); END;";
}

std::future<WriteResult> queue_write(Store& s, LocalRequest w) {
  auto p = std::make_shared<std::promise<WriteResult>>();
  auto f = p->get_future();
  s.write(std::move(w), [p](WriteResult r) { p->set_value(std::move(r)); });
  return f;
}

std::future<ApplyResult> queue_apply(Store& s, std::vector<Status> states) {
  auto p = std::make_shared<std::promise<ApplyResult>>();
  auto f = p->get_future();
  s.apply(std::move(states), [p](ApplyResult r) { p->set_value(r); });
  return f;
}

std::future<ApplyResult> queue_page(Store& s, std::vector<Status> states, std::size_t first,
                                    std::size_t last, std::optional<std::uint64_t> before) {
  auto p = std::make_shared<std::promise<ApplyResult>>();
  auto f = p->get_future();
  s.apply_page(std::move(states), first, last, before, [p](ApplyResult r) { p->set_value(r); });
  return f;
}

/// Every answer comes, and comes in bounded time (a lost answer fails instead of hanging).
template <class T>
T answer(std::future<T>& f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within " << limit.count() << " ms";
    return T{};
  }
  return f.get();
}

std::set<std::string> usernames(const Store& s) {
  std::set<std::string> out;
  for (const auto& st : s.index().snapshot()) out.insert(st.username);
  return out;
}

}  // namespace

class StoreBatchTest : public StoreTest {
 protected:
  void SetUp() override {}  // each test opens the store it needs

  Store::Options options(bool outbox = true) {
    Store::Options o;
    o.data_dir = dir_.str();
    o.node_id = "n1";
    o.outbox = outbox;
    return o;
  }
  /// Creates the schema, installs `trigger_sql` from another connection, and opens the store
  /// again without starting its writer (so that what is queued next lands in one batch).
  void open_poisoned(bool outbox = true, const std::string& trigger_sql = poison_trigger()) {
    store_.reset();
    { Store schema(options(outbox), clock_); }
    exec_sql(dir_.str() + "/status.db", trigger_sql);
    store_ = std::make_unique<Store>(options(outbox), clock_);
  }
  void open_unstarted(bool outbox = true) {
    store_.reset();
    store_ = std::make_unique<Store>(options(outbox), clock_);
  }
};

TEST_F(StoreBatchTest, APoisonedWriteFailsAloneTheRestOfItsBatchCommits) {
  open_poisoned();
  std::vector<Change> changes;
  store_->set_change_listener(
      [&](const std::vector<Change>& cs) { changes.insert(changes.end(), cs.begin(), cs.end()); });
  auto a = queue_write(*store_, local(input("a", "x")));
  auto boom = queue_write(*store_, local(input("boom", "x")));
  auto b = queue_write(*store_, local(input("b", "x")));
  auto c = queue_write(*store_, local(input("c", "x")));
  store_->start();
  auto ra = answer(a), rboom = answer(boom), rb = answer(b), rc = answer(c);
  EXPECT_EQ(ra.outcome, Outcome::kCreated);
  EXPECT_EQ(rb.outcome, Outcome::kCreated);
  EXPECT_EQ(rc.outcome, Outcome::kCreated);
  EXPECT_EQ(rboom.outcome, Outcome::kFailed);
  EXPECT_EQ(rboom.outbox_seq, 0);
  EXPECT_EQ(store_->failures(), 1u);
  EXPECT_EQ(store_->commits(), 3u);
  EXPECT_FALSE(store_->storage_failing());  // an item's fault, not the disk's
  EXPECT_FALSE(store_->get("boom"));
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"a", "b", "c"}));
  // Nothing of the failed item reached the event stream or the outbox.
  store_->barrier();
  std::set<std::string> changed;
  for (const auto& ch : changes) changed.insert(ch.status.username);
  EXPECT_EQ(changed, (std::set<std::string>{"a", "b", "c"}));
  auto rows = OutboxReader(store_->db_path()).pending(0, 100);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(store_->outbox_size(), 3u);
  std::set<std::int64_t> seqs{ra.outbox_seq, rb.outbox_seq, rc.outbox_seq};
  for (const auto& r : rows) {
    EXPECT_TRUE(seqs.count(r.seq)) << r.seq;
    EXPECT_NE(from_wire_json(r.payload)->username, "boom");
  }
  // And in SQLite: exactly the three.
  open("n1");
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"a", "b", "c"}));
}

TEST_F(StoreBatchTest, EveryKindOfRaiseIsIsolated) {
  // ABORT and ROLLBACK fail the statement the same way; ROLLBACK also ends the transaction
  // inside SQLite (the store must notice and not commit half a batch in autocommit mode).
  for (std::string kind : {"ABORT", "ROLLBACK", "FAIL"}) {
    SCOPED_TRACE(kind);
    TempDir d;
    Store::Options o = options();
    o.data_dir = d.str();
    { Store schema(o, clock_); }
    exec_sql(d.str() + "/status.db", poison_trigger(kind));
    {
      Store s(o, clock_);
      auto a = queue_write(s, local(input("a", "x")));
      auto boom = queue_write(s, local(input("boom", "x")));
      auto b = queue_write(s, local(input("b", "x")));
      s.start();
      EXPECT_EQ(answer(a).outcome, Outcome::kCreated);
      EXPECT_EQ(answer(boom).outcome, Outcome::kFailed);
      EXPECT_EQ(answer(b).outcome, Outcome::kCreated);
    }
    Store again(o, clock_);
    std::set<std::string> names;
    for (const auto& st : again.index().snapshot()) names.insert(st.username);
    EXPECT_EQ(names, (std::set<std::string>{"a", "b"}));
  }
}

TEST_F(StoreBatchTest, APoisonedWriteAloneFailsAndTheNextWritesSucceed) {
  open_poisoned();
  store_->start();
  EXPECT_EQ(upsert(input("a", "1")).outcome, Outcome::kCreated);
  EXPECT_EQ(upsert(input("boom", "1")).outcome, Outcome::kFailed);
  EXPECT_EQ(upsert(input("boom", "2")).outcome, Outcome::kFailed);  // fails every time, alone
  EXPECT_EQ(upsert(input("b", "1")).outcome, Outcome::kCreated);
  EXPECT_EQ(upsert(input("a", "2")).outcome, Outcome::kReplaced);
  EXPECT_EQ(store_->failures(), 2u);
}

TEST_F(StoreBatchTest, OutboxSeqsAreNeverReusedAfterAFailedCommit) {
  // 'boomout' fails at its outbox row, i.e. after it was handed a seq.
  open_poisoned(true, poison_trigger() +
                          "CREATE TRIGGER boom_outbox BEFORE INSERT ON outbox WHEN NEW.payload "
                          "LIKE '%\"boomout\"%' BEGIN SELECT RAISE(FAIL,'boom'); END;");
  store_->start();
  auto first = upsert(input("a", "1"));
  ASSERT_GT(first.outbox_seq, 0);
  // The failed commit handed out first.outbox_seq + 1 inside its rolled-back transaction.
  auto failed = upsert(input("boomout", "1"));
  EXPECT_EQ(failed.outcome, Outcome::kFailed);
  EXPECT_EQ(failed.outbox_seq, 0);
  EXPECT_FALSE(store_->get("boomout"));
  auto next = upsert(input("b", "1"));
  ASSERT_EQ(next.outcome, Outcome::kCreated);
  EXPECT_GT(next.outbox_seq, first.outbox_seq + 1);
  // A batch with a poisoned item: its first attempt handed p the seq next + 1 before it was
  // rolled back; the retry item by item hands out new ones.
  store_->stop();
  open_unstarted();  // same data dir, the triggers are still there
  auto p = queue_write(*store_, local(input("p", "x")));
  auto boom = queue_write(*store_, local(input("boomout", "x")));
  auto q = queue_write(*store_, local(input("q", "x")));
  store_->start();
  auto rp = answer(p), rq = answer(q);
  EXPECT_EQ(answer(boom).outcome, Outcome::kFailed);
  ASSERT_EQ(rp.outcome, Outcome::kCreated);
  ASSERT_EQ(rq.outcome, Outcome::kCreated);
  EXPECT_GT(rp.outbox_seq, next.outbox_seq + 2);  // next+1 (p) and next+2 (boomout) were used
  EXPECT_GT(rq.outbox_seq, rp.outbox_seq + 1);    // boomout's own retry used one between them
  auto later = upsert(input("r", "x"));
  EXPECT_GT(later.outbox_seq, rq.outbox_seq);
  // The outbox holds exactly the committed rows, each under the seq its writer was told.
  std::map<std::int64_t, std::string> expect{{first.outbox_seq, "a"},
                                             {next.outbox_seq, "b"},
                                             {rp.outbox_seq, "p"},
                                             {rq.outbox_seq, "q"},
                                             {later.outbox_seq, "r"}};
  std::map<std::int64_t, std::string> got;
  for (const auto& r : OutboxReader(store_->db_path()).pending(0, 100))
    got[r.seq] = from_wire_json(r.payload)->username;
  EXPECT_EQ(got, expect);
  EXPECT_EQ(store_->outbox_size(), 5u);
}

TEST_F(StoreBatchTest, OutboxSeqsContinueAboveTheOutboxAfterReopen) {
  open_unstarted();
  store_->start();
  auto a = upsert(input("a", "1"));
  auto b = upsert(input("b", "1"));
  store_->outbox_delete_upto(a.outbox_seq);
  store_->barrier();
  open_unstarted();
  store_->start();
  auto c = upsert(input("c", "1"));
  EXPECT_GT(c.outbox_seq, b.outbox_seq);
}

TEST_F(StoreBatchTest, RemoteItemsAreIsolatedFromAPoisonedOneInTheirBatch) {
  open_poisoned();
  // The poisoned apply comes first: its failure aborts the first attempt before the others
  // were touched.
  auto bad = queue_apply(*store_, {remote("boom", "x", 5)});
  auto good = queue_apply(*store_, {remote("r1", "one", 6), remote("r2", "two", 7)});
  auto w = queue_write(*store_, local(input("w", "x")));
  store_->start();
  auto rbad = answer(bad), rgood = answer(good);
  EXPECT_TRUE(rbad.failed);
  EXPECT_FALSE(rgood.failed);
  EXPECT_EQ(rgood.applied, 2);
  EXPECT_EQ(answer(w).outcome, Outcome::kCreated);
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"r1", "r2", "w"}));
  EXPECT_EQ(store_->get("r1")->status.text, "one");
}

// Regression: try_commit once moved each applied state out of its item, so a batch retried item
// by item after a later failure re-applied moved-from (empty) states and lost the real ones.
TEST_F(StoreBatchTest, RemoteItemsBeforeAPoisonedWriteAreAppliedIntact) {
  open_poisoned();
  std::vector<Change> changes;
  store_->set_change_listener(
      [&](const std::vector<Change>& cs) { changes.insert(changes.end(), cs.begin(), cs.end()); });
  auto good = queue_apply(*store_, {remote("r1", "one", 6), remote("r2", "two", 7)});
  auto boom = queue_write(*store_, local(input("boom", "x")));
  auto after = queue_apply(*store_, {remote("r3", "three", 8)});
  store_->start();
  auto rgood = answer(good);
  EXPECT_EQ(answer(boom).outcome, Outcome::kFailed);
  EXPECT_FALSE(answer(after).failed);
  EXPECT_FALSE(rgood.failed);
  EXPECT_EQ(rgood.applied, 2);
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"r1", "r2", "r3"}));
  ASSERT_TRUE(store_->get("r1"));
  EXPECT_EQ(store_->get("r1")->status.text, "one");
  EXPECT_EQ(store_->get("r1")->status.version, (Version{stamp(6), "n2"}));
  ASSERT_TRUE(store_->get("r2"));
  EXPECT_EQ(store_->get("r2")->status.text, "two");
  EXPECT_FALSE(store_->index().find_for_writer(""));
  store_->barrier();
  for (const auto& ch : changes) EXPECT_FALSE(ch.status.username.empty());
}

// Regression: one poisoned state once failed the whole apply() it came in, and the replicator
// retried that message forever; the states of a failing item are now committed one by one.
TEST_F(StoreBatchTest, APoisonedStateInOneApplyDoesNotCostTheOthers) {
  open_poisoned();
  store_->start();
  auto f = queue_apply(*store_, {remote("a", "x", 5), remote("boom", "x", 6), remote("b", "x", 7)});
  auto r = answer(f);
  EXPECT_TRUE(store_->get("a"));
  EXPECT_TRUE(store_->get("b"));
  EXPECT_FALSE(store_->get("boom"));
  EXPECT_FALSE(r.failed) << "a failed apply is retried by the replicator forever";
  EXPECT_EQ(r.applied, 2);
}

TEST_F(StoreBatchTest, ALockedDatabaseFailsTheWholeBatchAtOnce) {
  open_unstarted();
  // Another connection holds the write lock: every BEGIN IMMEDIATE times out (SQLITE_BUSY),
  // an environmental error — retrying item by item would only cost one timeout per item.
  Db blocker(store_->db_path());
  blocker.exec("BEGIN IMMEDIATE");
  std::vector<std::future<WriteResult>> fs;
  for (int i = 0; i < 5; ++i)
    fs.push_back(queue_write(*store_, local(input("u" + std::to_string(i), "x"))));
  auto ap = queue_apply(*store_, {remote("r", "x", 5)});
  auto started = std::chrono::steady_clock::now();
  store_->start();
  for (auto& f : fs) EXPECT_EQ(answer(f).outcome, Outcome::kFailed);
  EXPECT_TRUE(answer(ap).failed);
  auto took = std::chrono::steady_clock::now() - started;
  // One busy timeout for the batch, not one per item (6 items + the batch = 7 timeouts).
  EXPECT_LT(took, std::chrono::milliseconds(3 * Db::kBusyTimeoutMs));
  EXPECT_EQ(store_->failures(), 5u);
  EXPECT_TRUE(store_->storage_failing());
  EXPECT_EQ(store_->live_count(), 0u);
  EXPECT_EQ(store_->outbox_size(), 0u);
  // A task fails the same way and changes nothing in memory.
  std::promise<bool> sync_done;
  auto sync_f = sync_done.get_future();
  store_->set_sync_state(SyncState::kDone, [&](bool ok) { sync_done.set_value(ok); });
  EXPECT_FALSE(answer(sync_f));
  EXPECT_EQ(store_->sync_state(), SyncState::kBootstrap);
  // The lock goes: the next write commits and the store no longer reports a failing disk.
  blocker.exec("ROLLBACK");
  auto ok = upsert(input("later", "x"));
  EXPECT_EQ(ok.outcome, Outcome::kCreated);
  EXPECT_GT(ok.outbox_seq, 0);
  EXPECT_FALSE(store_->storage_failing());
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"later"}));
}

TEST_F(StoreBatchTest, ItemsQueuedOnAStoppedStoreAreAnsweredWithTheFailure) {
  open_unstarted();
  auto w = queue_write(*store_, local(input("a", "x")));
  auto ap = queue_apply(*store_, {remote("r", "x", 5)});
  auto pg = queue_page(*store_, {remote("p", "x", 5)}, 0, StatusIndex::kDigestSlots, std::nullopt);
  store_->stop();  // never started: the queue is dropped, every item answered
  EXPECT_EQ(answer(w).outcome, Outcome::kFailed);
  EXPECT_TRUE(answer(ap).failed);
  EXPECT_TRUE(answer(pg).failed);
  // A write after stop() waits for no writer: the store's destruction answers it at the latest.
  auto late = queue_write(*store_, local(input("b", "x")));
  store_.reset();
  EXPECT_EQ(answer(late, std::chrono::milliseconds(100)).outcome, Outcome::kFailed);
  open("n1");
  EXPECT_EQ(store_->live_count(), 0u);
}

TEST_F(StoreBatchTest, StopFinishesWhatIsQueued) {
  open_unstarted();
  std::vector<std::future<WriteResult>> fs;
  for (int i = 0; i < 50; ++i)
    fs.push_back(queue_write(*store_, local(input("u" + std::to_string(i), "x"))));
  store_->start();
  store_->stop();
  for (auto& f : fs) EXPECT_EQ(answer(f).outcome, Outcome::kCreated);
  open("n1");
  EXPECT_EQ(store_->live_count(), 50u);
}

TEST(CompletionTest, AnswersOnceAndWithTheFailureValueWhenDropped) {
  std::vector<int> got;
  {
    Completion<int> c([&](int v) { got.push_back(v); }, -1);
  }
  EXPECT_EQ(got, (std::vector<int>{-1}));
  got.clear();
  {
    Completion<int> c([&](int v) { got.push_back(v); }, -1);
    c(7);
    c(8);  // only once
  }
  EXPECT_EQ(got, (std::vector<int>{7}));
  got.clear();
  {
    Completion<int> a([&](int v) { got.push_back(v); }, -1);
    Completion<int> b(std::move(a));
    b(3);
  }  // the moved-from one answers nothing
  EXPECT_EQ(got, (std::vector<int>{3}));
  got.clear();
  {
    Completion<int> a([&](int v) { got.push_back(10 + v); }, -1);
    Completion<int> b([&](int v) { got.push_back(20 + v); }, -2);
    b = std::move(a);  // b's own callback is answered (dropped) first
    EXPECT_EQ(got, (std::vector<int>{18}));
  }
  EXPECT_EQ(got, (std::vector<int>{18, 9}));
  Completion<int> empty;
  empty(1);  // nothing to call: no crash
}

// ---- apply_page with replace ----

TEST_F(StoreBatchTest, ApplyPageWithReplaceDropsAbsentEntriesStampedBelowTheLimit) {
  open_unstarted(false);
  std::vector<Change> changes;
  store_->set_change_listener(
      [&](const std::vector<Change>& cs) { changes.insert(changes.end(), cs.begin(), cs.end()); });
  store_->start();
  const std::size_t first = 0, last = StatusIndex::kDigestSlots / 2;
  auto in_range = [&](const std::string& u) {
    auto s = StatusIndex::slot_of(u);
    return s >= first && s < last;
  };
  // Pick names by slot.
  std::vector<std::string> in, out;
  for (int i = 0; in.size() < 5 || out.size() < 1; ++i) {
    std::string u = "u" + std::to_string(i);
    (in_range(u) ? in : out).push_back(u);
  }
  const std::string old_absent = in[0], old_tomb = in[1], new_absent = in[2], in_page = in[3],
                    updated = in[4], outside = out[0];
  apply({remote(old_absent, "x", 10), tombstone(old_tomb, 11), remote(new_absent, "x", 1000),
         remote(in_page, "x", 12), remote(updated, "old", 13), remote(outside, "x", 14)});
  changes.clear();
  std::vector<Status> page{remote(in_page, "x", 12), remote(updated, "new", 600)};
  auto f = queue_page(*store_, page, first, last, stamp(500));
  auto r = answer(f);
  EXPECT_FALSE(r.failed);
  EXPECT_EQ(r.applied, 2);  // the update and the dropped live status
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{new_absent, in_page, updated, outside}));
  EXPECT_EQ(store_->get(updated)->status.text, "new");
  EXPECT_EQ(store_->tombstone_count(), 0u);
  // The dropped live status is announced as a delete; the dropped tombstone is no change.
  store_->barrier();
  std::map<std::string, bool> seen;  // username → deleted
  for (const auto& ch : changes) seen[ch.status.username] = ch.status.deleted;
  EXPECT_EQ(seen, (std::map<std::string, bool>{{old_absent, true}, {updated, false}}));
  // Gone from SQLite as well.
  open("n1");
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{new_absent, in_page, updated, outside}));
}

TEST_F(StoreBatchTest, ApplyPageWithoutReplaceDropsNothing) {
  open_unstarted(false);
  store_->start();
  std::string a, b;
  for (int i = 0; a.empty() || b.empty(); ++i) {
    std::string u = "u" + std::to_string(i);
    (StatusIndex::slot_of(u) < StatusIndex::kDigestSlots / 2 ? a : b) = u;
  }
  apply({remote(a, "x", 10)});
  auto f = queue_page(*store_, {remote(b, "x", 11)}, 0, StatusIndex::kDigestSlots, std::nullopt);
  auto r = answer(f);
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{a, b}));
}

TEST_F(StoreBatchTest, ApplyPageKeepsWritesOfTheSameBatch) {
  // A local write queued in the same batch, before the page, is not "absent from the page":
  // it is newer than anything the peer could have sent.
  open_unstarted(false);
  std::string u;
  for (int i = 0; u.empty(); ++i)
    if (StatusIndex::slot_of("w" + std::to_string(i)) < 100) u = "w" + std::to_string(i);
  auto w = queue_write(*store_, local(input(u, "x")));
  auto f = queue_page(*store_, {}, 0, 100, ~0ULL >> 2);
  store_->start();
  EXPECT_EQ(answer(w).outcome, Outcome::kCreated);
  EXPECT_FALSE(answer(f).failed);
  EXPECT_TRUE(store_->get(u));
}

// ---- sync state ----

TEST_F(StoreBatchTest, SetSyncStatePersists) {
  open_unstarted();
  EXPECT_EQ(store_->sync_state(), SyncState::kBootstrap);
  store_->start();
  std::promise<bool> p;
  auto f = p.get_future();
  store_->set_sync_state(SyncState::kDone, [&](bool ok) { p.set_value(ok); });
  EXPECT_TRUE(answer(f));
  EXPECT_EQ(store_->sync_state(), SyncState::kDone);
  open_unstarted();
  EXPECT_EQ(store_->sync_state(), SyncState::kDone);
  // Before start() it runs on the caller's thread.
  bool ok = false;
  store_->set_sync_state(SyncState::kResync, [&](bool r) { ok = r; });
  EXPECT_TRUE(ok);
  EXPECT_EQ(store_->sync_state(), SyncState::kResync);
  open_unstarted();
  EXPECT_EQ(store_->sync_state(), SyncState::kResync);
}

TEST_F(StoreBatchTest, AStoreReopenedMidBootstrapStartsOver) {
  open_unstarted(false);
  store_->start();
  ASSERT_EQ(store_->sync_state(), SyncState::kBootstrap);
  // Half a snapshot arrives, then the node dies before the bootstrap is marked done.
  auto f = queue_page(*store_, {remote("a", "x", 5), remote("b", "x", 6)}, 0,
                      StatusIndex::kDigestSlots, std::nullopt);
  EXPECT_EQ(answer(f).applied, 2);
  open_unstarted(false);
  EXPECT_EQ(store_->live_count(), 2u);                     // what it had got so far is there …
  EXPECT_EQ(store_->sync_state(), SyncState::kBootstrap);  // … but it is not complete
  store_->start();
  std::promise<bool> p;
  auto done = p.get_future();
  store_->set_sync_state(SyncState::kDone, [&](bool ok) { p.set_value(ok); });
  EXPECT_TRUE(answer(done));
  open_unstarted(false);
  EXPECT_EQ(store_->sync_state(), SyncState::kDone);
  EXPECT_EQ(store_->live_count(), 2u);
  // A complete store emptied by deletes stays complete: the state is persisted, not inferred.
  store_->start();
  EXPECT_EQ(remove("a").outcome, Outcome::kDeleted);
  EXPECT_EQ(remove("b").outcome, Outcome::kDeleted);
  store_->collect_tombstones();  // nothing old enough: the tombstones stay
  open_unstarted(false);
  EXPECT_EQ(store_->live_count(), 0u);
  EXPECT_EQ(store_->sync_state(), SyncState::kDone);
}

// ---- tombstone collection by the wall-clock horizon ----

TEST_F(StoreBatchTest, TombstonesAreCollectedOnceTheWallClockHorizonPassesThem) {
  Store::Options o = options(false);
  const std::int64_t ttl = 16'000, step = horizon_step_ms(ttl);
  ASSERT_EQ(step, 1000);
  o.tombstone_ttl_ms = ttl;
  store_ = std::make_unique<Store>(o, clock_);
  store_->start();
  upsert(input("a", "x"));
  auto del = remove("a");
  upsert(input("live", "x"));
  const auto deleted_ms = static_cast<std::int64_t>(del.status.version.hlc >> 16);
  EXPECT_EQ(store_->horizon_hlc(),
            hlc_of_ms(gc_horizon_ms(static_cast<std::int64_t>(time_.ms->load()), ttl)));
  // Just under the TTL: the horizon is not past the tombstone.
  time_.ms->store(static_cast<std::uint64_t>(deleted_ms + ttl - 1));
  EXPECT_EQ(store_->collect_tombstones(), 0u);
  EXPECT_EQ(store_->tombstone_count(), 1u);
  // A step later it is, whatever the HLC's logical part.
  time_.ms->store(static_cast<std::uint64_t>(deleted_ms + ttl + step));
  EXPECT_GT(store_->horizon_hlc(), del.status.version.hlc);
  EXPECT_EQ(store_->collect_tombstones(), 1u);
  EXPECT_EQ(store_->tombstone_count(), 0u);
  EXPECT_TRUE(store_->get("live"));
  EXPECT_EQ(store_->collect_tombstones(), 0u);
  // The resync horizon is that of a clock ahead by the allowed offset.
  EXPECT_EQ(store_->resync_horizon_hlc(),
            hlc_of_ms(gc_horizon_ms(
                static_cast<std::int64_t>(time_.ms->load()) + o.max_clock_offset_ms, ttl)));
  EXPECT_GE(store_->resync_horizon_hlc(), store_->horizon_hlc());
  store_.reset();
  store_ = std::make_unique<Store>(o, clock_);
  EXPECT_EQ(store_->tombstone_count(), 0u);
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"live"}));
}

TEST_F(StoreBatchTest, CollectTombstonesTakesTheOldestFirstAtMostMax) {
  open_unstarted(false);
  store_->start();
  apply({tombstone("t3", 30), tombstone("t1", 10), tombstone("t2", 20)});
  time_.ms->fetch_add(9LL * 24 * 3600 * 1000);  // past the default TTL
  EXPECT_EQ(store_->collect_tombstones(2), 2u);
  EXPECT_EQ(usernames(*store_), (std::set<std::string>{"t3"}));
  EXPECT_EQ(store_->collect_tombstones(2), 1u);
  EXPECT_EQ(store_->tombstone_count(), 0u);
}
