// Status features as pure rules: the new fields' validation, the history's merge (the same on
// every node whatever the order), how entries end, expiry in the index, the list filters and
// the event log that lets a client resume.
#include "node/event_hub.hpp"
#include "node/status.hpp"
#include "node/status_index.hpp"
#include "node/write_rules.hpp"

#include "fake_exchange.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <map>
#include <set>

using namespace status::node;
using status::test::FakeExchange;

namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;
constexpr std::uint64_t at(std::int64_t ms, std::uint64_t logical = 0) {
  return (static_cast<std::uint64_t>(ms) << 16) | logical;
}

std::string error_of(std::string_view body) {
  auto r = parse_status_input(body, std::nullopt, kNow);
  if (auto* e = std::get_if<InputError>(&r)) return e->detail;
  return "";
}

StatusInput accepted(std::string_view body) {
  auto r = parse_status_input(body, std::nullopt, kNow);
  if (auto* e = std::get_if<InputError>(&r)) ADD_FAILURE() << body << " -> " << e->detail;
  return std::get_if<StatusInput>(&r) ? std::get<StatusInput>(r) : StatusInput{};
}

Status live(std::string user, std::string text, std::uint64_t hlc, std::string node = "n1") {
  Status s;
  s.username = std::move(user);
  s.text = std::move(text);
  s.time_ms = static_cast<std::int64_t>(hlc >> 16);
  s.version = {hlc, std::move(node)};
  return s;
}

Status gone(std::string user, std::uint64_t hlc, std::string node = "n1") {
  Status s;
  s.username = std::move(user);
  s.deleted = true;
  s.version = {hlc, std::move(node)};
  return s;
}

/// The state after applying `states` in this order to an empty node.
Status converge(const std::vector<Status>& states) {
  std::optional<Status> cur;
  for (const auto& s : states)
    if (auto next = merged_state(s, cur ? &*cur : nullptr, 0, kNow)) cur = std::move(*next);
  return *cur;
}

}  // namespace

TEST(StatusFields, EmojiAvailabilityAndExpiryAreValidated) {
  auto in = accepted(R"({"username":"a","statusText":"t","emoji":"📅","availability":"busy"})");
  EXPECT_EQ(in.emoji, "📅");
  EXPECT_EQ(in.availability, Availability::kBusy);
  EXPECT_EQ(accepted(R"({"username":"a","statusText":"t","emoji":":calendar:"})").emoji, ":calendar:");
  EXPECT_EQ(accepted(R"({"username":"a","statusText":"t"})").availability, Availability::kAvailable);
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","emoji":""})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","emoji":"a\u0007"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","emoji":"\u0085"})"), "");  // C1
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","emoji":7})"), "");
  std::string e32(32, 'x'), e33(33, 'x');
  EXPECT_EQ(error_of(R"({"username":"a","statusText":"t","emoji":")" + e32 + "\"}"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","emoji":")" + e33 + "\"}"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","availability":"offline"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","availability":"Busy"})"), "");

  EXPECT_EQ(accepted(R"({"username":"a","statusText":"t","clearAfter":3600})").expires_at_ms,
            kNow + 3600 * 1000);
  EXPECT_EQ(accepted(R"({"username":"a","statusText":"t","clearAfter":31622400})").expires_at_ms,
            kNow + 31622400LL * 1000);
  for (auto bad : {"0", "-5", "31622401", "1.5", "\"60\"", "true"})
    EXPECT_NE(error_of(std::string(R"({"username":"a","statusText":"t","clearAfter":)") + bad + "}"), "")
        << bad;
  // 2027-01-15T08:00:00Z lies within 366 days of kNow (2027-01-15T08:00:00Z is kNow itself).
  EXPECT_EQ(format_time(kNow), "2027-01-15T08:00:00Z");
  // An expiresAt equal to now is not in the future.
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T09:00:00+01:00"})"), "");
  EXPECT_EQ(accepted(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T08:00:01Z"})").expires_at_ms,
            kNow + 1000);
  EXPECT_EQ(error_of(R"({"username":"a","statusText":"t","expiresAt":"2028-01-16T08:00:00Z"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2028-01-16T08:00:01Z"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"tomorrow"})"), "");
  // RFC 3339 needs Z or an offset (unlike `time`), and seconds.
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T09:00:00"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T09:00Z"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T10:00:00+0100"})"), "");
  EXPECT_EQ(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-15T10:00:00.5+01:00"})"), "");
  EXPECT_NE(error_of(R"({"username":"a","statusText":"t","expiresAt":"2027-01-16T08:00:00Z","clearAfter":60})"),
            "");
}

