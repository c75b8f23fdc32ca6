#include "node/status.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace status::node {

namespace json = boost::json;

std::string Version::str() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hlc));
  return std::string(buf) + "." + node;
}

std::optional<Version> Version::parse(std::string_view s) {
  if (s.size() < 18 || s[16] != '.') return std::nullopt;
  Version v;
  auto r = std::from_chars(s.data(), s.data() + 16, v.hlc, 16);
  if (r.ec != std::errc() || r.ptr != s.data() + 16) return std::nullopt;
  v.node = std::string(s.substr(17));
  return v;
}

std::string_view availability_name(Availability a) {
  switch (a) {
    case Availability::kBusy:
      return "busy";
    case Availability::kAway:
      return "away";
    case Availability::kDnd:
      return "dnd";
    case Availability::kAvailable:
      break;
  }
  return "available";
}

std::optional<Availability> parse_availability(std::string_view s) {
  for (auto a : {Availability::kAvailable, Availability::kBusy, Availability::kAway, Availability::kDnd})
    if (s == availability_name(a)) return a;
  return std::nullopt;
}

bool valid_username(std::string_view u) {
  if (u.empty() || u.size() > 64) return false;
  for (char c : u)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int len;
    std::uint32_t cp;
    if (c < 0x80) { len = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return std::nullopt;
    if (i + len > s.size()) return std::nullopt;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::nullopt;
    i += len;
    ++n;
  }
  return n;
}

bool valid_emoji(std::string_view e) {
  auto n = utf8_length(e);
  if (!n || *n == 0 || *n > kMaxEmoji) return false;
  // C0 and DEL as bytes; C1 (U+0080..U+009F) as their UTF-8 form C2 80..C2 9F.
  for (std::size_t i = 0; i < e.size(); ++i) {
    auto c = static_cast<unsigned char>(e[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == 0xc2 && i + 1 < e.size() && static_cast<unsigned char>(e[i + 1]) < 0xa0) return false;
  }
  return true;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view s) {
  int y, mo, d, h, mi, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 16 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi))
    return std::nullopt;
  std::size_t p = 16;
  if (p < s.size() && s[p] == ':') {
    if (!digits(s, p + 1, 2, sec)) return std::nullopt;
    p += 3;
  }
  int ms = 0;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    std::size_t start = p;
    int scale = 100;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      ms += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (p == start || p - start > 9) return std::nullopt;
  }
  int offset_min = 0;
  if (p < s.size()) {
    if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == s.size()) {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      int sign = s[p] == '-' ? -1 : 1;
      if (!digits(s, p + 1, 2, oh)) return std::nullopt;
      std::size_t q = p + 3;
      if (q < s.size() && s[q] == ':') ++q;
      if (!digits(s, q, 2, om) || q + 2 != s.size() || oh > 23 || om > 59) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
      p = s.size();
    } else {
      return std::nullopt;
    }
  }
  if (p != s.size()) return std::nullopt;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap ? 1 : 0) || h > 23 ||
      mi > 59 || sec > 59)
    return std::nullopt;
  std::int64_t days = days_from_civil(y, mo, d);
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

std::string format_time(std::int64_t ms) {
  std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int milli = static_cast<int>(ms - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int rem = static_cast<int>(secs - days * 86400);
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  if (milli)
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d, rem / 3600,
                  rem / 60 % 60, rem % 60, milli);
  else
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, rem / 3600,
                  rem / 60 % 60, rem % 60);
  return buf;
}

namespace {

std::optional<double> coordinate(const json::value& v, const char* name, double limit,
                                 std::string& err) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) {
    err = std::string(name) + " must be a number";
    return std::nullopt;
  }
  double d = v.to_number<double>();
  if (!std::isfinite(d) || d < -limit || d > limit) {
    err = std::string(name) + " must be between " + std::to_string(static_cast<int>(-limit)) +
          " and " + std::to_string(static_cast<int>(limit));
    return std::nullopt;
  }
  return d;
}

}  // namespace

