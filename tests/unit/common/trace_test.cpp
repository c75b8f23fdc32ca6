// W3C Trace Context parsing, span ids, sampling and the OTLP/JSON form of spans.
#include "common/trace.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <set>

using namespace status::common;
namespace json = boost::json;

TEST(Trace, ParsesTheW3cExamplesAndRefusesTheInvalid) {
  auto t = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled);
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // A later version may append fields; version 00 may not.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"));
  for (const char* bad : {
           "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"}) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
}

TEST(Trace, ServerSpansContinueTheCallerOrStartATrace) {
  auto child = server_span("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(child.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(child.parent_hex(), "00f067aa0ba902b7");
  EXPECT_NE(child.span_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(child.sampled);
  EXPECT_EQ(child.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-" + child.span_hex() + "-01");
  auto grandchild = child.child();
  EXPECT_EQ(grandchild.parent_id, child.span_id);
  // Fresh ids never repeat (here: in 10,000) and are never all zero.
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    auto t = server_span("garbage");
    EXPECT_TRUE(t.valid());
    EXPECT_FALSE(t.has_parent());
    ids.insert(t.trace_hex());
  }
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(Trace, NewTracesAreSampledByTheRatio) {
  auto share = [](double ratio) {
    configure_tracing({.sample_ratio = ratio});
    int n = 0;
    for (int i = 0; i < 20000; ++i) n += server_span("").sampled;
    return n / 20000.0;
  };
  EXPECT_EQ(share(0), 0);
  EXPECT_EQ(share(1), 1);
  EXPECT_NEAR(share(0.01), 0.01, 0.004);
  EXPECT_NEAR(share(0.5), 0.5, 0.03);
  configure_tracing({.sample_ratio = 0});
}

TEST(Trace, OtlpJsonCarriesIdsAsHexAndTimesAsStrings) {
  Span s;
  s.ctx = *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  auto child = s.ctx.child();
  Span c{child, "publish", 4, 1000, 2000, {{"status.node", "n1"}}, false};
  auto doc = json::parse(otlp_json("status-node", {c}));
  const auto& rs = doc.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "status-node");
  const auto& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("spanId").as_string().size(), 16u);
  EXPECT_EQ(span.at("kind"), 4);
  EXPECT_EQ(span.at("startTimeUnixNano"), "1000");
  EXPECT_EQ(span.at("endTimeUnixNano"), "2000");
  EXPECT_EQ(span.at("attributes").at(0).at("key"), "status.node");
}