TEST(StatusFields, ApiAndWireFormsCarryThem) {
  Status s = live("alice", "meeting", at(kNow));
  s.emoji = "📅";
  s.availability = Availability::kDnd;
  s.expires_at_ms = kNow + 60000;
  auto api = boost::json::parse(to_api_json(s)).as_object();
  EXPECT_EQ(api.at("emoji").as_string(), "📅");
  EXPECT_EQ(api.at("availability").as_string(), "dnd");
  EXPECT_EQ(api.at("expiresAt").as_string(), format_time(kNow + 60000));
  s.past.push_back(as_past(live("alice", "before", at(kNow - 5000))));
  auto back = from_wire_json(to_wire_json(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->emoji, "📅");
  EXPECT_EQ(back->availability, Availability::kDnd);
  EXPECT_EQ(back->expires_at_ms, kNow + 60000);
  ASSERT_EQ(back->past.size(), 1u);
  EXPECT_EQ(back->past[0].text, "before");
  // Broker messages leave the history out.
  EXPECT_TRUE(from_wire_json(to_wire_json(s, false))->past.empty());
  // A replicated state with a bad emoji or availability is refused like client input.
  auto bad = boost::json::parse(to_wire_json(s)).as_object();
  bad["av"] = 9;
  EXPECT_FALSE(from_wire_json(boost::json::serialize(bad)));
}

TEST(History, LocalWritesMoveThePreviousStatusIntoIt) {
  LocalRequest w;
  w.username = "alice";
  w.input.text = "two";
  Status one = live("alice", "one", at(kNow));
  auto d = decide_local(w, &one, at(kNow + 1000), "n1");
  ASSERT_TRUE(d.next);
  EXPECT_EQ(d.outcome, Outcome::kReplaced);
  ASSERT_EQ(d.next->past.size(), 1u);
  auto h = boost::json::parse(history_json(*d.next, kNow + 2000)).as_array();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].at("statusText").as_string(), "one");
  EXPECT_EQ(h[0].at("endedBy").as_string(), "replaced");
  EXPECT_EQ(h[0].at("endedAt").as_string(), format_time(kNow + 1000));
  EXPECT_EQ(h[0].at("availability").as_string(), "available");
  // A delete ends it as deleted; the history stays with the tombstone.
  LocalRequest del;
  del.username = "alice";
  del.is_delete = true;
  auto t = decide_local(del, &*d.next, at(kNow + 3000), "n1");
  h = boost::json::parse(history_json(*t.next, kNow + 4000)).as_array();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].at("statusText").as_string(), "two");
  EXPECT_EQ(h[0].at("endedBy").as_string(), "deleted");
  // A purge (account deletion) takes everything.
  LocalRequest purge = del;
  purge.purge = true;
  auto p = decide_local(purge, &*t.next, at(kNow + 5000), "n1");
  EXPECT_EQ(p.outcome, Outcome::kDeleted);
  EXPECT_EQ(history_json(*p.next, kNow + 6000), "[]");
  // and older copies of the history that arrive later do not bring it back
  auto after = merged_state(*t.next, &*p.next, 0, kNow + 7000);
  EXPECT_FALSE(after);
}