std::variant<StatusInput, InputError> parse_status_input(
    std::string_view body, std::optional<std::string_view> path_username, std::int64_t now_ms) {
  if (body.empty()) return InputError{"request body must be a JSON object"};
  if (!utf8_length(body)) return InputError{"request body is not valid UTF-8"};
  json::parse_options opts;
  opts.max_depth = 16;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return InputError{"malformed JSON: " + ec.message()};
  if (!v.is_object()) return InputError{"request body must be a JSON object"};
  const auto& o = v.get_object();
  StatusInput in;
  const json::value* text = nullptr;
  const json::value *lat = nullptr, *lon = nullptr, *clear_after = nullptr;
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k == "username") {
      if (!kv.value().is_string()) return InputError{"username must be a string"};
      in.username = std::string(kv.value().get_string());
    } else if (k == "statusText" || k == "statustext") {
      if (text) return InputError{"give statusText only once (statustext is an alias)"};
      text = &kv.value();
    } else if (k == "time") {
      if (kv.value().is_null()) continue;
      if (!kv.value().is_string()) return InputError{"time must be an ISO-8601 string"};
      auto t = parse_time(kv.value().get_string());
      if (!t) return InputError{"time is not a valid ISO-8601 date-time: '" +
                                std::string(kv.value().get_string()) + "'"};
      in.time_ms = *t;
    } else if (k == "latitude") {
      lat = &kv.value();
    } else if (k == "longitude") {
      lon = &kv.value();
    } else if (k == "emoji") {
      if (kv.value().is_null()) continue;
      if (!kv.value().is_string() || !valid_emoji(kv.value().get_string()))
        return InputError{"emoji must be 1-32 characters of UTF-8 without control characters"};
      in.emoji = std::string(kv.value().get_string());
    } else if (k == "availability") {
      if (kv.value().is_null()) continue;
      auto a = kv.value().is_string() ? parse_availability(kv.value().get_string()) : std::nullopt;
      if (!a) return InputError{"availability must be one of available, busy, away, dnd"};
      in.availability = *a;
    } else if (k == "expiresAt") {
      if (kv.value().is_null()) continue;
      // RFC 3339, unlike `time`: with Z or an offset (a bare local time is ambiguous).
      std::string_view v = kv.value().is_string() ? std::string_view(kv.value().get_string()) : "";
      bool zoned = v.ends_with('Z') || v.ends_with('z') ||
                   (v.size() > 6 && (v[v.size() - 6] == '+' || v[v.size() - 6] == '-') &&
                    v[v.size() - 3] == ':');
      auto t = zoned && v.size() >= 20 && v[16] == ':' ? parse_time(v) : std::nullopt;
      if (!t) return InputError{"expiresAt must be an RFC 3339 date-time with Z or an offset, e.g. 2026-12-03T15:00:00Z"};
      if (*t <= now_ms) return InputError{"expiresAt must lie in the future"};
      if (*t > now_ms + kMaxExpiryMs) return InputError{"expiresAt must be at most 366 days ahead"};
      in.expires_at_ms = *t;
    } else if (k == "clearAfter") {
      if (kv.value().is_null()) continue;
      clear_after = &kv.value();
    } else if (k == "version") {
      // set by the server; ignored on input
    } else {
      return InputError{"unknown field '" + std::string(k) + "'"};
    }
  }
  if (path_username) {
    if (in.username && *in.username != *path_username)
      return InputError{"username in the body ('" + *in.username +
                        "') does not match the path ('" + std::string(*path_username) + "')"};
    in.username = std::string(*path_username);
  }
  if (!in.username) return InputError{"username is required"};
  if (!valid_username(*in.username))
    return InputError{"username must be 1-64 characters of A-Z a-z 0-9 . _ -"};
  if (!text || text->is_null()) return InputError{"statusText is required"};
  if (!text->is_string()) return InputError{"statusText must be a string"};
  in.text = std::string(text->get_string());
  auto len = utf8_length(in.text);
  if (!len) return InputError{"statusText is not valid UTF-8"};
  if (*len == 0) return InputError{"statusText must not be empty"};
  if (*len > 1000) return InputError{"statusText must be at most 1000 characters"};
  std::string err;
  if (lat) in.latitude = coordinate(*lat, "latitude", 90, err);
  if (!err.empty()) return InputError{err};
  if (lon) in.longitude = coordinate(*lon, "longitude", 180, err);
  if (!err.empty()) return InputError{err};
  if (in.latitude.has_value() != in.longitude.has_value())
    return InputError{"latitude and longitude must be given together"};
  if (clear_after) {
    if (in.expires_at_ms) return InputError{"give expiresAt or clearAfter, not both"};
    if (!clear_after->is_int64() && !clear_after->is_uint64())
      return InputError{"clearAfter must be a whole number of seconds"};
    auto secs = clear_after->is_int64() ? clear_after->get_int64() : -1;
    if (secs < 1 || secs > kMaxExpiryMs / 1000)
      return InputError{"clearAfter must be between 1 and 31622400 seconds (366 days)"};
    in.expires_at_ms = now_ms + secs * 1000;
  }
  return in;
}

