// What statusctl prints of a server's data never carries terminal control sequences.
#include "ctl/format.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace status::ctl;

TEST(FormatTest, OneLineCutsC0AndC1Controls) {
  EXPECT_EQ(one_line("a\x1b[31mred\x07", 100), "a [31mred ");
  EXPECT_EQ(one_line("x\xc2\x9b" "2Jy", 100), "x 2Jy");  // U+009B, a one-byte CSI
  EXPECT_EQ(one_line("caf\xc3\xa9 \xf0\x9f\x93\x85", 100), "caf\xc3\xa9 \xf0\x9f\x93\x85");
}

TEST(FormatTest, TablesSanitiseEveryField) {
  auto services = boost::json::parse(
                      R"([{"instanceId":"n1\u001b]0;pwned\u0007","url":"http://x\u009b2J","status":"UP"}])")
                      .as_array();
  auto table = render_services_table(services);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find('\x07'), std::string::npos) << table;
  EXPECT_EQ(table.find("\xc2\x9b"), std::string::npos) << table;
}

namespace {
boost::json::object object(const char* text) { return boost::json::parse(text).as_object(); }
boost::json::array array(const char* text) { return boost::json::parse(text).as_array(); }
}  // namespace

TEST(FormatTest, StatusShowsEmojiAvailabilityAndExpiry) {
  auto s = object(R"({"username":"alice","statusText":"In a meeting","emoji":"📅",
      "availability":"busy","time":"2026-12-03T10:00:00Z","expiresAt":"2026-12-03T15:00:00Z",
      "latitude":48.2,"longitude":16.3,"version":"v1"})");
  EXPECT_EQ(render_status(s),
            "username      alice\n"
            "status        In a meeting\n"
            "emoji         📅\n"
            "availability  busy\n"
            "time          2026-12-03T10:00:00Z\n"
            "expires       2026-12-03T15:00:00Z\n"
            "location      48.2, 16.3\n"
            "version       v1\n");
}

TEST(FormatTest, StatusLeavesOutWhatItLacks) {
  // No emoji, no expiry, no location (and, from an older server, no availability).
  auto s = object(R"({"username":"bob","statusText":"Lunch","time":"2026-12-03T10:00:00Z",
      "version":"v2"})");
  EXPECT_EQ(render_status(s),
            "username      bob\n"
            "status        Lunch\n"
            "time          2026-12-03T10:00:00Z\n"
            "version       v2\n");
}

TEST(FormatTest, StatusTableHasAvailabilityExpiryAndEmoji) {
  auto statuses = array(R"([
      {"username":"alice","statusText":"In a meeting","emoji":"📅","availability":"busy",
       "time":"2026-12-03T10:00:00Z","expiresAt":"2026-12-03T15:00:00Z"},
      {"username":"bob","statusText":"Lunch","availability":"available",
       "time":"2026-12-03T09:00:00Z","latitude":1.5,"longitude":2}])");
  EXPECT_EQ(
      render_status_table(statuses),
      "USER   AVAILABILITY  TIME                  EXPIRES               LOCATION  STATUS\n"
      "alice  busy          2026-12-03T10:00:00Z  2026-12-03T15:00:00Z            📅 In a meeting\n"
      "bob    available     2026-12-03T09:00:00Z                        1.5, 2    Lunch\n");
}

TEST(FormatTest, HistoryTableInTheServersOrder) {
  auto history = array(R"([
      {"statusText":"Lunch","availability":"away","time":"2026-12-03T12:00:00Z","version":"v3",
       "endedAt":"2026-12-03T13:00:00Z","endedBy":"expired"},
      {"statusText":"In a meeting","emoji":":calendar:","availability":"busy",
       "time":"2026-12-03T10:00:00Z","version":"v2","endedAt":"2026-12-03T12:00:00Z",
       "endedBy":"replaced"}])");
  EXPECT_EQ(render_history_table(history),
            "TIME                  ENDED                 ENDED-BY  AVAILABILITY  STATUS\n"
            "2026-12-03T12:00:00Z  2026-12-03T13:00:00Z  expired   away          Lunch\n"
            "2026-12-03T10:00:00Z  2026-12-03T12:00:00Z  replaced  busy          :calendar: In a "
            "meeting\n");
  EXPECT_EQ(render_history_table(array("[]")), "TIME  ENDED  ENDED-BY  AVAILABILITY  STATUS\n");
}

TEST(FormatTest, EventLines) {
  EXPECT_EQ(render_event("upsert", R"({"username":"alice","statusText":"In a meeting",
      "emoji":"📅","availability":"busy","time":"2026-12-03T10:00:00Z",
      "expiresAt":"2026-12-03T15:00:00Z","latitude":48.2,"longitude":16.3,"version":"v1"})"),
            "upsert alice 2026-12-03T10:00:00Z busy until 2026-12-03T15:00:00Z (48.2, 16.3) 📅 "
            "In a meeting\n");
  EXPECT_EQ(render_event("upsert", R"({"username":"bob","statusText":"hi",
      "time":"2026-12-03T10:00:00Z"})"),
            "upsert bob 2026-12-03T10:00:00Z hi\n");
  EXPECT_EQ(render_event("delete", R"({"username":"alice","version":"v1"})"), "delete alice\n");
  EXPECT_EQ(render_event("expire", R"({"username":"alice","version":"v1"})"), "expire alice\n");
  EXPECT_EQ(render_event("reset", "{}"), "reset\n");
  EXPECT_EQ(render_event("message", "not json"), "message not json\n");
}

TEST(FormatTest, EmojiAndTextsAreSanitised) {
  auto s = object(R"({"username":"eve","statusText":"x\u001b[2J","emoji":"\u001b]0;t\u0007",
      "availability":"busy\u009b","time":"t","expiresAt":"e\u001b","version":"v"})");
  auto one = boost::json::array{s};
  for (const auto& out : {render_status(s), render_status_table(one), render_history_table(one),
                          render_event("upsert", boost::json::serialize(s))}) {
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
    EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos) << out;
  }
}