TEST(History, ExpiredStatusEndsAtItsExpiresAt) {
  Status s = live("alice", "until 3", at(kNow));
  s.expires_at_ms = kNow + 10000;
  EXPECT_EQ(history_json(s, kNow + 5000), "[]");
  EXPECT_FALSE(s.expired(kNow + 9999));
  EXPECT_TRUE(s.expired(kNow + 10000));
  auto h = boost::json::parse(history_json(s, kNow + 10000)).as_array();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].at("endedBy").as_string(), "expired");
  EXPECT_EQ(h[0].at("endedAt").as_string(), format_time(kNow + 10000));
  // A write after the expiry creates a new status; the old one stays "expired" in the history.
  LocalRequest w;
  w.username = "alice";
  w.input.text = "back";
  auto d = decide_local(w, &s, at(kNow + 20000), "n1");
  EXPECT_EQ(d.outcome, Outcome::kCreated);
  h = boost::json::parse(history_json(*d.next, kNow + 20000)).as_array();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].at("endedBy").as_string(), "expired");
  EXPECT_EQ(h[0].at("endedAt").as_string(), format_time(kNow + 10000));
  // Deleting an expired status: there is none.
  LocalRequest del;
  del.username = "alice";
  del.is_delete = true;
  EXPECT_EQ(decide_local(del, &s, at(kNow + 20000), "n1").outcome, Outcome::kNotFound);
}

TEST(History, KeepsTenEntries) {
  std::optional<Status> cur;
  for (int i = 0; i < 15; ++i) {
    LocalRequest w;
    w.username = "alice";
    w.input.text = "v" + std::to_string(i);
    cur = *decide_local(w, cur ? &*cur : nullptr, at(kNow + i * 1000), "n1").next;
  }
  auto h = boost::json::parse(history_json(*cur, kNow + 20000)).as_array();
  ASSERT_EQ(h.size(), kHistoryLength);
  EXPECT_EQ(h[0].at("statusText").as_string(), "v13");
  EXPECT_EQ(h[9].at("statusText").as_string(), "v4");
}

TEST(History, SameOnEveryNodeWhateverTheOrder) {
  // Concurrent writes of one user on three nodes, deletes among them, some states expiring;
  // each node applies them in its own order (messages carry no history), and some nodes also
  // get full states with history (anti-entropy, snapshots). All end byte for byte alike.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<Status> states;
    std::set<Version> used;  // a version names one state only
    int n = 3 + static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      std::uint64_t hlc = at(kNow + static_cast<std::int64_t>(rng() % 30) * 100, rng() % 3);
      std::string node = "n" + std::to_string(rng() % 3);
      if (!used.insert({hlc, node}).second) continue;
      Status s = rng() % 5 == 0 ? gone("alice", hlc, node) : live("alice", "t" + std::to_string(i), hlc, node);
      if (!s.deleted && rng() % 4 == 0) s.expires_at_ms = kNow + static_cast<std::int64_t>(rng() % 3000);
      states.push_back(s);
    }
    Status first = converge(states);
    std::string want = history_json(first, kNow + 10000);
    for (int perm = 0; perm < 5; ++perm) {
      auto order = states;
      std::shuffle(order.begin(), order.end(), rng);
      // Half way, a full state (with history) of a node that saw a prefix.
      auto half = converge(std::vector<Status>(order.begin(), order.begin() + order.size() / 2 + 1));
      order.insert(order.begin() + static_cast<long>(rng() % order.size()), half);
      Status other = converge(order);
      ASSERT_EQ(other.version, first.version) << "round " << round;
      ASSERT_EQ(history_json(other, kNow + 10000), want) << "round " << round;
      ASSERT_EQ(to_wire_json(other), to_wire_json(first)) << "round " << round;
    }
  }
}

