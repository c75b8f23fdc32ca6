// CORS for the cluster's gateways only: the origin of a gateway URL and of an Origin field in one
// canonical form, matched exactly; any other origin is refused.
#include "gateway/cors.hpp"

#include <gtest/gtest.h>

#include "../node/fake_exchange.hpp"
#include "gateway/static_files.hpp"

using namespace status::gateway;

TEST(CanonicalOrigin, LowerCaseWithoutDefaultPorts) {
  EXPECT_EQ(canonical_origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_EQ(canonical_origin("HTTP://GW.Example.COM"), "http://gw.example.com");
  EXPECT_EQ(canonical_origin("http://gw.example:80"), "http://gw.example");
  EXPECT_EQ(canonical_origin("https://gw.example:443"), "https://gw.example");
  EXPECT_EQ(canonical_origin("https://gw.example:80"), "https://gw.example:80");
  EXPECT_EQ(canonical_origin("http://gw.example:443"), "http://gw.example:443");
  EXPECT_EQ(canonical_origin("http://gw:08080"), "http://gw:8080");
  EXPECT_EQ(canonical_origin("http://[::1]:8080"), "http://[::1]:8080");
  EXPECT_EQ(canonical_origin("https://[FE80::1]"), "https://[fe80::1]");
}

TEST(CanonicalOrigin, UrlsWithPathsOnlyWhenAllowed) {
  EXPECT_EQ(canonical_origin("https://gw.example/status/", true), "https://gw.example");
  EXPECT_EQ(canonical_origin("http://gw:81?x#y", true), "http://gw:81");
  EXPECT_EQ(canonical_origin("https://gw.example/status/"), std::nullopt);
  EXPECT_EQ(canonical_origin("http://gw:81/"), std::nullopt);
}

TEST(CanonicalOrigin, RefusesWhatIsNotAnHttpOrigin) {
  for (const char* bad : {"null",
                          "",
                          "gw.example",
                          "ftp://gw.example",
                          "file:///etc",
                          "http://",
                          "http://:80",
                          "http://user@gw.example",
                          "http://u:p@gw.example",
                          "http://gw.example:",
                          "http://gw.example:0",
                          "http://gw.example:65536",
                          "http://gw.example:123456",
                          "http://gw.example:8o",
                          "http://gw ex",
                          "http://gw%2eexample",
                          "http://[::1",
                          "http://[]:80",
                          "http://[::1]x",
                          "http://[zz]",
                          "javascript://gw/%0aalert(1)"})
    EXPECT_EQ(canonical_origin(bad), std::nullopt) << bad;
  EXPECT_EQ(canonical_origin("http://user@gw.example/", true), std::nullopt);
}

TEST(CorsPolicy, AllowsTheListedGatewaysOnly) {
  auto p = make_cors_policy(
      "http://127.0.0.1:8080",
      {"http://127.0.0.1:8080", "http://127.0.0.1:8081", "https://GW.example/status", "ftp://bad"});
  EXPECT_EQ(p.allowed("http://127.0.0.1:8081"), "http://127.0.0.1:8081");
  EXPECT_EQ(p.allowed("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_EQ(p.allowed("https://gw.example"), "https://gw.example");
  EXPECT_EQ(p.allowed("https://gw.example:443"), "https://gw.example");
  EXPECT_EQ(p.allowed("HTTP://127.0.0.1:8081"), "http://127.0.0.1:8081");
  // Another port, scheme or host of the same gateways, a suffix trick, "null", "*": nothing.
  for (const char* bad : {"http://127.0.0.1:8082", "https://127.0.0.1:8081", "http://gw.example",
                          "https://gw.example.evil", "https://evil.gw.example", "null", "*",
                          "http://127.0.0.1:8081/", "http://localhost:8081", ""})
    EXPECT_EQ(p.allowed(bad), std::nullopt) << bad;
  EXPECT_EQ(CorsPolicy{}.allowed("http://127.0.0.1:8080"), std::nullopt);
}

TEST(CorsPolicy, ConnectSrcListsTheOtherGateways) {
  auto alone = make_cors_policy("http://127.0.0.1:8080", {"http://127.0.0.1:8080"});
  EXPECT_EQ(alone.csp, kContentSecurityPolicy);
  auto p = make_cors_policy("http://127.0.0.1:8080",
                            {"https://b.example:8443/x", "http://127.0.0.1:8080",
                             "http://127.0.0.1:8081", "https://b.example:8443"});
  EXPECT_NE(p.csp.find("connect-src 'self' http://127.0.0.1:8081 https://b.example:8443;"),
            std::string::npos)
      << p.csp;
  // The rest as it was.
  std::string rest = p.csp;
  rest.erase(rest.find(" http://127.0.0.1:8081 https://b.example:8443"),
             std::string_view(" http://127.0.0.1:8081 https://b.example:8443").size());
  EXPECT_EQ(rest, kContentSecurityPolicy);
}

TEST(CorsPolicy, PreflightAnswer) {
  auto res = preflight_response("http://127.0.0.1:8081", true);
  EXPECT_EQ(res.result_int(), 204);
  EXPECT_EQ(res["Access-Control-Allow-Origin"], "http://127.0.0.1:8081");
  EXPECT_EQ(res["Access-Control-Allow-Credentials"], "true");
  EXPECT_EQ(res["Access-Control-Allow-Methods"], kCorsAllowMethods);
  EXPECT_NE(res["Access-Control-Allow-Headers"].find("Authorization"), std::string::npos);
  EXPECT_EQ(res["Access-Control-Max-Age"], "600");
  EXPECT_EQ(res["Vary"], "Origin");
}

// Every way of answering an allowed origin carries the fields: respond (the gateway's own),
// respond_serialized (the proxy's) and a stream's head; a node's own Vary is kept.
TEST(CorsExchange, AddsTheFieldsToEveryKindOfAnswer) {
  const std::string origin = "http://127.0.0.1:8081";
  auto check = [&](const status::common::Response& res) {
    EXPECT_EQ(res["Access-Control-Allow-Origin"], origin);
    EXPECT_EQ(res["Access-Control-Allow-Credentials"], "true");
    EXPECT_EQ(res["Access-Control-Expose-Headers"], kCorsExposeHeaders);
  };
  {
    auto fake = std::make_shared<status::test::FakeExchange>();
    with_cors_fields(fake, origin)->respond(status::common::problem(404, "no such status"));
    auto res = fake->wait();
    check(res);
    EXPECT_EQ(res["Vary"], "Origin");
  }
  {
    auto fake = std::make_shared<status::test::FakeExchange>();
    with_cors_fields(fake, origin)
        ->respond_serialized(200,
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n",
                             "{}");
    auto res = fake->wait();
    check(res);
    EXPECT_EQ(res.body(), "{}");
  }
  {
    auto fake = std::make_shared<status::test::FakeExchange>();
    status::common::Response head{status::common::http::status::ok, 11};
    head.set("Content-Type", "text/event-stream");
    head.set("Vary", "Accept-Encoding");
    with_cors_fields(fake, origin)->begin_stream(std::move(head));
    auto got = fake->head();
    check(got);
    EXPECT_EQ(got["Vary"], "Accept-Encoding, Origin");
  }
}
