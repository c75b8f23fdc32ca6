// The REST handlers without sockets: a fake Exchange records the answer of handle_api.
#include "node/api.hpp"

#include "fake_exchange.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>

using namespace status::node;
using status::common::Exchange;
using status::common::Request;
using status::common::Response;
namespace http = status::common::http;

namespace {

using status::test::FakeExchange;

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("api_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    Store::Options o;
    o.data_dir = dir_.string();
    o.node_id = "n1";
    store_ = std::make_unique<Store>(o, clock_);
    store_->set_change_listener([this](const std::vector<Change>& c) { events_.publish(c); });
    store_->start();
    deps_ = std::make_unique<ApiDeps>(ApiDeps{*store_, events_, answerer_, "n1"});
  }
  ~ApiTest() override {
    events_.close_all();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static Request make(http::verb method, std::string target, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request req{method, target, 11};
    req.set(http::field::host, "localhost");
    bool has_type = false;
    for (auto& [k, v] : headers) {
      req.set(k, v);
      if (boost::beast::iequals(k, "content-type")) has_type = true;
    }
    if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  Response call(Request req, std::shared_ptr<FakeExchange>* keep = nullptr) {
    auto ex = std::make_shared<FakeExchange>();
    handle_api(std::move(req), ex, *deps_);
    if (keep) *keep = ex;
    return ex->wait();
  }
  Response call(http::verb m, std::string target, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    return call(make(m, std::move(target), std::move(body), std::move(headers)));
  }

  static std::string detail(const Response& r) {
    EXPECT_EQ(r[http::field::content_type], "application/problem+json") << r.body();
    auto v = boost::json::parse(r.body());
    EXPECT_EQ(v.at("status").as_int64(), r.result_int());
    EXPECT_EQ(v.at("type").as_string(), "about:blank");
    return std::string(v.at("detail").as_string());
  }

  std::filesystem::path dir_;
  HybridClock clock_;
  EventHub events_;
  std::unique_ptr<Store> store_;
  WriteAnswerer answerer_{nullptr, nullptr, std::chrono::milliseconds(2000)};
  std::unique_ptr<ApiDeps> deps_;
};

constexpr auto GET = http::verb::get;
constexpr auto POST = http::verb::post;
constexpr auto PUT = http::verb::put;
constexpr auto DEL = http::verb::delete_;

}  // namespace

TEST_F(ApiTest, PostCreatesThenReplaces) {
  auto r = call(POST, "/api/statuses", R"({"username":"alice","statusText":"hi"})");
  ASSERT_EQ(r.result_int(), 201) << r.body();
  EXPECT_EQ(r[http::field::location], "/api/statuses/alice");
  EXPECT_EQ(r[http::field::content_type], "application/json");
  auto v = boost::json::parse(r.body());
  EXPECT_EQ(v.at("username").as_string(), "alice");
  EXPECT_EQ(v.at("statusText").as_string(), "hi");
  EXPECT_EQ(r[http::field::etag], "\"" + std::string(v.at("version").as_string()) + "\"");
  auto r2 = call(POST, "/api/statuses", R"({"username":"alice","statustext":"again"})");
  EXPECT_EQ(r2.result_int(), 200);
  EXPECT_TRUE(r2[http::field::location].empty());
  EXPECT_EQ(boost::json::parse(r2.body()).at("statusText").as_string(), "again");
}

TEST_F(ApiTest, GetOneWithETagAndIfNoneMatch) {
  EXPECT_EQ(call(GET, "/api/statuses/alice").result_int(), 404);
  auto w = call(PUT, "/api/statuses/alice", R"({"statusText":"hi","time":"2026-11-25T11:15:00+01:00"})");
  ASSERT_EQ(w.result_int(), 201);
  auto g = call(GET, "/api/statuses/alice");
  ASSERT_EQ(g.result_int(), 200);
  std::string etag(g[http::field::etag]);
  EXPECT_EQ(etag, std::string(w[http::field::etag]));
  EXPECT_EQ(boost::json::parse(g.body()).at("time").as_string(), "2026-11-25T10:15:00Z");
  auto nm = call(GET, "/api/statuses/alice", "", {{"If-None-Match", etag}});
  EXPECT_EQ(nm.result_int(), 304);
  EXPECT_TRUE(nm.body().empty());
  EXPECT_EQ(nm[http::field::etag], etag);
  EXPECT_EQ(call(GET, "/api/statuses/alice", "", {{"If-None-Match", "W/" + etag}}).result_int(), 304);
  EXPECT_EQ(call(GET, "/api/statuses/alice", "", {{"If-None-Match", "\"x\", " + etag}}).result_int(),
            304);
  EXPECT_EQ(call(GET, "/api/statuses/alice", "", {{"If-None-Match", "*"}}).result_int(), 304);
  EXPECT_EQ(call(GET, "/api/statuses/alice", "", {{"If-None-Match", "\"other\""}}).result_int(), 200);
  // Percent-encoded path names the same user.
  EXPECT_EQ(call(GET, "/api/statuses/%61lice").result_int(), 200);
}

TEST_F(ApiTest, PutPreconditionsAndMismatch) {
  EXPECT_EQ(call(PUT, "/api/statuses/bob", R"({"statusText":"x"})").result_int(), 201);
  EXPECT_EQ(call(PUT, "/api/statuses/bob", R"({"username":"bob","statusText":"y"})").result_int(), 200);
  auto mm = call(PUT, "/api/statuses/bob", R"({"username":"alice","statusText":"y"})");
  EXPECT_EQ(mm.result_int(), 400);
  EXPECT_NE(detail(mm).find("does not match"), std::string::npos);
  std::string etag(call(GET, "/api/statuses/bob")[http::field::etag]);
  auto pf = call(PUT, "/api/statuses/bob", R"({"statusText":"z"})", {{"If-Match", "\"nope\""}});
  EXPECT_EQ(pf.result_int(), 412);
  detail(pf);
  EXPECT_EQ(call(PUT, "/api/statuses/bob", R"({"statusText":"z"})", {{"If-None-Match", "*"}}).result_int(),
            412);
  EXPECT_EQ(store_->get("bob")->status.text, "y");
  EXPECT_EQ(call(PUT, "/api/statuses/bob", R"({"statusText":"z"})", {{"If-Match", etag}}).result_int(),
            200);
  EXPECT_EQ(call(PUT, "/api/statuses/new", R"({"statusText":"z"})", {{"If-None-Match", "*"}}).result_int(),
            201);
  EXPECT_EQ(call(PUT, "/api/statuses/nobody", R"({"statusText":"z"})", {{"If-Match", "*"}}).result_int(),
            412);
}

TEST_F(ApiTest, DeleteAndIfMatch) {
  EXPECT_EQ(call(DEL, "/api/statuses/carol").result_int(), 404);
  call(PUT, "/api/statuses/carol", R"({"statusText":"x"})");
  std::string etag(call(GET, "/api/statuses/carol")[http::field::etag]);
  EXPECT_EQ(call(DEL, "/api/statuses/carol", "", {{"If-Match", "\"0000000000000001.zz\""}}).result_int(),
            412);
  EXPECT_TRUE(store_->get("carol"));
  auto d = call(DEL, "/api/statuses/carol", "", {{"If-Match", etag}});
  EXPECT_EQ(d.result_int(), 204);
  EXPECT_TRUE(d.body().empty());
  EXPECT_EQ(call(GET, "/api/statuses/carol").result_int(), 404);
  EXPECT_EQ(call(DEL, "/api/statuses/carol").result_int(), 404);
}

TEST_F(ApiTest, ListWithPagingHeaders) {
  for (int i = 0; i < 5; ++i)
    call(POST, "/api/statuses",
         R"({"username":"u)" + std::to_string(i) + R"(","statusText":"x","time":"2026-01-0)" +
             std::to_string(i + 1) + R"(T00:00:00Z"})");
  auto all = call(GET, "/api/statuses");
  ASSERT_EQ(all.result_int(), 200);
  EXPECT_EQ(all["X-Total-Count"], "5");
  EXPECT_TRUE(all[http::field::link].empty());
  auto arr = boost::json::parse(all.body()).as_array();
  ASSERT_EQ(arr.size(), 5u);
  EXPECT_EQ(arr[0].at("username").as_string(), "u4");  // newest time first
  EXPECT_EQ(arr[4].at("username").as_string(), "u0");
  auto p = call(GET, "/api/statuses?limit=2&offset=1");
  EXPECT_EQ(p["X-Total-Count"], "5");
  EXPECT_EQ(p[http::field::link], "</api/statuses?limit=2&offset=3>; rel=\"next\"");
  auto parr = boost::json::parse(p.body()).as_array();
  ASSERT_EQ(parr.size(), 2u);
  EXPECT_EQ(parr[0].at("username").as_string(), "u3");
  auto last = call(GET, "/api/statuses?limit=2&offset=3");
  EXPECT_TRUE(last[http::field::link].empty());
  EXPECT_EQ(boost::json::parse(last.body()).as_array().size(), 2u);
  EXPECT_EQ(call(GET, "/api/statuses?offset=99").body(), "[]");
  EXPECT_EQ(call(GET, "/api/statuses?limit=1000").result_int(), 200);
  for (std::string q : {"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "offset=-1",
                        "offset=x", "limit=1.5"}) {
    auto r = call(GET, "/api/statuses?" + q);
    EXPECT_EQ(r.result_int(), 400) << q;
    detail(r);
  }
}