TEST(History, OlderConcurrentWriteJoinsOnlyTheHistory) {
  Status b = live("alice", "b", at(kNow + 10), "n2");
  Status a = live("alice", "a", at(kNow + 5), "n1");
  auto r = merged_state(a, &b, 0, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, b.version);
  ASSERT_EQ(r->past.size(), 1u);
  EXPECT_EQ(r->past[0].text, "a");
  EXPECT_FALSE(merged_state(a, &*r, 0, kNow)) << "a duplicate changes nothing";
}

TEST(ExpiryIndex, ExpiredStatusesVanishForReadersAndExpireDueReportsThem) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(kNow);
  StatusIndex index([now] { return now->load(); });
  Status s = live("alice", "until soon", at(kNow));
  s.expires_at_ms = kNow + 1000;
  Status t = live("bob", "forever", at(kNow));
  index.install({Entry::make(s), Entry::make(t)});
  EXPECT_EQ(index.next_expiry(), kNow + 1000);
  EXPECT_TRUE(index.get("alice"));
  EXPECT_EQ(index.list(0, 10).total, 2u);
  EXPECT_TRUE(index.expire_due(kNow + 999, 100).empty());
  *now = kNow + 1000;
  EXPECT_FALSE(index.get("alice")) << "gone at expiresAt, before expire_due ran";
  EXPECT_EQ(index.list(0, 10).items.size(), 1u);
  EXPECT_EQ(index.history("alice").value_or(""), history_json(s, kNow + 1000));
  auto due = index.expire_due(kNow + 1000, 100);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].username, "alice");
  EXPECT_EQ(due[0].version, s.version);
  EXPECT_EQ(index.list(0, 10).total, 1u);
  EXPECT_EQ(index.next_expiry(), 0);
  EXPECT_TRUE(index.expire_due(kNow + 5000, 100).empty());
  // Loaded after its expiry (a restart): never listed.
  StatusIndex later([now] { return now->load(); });
  later.install({Entry::make(s)});
  EXPECT_EQ(later.list(0, 10).total, 0u);
  EXPECT_EQ(later.next_expiry(), 0);
  // Neither status nor history: nullopt; a status without history: [].
  EXPECT_FALSE(index.history("carol"));
  EXPECT_EQ(index.history("bob").value_or("?"), "[]");
}

TEST(ListFilters, CombineAndCountMatches) {
  StatusIndex index;
  std::vector<Entry> es;
  auto add = [&](std::string u, std::string text, Availability a, std::optional<std::pair<double, double>> pos,
                 std::int64_t t) {
    Status s = live(std::move(u), std::move(text), at(kNow + t));
    s.availability = a;
    if (pos) {
      s.latitude = pos->first;
      s.longitude = pos->second;
    }
    es.push_back(Entry::make(s));
  };
  add("alice", "In a Meeting", Availability::kBusy, std::pair{48.2, 16.37}, 1);    // Vienna
  add("bob", "lunch", Availability::kAway, std::pair{35.68, 139.69}, 2);           // Tokyo
  add("carol", "meeting notes", Availability::kAvailable, std::nullopt, 3);
  add("dmitri", "Встреча в ОФИСЕ", Availability::kBusy, std::pair{55.75, 37.62}, 4);  // Moscow
  add("MEETbot", "auto", Availability::kDnd, std::pair{48.1, 16.2}, 5);
  index.install(std::move(es));
  auto names = [&](const ListFilter& f, std::size_t off = 0, std::size_t lim = 100) {
    auto p = index.list(f, off, lim);
    std::string out;
    for (const auto& j : p.items) out += std::string(boost::json::parse(j).at("username").as_string()) + " ";
    return out + "/" + std::to_string(p.total);
  };
  ListFilter q;
  q.q = "meet";
  EXPECT_EQ(names(q), "MEETbot carol alice /3");
  q.q = "офис";  // Cyrillic, other case
  EXPECT_EQ(names(q), "dmitri /1");
  ListFilter busy;
  busy.availabilities = 1u << static_cast<unsigned>(Availability::kBusy);
  EXPECT_EQ(names(busy), "dmitri alice /2");
  ListFilter box;
  box.bbox = ListFilter::Box{16.0, 48.0, 17.0, 49.0};
  EXPECT_EQ(names(box), "MEETbot alice /2");
  box.q = "meet";
  box.availabilities = 1u << static_cast<unsigned>(Availability::kDnd);
  EXPECT_EQ(names(box), "MEETbot /1");
  ListFilter users;
  users.usernames = {"carol", "alice", "nobody", "alice"};
  EXPECT_EQ(names(users), "carol alice /2");
  users.q = "meeting";
  EXPECT_EQ(names(users, 1, 1), "alice /2");
  EXPECT_EQ(names(q, 1, 1), "/1");  // q reset above to "офис": one match, offset past it
}

