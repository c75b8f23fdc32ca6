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
  EXPECT_EQ(r.register_instance(make_instance("STATUS-NODE", "n1", 1, 3)), Outcome::kCreated);
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
  EXPECT_EQ(r.renew("status-node", "n1", std::nullopt, std::nullopt), Outcome::kOk);
  clock.advance_ms(2500);  // 5 s after registration, 2.5 s after the renewal
  EXPECT_TRUE(r.evict_expired().empty());
  EXPECT_EQ(r.find("STATUS-NODE", "n1")->last_renewal_ts, clock.now() - 2500);
  clock.advance_ms(501);
  EXPECT_EQ(r.evict_expired().size(), 1u);
}

TEST(Registry, RenewOfUnknownInstanceIsNotFound) {
  FakeClock clock;
  Registry r(clock.clock());
  EXPECT_EQ(r.renew("STATUS-NODE", "ghost", std::nullopt, std::nullopt), Outcome::kNotFound);
}

TEST(Registry, RenewWithNewerDirtyTimestampAsksForRegistration) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  in.last_dirty_ts = 1000;
  r.register_instance(in);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 1000), Outcome::kOk);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 999), Outcome::kOk);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, 1001), Outcome::kNotFound);
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
  EXPECT_EQ(r.set_override("app", "a", Status::kOutOfService), Outcome::kOk);
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
  EXPECT_EQ(r.delete_override("APP", "a", std::nullopt), Outcome::kOk);
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kUp);
  EXPECT_EQ(r.find("APP", "a")->overridden_status, Status::kUnknown);
  EXPECT_EQ(r.set_override("APP", "ghost", Status::kDown), Outcome::kNotFound);
  EXPECT_EQ(r.delete_override("APP", "ghost", std::nullopt), Outcome::kNotFound);
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
  EXPECT_EQ(r.register_instance(make_instance("APP", "a")), Outcome::kCreated);
  clock.advance_ms(1000);
  EXPECT_EQ(r.register_instance(make_instance("APP", "a")), Outcome::kOk);
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
  EXPECT_EQ(r.cancel("status-node", "n1"), Outcome::kOk);
  EXPECT_EQ(r.cancel("status-node", "n1"), Outcome::kNotFound);
}

// --- owners: no takeover --------------------------------------------------------------------

TEST(RegistryOwners, OnlyTheOwnerChangesALiveInstance) {
  FakeClock clock;
  Registry r(clock.clock());
  Caller node{"node"}, other{"other"};
  ASSERT_EQ(r.register_instance(make_instance("APP", "a"), node), Outcome::kCreated);
  EXPECT_EQ(r.find("APP", "a")->owner, "node");
  Instance hijack = make_instance("APP", "a");
  hijack.port = 9999;
  EXPECT_EQ(r.register_instance(hijack, other), Outcome::kConflict);
  EXPECT_EQ(r.register_instance(hijack, Caller{}), Outcome::kConflict) << "nor without a user";
  EXPECT_EQ(r.find("APP", "a")->port, 8081);
  // Every other change, in order, by `caller`.
  auto changes = [&](const Caller& caller) {
    return std::vector<Outcome>{r.renew("APP", "a", Status::kUp, std::nullopt, caller),
                                r.set_override("APP", "a", Status::kOutOfService, caller),
                                r.delete_override("APP", "a", std::nullopt, caller),
                                r.update_metadata("APP", "a", {{"k", "v"}}, caller),
                                r.cancel("APP", "a", caller)};
  };
  EXPECT_EQ(changes(other), std::vector<Outcome>(5, Outcome::kConflict));
  EXPECT_EQ(r.find("APP", "a")->effective_status(), Status::kUp);
  EXPECT_TRUE(r.find("APP", "a")->metadata.empty());
  // Its owner may do all of it.
  EXPECT_EQ(r.register_instance(hijack, node), Outcome::kOk);
  EXPECT_EQ(r.find("APP", "a")->port, 9999);
  EXPECT_EQ(changes(node), std::vector<Outcome>(5, Outcome::kOk));
  // Gone: anyone may register the id now.
  EXPECT_EQ(r.register_instance(make_instance("APP", "a"), other), Outcome::kCreated);
  EXPECT_EQ(r.find("APP", "a")->owner, "other");
}

