#pragma once
// The web client: static files under one root directory, with no way out of it.

#include "common/http.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace status::gateway {

/// Maps a request path ("/", "/css/app.css", "/a%20b.txt") to a path relative to the web root
/// ("index.html", "css/app.css", "a b.txt"). nullopt for anything that could leave the root or
/// is not a plain file name: "..", ".", empty or hidden segments, backslashes, NUL or control
/// characters, malformed %-escapes (checked after decoding, so "%2e%2e" is caught too).
std::optional<std::string> sanitize_path(std::string_view path);

/// Content-Type for a file name by its extension; application/octet-stream when unknown.
std::string_view mime_type(std::string_view file_name);

/// The web client's Content-Security-Policy: its own scripts, styles and connections only, no
/// inline script or style, no framing. Images may also come from OpenStreetMap's tile server,
/// the map's default tile layer (web/js/map.js); other tile hosts are refused by the browser.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Serves GET/HEAD for files under `root`, with kContentSecurityPolicy and a Referrer-Policy
/// that sends other hosts the origin only; thread-safe (reads the file on each request, the web
/// client is small). 404 problem+json for missing files, 405 for other methods.
class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root);
  /// `csp`: the Content-Security-Policy to send (the gateway's lists the other gateways).
  common::Response serve(const common::Request& req,
                         std::string_view csp = kContentSecurityPolicy) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace status::gateway
