#include "gateway/static_files.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace status::gateway {

namespace fs = std::filesystem;
using common::http::field;

std::optional<std::string> sanitize_path(std::string_view path) {
  auto decoded = common::percent_decode(path);
  if (!decoded || decoded->empty() || decoded->front() != '/') return std::nullopt;
  std::string out;
  std::string_view rest(*decoded);
  rest.remove_prefix(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (seg.empty()) {
      if (!last) return std::nullopt;  // "//" inside the path
    } else {
      if (seg.front() == '.') return std::nullopt;  // "..", "." and hidden files
      for (unsigned char c : seg)
        if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return std::nullopt;
      if (!out.empty()) out += '/';
      out += seg;
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  // A directory ("/" or "/docs/") means its index.html.
  if (out.empty() || decoded->back() == '/') out += out.empty() ? "index.html" : "/index.html";
  return out;
}

std::string_view mime_type(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
  };
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find('/', dot) != std::string_view::npos)
    return "application/octet-stream";
  std::string ext(name.substr(dot));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto [e, type] : kTypes)
    if (e == ext) return type;
  return "application/octet-stream";
}

StaticFiles::StaticFiles(fs::path root) : root_(std::move(root)) {}

common::Response StaticFiles::serve(const common::Request& req, std::string_view csp) const {
  if (req.method() != common::http::verb::get && req.method() != common::http::verb::head) {
    auto res = common::problem(405, "only GET and HEAD are allowed here", 11, req.keep_alive());
    res.set(field::allow, "GET, HEAD");
    return res;
  }
  auto [path, query] = common::split_target(req.target());
  auto rel = sanitize_path(path);
  if (!rel) return common::problem(404, "no such file", 11, req.keep_alive());
  fs::path file = root_ / *rel;
  std::error_code ec;
  if (fs::is_directory(file, ec)) file /= "index.html";
  std::ifstream in(file, std::ios::binary);
  if (!in || !fs::is_regular_file(file, ec))
    return common::problem(404, "no such file", 11, req.keep_alive());
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  common::Response res{common::http::status::ok, 11};
  res.set(field::content_type, mime_type(file.filename().string()));
  res.set(field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", csp);
  res.set("Referrer-Policy", "strict-origin-when-cross-origin");
  res.keep_alive(req.keep_alive());
  res.content_length(body.size());
  if (req.method() == common::http::verb::get) res.body() = std::move(body);
  return res;
}

}  // namespace status::gateway
