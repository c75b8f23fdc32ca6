// Field rules of the status resource (contract section 2), time parsing and versions.
#include "node/status.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

using namespace status::node;

namespace {

constexpr std::int64_t kNow = 1'764'000'000'000;  // the server's time of the parsed writes

// Parses `body` and returns the error detail, or "" when it was accepted.
std::string error_of(std::string_view body, std::optional<std::string_view> path = std::nullopt) {
  auto r = parse_status_input(body, path, kNow);
  if (auto* e = std::get_if<InputError>(&r)) return e->detail.empty() ? "<empty detail>" : e->detail;
  return "";
}

StatusInput accepted(std::string_view body, std::optional<std::string_view> path = std::nullopt) {
  auto r = parse_status_input(body, path, kNow);
  if (auto* e = std::get_if<InputError>(&r)) {
    ADD_FAILURE() << "rejected: " << body << " -> " << e->detail;
    return {};
  }
  return std::get<StatusInput>(r);
}

std::string repeat(std::string_view unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

std::string body_with_text(const std::string& text_json) {
  return R"({"username":"alice","statusText":)" + text_json + "}";
}

}  // namespace

// ---------------------------------------------------------------- username

TEST(Username, CharsetAndLength) {
  EXPECT_TRUE(valid_username("a"));
  EXPECT_TRUE(valid_username("Alice.Smith_99-x"));
  EXPECT_TRUE(valid_username(std::string(64, 'z')));
  EXPECT_FALSE(valid_username(""));
  EXPECT_FALSE(valid_username(std::string(65, 'z')));
  for (std::string bad : {"a b", "a/b", "a@b", "ä", "a+b", "a%20", "a\tb", "a:b", "a,b", "a\\b"})
    EXPECT_FALSE(valid_username(bad)) << bad;
}

TEST(StatusInput, MinimalBodyAccepted) {
  auto in = accepted(R"({"username":"alice","statusText":"In a meeting"})");
  EXPECT_EQ(in.username, "alice");
  EXPECT_EQ(in.text, "In a meeting");
  EXPECT_FALSE(in.time_ms);
  EXPECT_FALSE(in.latitude);
  EXPECT_FALSE(in.longitude);
}

TEST(StatusInput, FullBodyAccepted) {
  auto in = accepted(
      R"({"username":"alice","statusText":"x","time":"2026-11-25T10:15:00Z","latitude":48.2082,"longitude":16.3738})");
  EXPECT_EQ(in.time_ms, parse_time("2026-11-25T10:15:00Z"));
  EXPECT_DOUBLE_EQ(*in.latitude, 48.2082);
  EXPECT_DOUBLE_EQ(*in.longitude, 16.3738);
}

TEST(StatusInput, UsernameRules) {
  EXPECT_EQ(error_of(R"({"statusText":"x"})"), "username is required");
  EXPECT_NE(error_of(R"({"username":"","statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":"a b","statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":"ü","statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":")" + std::string(65, 'a') + R"(","statusText":"x"})"), "");
  EXPECT_EQ(error_of(R"({"username":")" + std::string(64, 'a') + R"(","statusText":"x"})"), "");
  // case-sensitive: kept as given
  EXPECT_EQ(accepted(R"({"username":"Alice","statusText":"x"})").username, "Alice");
}

// ---------------------------------------------------------------- statusText

TEST(StatusInput, StatusTextRequiredAndNotEmpty) {
  EXPECT_EQ(error_of(R"({"username":"alice"})"), "statusText is required");
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":null})"), "statusText is required");
  EXPECT_EQ(error_of(body_with_text(R"("")")), "statusText must not be empty");
}