TEST_F(ApiTest, BadBodiesAre400WithDetail) {
  for (std::string b : {R"({"username":"alice"})", R"({"statusText":"x"})", "{", "[]",
                        R"({"username":"alice","statusText":"x","extra":1})",
                        R"({"username":"alice","statusText":"x","latitude":1})",
                        R"({"username":"alice","statusText":"x","latitude":91,"longitude":0})",
                        "{\"username\":\"alice\",\"statusText\":\"\xff\"}"}) {
    auto r = call(POST, "/api/statuses", b);
    EXPECT_EQ(r.result_int(), 400) << b;
    EXPECT_FALSE(detail(r).empty());
  }
  EXPECT_EQ(store_->live_count(), 0u);
  auto empty = call(POST, "/api/statuses", "", {{"Content-Type", "application/json"}});
  EXPECT_EQ(empty.result_int(), 400);
}

TEST_F(ApiTest, ContentTypes) {
  std::string body = R"({"username":"alice","statusText":"x"})";
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "text/plain"}}).result_int(), 415);
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "application/xml"}}).result_int(), 415);
  auto r = call(PUT, "/api/statuses/alice", body, {{"Content-Type", "multipart/form-data"}});
  EXPECT_EQ(r.result_int(), 415);
  detail(r);
  EXPECT_EQ(store_->live_count(), 0u);
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "application/json; charset=utf-8"}})
                .result_int(),
            201);
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "Application/JSON"}}).result_int(), 200);
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "application/merge-patch+json"}})
                .result_int(),
            200);
  // No Content-Type, and the form types a cross-site form can send: refused (CSRF).
  auto req = make(POST, "/api/statuses", body, {{"Content-Type", "application/json"}});
  req.erase(http::field::content_type);
  EXPECT_EQ(call(std::move(req)).result_int(), 415);
  EXPECT_EQ(call(POST, "/api/statuses", body, {{"Content-Type", "application/x-www-form-urlencoded"}})
                .result_int(),
            415);
}

