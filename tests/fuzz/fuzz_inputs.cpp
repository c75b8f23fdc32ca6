// libFuzzer target over everything that parses outside input: the first byte picks the parser,
// the rest is the input. Besides "no crash, no sanitizer report" it checks invariants:
//  - what the gateway sends upstream (upstream_request) and back (client_response_head) is
//    always exactly one well-formed HTTP message, whatever the client or node sent;
//  - wire and time forms round-trip;
//  - the web client's parsers (Accept-Encoding, If-None-Match, the HTML rewriter, the module
//    scanner, the tile URL check) never crash; a page with nothing to rewrite is left byte for
//    byte; a tile URL's CSP source is one source expression (no ';', ',' or space in it).
// Build and run: `make fuzz` (clang, -fsanitize=fuzzer,address,undefined); see docs/testing.md.

#include "common/http.hpp"
#include "gateway/cors.hpp"
#include "gateway/headers.hpp"
#include "gateway/static_files.hpp"
#include "node/status.hpp"
#include "registry/instance_codec.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace http = boost::beast::http;
using status::node::Status;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// Parses `bytes` as one complete message with the servers' limits; nullopt if it is not one.
// (`header_limit`: the gateway adds forwarding fields to a head that was within 8 KiB.)
template <bool IsRequest>
std::optional<http::message<IsRequest, http::string_body>> parse_one(
    std::string_view bytes, std::size_t* used = nullptr, std::uint32_t header_limit = 8 * 1024) {
  http::parser<IsRequest, http::string_body> p;
  p.header_limit(header_limit);
  p.body_limit(64 * 1024);
  p.eager(true);
  boost::beast::error_code ec;
  auto n = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec || !p.is_done()) return std::nullopt;
  if (used) *used = n;
  return p.release();
}

void fuzz_status_input(std::string_view in) {
  auto cut = in.find('\n');
  std::optional<std::string_view> path_user;
  if (cut != std::string_view::npos) path_user = in.substr(0, cut);
  auto r = status::node::parse_status_input(cut == std::string_view::npos ? in : in.substr(cut + 1),
                                            path_user, 1'764'000'000'000);
  if (auto* ok = std::get_if<status::node::StatusInput>(&r)) {
    check(!ok->username || status::node::valid_username(*ok->username), "accepted a bad username");
    check(status::node::utf8_length(ok->text).has_value(), "accepted invalid UTF-8 text");
  }
}

void fuzz_wire(std::string_view in) {
  if (auto s = status::node::from_wire_json(in)) {
    auto again = status::node::from_wire_json(status::node::to_wire_json(*s));
    check(again && again->username == s->username && again->version.hlc == s->version.hlc &&
              again->version.node == s->version.node && again->deleted == s->deleted,
          "wire form does not round-trip");
    (void)status::node::to_api_json(*s);
  }
  if (auto many = status::node::from_wire_array(in)) {
    auto again = status::node::from_wire_array(status::node::to_wire_array(*many));
    check(again && again->size() == many->size(), "wire array does not round-trip");
  }
}

void fuzz_text(std::string_view in) {
  (void)status::node::valid_username(in);
  (void)status::node::utf8_length(in);
  if (auto t = status::node::parse_time(in)) {
    auto formatted = status::node::format_time(*t);
    auto back = status::node::parse_time(formatted);
    check(back && *back == *t, "time does not round-trip");
  }
}

void fuzz_url_parts(std::string_view in) {
  auto [path, query] = status::common::split_target(in);
  (void)status::common::percent_decode(path);
  (void)status::common::percent_decode(query, true);
  (void)status::common::query_param(query, "limit");
  (void)status::common::query_param(query, "i");
  if (auto decoded = status::common::percent_decode(in)) {
    auto enc = status::common::percent_encode_segment(*decoded);
    auto back = status::common::percent_decode(enc);
    check(back && *back == *decoded, "percent encoding does not round-trip");
  }
}

void fuzz_registry(std::string_view in) {
  auto r = status::registry::parse_registration(in);
  if (auto* inst = std::get_if<status::registry::Instance>(&r))
    (void)status::registry::instance_document(*inst);
  if (auto apps = status::registry::parse_applications(in))
    for (const auto& i : *apps) (void)status::registry::instance_document(i);
}

void fuzz_gateway_request(std::string_view in) {
  auto req = parse_one<true>(in);
  if (!req) return;
  (void)status::gateway::framing_error(*req);
  auto id = status::gateway::request_id_for(*req);
  auto wire = status::gateway::upstream_request(*req, "127.0.0.1", id);
  std::size_t used = 0;
  auto up = parse_one<true>(wire, &used, 16 * 1024);
  if (!up) std::fprintf(stderr, "upstream request:\n%s\n", wire.c_str());
  check(up.has_value(), "upstream request does not parse");
  check(used == wire.size(), "upstream request carries trailing bytes (smuggling)");
  check(up->body() == req->body(), "upstream request body differs");
  check(up->find(http::field::transfer_encoding) == up->end(), "upstream request is chunked");
}

void fuzz_gateway_response(std::string_view in) {
  bool head_request = !in.empty() && (in.front() & 1);
  if (!in.empty()) in.remove_prefix(1);
  http::response_parser<http::string_body> p;
  p.header_limit(64 * 1024);
  p.body_limit(64 * 1024);
  p.eager(true);
  p.skip(head_request);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !p.is_done()) return;
  auto& res = p.get();
  // The proxy answers 502 itself to a status outside 200–599 (Beast reads any three digits).
  if (res.result_int() < 200 || res.result_int() > 599) return;
  auto head = status::gateway::client_response_head(res.base(), res.body().size(), "rid", head_request);
  std::string all = head + "\r\n" + res.body();
  http::response_parser<http::string_body> back;
  back.header_limit(128 * 1024);  // the proxy reads heads of up to 64 KiB and adds a field
  back.eager(true);
  back.skip(head_request);
  auto used = back.put(boost::asio::buffer(all), ec);
  check(!ec && back.is_done(), "client answer does not parse");
  check(used == all.size() || res.body().empty(), "client answer carries trailing bytes");
  check(back.get().body() == res.body(), "client answer body differs");
}

void fuzz_web(std::string_view in) {
  using namespace status::gateway;
  (void)choose_encoding(in, true, true);
  (void)if_none_match(in, "\"abc-gz\"");
  (void)module_imports(in);
  (void)resolve_reference("js/app.js", in);
  auto none = [](const std::string&) { return false; };
  std::string folded(in);
  for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // No file exists and no tile meta tag can be named: nothing to rewrite.
  if (folded.find("tile") == std::string::npos)
    check(rewrite_html(in, "index.html", "0123456789abcdef", {}, none) == in,
          "a page without references to files or tile tags was changed");
  auto all = [](const std::string&) { return true; };
  (void)rewrite_html(in, "a/index.html", "0123456789abcdef", {"https://t.example/{z}/{x}/{y}", "\"<&>"},
                     all, {"js/x.js"});
  if (auto src = tile_image_source(in)) {
    check(src->starts_with("http://") || src->starts_with("https://"), "tile source scheme");
    check(src->find_first_of(";, \t'\"") == std::string::npos, "tile source is not one source");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: fuzz_status_input(in); break;
    case 1: fuzz_wire(in); break;
    case 2: fuzz_text(in); break;
    case 3: fuzz_url_parts(in); break;
    case 4: fuzz_registry(in); break;
    case 5: fuzz_gateway_request(in); break;
    case 6: fuzz_gateway_response(in); break;
    case 7: fuzz_web(in); break;
  }
  return 0;
}
