#include "registry/registry.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace status::registry;
using status::registry::testing::FakeClock;
using status::registry::testing::make_instance;

namespace {

// Action type of `id` in the delta, or "" when absent.
std::string delta_action(const Registry& r, const std::string& id) {
  for (const auto& in : r.delta().instances)
    if (in.instance_id == id) return std::string(to_string(in.action_type));
  return "";
}

}  // namespace

TEST(Registry, EvictsExactlyAfterLeaseDuration) {
  FakeClock clock;
  Registry r(clock.clock());
  EXPECT_TRUE(r.register_instance(make_instance("STATUS-NODE", "n1", 1, 3)));
  clock.advance_ms(3000);
  EXPECT_TRUE(r.evict_expired().empty()) << "a lease is valid up to and including its duration";
  EXPECT_EQ(r.size(), 1u);
  clock.advance_ms(1);
  auto evicted = r.evict_expired();
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].instance_id, "n1");
  EXPECT_EQ(evicted[0].eviction_ts, clock.now());
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.find("STATUS-NODE", "n1"));
}

TEST(Registry, DefaultLeaseIsNinetySeconds) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  in.renewal_interval_s = 30;
  in.duration_s = 90;
  r.register_instance(in);
  clock.advance_ms(89'999);
  EXPECT_TRUE(r.evict_expired().empty());
  clock.advance_ms(1'002);
  EXPECT_EQ(r.evict_expired().size(), 1u);
}

TEST(Registry, RenewalExtendsTheLease) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("STATUS-NODE", "n1", 1, 3));
  clock.advance_ms(2500);
  EXPECT_EQ(r.renew("status-node", "n1", std::nullopt, std::nullopt), RenewResult::kOk);
  clock.advance_ms(2500);  // 5 s after registration, 2.5 s after the renewal
  EXPECT_TRUE(r.evict_expired().empty());
  EXPECT_EQ(r.find("STATUS-NODE", "n1")->last_renewal_ts, clock.now() - 2500);
  clock.advance_ms(501);
  EXPECT_EQ(r.evict_expired().size(), 1u);
}

TEST(Registry, RenewOfUnknownInstanceIsNotFound) {
  FakeClock clock;
  Registry r(clock.clock());
  EXPECT_EQ(r.renew("STATUS-NODE", "ghost", std::nullopt, std::nullopt), RenewResult::kNotFound);
}

TEST(Registry, RenewWithNewerDirtyTimestampAsksForRegistration) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  in.last_dirty_ts = 1000;
  r.register_instance(in);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 1000), RenewResult::kOk);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 999), RenewResult::kOk);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 1001), RenewResult::kNotFound);
}

TEST(Registry, RenewWithStatusUpdatesOwnStatus) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  in.status = Status::kStarting;
  r.register_instance(in);
  EXPECT_EQ(r.find("APP", "a")->service_up_ts, 0);
  clock.advance_ms(100);
  r.renew("APP", "a", Status::kUp, std::nullopt);
  auto now = r.find("APP", "a");
  EXPECT_EQ(now->status, Status::kUp);
  EXPECT_EQ(now->service_up_ts, clock.now());
  EXPECT_EQ(delta_action(r, "a"), "MODIFIED");
}

TEST(Registry, OverrideAndItsRemoval) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("APP", "a"));
  EXPECT_TRUE(r.set_override("app", "a", Status::kOutOfService));
  auto in = r.find("APP", "a");
  EXPECT_EQ(in->effective_status(), Status::kOutOfService);
  EXPECT_EQ(in->status, Status::kUp);
  EXPECT_EQ(r.snapshot().apps_hashcode, "OUT_OF_SERVICE_1_");
  // A heartbeat does not undo an operator's override.
  r.renew("APP", "a", Status::kUp, std::nullopt);
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kOutOfService);
  // Nor does a re-registration without an override of its own.
  r.register_instance(make_instance("APP", "a"));
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kOutOfService);
  EXPECT_TRUE(r.delete_override("APP", "a", std::nullopt));
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kUp);
  EXPECT_EQ(r.find("APP", "a")->overridden_status, Status::kUnknown);
  EXPECT_FALSE(r.set_override("APP", "ghost", Status::kDown));
  EXPECT_FALSE(r.delete_override("APP", "ghost", std::nullopt));
}