TEST_F(ApiTest, PathErrors) {
  auto unknown = call(GET, "/api/nothing");
  EXPECT_EQ(unknown.result_int(), 404);
  detail(unknown);
  EXPECT_EQ(call(GET, "/api").result_int(), 404);
  EXPECT_EQ(call(GET, "/api/statuses/a/b").result_int(), 404);
  auto bad = call(GET, "/api/statuses/a%zz");
  EXPECT_EQ(bad.result_int(), 400);
  detail(bad);
  EXPECT_EQ(call(GET, "/api/statuses/a%2").result_int(), 400);
  EXPECT_EQ(call(GET, "/api/statuses/" + std::string(65, 'a')).result_int(), 400);
  EXPECT_EQ(call(GET, "/api/statuses/a%20b").result_int(), 400);
  EXPECT_EQ(call(PUT, "/api/statuses/a%20b", R"({"statusText":"x"})").result_int(), 400);
}

TEST_F(ApiTest, WrongMethodIs405WithAllow) {
  struct Case {
    http::verb m;
    std::string target;
  };
  for (auto c : {Case{PUT, "/api/statuses"}, Case{DEL, "/api/statuses"},
                 Case{http::verb::patch, "/api/statuses"}, Case{POST, "/api/statuses/alice"},
                 Case{http::verb::patch, "/api/statuses/alice"}, Case{POST, "/api/events"}}) {
    auto r = call(c.m, c.target);
    EXPECT_EQ(r.result_int(), 405) << c.target;
    EXPECT_FALSE(r[http::field::allow].empty());
    detail(r);
  }
  EXPECT_EQ(call(PUT, "/api/statuses")[http::field::allow], "GET, POST");
  EXPECT_EQ(call(POST, "/api/statuses/a")[http::field::allow], "GET, PUT, DELETE");
}

