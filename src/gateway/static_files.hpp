#pragma once
// The web client: the files of one root directory, read once at start and served from memory
// like a static site — compressed (gzip and brotli made at start, never per request), with an
// ETag per representation and 304 on If-None-Match, under content-hashed URLs that may be
// cached for a year. See docs/gateway.md, "The web client".

#include "common/http.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace status::gateway {

/// Maps a request path ("/", "/css/app.css", "/a%20b.txt") to a path relative to the web root
/// ("index.html", "css/app.css", "a b.txt"). nullopt for anything that could leave the root or
/// is not a plain file name: "..", ".", empty or hidden segments, backslashes, NUL or control
/// characters, malformed %-escapes (checked after decoding, so "%2e%2e" is caught too).
std::optional<std::string> sanitize_path(std::string_view path);

/// Content-Type for a file name by its extension; application/octet-stream when unknown.
std::string_view mime_type(std::string_view file_name);

/// Whether a file of this Content-Type is worth compressing (text, JavaScript, JSON, SVG, …).
bool compressible(std::string_view content_type);

/// The web client's Content-Security-Policy: its own scripts, styles, images and connections
/// only, no inline script or style, no framing. content_security_policy() (cors.hpp) adds the
/// other gateways to connect-src and the configured tile host (--tile-url) to img-src.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A content coding of an answer.
enum class Encoding { kIdentity, kGzip, kBrotli };

/// The coding to send for an Accept-Encoding field value (RFC 9110 §12.5.3), among those
/// available: the acceptable one with the highest q-value, br before gzip before identity on a
/// tie. `q=0` refuses a coding, `*` stands for every coding not named, identity is acceptable
/// unless refused (by "identity;q=0", or "*;q=0" without an identity entry); "x-gzip" is gzip.
/// nullopt (no header) means identity. When nothing is acceptable, identity (the answer then
/// is what the client gets anyway rather than an error page).
Encoding choose_encoding(std::optional<std::string_view> accept_encoding, bool have_gzip,
                         bool have_brotli);

/// Whether an If-None-Match field value matches the entity tag `etag` (quoted, e.g.
/// "\"abc-gz\""): "*", or a list of entity tags one of which equals `etag` by the weak
/// comparison (a W/ prefix on either side is ignored). A malformed list matches nothing after
/// the malformed element.
bool if_none_match(std::string_view field, std::string_view etag);

/// Lower-case hex of the SHA-256 of `data`, the first `hex_chars` characters (at most 64).
std::string sha256_hex(std::string_view data, std::size_t hex_chars = 64);

/// gzip (zlib, `level` 1-9; 9 for files made once) of `data`; empty on failure.
std::string gzip_compress(std::string_view data, int level = 9);
/// brotli (libbrotlienc, quality 11) of `data`; empty on failure.
std::string brotli_compress(std::string_view data);

/// What the gateway fills into every HTML page at start: the content of
/// <meta name="tile-url" content=""> and <meta name="tile-attribution" content="">.
struct PageSettings {
  std::string tile_url;
  std::string tile_attribution;
};

/// The HTML attribute-escaped form of `text` (& < > " ' as character references).
std::string html_attribute_escape(std::string_view text);

/// The static ES-module imports of a JavaScript module's source (`import … from "x"`,
/// `import "x"`, `export … from "x"`; not `import(…)` nor `import.meta`), as written, in order;
/// comments, strings, template literals and regular expression literals are skipped.
std::vector<std::string> module_imports(std::string_view js);

/// Resolves the reference `ref` (a URL path, percent-encoded, without query or fragment) against
/// the file `base` (a root-relative path such as "js/app.js"): "x.js" → "js/x.js", "../a" →
/// "a", "/css/a.css" → "css/a.css". nullopt if it climbs out of the root.
std::optional<std::string> resolve_reference(std::string_view base, std::string_view ref);

/// Rewrites one HTML page as served (see StaticFiles): every src="…"/href="…" that is a relative
/// reference to a non-HTML file for which `exists(path)` holds becomes "/_/<hash>/<path>"
/// (query and fragment kept); the content of the tile meta tags is filled from `settings`; and
/// a <link rel="modulepreload"> for every module in `preload` (root-relative paths, each under
/// the hashed prefix) is put before </head>. `page` is the page's own root-relative path.
/// `module_scripts` receives the root-relative paths of the page's <script type="module" src>.
std::string rewrite_html(std::string_view html, std::string_view page, std::string_view hash,
                         const PageSettings& settings,
                         const std::function<bool(const std::string&)>& exists,
                         const std::vector<std::string>& preload = {},
                         std::vector<std::string>* module_scripts = nullptr);

/// Bounds of what the gateway keeps in memory; a web root beyond them is a configuration error.
struct StaticLimits {
  std::size_t max_files = 2000;
  std::size_t max_bytes = 64u << 20;
};

/// Serves GET/HEAD for the files of a web root, held in memory: read, rewritten (HTML),
/// hashed and compressed once, at construction. Hidden files and directories are skipped, as are
/// symbolic links that point out of the root (or at a directory). Every file is served at
/// "/<path>" and at "/_/<hash>/<path>" (<hash>: over the whole root's content): the latter with
/// Cache-Control "public, max-age=31536000, immutable" when <hash> is the current one, "no-cache"
/// for another (an old page after an upgrade); pages (HTML) and everything else "no-cache". "/" and "/dir/" serve
/// index.html; a path without an extension that names no file serves "<path>.html" ("/cluster").
/// Documents (HTML, SVG) carry the Content-Security-Policy given and a Referrer-Policy that sends
/// other hosts the origin only; every answer X-Content-Type-Options, an ETag per representation ("<h>", "<h>-gz",
/// "<h>-br") and Vary: Accept-Encoding for compressible files; If-None-Match → 304. 404
/// problem+json for missing files, 405 for other methods. Thread-safe (read-only after
/// construction). Throws common::ConfigError when the root exceeds `limits`.
class StaticFiles {
 public:
  /// Reads the files and starts compressing them on threads of its own (serve() waits until
  /// they are done).
  explicit StaticFiles(std::filesystem::path root, PageSettings settings = {},
                       StaticLimits limits = {});
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;
  /// Until the gzip and brotli copies are made (at most the start's compression time).
  void wait_compressed() const;
  /// `csp`: the Content-Security-Policy to send (the gateway's lists the other gateways).
  common::Response serve(const common::Request& req,
                         std::string_view csp = kContentSecurityPolicy) const;
  const std::filesystem::path& root() const { return root_; }
  /// The content hash of the whole root (16 hex), the "<hash>" of "/_/<hash>/…".
  const std::string& hash() const { return hash_; }
  std::size_t file_count() const { return files_.size(); }
  std::size_t total_bytes() const { return total_bytes_; }
  /// The served (rewritten) body of a file, or nullptr.
  const std::string* body(const std::string& rel) const;

 private:
  struct Representation {
    std::string body;
    std::string etag;  // quoted
  };
  struct File {
    std::string_view content_type;
    bool compressible = false;
    Representation identity;
    std::optional<Representation> gzip, brotli;
  };
  const File* find(const std::string& rel) const;
  void compress(const std::vector<File*>& to_compress);

  std::filesystem::path root_;
  std::unordered_map<std::string, File> files_;
  std::string hash_;
  std::size_t total_bytes_ = 0;
  mutable std::mutex ready_mu_;
  mutable std::condition_variable ready_cv_;
  bool ready_ = false;                          // under ready_mu_
  mutable std::atomic<bool> ready_fast_{false};  // ready_ seen: no lock any more
  std::thread compressor_;                      // last: started once the rest is built
};

}  // namespace status::gateway