TEST(EventIds, RoundTripAndRejectGarbage) {
  EventId id{kNow, 42, "abc123"};
  auto back = EventId::parse(id.str());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ms, kNow);
  EXPECT_EQ(back->seq, 42u);
  EXPECT_EQ(back->boot, "abc123");
  for (auto bad : {"", "x", "1.2", "zz.1.abc", "1..abc", ".1.abc", "1.zz.abc"})
    EXPECT_FALSE(EventId::parse(bad)) << bad;
}

namespace {

struct HubFixture {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(kNow);
  EventHub::Options options;
  std::unique_ptr<EventHub> hub;
  explicit HubFixture(std::size_t replay_max = 100) {
    options.replay_max = replay_max;
    options.replay_window_ms = 60000;
    options.resume_margin_ms = 2000;
    hub = std::make_unique<EventHub>(options, [n = now] { return n->load(); });
  }
  void change(const std::string& user, std::uint64_t n) {
    Status s = live(user, "t", at(kNow, n));
    hub->publish({Change{s, to_api_json(s), 0}});
  }
  std::shared_ptr<FakeExchange> connect(std::optional<std::string> last = std::nullopt) {
    auto ex = std::make_shared<FakeExchange>();
    status::common::Response head;
    EXPECT_EQ(hub->subscribe(ex, head, "c", last), EventHub::Subscribed::kOk);
    return ex;
  }
};

std::vector<std::string> ids_in(const std::string& stream) {
  std::vector<std::string> out;
  for (std::size_t p = 0; (p = stream.find("id: ", p)) != std::string::npos; p += 4)
    out.push_back(stream.substr(p + 4, stream.find('\n', p) - p - 4));
  return out;
}

}  // namespace

std::size_t count_of(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t p = 0; (p = s.find(what, p)) != std::string::npos; p += what.size()) ++n;
  return n;
}