TEST_F(ApiTest, ServedByAndRequestIdOnEveryAnswer) {
  std::vector<Request> reqs;
  reqs.push_back(make(GET, "/api/statuses"));
  reqs.push_back(make(POST, "/api/statuses", R"({"username":"alice","statusText":"x"})"));
  reqs.push_back(make(GET, "/api/statuses/alice"));
  reqs.push_back(make(GET, "/api/statuses/nobody"));
  reqs.push_back(make(POST, "/api/statuses", "{"));
  reqs.push_back(make(GET, "/api/unknown"));
  reqs.push_back(make(PUT, "/api/statuses"));
  reqs.push_back(make(DEL, "/api/statuses/alice"));
  for (auto& req : reqs) {
    std::string what(req.target());
    auto kept = req;
    kept.set("X-Request-Id", "req-123");
    auto r1 = call(std::move(kept));
    EXPECT_EQ(r1["X-Served-By"], "n1") << what;
    EXPECT_EQ(r1["X-Request-Id"], "req-123") << what;
    auto r2 = call(std::move(req));
    EXPECT_EQ(r2["X-Served-By"], "n1") << what;
    EXPECT_GE(r2["X-Request-Id"].size(), 16u) << what;
  }
  auto a = call(GET, "/api/statuses"), b = call(GET, "/api/statuses");
  EXPECT_NE(a["X-Request-Id"], b["X-Request-Id"]);
  // A request id with control characters is not echoed into a header.
  auto evil = make(GET, "/api/statuses");
  evil.set("X-Request-Id", "a b");
  EXPECT_NE(call(std::move(evil))["X-Request-Id"], "a b");
}

TEST_F(ApiTest, ConsistencyHeader) {
  auto bad = call(PUT, "/api/statuses/alice", R"({"statusText":"x"})", {{"X-Consistency", "most"}});
  EXPECT_EQ(bad.result_int(), 400);
  detail(bad);
  EXPECT_FALSE(store_->get("alice"));
  EXPECT_EQ(call(PUT, "/api/statuses/alice", R"({"statusText":"x"})", {{"X-Consistency", "async"}})
                .result_int(),
            201);
  // Alone (no peers to push to): the node is everyone, the answer says so.
  auto all = call(PUT, "/api/statuses/alice", R"({"statusText":"y"})", {{"X-Consistency", "ALL"}});
  EXPECT_EQ(all.result_int(), 200);
  EXPECT_EQ(all["X-Replicated"], "1/1");
}