TEST(StatusInput, StatusTextLengthCountsCodePoints) {
  EXPECT_EQ(error_of(body_with_text("\"" + std::string(1000, 'a') + "\"")), "");
  EXPECT_NE(error_of(body_with_text("\"" + std::string(1001, 'a') + "\"")), "");
  // 1000 two-, three- and four-byte characters are 1000 characters, not 2000-4000.
  for (std::string ch : {"é", "€", "😀"}) {
    EXPECT_EQ(error_of(body_with_text("\"" + repeat(ch, 1000) + "\"")), "") << ch;
    EXPECT_NE(error_of(body_with_text("\"" + repeat(ch, 1001) + "\"")), "") << ch;
  }
  // JSON escapes are decoded before counting: \u00e9 is one character.
  EXPECT_EQ(error_of(body_with_text("\"" + repeat("\\u00e9", 1000) + "\"")), "");
  EXPECT_EQ(accepted(body_with_text(R"("caf\u00e9")")).text, "café");
}

TEST(StatusInput, StatusTextMustBeValidUtf8) {
  // Raw invalid bytes in the body.
  EXPECT_NE(error_of(body_with_text("\"abc\xff\"")), "");
  EXPECT_NE(error_of(body_with_text("\"\xc3\"")), "");          // truncated sequence
  EXPECT_NE(error_of(body_with_text("\"\xc0\xaf\"")), "");      // overlong '/'
  EXPECT_NE(error_of(body_with_text("\"\xed\xa0\x80\"")), "");  // UTF-16 surrogate
  // A lone surrogate escape decodes to invalid UTF-8 (Boost.JSON: U+FFFD or an error); either
  // way the stored text must be valid UTF-8.
  auto r = parse_status_input(body_with_text(R"("\ud800")"), std::nullopt, kNow);
  if (auto* in = std::get_if<StatusInput>(&r)) {
    EXPECT_TRUE(utf8_length(in->text));
  }
}

TEST(StatusInput, StatustextAlias) {
  EXPECT_EQ(accepted(R"({"username":"alice","statustext":"via alias"})").text, "via alias");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"a","statustext":"b"})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statustext":""})"), "");
  // Only that exact alias: other spellings are unknown fields.
  EXPECT_NE(error_of(R"({"username":"alice","StatusText":"x"})"), "");
}

TEST(Utf8, Length) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("é€😀"), 3u);
  EXPECT_FALSE(utf8_length("\x80"));
  EXPECT_FALSE(utf8_length("\xf8\x88\x80\x80\x80"));
  EXPECT_FALSE(utf8_length("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(utf8_length("\xe0\x80\x80"));      // overlong
  EXPECT_FALSE(utf8_length("\xe2\x82"));          // truncated
}

// ---------------------------------------------------------------- other fields and types

TEST(StatusInput, UnknownFieldRejected) {
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":"x","mood":"ok"})"),
            "unknown field 'mood'");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","Username":"x"})"), "");
}

TEST(StatusInput, WrongTypes) {
  EXPECT_NE(error_of(R"({"username":1,"statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":null,"statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":["a"],"statusText":"x"})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":5})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":{"a":1}})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":true})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","time":12345})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","latitude":"1","longitude":2})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","latitude":1,"longitude":true})"), "");
}

TEST(StatusInput, BodyMustBeAJsonObject) {
  for (std::string b : {"", "[]", "\"x\"", "42", "null", "{", "{\"username\":", "not json",
                        "{\"username\":\"a\",}", "{'username':'a'}"})
    EXPECT_NE(error_of(b), "") << b;
  // Trailing garbage after the object.
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x"} x)"), "");
  // Deep nesting is refused, not a crash.
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","version":)" + std::string(100, '[') +
                     std::string(100, ']') + "}"),
            "");
}

TEST(StatusInput, CoordinatesBothOrNeither) {
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":"x","latitude":1})"),
            "latitude and longitude must be given together");
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":"x","longitude":1})"),
            "latitude and longitude must be given together");
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":"x","latitude":1,"longitude":null})"),
            "latitude and longitude must be given together");
  auto none = accepted(R"({"username":"alice","statusText":"x","latitude":null,"longitude":null})");
  EXPECT_FALSE(none.latitude);
  EXPECT_FALSE(none.longitude);
}

