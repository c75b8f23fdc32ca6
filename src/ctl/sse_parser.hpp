#pragma once
// Incremental parser of a text/event-stream body (the WHATWG server-sent events format).

#include <string>
#include <string_view>
#include <vector>

namespace status::ctl {

/// One dispatched event: its `event:` type ("message" when none was given) and its `data:`
/// lines joined by '\n'.
struct SseEvent {
  std::string type;
  std::string data;
};

/// Feed the body in pieces as they arrive; complete events come out. Comments (": ping") and
/// unknown fields are skipped; "\n", "\r\n" and "\r" all end a line. Not thread-safe.
class SseParser {
 public:
  std::vector<SseEvent> feed(std::string_view piece);
  /// The last event id seen (the `id:` field; it stays until another one comes): what a
  /// reconnect sends as Last-Event-ID.
  const std::string& last_event_id() const { return last_id_; }

 private:
  void line(std::string_view l, std::vector<SseEvent>& out);
  std::string pending_;  // an incomplete line
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  std::string last_id_;
};

}  // namespace status::ctl