TEST(EventHeartbeat, OnlyToThoseWhoAskAfterTheirIntervalWithoutAnEvent) {
  HubFixture f;
  auto clock = std::make_shared<std::atomic<std::int64_t>>(1000);
  f.hub->set_beat_clock([c = clock] { return c->load(); });
  f.hub->beat();  // nobody asked: nothing
  auto plain = f.connect();
  auto ex1 = std::make_shared<FakeExchange>();
  auto ex2 = std::make_shared<FakeExchange>();
  status::common::Response head;
  ASSERT_EQ(f.hub->subscribe(ex1, head, "c", std::nullopt, 1), EventHub::Subscribed::kOk);
  ASSERT_EQ(f.hub->subscribe(ex2, head, "c", std::nullopt, 2), EventHub::Subscribed::kOk);
  *clock = 1999;
  f.hub->beat();
  EXPECT_EQ(count_of(ex1->chunks(), "event: heartbeat"), 0u);
  *clock = 2000;  // 1 s after the subscribe
  f.hub->beat();
  f.hub->beat();  // once per interval, however often beat() runs
  EXPECT_EQ(count_of(ex1->chunks(), "event: heartbeat\ndata: {}\n\n"), 1u);
  EXPECT_EQ(count_of(ex2->chunks(), "event: heartbeat"), 0u);
  // An event restarts every subscriber's interval.
  *clock = 2500;
  f.change("u1", 1);
  *clock = 3000;  // 2 s after ex2's subscribe, but 0.5 s after the event
  f.hub->beat();
  EXPECT_EQ(count_of(ex1->chunks(), "event: heartbeat"), 1u);
  EXPECT_EQ(count_of(ex2->chunks(), "event: heartbeat"), 0u);
  *clock = 3500;
  f.hub->beat();
  EXPECT_EQ(count_of(ex1->chunks(), "event: heartbeat"), 2u);
  *clock = 4500;
  f.hub->beat();
  EXPECT_EQ(count_of(ex1->chunks(), "event: heartbeat"), 3u);
  EXPECT_EQ(count_of(ex2->chunks(), "event: heartbeat"), 1u);
  // No id on a heartbeat: the ids are the events' alone, and nobody else gets one.
  EXPECT_EQ(ids_in(ex1->chunks()).size(), 1u);
  EXPECT_EQ(count_of(plain->chunks(), "heartbeat"), 0u);
  EXPECT_NE(plain->chunks().find("\"u1\""), std::string::npos);
  // A closed stream is dropped.
  ex1->end_stream();
  *clock = 9000;
  f.hub->beat();
  EXPECT_EQ(f.hub->subscribers(), 2u);
  EXPECT_EQ(count_of(ex2->chunks(), "event: heartbeat"), 2u);
}

TEST(EventReplay, SameNodeResumesExactlyAfterTheLastId) {
  HubFixture f;
  auto a = f.connect();
  f.change("u1", 1);
  f.change("u2", 2);
  auto ids = ids_in(a->wait_chunks("u2"));
  ASSERT_EQ(ids.size(), 2u);
  f.change("u3", 3);
  f.change("u4", 4);
  auto b = f.connect(ids[0]);
  auto got = b->wait_chunks("u4");
  EXPECT_EQ(got.find("\"u1\""), std::string::npos);
  EXPECT_NE(got.find("\"u2\""), std::string::npos);
  EXPECT_NE(got.find("\"u3\""), std::string::npos);
  EXPECT_EQ(got.find("event: reset"), std::string::npos);
  f.change("u5", 5);  // then live
  EXPECT_NE(b->wait_chunks("u5").find("u5"), std::string::npos);
}

// A list answer's X-Event-Id: a stream started from the position taken before the read gets
// exactly the changes after it — none before, nothing at all when nothing changed, no reset;
// the same from an empty hub, and from another node's position.
TEST(EventReplay, FromAPositionGetsEveryChangeAfterItAndNoReset) {
  HubFixture f;
  HubFixture other;  // another node, up since the same time
  auto empty = f.hub->position();
  EXPECT_TRUE(EventId::parse(empty));
  auto none = f.connect(empty);
  f.change("u1", 1);
  f.change("u2", 2);
  EXPECT_NE(none->wait_chunks("u2").find("\"u1\""), std::string::npos);
  *f.now = kNow + 3000;
  auto pos = f.hub->position();
  auto quiet = f.connect(pos);  // nothing since: an empty replay, then live
  f.change("u3", 3);
  for (const auto& got : {f.connect(pos)->wait_chunks("u3"), quiet->wait_chunks("u3")}) {
    EXPECT_EQ(got.find("\"u1\""), std::string::npos) << got;
    EXPECT_EQ(got.find("\"u2\""), std::string::npos) << got;
    EXPECT_NE(got.find("\"u3\""), std::string::npos) << got;
    EXPECT_EQ(got.find("event: reset"), std::string::npos) << got;
  }
  // Another node's hub reads it as a foreign id: what it applied since then (minus the margin).
  *other.now = kNow + 3100;
  other.change("elsewhere", 4);
  auto got = other.connect(pos)->wait_chunks("elsewhere");
  EXPECT_EQ(got.find("event: reset"), std::string::npos);
}