namespace {

// Shortest round-trip decimal form (48.2, not 4.82E1 as Boost.JSON 1.81 writes doubles).
void append_number(std::string& out, double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

}  // namespace

std::string to_api_json(const Status& s) {
  std::string out;
  out.reserve(96 + s.text.size());
  out += "{\"username\":";
  out += json::serialize(json::string_view(s.username));
  out += ",\"statusText\":";
  out += json::serialize(json::string_view(s.text));
  if (!s.emoji.empty()) {
    out += ",\"emoji\":";
    out += json::serialize(json::string_view(s.emoji));
  }
  out += ",\"availability\":\"";
  out += availability_name(s.availability);
  out += "\",\"time\":\"" + format_time(s.time_ms) + "\"";
  if (s.expires_at_ms) out += ",\"expiresAt\":\"" + format_time(s.expires_at_ms) + "\"";
  if (s.latitude && s.longitude) {
    out += ",\"latitude\":";
    append_number(out, *s.latitude);
    out += ",\"longitude\":";
    append_number(out, *s.longitude);
  }
  out += ",\"version\":\"" + s.version.str() + "\"}";
  return out;
}

namespace {

// The wire form is written straight into a string (snapshots serialize a million states:
// building a json::object per state cost ~20 µs each); it is read back with boost::json.
class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}
  void open() {
    out_ += '{';
    first_ = true;
  }
  void close() { out_ += '}'; }
  void str(const char* k, std::string_view v) {
    key(k);
    out_ += '"';
    for (char c : v) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (u < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out_ += "\\u00";
        out_ += kHex[u >> 4];
        out_ += kHex[u & 15];
      } else {
        out_ += c;  // UTF-8, validated on the way in
      }
    }
    out_ += '"';
  }
  template <class Number>
  void num(const char* k, Number v) {
    key(k);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // doubles: the shortest exact form
    out_.append(buf, r.ptr);
  }
  void yes(const char* k) {
    key(k);
    out_ += "true";
  }
  void key(const char* k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// The status fields a past entry shares with a status, in the wire form.
template <class T>
void put_status_fields(WireWriter& w, const T& s) {
  w.str("x", s.text);
  w.num("t", s.time_ms);
  if (!s.emoji.empty()) w.str("em", s.emoji);
  if (s.availability != Availability::kAvailable) w.num("av", static_cast<int>(s.availability));
  if (s.expires_at_ms) w.num("ex", s.expires_at_ms);
}

// The parts a stored state and a history entry share in the wire form: the stamp, and either
// the tombstone's flags or the status fields.
template <class State>
void put_state(WireWriter& w, const State& s) {
  w.num("h", s.version.hlc);
  w.str("n", s.version.node);
  if (s.deleted) {
    w.yes("d");
    if (s.purge) w.yes("p");
  } else {
    put_status_fields(w, s);
  }
}

void put_past(std::string& out, const std::vector<Past>& past) {
  out += '[';
  for (std::size_t i = 0; i < past.size(); ++i) {
    if (i) out += ',';
    WireWriter e(out);
    e.open();
    put_state(e, past[i]);
    e.close();
  }
  out += ']';
}

}  // namespace

std::string past_json(const std::vector<Past>& past) {
  std::string out;
  if (!past.empty()) put_past(out, past);
  return out;
}

std::string to_wire_json(const Status& s, bool with_past, std::string_view traceparent) {
  std::string out;
  out.reserve(128 + s.text.size() + (with_past ? s.past.size() * 96 : 0));
  WireWriter w(out);
  w.open();
  w.str("u", s.username);
  put_state(w, s);
  if (!s.deleted) {
    if (s.latitude && s.longitude) {
      w.num("la", *s.latitude);
      w.num("lo", *s.longitude);
    }
    if (!s.extra.empty()) w.str("e", s.extra);
  }
  if (with_past && !s.past.empty()) {
    w.key("hi");
    put_past(out, s.past);
  }
  if (!traceparent.empty()) w.str("tp", traceparent);
  w.close();
  return out;
}

