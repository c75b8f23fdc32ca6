#pragma once
// Header rewriting between client and upstream, and the request-framing checks that defend
// against request smuggling. Pure functions on Beast messages; no sockets.

#include "common/http.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace status::gateway {

using common::request_id_for;  // the one request-id rule (common/http.hpp)

using common::Request;
using common::Response;
namespace http = common::http;

/// True for the fixed hop-by-hop fields: Connection, Keep-Alive, Proxy-*, TE, Trailer,
/// Transfer-Encoding, Upgrade (case-insensitive).
bool is_hop_by_hop(std::string_view name);

/// Removes the hop-by-hop fields and every field named in Connection.
void strip_hop_by_hop(http::fields& fields);

/// Why a request's framing is ambiguous (a smuggling attempt), or nullopt when it is clean:
/// Content-Length together with Transfer-Encoding, several differing Content-Lengths, or a
/// Transfer-Encoding other than exactly "chunked". (Beast's parser rejects most of these itself;
/// this covers what it lets through, e.g. `Transfer-Encoding: gzip, chunked` + Content-Length.)
std::optional<std::string_view> framing_error(const Request& req);

/// The bytes sent upstream for a client request, in one piece (one contiguous buffer is much
/// cheaper to write than Beast's serializer's gather of one buffer per field): HTTP/1.1, the
/// client's fields without the hop-by-hop ones (so keep-alive), X-Forwarded-For appended with
/// `client_ip`, X-Forwarded-Proto (https when the client came over TLS) and X-Request-Id set,
/// the client's `traceparent` replaced by `traceparent` (the gateway's span; none when empty),
/// and the body re-framed with our own Content-Length (never chunked; none for a bodiless
/// GET/HEAD/DELETE).
std::string upstream_request(const Request& req, std::string_view client_ip,
                             std::string_view request_id, std::string_view traceparent = {},
                             bool client_tls = false);

/// Whether the client's Accept-Encoding (all its fields) takes gzip (q > 0; see
/// choose_encoding in static_files.hpp).
bool accepts_gzip(const common::Request& req);

/// Compresses a node's answer for a client that takes gzip, in place, when it is worth it: a
/// 200 JSON answer (problem+json too) of at least kGzipMinBytes, not compressed yet and without
/// an ETag (a strong tag names the node's bytes; those answers stay as they are), and only when
/// gzip (zlib level 6: about 65 µs for a page of 40 statuses, 9 KB, against 50 µs at level 1
/// for a tenth more bytes) makes it smaller. Sets Content-Encoding
/// and adds Accept-Encoding to Vary. True when it compressed.
inline constexpr std::size_t kGzipMinBytes = 1024;
bool gzip_answer(http::response<http::string_body>& answer);

/// The head of the client's answer made from an upstream answer's head, for
/// Exchange::respond_serialized: status line and fields without the hop-by-hop ones, the
/// upstream's X-Request-Id or `request_id`, and Content-Length `body_size` — or, for answers
/// without a body (to HEAD, 204, 304, 1xx), the upstream's own Content-Length if it sent one.
std::string client_response_head(const http::response_header<>& h, std::size_t body_size,
                                 std::string_view request_id, bool head_request);

/// Same for the head of a streamed answer (no body, no length).
void prepare_stream_head(http::response_header<>& head, std::string_view request_id);

/// The fields the gateway puts on every answer itself (the server adds them:
/// ServerOptions::every_answer_headers); a node's own are dropped from its answers.
inline constexpr std::pair<std::string_view, std::string_view> kSecurityHeaders[] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
};

/// Whether a Host field value names this gateway (against DNS rebinding): its host part (a
/// name, an IPv4 address, or a bracketed IPv6 address) matches an `allowed` entry
/// case-insensitively, ignoring a trailing dot; an entry "name:port" also needs that port.
/// A malformed value (empty, bad port, stray characters) is never allowed.
bool host_allowed(std::string_view host, const std::vector<std::string>& allowed);

}  // namespace status::gateway