TEST(StatusInput, CoordinateRanges) {
  auto ok = [](std::string lat, std::string lon) {
    return error_of(R"({"username":"alice","statusText":"x","latitude":)" + lat +
                    R"(,"longitude":)" + lon + "}");
  };
  EXPECT_EQ(ok("-90", "-180"), "");
  EXPECT_EQ(ok("90", "180"), "");
  EXPECT_EQ(ok("0", "0"), "");
  EXPECT_EQ(ok("-89.999999", "179.999999"), "");
  EXPECT_NE(ok("90.0001", "0"), "");
  EXPECT_NE(ok("-90.0001", "0"), "");
  EXPECT_NE(ok("0", "180.0001"), "");
  EXPECT_NE(ok("0", "-180.0001"), "");
  EXPECT_NE(ok("1e300", "0"), "");
  EXPECT_NE(ok("0", "-1e999"), "");  // overflows to -inf (or fails to parse): refused either way
}

TEST(StatusInput, PathUsername) {
  // PUT: body username may be absent (taken from the path) ...
  EXPECT_EQ(accepted(R"({"statusText":"x"})", "bob").username, "bob");
  // ... or present and equal ...
  EXPECT_EQ(accepted(R"({"username":"bob","statusText":"x"})", "bob").username, "bob");
  // ... but never different (case-sensitive).
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x"})", "bob"), "");
  EXPECT_NE(error_of(R"({"username":"Bob","statusText":"x"})", "bob"), "");
}

TEST(StatusInput, VersionIgnoredOnInput) {
  auto in = accepted(R"({"username":"alice","statusText":"x","version":"0000000000000001.n9"})");
  EXPECT_EQ(in.text, "x");
  EXPECT_EQ(error_of(R"({"username":"alice","statusText":"x","version":42})"), "");
}

TEST(StatusInput, TimeIsOptionalAndValidated) {
  EXPECT_FALSE(accepted(R"({"username":"alice","statusText":"x","time":null})").time_ms);
  EXPECT_EQ(accepted(R"({"username":"alice","statusText":"x","time":"2026-11-25T11:15:00+01:00"})")
                .time_ms,
            parse_time("2026-11-25T10:15:00Z"));
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","time":"yesterday"})"), "");
  EXPECT_NE(error_of(R"({"username":"alice","statusText":"x","time":"2026-02-30T10:00:00Z"})"), "");
}

// ---------------------------------------------------------------- time

TEST(Time, ParsesOffsetsAndFractions) {
  const std::int64_t base = 1795601700000;  // 2026-11-25T10:15:00Z
  EXPECT_EQ(parse_time("2026-11-25T10:15:00Z"), base);
  EXPECT_EQ(parse_time("2026-11-25t10:15:00z"), base);
  EXPECT_EQ(parse_time("2026-11-25 10:15:00Z"), base);
  EXPECT_EQ(parse_time("2026-11-25T10:15:00"), base);  // no offset: UTC
  EXPECT_EQ(parse_time("2026-11-25T10:15Z"), base);    // seconds optional
  EXPECT_EQ(parse_time("2026-11-25T11:15:00+01:00"), base);
  EXPECT_EQ(parse_time("2026-11-25T11:15:00+0100"), base);
  EXPECT_EQ(parse_time("2026-11-25T04:45:00-05:30"), base);
  EXPECT_EQ(parse_time("2026-11-25T04:45:00-0530"), base);
  EXPECT_EQ(parse_time("2026-11-25T10:15:00+00:00"), base);
  EXPECT_EQ(parse_time("2026-11-25T10:15:00.5Z"), base + 500);
  EXPECT_EQ(parse_time("2026-11-25T10:15:00.123Z"), base + 123);
  EXPECT_EQ(parse_time("2026-11-25T10:15:00.123456789Z"), base + 123);  // truncated to ms
  EXPECT_EQ(parse_time("2026-11-25T10:15:00,250+01:00"), base - 3600000 + 250);
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("2024-02-29T00:00:00Z"), 1709164800000);  // leap day
  EXPECT_EQ(parse_time("2000-02-29T00:00:00Z"), 951782400000);   // leap (divisible by 400)
}

