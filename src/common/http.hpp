#pragma once
// HTTP message types shared by every component, and helpers to build answers.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace status::common {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// An RFC 9457 problem+json answer: {"type":"about:blank","title":…,"status":…,"detail":…}.
Response problem(int status, std::string_view detail, unsigned version = 11, bool keep_alive = true);
/// A JSON answer with the given body (already serialized).
Response json_response(int status, std::string body, const Request& req);
/// The method as a metrics label: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE,
/// or OTHER for everything else (a fixed set, whatever token a client sends).
std::string_view method_label(http::verb method);
/// Standard reason phrase, e.g. 404 → "Not Found".
std::string_view reason(int status);
/// Header value or nullopt.
std::optional<std::string> header(const Request& req, std::string_view name);
/// Splits a request target into its path and its query string (without '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target);
/// Decodes %XX and '+' (in queries). Returns nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false);
/// Percent-encodes one path segment (RFC 3986: unreserved characters and ':' stay as they are).
std::string percent_encode_segment(std::string_view segment);
/// `text` with every byte but letters, digits, "-._~" and those of `also_keep` as %XX.
std::string percent_encode(std::string_view text, std::string_view also_keep);
/// Value of one query parameter (decoded), or nullopt if absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
/// Every value of a repeatable query parameter (decoded), in order.
std::vector<std::string> query_params(std::string_view query, std::string_view name);
/// Random 128-bit id as 32 hex characters (request ids).
std::string random_id();
/// The one request-id rule: the request's X-Request-Id when it is 1–128 printable ASCII
/// characters, else a new random id.
std::string request_id_for(const Request& req);

}  // namespace status::common
