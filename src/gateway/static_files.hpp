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

/// Serves GET/HEAD for files under `root`; thread-safe (reads the file on each request, the web
/// client is small). 404 problem+json for missing files, 405 for other methods.
class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root);
  common::Response serve(const common::Request& req) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace status::gateway
