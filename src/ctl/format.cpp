#include "ctl/format.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

namespace status::ctl {

namespace json = boost::json;

namespace {

// Characters, counting a UTF-8 sequence as one (good enough to align Latin, Greek, Cyrillic...).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

const json::value* field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it == o.end() ? nullptr : &it->value();
}

std::string text_of(const json::object& o, std::string_view name) {
  const auto* v = field(o, name);
  // Every field shown goes through one_line: a status text (or an instance id from the registry)
  // holding terminal control sequences must not drive the user's terminal.
  return v ? one_line(scalar_text(*v), 10000) : std::string();
}

// The emoji (when set) and the status text, cut to `max_chars` characters.
std::string status_cell(const json::object& o, std::size_t max_chars) {
  std::string emoji = text_of(o, "emoji");
  std::string text = one_line(text_of(o, "statusText"), max_chars);
  return emoji.empty() ? text : emoji + " " + text;
}

// One table row per object in `items` (anything else is skipped), made by `row`.
template <class Row>
std::vector<std::vector<std::string>> rows_of(const json::array& items, Row row) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : items)
    if (v.is_object()) rows.push_back(row(v.get_object()));
  return rows;
}

}  // namespace

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], width(row[i]));
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - width(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& r : rows) emit(r);
  return out;
}

std::string one_line(std::string_view s, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char && chars == max_chars) {
      // Cut here, and leave room for the ellipsis by dropping the last character.
      auto last = out.size();
      while (last > 0 && (static_cast<unsigned char>(out[last - 1]) & 0xC0) == 0x80) --last;
      out.resize(last > 0 ? last - 1 : 0);
      return out + "…";
    }
    if (starts_char) ++chars;
    // C1 controls (U+0080–U+009F, e.g. U+009B, a CSI some terminals obey) are cut like C0 ones.
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += ' ';
      ++i;
      continue;
    }
    out += (c < 0x20 || c == 0x7F) ? ' ' : static_cast<char>(c);
  }
  return out;
}

std::string scalar_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return {};
  if (v.is_double()) {  // 48.2082, not Boost.JSON's 4.82082E1
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v.get_double());
    return buf;
  }
  return json::serialize(v);
}

std::string location_text(const json::object& status) {
  const auto* lat = field(status, "latitude");
  const auto* lon = field(status, "longitude");
  if (!lat || !lon || lat->is_null() || lon->is_null()) return {};
  return scalar_text(*lat) + ", " + scalar_text(*lon);
}

std::string render_status(const json::object& status) {
  std::string out;
  auto row = [&](std::string_view key, const std::string& value) {
    out.append(key).append(14 - key.size(), ' ').append(value).append("\n");
  };
  auto row_if_set = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) row(key, value);
  };
  row("username", text_of(status, "username"));
  row("status", text_of(status, "statusText"));
  row_if_set("emoji", text_of(status, "emoji"));
  row_if_set("availability", text_of(status, "availability"));
  row("time", text_of(status, "time"));
  row_if_set("expires", text_of(status, "expiresAt"));
  row_if_set("location", location_text(status));
  row("version", text_of(status, "version"));
  return out;
}

std::string render_status_table(const json::array& statuses) {
  auto row = [](const json::object& s) -> std::vector<std::string> {
    return {text_of(s, "username"),  text_of(s, "availability"), text_of(s, "time"),
            text_of(s, "expiresAt"), location_text(s),           status_cell(s, 60)};
  };
  return render_table({"USER", "AVAILABILITY", "TIME", "EXPIRES", "LOCATION", "STATUS"},
                      rows_of(statuses, row));
}

std::string render_history_table(const json::array& entries) {
  auto row = [](const json::object& e) -> std::vector<std::string> {
    return {text_of(e, "time"), text_of(e, "endedAt"), text_of(e, "endedBy"),
            text_of(e, "availability"), status_cell(e, 60)};
  };
  return render_table({"TIME", "ENDED", "ENDED-BY", "AVAILABILITY", "STATUS"},
                      rows_of(entries, row));
}

std::string render_event(std::string_view type, std::string_view data) {
  json::error_code ec;
  auto v = json::parse(data, ec);
  std::string line = one_line(type, 100);
  // One word (or a few pieces joined) after a space.
  auto add = [&line](std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    line.append(" ").append(a).append(b).append(c);
  };
  if (ec || !v.is_object()) {
    add(one_line(data, 200));
    return line + "\n";
  }
  const auto& s = v.get_object();
  if (auto user = text_of(s, "username"); !user.empty()) add(user);
  if (type == "upsert") {
    add(text_of(s, "time"));
    if (auto a = text_of(s, "availability"); !a.empty()) add(a);
    if (auto until = text_of(s, "expiresAt"); !until.empty()) add("until ", until);
    if (auto loc = location_text(s); !loc.empty()) add("(", loc, ")");
    if (auto text = status_cell(s, 200); !text.empty()) add(text);
  }
  return line + "\n";
}

std::string render_services_table(const json::array& services) {
  auto row = [](const json::object& s) -> std::vector<std::string> {
    return {text_of(s, "instanceId"), text_of(s, "url"),
            text_of(s, "status"),     text_of(s, "healthy") == "true" ? "yes" : "no",
            text_of(s, "inFlight"),   text_of(s, "requests")};
  };
  return render_table({"INSTANCE", "URL", "STATUS", "HEALTHY", "IN-FLIGHT", "REQUESTS"},
                      rows_of(services, row));
}

}  // namespace status::ctl
