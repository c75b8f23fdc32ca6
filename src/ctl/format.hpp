#pragma once
// Human-readable output: aligned tables and one-status views. Pure functions of JSON values.

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace status::ctl {

/// A plain-text table: a header row and rows, columns padded to their widest cell (in
/// characters, not bytes). Cells should contain no newlines (see one_line()).
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

/// `s` on one line (control characters become spaces), cut to `max_chars` characters with "…".
std::string one_line(std::string_view s, std::size_t max_chars);

/// A JSON scalar as text: strings without quotes, numbers and booleans as JSON, null as "".
std::string scalar_text(const boost::json::value& v);

/// "48.2082, 16.3738", or "" when the status has no location.
std::string location_text(const boost::json::object& status);

/// One status as "key  value" lines: username, status, emoji, availability, time, expires,
/// location, version (emoji, availability, expires and location only when the status has them).
std::string render_status(const boost::json::object& status);

/// Statuses as a table: USER, AVAILABILITY, TIME, EXPIRES, LOCATION, STATUS (the emoji, then the
/// text cut to one line of 60 characters).
std::string render_status_table(const boost::json::array& statuses);

/// A user's previous statuses (GET …/history) as a table: TIME, ENDED, ENDED-BY, AVAILABILITY,
/// STATUS, in the order given (the server's: newest first).
std::string render_history_table(const boost::json::array& entries);

/// One event of /api/events as a line (with its newline): `upsert USER TIME [AVAILABILITY]
/// [until EXPIRES] [(LAT, LON)] [EMOJI] TEXT`, `delete USER`, `expire USER`, `reset`; data that
/// is not a JSON object as `TYPE DATA`.
std::string render_event(std::string_view type, std::string_view data);

/// The gateway's /api/services answer as a table.
std::string render_services_table(const boost::json::array& services);

}  // namespace status::ctl
