#pragma once
// CORS for the cluster's other gateways only: the web client loaded from one gateway may carry
// on through another (web/js/gateways.js), which is a cross-origin call for the browser. Only
// the origins of the URLs this gateway lists at /api/gateways get CORS answers; any other origin
// gets none (and its preflights 403). The page's Content-Security-Policy lists the same origins
// in connect-src.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/http.hpp"
#include "common/http_server.hpp"

namespace status::gateway {

/// The canonical origin of an http(s) URL or of an Origin field value: "scheme://host[:port]",
/// scheme and host lower-case, the default port (80 for http, 443 for https) dropped, an IPv6
/// host bracketed. nullopt for anything else: other schemes, "null", credentials, an empty host
/// or a bad port — and, unless `allow_path`, a path, query or fragment (an Origin field is
/// exactly scheme://host[:port]).
std::optional<std::string> canonical_origin(std::string_view s, bool allow_path = false);

/// The CORS answer fields (besides Access-Control-Allow-Origin, which names the request's
/// origin): what the web client reads from other gateways' answers, and what a preflight allows.
inline constexpr std::string_view kCorsExposeHeaders =
    "X-Served-By, X-Request-Id, ETag, X-Total-Count, Link, Retry-After, X-Replicated, X-Event-Id";
inline constexpr std::string_view kCorsAllowMethods = "GET, HEAD, POST, PUT, DELETE, PATCH";
inline constexpr std::string_view kCorsAllowHeaders =
    "Content-Type, Authorization, If-Match, If-None-Match, X-Consistency, Last-Event-ID, "
    "traceparent";
inline constexpr std::string_view kCorsMaxAge = "600";

/// What the gateway derives from its /api/gateways list whenever that list changes (on the
/// background thread that polls the registry), so that requests only look it up.
struct CorsPolicy {
  std::unordered_set<std::string> origins;  // canonical origins of every listed gateway
  std::string csp;                          // the page's Content-Security-Policy
  /// The canonical form of `origin` (an Origin field value) when it is one of `origins`.
  std::optional<std::string> allowed(std::string_view origin) const;
};

/// The policy for the gateway URLs `urls` (as /api/gateways lists them, this gateway's own
/// `self` among them): every URL's origin is allowed; connect-src is 'self' plus the origins
/// other than self's, img-src 'self' data: plus `img_extra` (the tile host, if configured), the
/// rest of the CSP as kContentSecurityPolicy.
CorsPolicy make_cors_policy(std::string_view self, const std::vector<std::string>& urls,
                            std::string_view img_extra = {});

/// kContentSecurityPolicy with `extra` (space-separated origins) added to connect-src and
/// `img_extra` (a source expression) to img-src.
std::string content_security_policy(std::string_view extra, std::string_view img_extra = {});

/// The longest --tile-url and --tile-attribution accepted.
inline constexpr std::size_t kMaxTileUrl = 2048;
inline constexpr std::size_t kMaxTileAttribution = 512;

/// The CSP source expression of the host a tile URL template loads from, or nullopt when it is
/// no valid template. Valid: an http:// or https:// URL without credentials, with {z}, {x} and
/// {y} (or {-y}) in its path or query, no placeholders besides those and {s} and {r}, no white
/// space, control characters, quotes, '<', '>' or '\'. {s} (Leaflet's subdomains) may only be
/// the whole first label of the host: "https://{s}.tile.example.org/…" → the source
/// "https://*.tile.example.org" (every subdomain of the parent domain); otherwise the source is
/// the URL's origin, "https://tiles.example.org:8443".
std::optional<std::string> tile_image_source(std::string_view tile_url);

/// The current policy, replaced as a whole: readers copy the pointer under a mutex held for
/// that copy only.
class CorsState {
 public:
  std::shared_ptr<const CorsPolicy> get() const {
    std::lock_guard lock(mu_);
    return policy_;
  }
  void set(std::shared_ptr<const CorsPolicy> p) {
    std::lock_guard lock(mu_);
    policy_.swap(p);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const CorsPolicy> policy_ = std::make_shared<CorsPolicy>();
};

/// The fields a CORS answer to `origin` (canonical, allowed) carries on a simple or actual
/// request: Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers and Vary: Origin.
std::vector<std::pair<std::string, std::string>> cors_fields(const std::string& origin);

/// The 204 answer to an allowed preflight (the fields above without Expose-Headers, with
/// Allow-Methods, Allow-Headers and Max-Age).
common::Response preflight_response(const std::string& origin, bool keep_alive);

/// `inner` with cors_fields(origin) added to its answer, whichever way it is given (respond,
/// respond_serialized — the proxy's — or a stream's head), so that every answer to an allowed
/// origin carries them, the gateway's own errors too. Everything else is passed through.
common::ExchangePtr with_cors_fields(common::ExchangePtr inner, std::string origin);

}  // namespace status::gateway
