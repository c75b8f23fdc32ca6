// The event-stream parser statusctl watch reads /api/events with.
#include "ctl/sse_parser.hpp"

#include <gtest/gtest.h>

using status::ctl::SseParser;

TEST(SseParser, EventsInPiecesAndTheLastId) {
  SseParser p;
  EXPECT_TRUE(p.feed(": connected\n\nid: 1a.1.x\nevent: ups").empty());
  auto e = p.feed("ert\ndata: {\"a\":1}\r\n\r\nid: 1a.2.x\nevent: expire\ndata: {}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].type, "upsert");
  EXPECT_EQ(e[0].data, "{\"a\":1}");
  EXPECT_EQ(p.last_event_id(), "1a.2.x") << "an id counts once its line is read";
  e = p.feed("\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].type, "expire");
  EXPECT_TRUE(p.feed(": ping\n\n").empty());
  EXPECT_EQ(p.last_event_id(), "1a.2.x") << "kept until another id comes";
}