TEST(RegistryOwners, AnExpiredLeaseMayBeTakenOverBeforeItsEviction) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("APP", "a", 1, 3), Caller{"node"});
  r.set_override("APP", "a", Status::kOutOfService, Caller{"node"});
  clock.advance_ms(3000);
  EXPECT_EQ(r.register_instance(make_instance("APP", "a"), Caller{"other"}), Outcome::kConflict);
  clock.advance_ms(1);
  EXPECT_EQ(r.register_instance(make_instance("APP", "a"), Caller{"other"}), Outcome::kOk);
  auto in = r.find("APP", "a");
  EXPECT_EQ(in->owner, "other");
  EXPECT_EQ(in->effective_status(), Status::kUp) << "nothing of the old owner's carries over";
  EXPECT_EQ(in->registration_ts, clock.now());
}

TEST(RegistryOwners, PeersActOnAnyInstanceAndCarryTheOwner) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance replica = make_instance("APP", "a");
  replica.owner = "node";
  // A replicated registration keeps the owner its registry sent along...
  ASSERT_EQ(r.register_instance(replica, Caller{"peer", true}), Outcome::kCreated);
  EXPECT_EQ(r.find("APP", "a")->owner, "node");
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, std::nullopt, Caller{"node"}), Outcome::kOk);
  EXPECT_EQ(r.renew("APP", "a", std::nullopt, std::nullopt, Caller{"peer", true}), Outcome::kOk);
  EXPECT_EQ(r.set_override("APP", "a", Status::kDown, Caller{"peer", true}), Outcome::kOk);
  // ...and a client's own "owner" field is not believed.
  Instance forged = make_instance("APP", "b");
  forged.owner = "node";
  ASSERT_EQ(r.register_instance(forged, Caller{"other"}), Outcome::kCreated);
  EXPECT_EQ(r.find("APP", "b")->owner, "other");
  // Without an owner, a peer's registration belongs to the peer's user.
  ASSERT_EQ(r.register_instance(make_instance("APP", "c"), Caller{"peer", true}),
            Outcome::kCreated);
  EXPECT_EQ(r.find("APP", "c")->owner, "peer");
  EXPECT_EQ(r.cancel("APP", "a", Caller{"peer", true}), Outcome::kOk);
}

// --- bounds ---------------------------------------------------------------------------------

TEST(RegistryBounds, FullRegistryRefusesNewInstancesAndApps) {
  FakeClock clock;
  RegistryOptions o;
  o.max_instances = 3;
  o.max_apps = 2;
  Registry r(clock.clock(), o);
  EXPECT_EQ(r.register_instance(make_instance("A", "1")), Outcome::kCreated);
  EXPECT_EQ(r.register_instance(make_instance("B", "2")), Outcome::kCreated);
  EXPECT_EQ(r.register_instance(make_instance("C", "3")), Outcome::kFull) << "a third app";
  EXPECT_EQ(r.register_instance(make_instance("A", "3")), Outcome::kCreated);
  EXPECT_EQ(r.register_instance(make_instance("A", "4")), Outcome::kFull) << "a fourth instance";
  EXPECT_EQ(r.register_instance(make_instance("A", "1")), Outcome::kOk) << "re-registering is fine";
  EXPECT_EQ(r.size(), 3u);
  // Room again once one goes, by cancel or by eviction; an emptied app frees its slot.
  EXPECT_EQ(r.cancel("B", "2"), Outcome::kOk);
  EXPECT_EQ(r.register_instance(make_instance("C", "3", 1, 1)), Outcome::kCreated);
  EXPECT_EQ(r.register_instance(make_instance("D", "4")), Outcome::kFull);
  clock.advance_ms(1001);
  EXPECT_EQ(r.evict_expired().size(), 1u);  // C's lease was 1 s, A's are 3 s
  EXPECT_EQ(r.register_instance(make_instance("D", "4")), Outcome::kCreated);
  EXPECT_EQ(r.register_instance(make_instance("E", "5")), Outcome::kFull);
}