Past as_past(const Status& s) {
  Past p;
  p.version = s.version;
  p.deleted = s.deleted;
  p.purge = s.purge;
  if (!s.deleted) {
    p.text = s.text;
    p.emoji = s.emoji;
    p.availability = s.availability;
    p.time_ms = s.time_ms;
    p.expires_at_ms = s.expires_at_ms;
  }
  return p;
}

void normalize_past(Status& s) {
  auto& past = s.past;
  std::sort(past.begin(), past.end(), [](const Past& a, const Past& b) { return a.version > b.version; });
  past.erase(std::unique(past.begin(), past.end(),
                         [](const Past& a, const Past& b) { return a.version == b.version; }),
             past.end());
  std::erase_if(past, [&](const Past& p) { return p.version >= s.version; });
  if (s.purge || s.kind() != Kind::kStatus) return past.clear();
  std::size_t keep = 0, live = 0;
  while (keep < past.size() && keep < kMaxPast && live < kHistoryLength) {
    const Past& p = past[keep++];
    if (p.purge) break;  // the purge stays (it keeps older copies from coming back), not below
    if (!p.deleted) ++live;
  }
  past.resize(keep);
}

namespace {
std::int64_t stamp_ms(std::uint64_t hlc) { return static_cast<std::int64_t>(hlc >> 16); }
}  // namespace

std::string history_json(const Status& s, std::int64_t now_ms) {
  // Each entry ended with the next newer state: expired if its expiresAt came first, else
  // replaced (a status) or deleted (a tombstone), at that state's stamp.
  std::string out = "[";
  std::size_t n = 0;
  auto add = [&](const Past& p, std::int64_t next_ms, bool next_deleted) {
    if (p.deleted || n >= kHistoryLength) return;
    bool expired = p.expires_at_ms && p.expires_at_ms <= next_ms;
    json::object o;
    o["statusText"] = p.text;
    if (!p.emoji.empty()) o["emoji"] = p.emoji;
    o["availability"] = availability_name(p.availability);
    o["time"] = format_time(p.time_ms);
    o["version"] = p.version.str();
    o["endedAt"] = format_time(expired ? p.expires_at_ms : next_ms);
    o["endedBy"] = expired ? "expired" : next_deleted ? "deleted" : "replaced";
    if (n++) out += ',';
    out += json::serialize(o);
  };
  if (s.expired(now_ms)) add(as_past(s), s.expires_at_ms, false);
  std::int64_t next_ms = stamp_ms(s.version.hlc);
  bool next_deleted = s.deleted;
  for (const auto& p : s.past) {
    add(p, next_ms, next_deleted);
    next_ms = stamp_ms(p.version.hlc);
    next_deleted = p.deleted;
  }
  return out + "]";
}