TEST(Registry, DeleteOverrideWithValueSetsOwnStatus) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("APP", "a"));
  r.set_override("APP", "a", Status::kOutOfService);
  r.delete_override("APP", "a", Status::kDown);
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kDown);
}

TEST(Registry, HashcodeCountsStatusesInNameOrder) {
  FakeClock clock;
  Registry r(clock.clock());
  EXPECT_EQ(r.snapshot().apps_hashcode, "");
  for (auto id : {"a", "b", "c"}) r.register_instance(make_instance("APP", id));
  EXPECT_EQ(r.snapshot().apps_hashcode, "UP_3_");
  r.set_override("APP", "b", Status::kDown);
  Instance starting = make_instance("OTHER", "d");
  starting.status = Status::kStarting;
  r.register_instance(starting);
  EXPECT_EQ(r.snapshot().apps_hashcode, "DOWN_1_STARTING_1_UP_2_");
}

TEST(Registry, DeltaHoldsRecentChangesWithActionTypes) {
  FakeClock clock;
  Registry r(clock.clock(), RegistryOptions{60'000});
  r.register_instance(make_instance("APP", "a"));
  r.register_instance(make_instance("APP", "b"));
  r.register_instance(make_instance("APP", "c"));
  EXPECT_EQ(delta_action(r, "a"), "ADDED");
  r.set_override("APP", "b", Status::kOutOfService);
  r.cancel("APP", "c");
  EXPECT_EQ(delta_action(r, "a"), "ADDED");
  EXPECT_EQ(delta_action(r, "b"), "MODIFIED");
  EXPECT_EQ(delta_action(r, "c"), "DELETED");
  auto delta = r.delta();
  EXPECT_EQ(delta.instances.size(), 3u);
  EXPECT_EQ(delta.apps_hashcode, "OUT_OF_SERVICE_1_UP_1_") << "hashcode of the whole registry";
  EXPECT_EQ(delta.version, r.snapshot().version);
  // Changes leave the delta after the retention time.
  clock.advance_ms(60'001);
  EXPECT_TRUE(r.delta().instances.empty());
  EXPECT_EQ(r.size(), 2u);
}

TEST(Registry, EvictionAppearsInDeltaAsDeleted) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("APP", "a", 1, 3));
  clock.advance_ms(3001);
  r.evict_expired();
  EXPECT_EQ(delta_action(r, "a"), "DELETED");
}

TEST(Registry, ReRegistrationIsModifiedAndKeepsRegistrationTime) {
  FakeClock clock;
  Registry r(clock.clock());
  std::int64_t t0 = clock.now();
  EXPECT_TRUE(r.register_instance(make_instance("APP", "a")));
  clock.advance_ms(1000);
  EXPECT_FALSE(r.register_instance(make_instance("APP", "a")));
  auto in = r.find("APP", "a");
  EXPECT_EQ(in->registration_ts, t0);
  EXPECT_EQ(in->last_renewal_ts, clock.now());
  EXPECT_EQ(in->action_type, ActionType::kModified);
}

TEST(Registry, OlderRegistrationOnlyRenews) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance newer = make_instance("APP", "a");
  newer.last_dirty_ts = 2000;
  newer.status = Status::kUp;
  r.register_instance(newer);
  Instance older = make_instance("APP", "a");
  older.last_dirty_ts = 1000;
  older.status = Status::kStarting;
  clock.advance_ms(500);
  r.register_instance(older);
  auto in = r.find("APP", "a");
  EXPECT_EQ(in->status, Status::kUp);
  EXPECT_EQ(in->last_renewal_ts, clock.now());
}

TEST(Registry, AppNamesAreCaseInsensitive) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("status-node", "n1"));
  EXPECT_TRUE(r.find("STATUS-NODE", "n1"));
  EXPECT_TRUE(r.find("Status-Node", "n1"));
  EXPECT_EQ(r.snapshot("status-node").instances.size(), 1u);
  EXPECT_TRUE(r.find_by_id("n1"));
  EXPECT_TRUE(r.cancel("status-node", "n1"));
  EXPECT_FALSE(r.cancel("status-node", "n1"));
}