TEST(Time, RejectsBadDatesAndGarbage) {
  for (std::string bad :
       {"", "garbage", "2026", "2026-11-25", "2026-11-25T", "2026-02-30T00:00:00Z",
        "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-25T25:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z",
        "2026-11-25T10:15:61Z", "2026-11-25T10:15:00+25:00", "2026-11-25T10:15:00+01:60",
        "2026-11-25T10:15:00+1", "2026-11-25T10:15:00+01:0", "2026-11-25T10:15:00Zjunk",
        "2026-11-25T10:15:00 Z", "2026-11-25T10:15:00.Z", "2026-11-25T10:15:00.1234567890Z",
        "2026-1-25T10:15:00Z", "2026/11/25T10:15:00Z", "2026-11-25X10:15:00Z",
        "2026-11-25T10:15:00+01:00x", "-026-11-25T10:15:00Z", "2026-11-25T1a:15:00Z"})
    EXPECT_FALSE(parse_time(bad)) << bad;
}

TEST(Time, FormatIsRfc3339Utc) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time(1795601700000), "2026-11-25T10:15:00Z");
  EXPECT_EQ(format_time(1795601700007), "2026-11-25T10:15:00.007Z");
  EXPECT_EQ(format_time(1709164800000), "2024-02-29T00:00:00Z");
  EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Time, RoundTrip) {
  for (std::int64_t ms : {std::int64_t{0}, std::int64_t{1}, std::int64_t{999},
                          std::int64_t{951782400000}, std::int64_t{1795601700123},
                          std::int64_t{4102444799999}, std::int64_t{-86400000}})
    EXPECT_EQ(parse_time(format_time(ms)), ms) << ms;
  for (std::string s : {"2026-11-25T10:15:00Z", "2026-11-25T10:15:00.100Z", "2024-02-29T23:59:59Z"})
    EXPECT_EQ(format_time(*parse_time(s)), s);
  // Every day of 2024-2025 and every minute of one day survive the round trip.
  for (std::int64_t d = 0; d < 731; ++d) {
    std::int64_t ms = 1704067200000 + d * 86400000 + 12345;
    ASSERT_EQ(parse_time(format_time(ms)), ms);
  }
  for (std::int64_t m = 0; m < 1440; ++m) {
    std::int64_t ms = 1795564800000 + m * 60000;
    ASSERT_EQ(parse_time(format_time(ms)), ms);
  }
}

// ---------------------------------------------------------------- Version

TEST(Version, StrAndParse) {
  Version v{0x0123456789abcdefULL, "n1"};
  EXPECT_EQ(v.str(), "0123456789abcdef.n1");
  auto p = Version::parse(v.str());
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, v);
  EXPECT_EQ(Version::parse("0000000000000001.node-x.y")->node, "node-x.y");
  for (std::string bad : {"", "0123456789abcdef", "0123456789abcdef.", "0123456789abcdefX.n1",
                          "0123456789abcdeg.n1", "123.n1", "zzzzzzzzzzzzzzzz.n1"})
    EXPECT_FALSE(Version::parse(bad)) << bad;
}

TEST(Version, OrdersByHlcThenNode) {
  EXPECT_LT((Version{1, "z"}), (Version{2, "a"}));
  EXPECT_LT((Version{5, "a"}), (Version{5, "b"}));
  EXPECT_EQ((Version{5, "a"}), (Version{5, "a"}));
  // The string form sorts like the version (fixed-width hex), useful in logs and ETags.
  EXPECT_LT((Version{0xff, "n"}).str(), (Version{0x100, "n"}).str());
}

// ---------------------------------------------------------------- JSON forms

TEST(Json, ApiForm) {
  Status s;
  s.username = "alice";
  s.text = "say \"hi\"\n€";
  s.time_ms = 1795601700000;
  s.latitude = 48.2082;
  s.longitude = 16.3738;
  s.version = {0x10, "n1"};
  EXPECT_EQ(to_api_json(s),
            R"({"username":"alice","statusText":"say \"hi\"\n€","availability":"available","time":"2026-11-25T10:15:00Z",)"
            R"("latitude":48.2082,"longitude":16.3738,"version":"0000000000000010.n1"})");
  s.latitude.reset();
  s.longitude.reset();
  EXPECT_EQ(to_api_json(s).find("latitude"), std::string::npos);
}