TEST(RegistryBounds, OversizedInstancesAreRefused) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  EXPECT_FALSE(oversize_reason(in));
  in.instance_id = std::string(kMaxIdentityBytes + 1, 'x');
  EXPECT_EQ(*oversize_reason(in), "instanceId is 257 bytes; at most 256 are allowed");
  EXPECT_EQ(r.register_instance(in), Outcome::kTooLarge);
  in = make_instance("APP", "a");
  in.home_page_url = std::string(kMaxFieldBytes + 1, 'x');
  EXPECT_TRUE(oversize_reason(in));
  in = make_instance("APP", "a");
  for (std::size_t i = 0; i <= kMaxMetadataEntries; ++i) in.metadata["k" + std::to_string(i)] = "v";
  EXPECT_EQ(*oversize_reason(in), "metadata has 33 entries; at most 32 are allowed");
  in = make_instance("APP", "a");
  in.data_center_metadata["k"] = std::string(kMaxMetadataValueBytes + 1, 'v');
  EXPECT_TRUE(oversize_reason(in));
  in = make_instance("APP", "a");
  for (int i = 0; i < 10; ++i) in.metadata["k" + std::to_string(i)] = std::string(2000, 'v');
  EXPECT_NE(oversize_reason(in)->find("the instance is"), std::string::npos);
  EXPECT_EQ(r.size(), 0u);
}

TEST(RegistryBounds, MetadataMergeBeyondTheBoundsChangesNothing) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("APP", "a"));
  std::map<std::string, std::string> chunk;
  for (int i = 0; i < 7; ++i) chunk["k" + std::to_string(i)] = std::string(2000, 'v');
  ASSERT_EQ(r.update_metadata("APP", "a", chunk), Outcome::kOk);
  auto version = r.snapshot().version;
  // The review's attack: ever more keys of 7 KB each. The first call past 16 KiB is refused.
  EXPECT_EQ(r.update_metadata("APP", "a", {{"more", std::string(2000, 'v')}}), Outcome::kOk);
  EXPECT_EQ(r.update_metadata("APP", "a", {{"too-much", std::string(2000, 'v')}}),
            Outcome::kTooLarge);
  auto in = r.find("APP", "a");
  EXPECT_EQ(in->metadata.size(), 8u);
  EXPECT_FALSE(in->metadata.count("too-much"));
  EXPECT_EQ(r.snapshot().version, version + 1) << "a refused change is no change";
  EXPECT_EQ(r.update_metadata("APP", "ghost", {{"k", "v"}}), Outcome::kNotFound);
}

TEST(RegistryBounds, ChangeQueueHoldsNoCopiesAndIsBounded) {
  FakeClock clock;
  RegistryOptions o;
  o.max_changes = 50;
  Registry r(clock.clock(), o);
  r.register_instance(make_instance("APP", "a"));
  for (int i = 0; i < 1000; ++i) {
    r.update_metadata("APP", "a", {{"k", std::to_string(i)}});
    EXPECT_LE(r.pending_changes(), 50u);
  }
  auto delta = r.delta();
  ASSERT_EQ(delta.instances.size(), 1u) << "one entry per instance";
  EXPECT_EQ(delta.instances[0].metadata.at("k"), "999") << "its state now";
  EXPECT_EQ(delta_action(r, "a"), "MODIFIED");
  // Many instances: the oldest changes go; the newest stay.
  for (int i = 0; i < 200; ++i) r.register_instance(make_instance("APP", "i" + std::to_string(i)));
  EXPECT_EQ(r.pending_changes(), 50u);
  EXPECT_EQ(r.delta().instances.size(), 50u);
  EXPECT_EQ(delta_action(r, "i199"), "ADDED");
  EXPECT_EQ(delta_action(r, "a"), "");
}

TEST(RegistryBounds, DeletedInstancesStayInTheDeltaWithoutTheirMetadata) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("APP", "a");
  in.metadata["big"] = std::string(2000, 'x');
  in.home_page_url = "http://127.0.0.1:8081/";
  r.register_instance(in);
  r.cancel("APP", "a");
  auto delta = r.delta();
  ASSERT_EQ(delta.instances.size(), 1u);
  EXPECT_EQ(delta.instances[0].action_type, ActionType::kDeleted);
  EXPECT_EQ(delta.instances[0].instance_id, "a");
  EXPECT_EQ(delta.instances[0].host_name, "127.0.0.1");
  EXPECT_TRUE(delta.instances[0].metadata.empty());
  EXPECT_TRUE(delta.instances[0].home_page_url.empty());
  // Registered again: ADDED, as it is now.
  r.register_instance(make_instance("APP", "a"));
  EXPECT_EQ(delta_action(r, "a"), "ADDED");
}