TEST_F(ApiTest, NotReadyIs503WithRetryAfter) {
  deps_->unavailable = [] { return std::optional<std::string>("this node is starting"); };
  auto r = call(GET, "/api/statuses");
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_FALSE(r[http::field::retry_after].empty());
  EXPECT_EQ(r["X-Served-By"], "n1");
  detail(r);
}

TEST_F(ApiTest, RefusedWritesAre503ButReadsGoOn) {
  call(PUT, "/api/statuses/alice", R"({"statusText":"x"})");
  deps_->writes_refused = [] { return std::optional<std::string>("clock skewed"); };
  auto w = call(PUT, "/api/statuses/alice", R"({"statusText":"y"})");
  EXPECT_EQ(w.result_int(), 503);
  EXPECT_FALSE(w[http::field::retry_after].empty());
  EXPECT_EQ(call(DEL, "/api/statuses/alice").result_int(), 503);
  EXPECT_EQ(call(GET, "/api/statuses/alice").result_int(), 200);
  EXPECT_EQ(store_->get("alice")->status.text, "x");
}

TEST_F(ApiTest, EscapedSlashInTheNameIsABadName) {
  EXPECT_EQ(call(PUT, "/api/statuses/al%2Fice", R"({"statusText":"y"})").result_int(), 400);
  EXPECT_EQ(call(GET, "/api/statuses/al%2fice").result_int(), 400);
  EXPECT_EQ(call(GET, "/api/statuses/al/ice").result_int(), 404);
}

TEST_F(ApiTest, EventsStreamUpsertsAndDeletes) {
  auto ex = std::make_shared<FakeExchange>();
  handle_api(make(GET, "/api/events", "", {{"X-Request-Id", "ev-1"}}), ex, *deps_);
  ASSERT_TRUE(ex->streaming());
  auto head = ex->head();
  EXPECT_EQ(head[http::field::content_type], "text/event-stream");
  EXPECT_EQ(head["X-Served-By"], "n1");
  EXPECT_EQ(head["X-Request-Id"], "ev-1");
  call(PUT, "/api/statuses/alice", R"({"statusText":"hello"})");
  call(DEL, "/api/statuses/alice");
  auto chunks = ex->wait_chunks("event: delete");
  auto up = chunks.find("event: upsert\ndata: {\"username\":\"alice\",\"statusText\":\"hello\"");
  auto del = chunks.find("event: delete\ndata: {\"username\":\"alice\",\"version\":\"");
  EXPECT_NE(up, std::string::npos) << chunks;
  EXPECT_NE(del, std::string::npos) << chunks;
  EXPECT_LT(up, del);
  EXPECT_EQ(events_.subscribers(), 1u);
  // A stream that has closed no longer counts, at once (not only after the next heartbeat).
  ex->end_stream();
  EXPECT_EQ(events_.subscribers(), 0u);
}

TEST_F(ApiTest, EventsSubscriberLimit) {
  EventHub small(EventHub::Options{.max_subscribers = 1});
  deps_ = std::make_unique<ApiDeps>(ApiDeps{*store_, small, answerer_, "n1"});
  auto first = std::make_shared<FakeExchange>();
  handle_api(make(GET, "/api/events"), first, *deps_);
  EXPECT_TRUE(first->streaming());
  auto second = call(GET, "/api/events");
  EXPECT_EQ(second.result_int(), 503);
  small.close_all();
}

TEST_F(ApiTest, ParsePreconditions) {
  auto req = make(PUT, "/api/statuses/a", "", {{"If-Match", "\"a\", W/\"b\" ,\"c\""}, {"If-None-Match", "*"}});
  auto p = parse_preconditions(req);
  EXPECT_EQ(p.if_match, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p.if_none_match, (std::vector<std::string>{"*"}));
}