TEST(EventReplay, AnotherNodesIdResumesFromItsTimeMinusTheMargin) {
  HubFixture f;
  f.change("early", 1);  // applied here at kNow
  *f.now = kNow + 5000;
  f.change("mid", 2);
  *f.now = kNow + 10000;
  // The client's last event came from another node at kNow + 6000: this node sends what it
  // applied since kNow + 4000 ("mid"), not "early".
  EventId foreign{kNow + 6000, 999, "othernode"};
  auto got = f.connect(foreign.str())->wait_chunks("mid");
  EXPECT_EQ(got.find("early"), std::string::npos);
  EXPECT_EQ(got.find("event: reset"), std::string::npos);
}

TEST(EventReplay, ResetWhenTheGapIsTooOldOrUnreadable) {
  HubFixture f(3);
  auto a = f.connect();
  f.change("u1", 1);
  auto first = ids_in(a->wait_chunks("u1"))[0];
  for (int i = 2; i <= 6; ++i) f.change("u" + std::to_string(i), i);  // the log keeps 3
  EXPECT_NE(f.connect(first)->wait_chunks("reset").find("event: reset"), std::string::npos);
  EXPECT_NE(f.connect("garbage")->wait_chunks("reset").find("event: reset"), std::string::npos);
  // Older than the window, from another node.
  EventId old{kNow - 120000, 1, "othernode"};
  EXPECT_NE(f.connect(old.str())->wait_chunks("reset").find("event: reset"), std::string::npos);
  // A node started after the client's last event cannot tell either.
  HubFixture fresh;
  EventId before{kNow - 1000, 1, "othernode"};
  EXPECT_NE(fresh.connect(before.str())->wait_chunks("reset").find("event: reset"), std::string::npos);
  // The reset carries an id from which the client resumes normally.
  auto r = f.connect("garbage")->wait_chunks("reset");
  auto rid = ids_in(r);
  ASSERT_EQ(rid.size(), 1u);
  f.change("u7", 7);
  auto resumed = f.connect(rid[0])->wait_chunks("u7");
  EXPECT_EQ(resumed.find("event: reset"), std::string::npos);
  EXPECT_EQ(resumed.find("\"u6\""), std::string::npos);
}

TEST(EventReplay, ExpireEventsAndHistoryOnlyChanges) {
  HubFixture f;
  auto a = f.connect();
  Status s = live("alice", "t", at(kNow, 1));
  f.hub->publish({Change{s, {}, 0, Change::What::kHistory}});
  f.hub->publish({Change{s, {}, 0, Change::What::kExpire}});
  auto got = a->wait_chunks("expire");
  EXPECT_NE(got.find("event: expire\ndata: {\"username\":\"alice\",\"version\":\"" + s.version.str() + "\"}"),
            std::string::npos);
  EXPECT_EQ(ids_in(got).size(), 1u) << "a history-only change is nobody's event";
}

