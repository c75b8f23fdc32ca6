#pragma once
// The account endpoints of CONTRACT §6: sign-up, login (sessions), logout, /api/me, password
// change and account deletion. Accounts and sessions are replicated records (see Kind), written
// through the store like statuses.

#include "common/router.hpp"
#include "node/auth.hpp"
#include "node/store.hpp"
#include "node/write_path.hpp"

#include <string>

namespace status::node {

struct AccountsDeps {
  Store& store;
  Authenticator& auth;
  HashWorkers& hashes;
  LoginThrottle& throttle;
  std::string node_id;
  /// Account and session writes are answered like `X-Consistency: all` writes: once every UP
  /// node has them (or the sync timeout passed), so the next request through a gateway — to
  /// any node — already finds the new session or account.
  const WriteAnswerer* answerer = nullptr;
  /// The session cookie is `Secure` when the client's connection is TLS: this node serves HTTPS,
  /// or a trusted proxy (a gateway) says so with X-Forwarded-Proto: https.
  bool serves_tls = false;
  const common::Networks* trusted_proxies = nullptr;
};

/// Adds /api/accounts, /api/accounts/{username}, /api/accounts/{username}/password,
/// /api/sessions, /api/sessions/current and /api/me with access `access`.
void add_account_routes(common::Router& r, AccountsDeps& deps, int access);

/// Creates (or resets) account `admin` with role admin and this password (--admin-password-file);
/// leaves it alone when it already has them. Blocks until committed; throws on failure.
void ensure_admin(Store& store, const Authenticator& auth, const std::string& password);

}  // namespace status::node
