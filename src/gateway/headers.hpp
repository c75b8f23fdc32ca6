#pragma once
// Header rewriting between client and upstream, and the request-framing checks that defend
// against request smuggling. Pure functions on Beast messages; no sockets.

#include "common/http.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace status::gateway {

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

/// The client's X-Request-Id if it is sane (1–128 visible ASCII characters), else a new one.
std::string request_id_for(const Request& req);

/// Turns a client request into the one sent upstream: hop-by-hop fields removed, X-Forwarded-For
/// appended with `client_ip`, X-Forwarded-Proto set, X-Request-Id set, HTTP/1.1 keep-alive, and
/// the body re-framed with our own Content-Length (never chunked).
void prepare_upstream_request(Request& req, std::string_view client_ip,
                              std::string_view request_id);

/// The bytes of a request prepared by prepare_upstream_request() (Content-Length framing or no
/// body), in one piece: one contiguous buffer is much cheaper to write than Beast's serializer's
/// gather of one buffer per field.
std::string serialize_request(const Request& req);

/// Turns an upstream answer into the client's: hop-by-hop fields removed (the server frames it
/// again), X-Request-Id present. `head_request`: the answer to HEAD keeps its Content-Length.
void prepare_client_response(Response& res, std::string_view request_id, bool head_request);

/// Same for the head of a streamed answer (no body, no length).
void prepare_stream_head(http::response_header<>& head, std::string_view request_id);

}  // namespace status::gateway