TEST(ListFilters, PackedRowsStayRightThroughReplacesRemovalsAndCompaction) {
  // Random writes, replaces and deletes over 300 users with long texts (so that the arena is
  // compacted several times); after each round the filtered list equals a brute-force answer.
  StatusIndex index;
  std::map<std::string, Status> model;
  std::mt19937 rng(11);
  const char* words[] = {"alpha", "Beta", "GAMMA", "Ωmega", "Дом"};
  for (int round = 0; round < 40; ++round) {
    std::vector<Entry> installs;
    std::vector<std::string> erases;
    for (int i = 0; i < 150; ++i) {
      std::string u = "u" + std::to_string(rng() % 300);
      if (rng() % 4 == 0) {
        erases.push_back(u);
        std::erase_if(installs, [&](const Entry& e) { return e.status.username == u; });
        model.erase(u);
        continue;
      }
      std::string text = std::string(words[rng() % 5]) + " " + std::string(900, 'x') + std::to_string(rng() % 10);
      Status s = live(u, text, at(kNow + round * 1000 + i));
      s.availability = static_cast<Availability>(rng() % 4);
      if (rng() % 2) {
        s.latitude = static_cast<double>(rng() % 180) - 90;
        s.longitude = static_cast<double>(rng() % 360) - 180;
      }
      std::erase_if(installs, [&](const Entry& e) { return e.status.username == u; });
      std::erase(erases, u);
      installs.push_back(Entry::make(s));
      model[u] = s;
    }
    index.erase(erases);
    index.install(std::move(installs));
    ListFilter f;
    f.q = round % 2 ? "ωMEGA" : "дом x";
    f.bbox = ListFilter::Box{-90, -45, 90, 45};
    std::vector<const Status*> want;
    for (const auto& [u, s] : model) {
      bool q = fold_text(s.text).find(fold_text(f.q)) != std::string::npos;
      bool box = s.longitude && *s.longitude >= -90 && *s.longitude <= 90 && *s.latitude >= -45 &&
                 *s.latitude <= 45;
      if (q && box) want.push_back(&s);
    }
    std::sort(want.begin(), want.end(), [](const Status* a, const Status* b) {
      return a->time_ms != b->time_ms ? a->time_ms > b->time_ms : a->username < b->username;
    });
    auto page = index.list(f, 2, 5);
    ASSERT_EQ(page.total, want.size()) << "round " << round;
    for (std::size_t i = 0; i < page.items.size(); ++i)
      ASSERT_EQ(page.items[i], to_api_json(*want[i + 2])) << "round " << round;
  }
}

TEST(EventReplay, AYoungerNodeResumesFromItsStoredState) {
  HubFixture f;
  std::optional<std::int64_t> asked;
  f.hub->set_state_since([&](std::int64_t from) -> std::optional<std::vector<Change>> {
    asked = from;
    Status s = live("missed", "while the client was away", at(kNow, 1));
    return std::vector<Change>{Change{s, to_api_json(s), 0}, Change{gone("gone", at(kNow, 2)), {}, 0}};
  });
  EventId before{kNow - 1000, 5, "othernode"};  // before this hub started (kNow)
  auto got = f.connect(before.str())->wait_chunks("event: delete");
  EXPECT_EQ(asked.value_or(0), kNow - 1000 - 2000);
  EXPECT_NE(got.find("\"missed\""), std::string::npos);
  EXPECT_EQ(got.find("event: reset"), std::string::npos);
  EXPECT_EQ(ids_in(got).size(), 2u);
  // Too much changed (the store says so): reset.
  f.hub->set_state_since([](std::int64_t) { return std::optional<std::vector<Change>>{}; });
  EXPECT_NE(f.connect(before.str())->wait_chunks("reset").find("event: reset"), std::string::npos);
}

TEST(ExpiryIndex, ChangedSinceListsNewerStatesAndExpiries) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(kNow + 10000);
  StatusIndex index([now] { return now->load(); });
  Status old = live("old", "t", at(kNow - 5000));
  Status fresh = live("fresh", "t", at(kNow + 1000));
  Status went = live("went", "t", at(kNow - 5000));
  went.expires_at_ms = kNow + 2000;
  index.install({Entry::make(old), Entry::make(fresh), Entry::make(went),
                 Entry::make(gone("deleted", at(kNow + 3000)))});
  auto c = index.changed_since(kNow, 100);
  ASSERT_TRUE(c);
  std::vector<std::string> names;
  for (const auto& e : *c) names.push_back(e.status.username);
  EXPECT_EQ(names, (std::vector<std::string>{"went", "fresh", "deleted"}));
  EXPECT_FALSE(index.changed_since(kNow, 2));
}