namespace {

bool lower_hex(std::string_view s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool valid_record(const Status& s) {
  if (s.kind() == Kind::kAccount) {
    if (!valid_username(std::string_view(s.username).substr(kAccountPrefix.size()))) return false;
    if (s.deleted) return true;
    return s.text.starts_with("$argon2id$") && s.text.size() <= 256 &&
           (s.extra.empty() || s.extra == "admin");
  }
  if (!lower_hex(std::string_view(s.username).substr(kSessionPrefix.size()), 64)) return false;
  if (s.deleted) return true;
  return valid_username(s.text) && s.time_ms > 0 && s.extra.empty();
}

}  // namespace

namespace {

// Years 0000..9999: what format_time can write and parse_time can read.
bool valid_time(std::int64_t ms) {
  constexpr std::int64_t kMin = -62167219200000LL, kMax = 253402300799999LL;
  return ms >= kMin && ms <= kMax;
}

bool valid_stamp(const Version& v) {
  return valid_username(v.node) && v.hlc != 0 && v.hlc < (std::uint64_t{1} << 63);
}

// The fields a status shares with its past entries.
template <class T>
bool valid_status_fields(const T& s) {
  auto len = utf8_length(s.text);
  if (!len || *len == 0 || *len > 1000) return false;
  if (!s.emoji.empty() && !valid_emoji(s.emoji)) return false;
  if (static_cast<int>(s.availability) > static_cast<int>(Availability::kDnd)) return false;
  return valid_time(s.time_ms) && s.expires_at_ms >= 0 && valid_time(s.expires_at_ms);
}

}  // namespace

bool valid_state(const Status& s) {
  // Replicated states pass the same rules as a client's input: they end up in API answers,
  // event streams and headers of every node.
  if (!valid_stamp(s.version)) return false;
  if (s.kind() != Kind::kStatus) return valid_record(s) && s.past.empty();
  if (!valid_username(s.username)) return false;
  if (s.past.size() > kMaxPast) return false;
  for (const auto& p : s.past)
    if (!valid_stamp(p.version) || (!p.deleted && !valid_status_fields(p))) return false;
  if (s.deleted) return true;
  if (s.latitude.has_value() != s.longitude.has_value()) return false;
  if (s.latitude && !(std::isfinite(*s.latitude) && std::abs(*s.latitude) <= 90)) return false;
  if (s.longitude && !(std::isfinite(*s.longitude) && std::abs(*s.longitude) <= 180)) return false;
  return valid_status_fields(s);
}

namespace {

template <class T>
void get_status_fields(const json::object& o, T& s) {
  s.text = std::string(o.at("x").as_string());
  s.time_ms = o.at("t").to_number<std::int64_t>();
  if (auto* em = o.if_contains("em")) s.emoji = std::string(em->as_string());
  if (auto* av = o.if_contains("av")) {
    auto a = av->to_number<int>();
    if (a < 0 || a > static_cast<int>(Availability::kDnd)) throw std::out_of_range("availability");
    s.availability = static_cast<Availability>(a);
  }
  if (auto* ex = o.if_contains("ex")) s.expires_at_ms = ex->to_number<std::int64_t>();
}

bool flag(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

// Throws on a malformed array (callers catch).
void read_past(const json::value& v, std::vector<Past>& out) {
  const auto& arr = v.as_array();
  if (arr.size() > kMaxPast) throw std::length_error("history too long");
  for (const auto& ev : arr) {
    const auto& e = ev.as_object();
    Past p;
    p.version.hlc = e.at("h").to_number<std::uint64_t>();
    p.version.node = std::string(e.at("n").as_string());
    if (flag(e, "d")) {
      p.deleted = true;
      p.purge = flag(e, "p");
    } else {
      get_status_fields(e, p);
    }
    out.push_back(std::move(p));
  }
}

std::optional<Status> from_wire_value(const json::value& v, std::string* traceparent = nullptr) {
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  if (traceparent) {
    auto* tp = o.if_contains("tp");
    // Bounded: a traceparent is 55 characters (later versions a little more).
    *traceparent = tp && tp->is_string() && tp->as_string().size() <= 256
                       ? std::string(tp->as_string())
                       : std::string();
  }
  try {
    Status s;
    s.username = std::string(o.at("u").as_string());
    s.version.hlc = o.at("h").to_number<std::uint64_t>();
    s.version.node = std::string(o.at("n").as_string());
    if (flag(o, "d")) {
      s.deleted = true;
      s.purge = flag(o, "p");
    } else {
      get_status_fields(o, s);
      if (auto* la = o.if_contains("la")) s.latitude = la->to_number<double>();
      if (auto* lo = o.if_contains("lo")) s.longitude = lo->to_number<double>();
      if (auto* e = o.if_contains("e")) s.extra = std::string(e->as_string());
    }
    if (auto* hi = o.if_contains("hi")) read_past(*hi, s.past);
    if (!valid_state(s)) return std::nullopt;
    normalize_past(s);
    return s;
  } catch (const std::exception&) {
    return std::nullopt;  // a malformed event from the wire is dropped by the caller, logged
  }
}

}  // namespace

bool read_past_json(std::string_view text, Status& s) {
  if (text.empty()) return true;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return false;
  try {
    read_past(v, s.past);
  } catch (const std::exception&) {
    s.past.clear();
    return false;
  }
  normalize_past(s);
  return true;
}

std::optional<Status> from_wire_json(std::string_view text, std::string* traceparent) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return from_wire_value(v, traceparent);
}

std::string to_wire_array(const std::vector<Status>& states) {
  std::string out = "[";
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (i) out += ',';
    out += to_wire_json(states[i]);
  }
  return out + "]";
}

std::optional<std::vector<Status>> from_wire_array(
    std::string_view text, std::size_t* skipped,
    std::vector<std::pair<std::size_t, std::string>>* traces) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return std::nullopt;
  std::vector<Status> out;
  out.reserve(v.get_array().size());
  std::string tp;
  for (const auto& e : v.get_array()) {
    auto s = from_wire_value(e, traces ? &tp : nullptr);
    if (!s) {
      if (!skipped) return std::nullopt;
      ++*skipped;
      continue;
    }
    if (traces && !tp.empty()) traces->emplace_back(out.size(), std::move(tp));
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace status::node
