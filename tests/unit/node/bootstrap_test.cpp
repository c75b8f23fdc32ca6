// When a node without a complete state may serve: the rules of decide_bootstrap (CONTRACT §9).
#include "node/bootstrap.hpp"

#include <gtest/gtest.h>

using namespace status::node;
using namespace std::chrono_literals;

namespace {

PeerInfo peer(std::string url, std::string id, std::string status, std::string sync = "done",
              std::int64_t rtt = 1, bool answered = true) {
  PeerInfo p;
  p.url = std::move(url);
  p.node_id = std::move(id);
  p.status = std::move(status);
  p.sync = std::move(sync);
  p.rtt_ms = rtt;
  p.answered = answered;
  return p;
}

PeerInfo silent(std::string url) {
  PeerInfo p;
  p.url = std::move(url);
  return p;
}

BootstrapView view(std::string self = "n2") {
  BootstrapView v;
  v.self_id = std::move(self);
  return v;
}

}  // namespace

TEST(BootstrapTest, LoadsFromUpPeersClosestFirst) {
  auto v = view();
  v.has_registry = true;
  v.registry_reachable = true;
  v.peers = {
      peer("http://a", "n5", "UP", "done", 30), peer("http://b", "n6", "STARTING", "bootstrap", 1),
      peer("http://c", "n7", "UP", "done", 5), peer("http://d", "n8", "DRAINING", "done", 2)};
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kLoad);
  // Only UP peers, never one that is starting (or draining), the smallest round trip first.
  EXPECT_EQ(d.sources, (std::vector<std::string>{"http://c", "http://a"}));
  EXPECT_FALSE(d.reason.empty());
}

TEST(BootstrapTest, AStaleUpFromAPeerThatNoLongerAnswersDoesNotCount) {
  auto v = view();
  v.has_static_peers = true;
  v.peers = {peer("http://a", "n5", "UP", "done", 1, /*answered=*/false)};
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kWait);
  EXPECT_TRUE(d.sources.empty());
}

TEST(BootstrapTest, NoRegistryAndNoPeerRunsAlone) {
  auto v = view();
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kStartEmpty);
  EXPECT_TRUE(d.sources.empty());
}

TEST(BootstrapTest, StaticPeersThatDoNotAnswerMakeItWait) {
  auto v = view();
  v.has_static_peers = true;
  v.peers = {silent("http://a"), silent("http://b")};
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kWait);
  // Even alone for long: without a registry, "alone" means nothing.
  v.registry_alone_for = 1h;
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
}

TEST(BootstrapTest, TheRegistryShowingNoOtherNodeLongEnough) {
  auto v = view();
  v.has_registry = true;
  v.registry_reachable = true;
  v.alone_required = 3000ms;
  v.registry_alone_for = 2999ms;
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  v.registry_alone_for = 3000ms;
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kStartEmpty);
  // An unreachable registry proves nothing, however long it last showed nobody.
  v.registry_reachable = false;
  v.registry_alone_for = 1h;
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kWait);
}

TEST(BootstrapTest, TheRegistryAloneRuleNeedsNoKnownPeers) {
  auto v = view();
  v.has_registry = true;
  v.registry_reachable = true;
  v.registry_alone_for = 1h;
  // A peer known from earlier (or --peer) that does not answer: it may hold the data.
  v.peers = {silent("http://a")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
}

TEST(BootstrapTest, ColdStartOfAWholeClusterTheSmallestIdStarts) {
  auto v = view("n1");
  v.has_registry = true;
  v.registry_reachable = true;
  v.peers = {peer("http://b", "n2", "STARTING", "bootstrap"),
             peer("http://c", "n3", "STARTING", "bootstrap")};
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kStartEmpty);
  EXPECT_TRUE(d.sources.empty());
  // Any other node waits (for n1 to be up, then loads from it).
  v.self_id = "n2";
  v.peers = {peer("http://a", "n1", "STARTING", "bootstrap"),
             peer("http://c", "n3", "STARTING", "bootstrap")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  // … and loads as soon as n1 is up.
  v.peers[0].status = "UP";
  v.peers[0].sync = "done";
  auto d2 = decide_bootstrap(v);
  EXPECT_EQ(d2.kind, BootstrapDecision::kLoad);
  EXPECT_EQ(d2.sources, (std::vector<std::string>{"http://a"}));
}

TEST(BootstrapTest, ColdStartRuleNeedsEveryPeerToAnswerAndWait) {
  auto v = view("n1");
  v.has_static_peers = true;
  // One peer does not answer: it may be the one with the data.
  v.peers = {peer("http://b", "n2", "STARTING", "bootstrap"), silent("http://c")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  // One peer is starting but has a complete state (it will be up soon): load from it then.
  v.peers = {peer("http://b", "n2", "STARTING", "bootstrap"),
             peer("http://c", "n3", "STARTING", "done")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  // One is draining or degraded: not a cold start.
  v.peers = {peer("http://b", "n2", "STARTING", "bootstrap"),
             peer("http://c", "n3", "DRAINING", "bootstrap")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  v.peers = {peer("http://b", "n2", "STARTING", "resync")};
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kStartEmpty);
}

TEST(BootstrapTest, ColdStartRuleNeedsAStrictlySmallestId) {
  auto v = view("n2");
  v.has_static_peers = true;
  v.peers = {peer("http://b", "n2", "STARTING", "bootstrap")};  // a duplicate id
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  v.peers = {peer("http://b", "n10", "STARTING", "bootstrap")};  // "n10" < "n2" as strings
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kWait);
  v.self_id = "n1";
  EXPECT_EQ(decide_bootstrap(v).kind, BootstrapDecision::kStartEmpty);
}

TEST(BootstrapTest, RegistryDownAndNoPeersWaits) {
  auto v = view();
  v.has_registry = true;
  v.registry_reachable = false;
  auto d = decide_bootstrap(v);
  EXPECT_EQ(d.kind, BootstrapDecision::kWait);
  EXPECT_FALSE(d.reason.empty());
}

TEST(BootstrapTest, EveryDecisionHasAReason) {
  std::vector<BootstrapView> views(6, view("n1"));
  views[1].has_static_peers = true;
  views[1].peers = {silent("http://a")};
  views[2].has_registry = true;
  views[3].has_registry = views[3].registry_reachable = true;
  views[3].registry_alone_for = 1h;
  views[4].has_static_peers = true;
  views[4].peers = {peer("http://a", "n2", "STARTING", "bootstrap")};
  views[5].has_static_peers = true;
  views[5].peers = {peer("http://a", "n0", "UP")};
  for (const auto& v : views) EXPECT_FALSE(decide_bootstrap(v).reason.empty());
}