// The wire form is written by hand: every character a text may hold, doubles of every kind and
// the largest stamps come back exactly, and the result is JSON boost::json reads.
TEST(Json, WireWriterEscapesAndKeepsNumbersExact) {
  Status s;
  s.username = "bob";
  // Control characters are refused on the way in, but the writer escapes them all the same.
  s.text = "tab \t nl \n \x01 \x1f";
  s.version = {0x0123456789abcdefULL, "n-1.x"};
  EXPECT_EQ(std::string(boost::json::parse(to_wire_json(s)).at("x").as_string()), s.text);
  s.text = "quote \" backslash \\ del \x7f ünïcödé 日本 🙂 </script>";
  s.emoji = "🙂";
  s.availability = Availability::kDnd;
  s.time_ms = 1796318761812;
  s.expires_at_ms = 1796318761813;
  s.version = {0x0123456789abcdefULL, "n-1.x"};
  for (auto [la, lo] : {std::pair{48.2082, 16.3738}, {-0.0001, 180.0}, {1e-7, -179.99999999999997},
                        {90.0, 0.0}, {-89.123456789012345, 0.1}}) {
    s.latitude = la;
    s.longitude = lo;
    s.past = {Past{{7, "n2"}, false, false, "old \"one\"", "", Availability::kBusy, 5, 0},
              Past{{6, "n1"}, true, true}};
    auto wire = to_wire_json(s, true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    boost::system::error_code ec;
    boost::json::parse(wire, ec);
    ASSERT_FALSE(ec) << wire;
    std::string tp;
    auto back = from_wire_json(wire, &tp);
    ASSERT_TRUE(back) << wire;
    EXPECT_EQ(back->text, s.text);
    EXPECT_EQ(back->emoji, s.emoji);
    EXPECT_EQ(back->availability, s.availability);
    EXPECT_EQ(back->expires_at_ms, s.expires_at_ms);
    EXPECT_EQ(back->version, s.version);
    EXPECT_EQ(*back->latitude, la) << wire;
    EXPECT_EQ(*back->longitude, lo) << wire;
    ASSERT_EQ(back->past.size(), 2u);
    EXPECT_EQ(back->past[0].text, "old \"one\"");
    EXPECT_TRUE(back->past[1].purge);
    EXPECT_EQ(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_EQ(to_wire_json(*back, true, tp), wire) << "the same bytes again";
  }
}

TEST(Json, WireRoundTrip) {
  Status s;
  s.username = "bob";
  s.text = "x";
  s.time_ms = 42;
  s.latitude = -12.5;
  s.longitude = 100.25;
  s.version = {0xabc, "n2"};
  auto back = from_wire_json(to_wire_json(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->username, s.username);
  EXPECT_EQ(back->text, s.text);
  EXPECT_EQ(back->time_ms, s.time_ms);
  EXPECT_EQ(back->latitude, s.latitude);
  EXPECT_EQ(back->longitude, s.longitude);
  EXPECT_EQ(back->version, s.version);
  EXPECT_FALSE(back->deleted);

  Status t;
  t.username = "bob";
  t.deleted = true;
  t.version = {0xabd, "n1"};
  auto arr = from_wire_array(to_wire_array({s, t}));
  ASSERT_TRUE(arr);
  ASSERT_EQ(arr->size(), 2u);
  EXPECT_TRUE((*arr)[1].deleted);
  EXPECT_EQ((*arr)[1].version, t.version);

  EXPECT_FALSE(from_wire_json("{}"));
  EXPECT_FALSE(from_wire_json(R"({"u":"bad name","h":1,"n":"n1","x":"a","t":1})"));
  EXPECT_FALSE(from_wire_array("[{}]"));
  EXPECT_FALSE(from_wire_array("{}"));
  // Lenient (packed messages): bad elements are counted and left out, the rest kept.
  std::size_t skipped = 0;
  auto some = from_wire_array("[{}," + to_wire_json(s) + ",42]", &skipped);
  ASSERT_TRUE(some);
  EXPECT_EQ(some->size(), 1u);
  EXPECT_EQ(skipped, 2u);
  EXPECT_FALSE(from_wire_array("{}", &skipped));
}
