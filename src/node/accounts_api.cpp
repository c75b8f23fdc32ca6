#include "node/accounts_api.hpp"

#include "node/api.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <future>

namespace status::node {

namespace http = common::http;
namespace json = boost::json;
using common::ExchangePtr;
using common::HttpError;
using common::Request;
using common::Response;
using common::RouteMatch;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A JSON object body whose members are all strings and all among `allowed`.
std::map<std::string, std::string> string_fields(const Request& req,
                                                 std::initializer_list<std::string_view> allowed) {
  if (!json_content_type(req)) throw HttpError(415, "Content-Type must be application/json");
  json::parse_options opts;
  opts.max_depth = 4;
  boost::system::error_code ec;
  auto v = json::parse(req.body(), ec, {}, opts);
  if (ec || !v.is_object()) throw HttpError(400, "request body must be a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& kv : v.as_object()) {
    std::string_view k = kv.key();
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      throw HttpError(400, "unknown field '" + std::string(k) + "'");
    if (!kv.value().is_string()) throw HttpError(400, std::string(k) + " must be a string");
    out[std::string(k)] = std::string(kv.value().as_string());
  }
  return out;
}

std::string required(const std::map<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  if (it == f.end()) throw HttpError(400, name + " is required");
  return it->second;
}

void check_password(const std::string& pw, const char* field) {
  auto len = utf8_length(pw);
  if (!len || *len < 8 || *len > 256)
    throw HttpError(400, std::string(field) + " must be 8-256 characters");
}

void check_name(const std::string& u) {
  if (!valid_username(u))
    throw HttpError(400, "username must be 1-64 characters of A-Z a-z 0-9 . _ -");
}

json::array roles_of(const Status& account) {
  json::array roles;
  if (account.extra == "admin") roles.push_back("admin");
  return roles;
}

Identity need_identity(const AccountsDeps& d, const Request& req) {
  auto id = d.auth.identify(req, wall_ms());
  if (!id) throw HttpError(401, "sign in first", {{"WWW-Authenticate", "Bearer realm=\"status\""}});
  return *id;
}

// Writes one record (or its tombstone) and calls `done` with the outcome once it is committed
// (and, with an answerer, once the other nodes have it or the sync timeout passed).
void write_record(Store& store, std::string key, std::optional<Status> record, bool is_delete,
                  bool create_only, std::function<void(Outcome)> done,
                  const WriteAnswerer* answerer = nullptr) {
  LocalRequest w;
  w.username = std::move(key);
  w.is_delete = is_delete;
  w.create_only = create_only;
  w.record = record ? std::move(record) : std::optional<Status>(Status{});
  store.write(std::move(w), [done = std::move(done), answerer](WriteResult r) {
    if (!answerer) return done(r.outcome);
    auto outcome = r.outcome;
    answerer->committed(r, true, [done, outcome](std::optional<ReplicationReport>) { done(outcome); });
  });
}

// Calls `done` once every write in `keys` (tombstones) has committed; `ok` if none failed.
void delete_all(Store& store, const std::vector<std::string>& keys, std::function<void(bool)> done,
                const WriteAnswerer* answerer) {
  struct Join {
    std::mutex m;
    int left;
    bool ok = true;
    std::function<void(bool)> done;
  };
  if (keys.empty()) return done(true);
  auto j = std::make_shared<Join>();
  j->left = static_cast<int>(keys.size());
  j->done = std::move(done);
  for (const auto& k : keys) {
    auto finish = [j](Outcome o) {
      std::function<void(bool)> f;
      bool ok;
      {
        std::lock_guard lock(j->m);
        if (o == Outcome::kFailed) j->ok = false;
        if (--j->left > 0) return;
        f = std::move(j->done);
        ok = j->ok;
      }
      f(ok);
    };
    if (k.find(':') == std::string::npos) {  // a status: a delete that takes its history too
      LocalRequest w;
      w.is_delete = true;
      w.purge = true;
      w.username = k;
      store.write(std::move(w), [finish, answerer](WriteResult r) {
        if (!answerer) return finish(r.outcome);
        auto outcome = r.outcome;
        answerer->committed(r, true, [finish, outcome](std::optional<ReplicationReport>) { finish(outcome); });
      });
    } else {
      write_record(store, k, std::nullopt, true, false, finish, answerer);
    }
  }
}

Response json_answer(int status, const json::value& v, const RouteMatch& m) {
  Response res{static_cast<http::status>(status), m.version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(m.keep_alive);
  res.body() = json::serialize(v);
  res.prepare_payload();
  return res;
}

Response no_content(const RouteMatch& m) {
  Response res{http::status::no_content, m.version};
  res.keep_alive(m.keep_alive);
  return res;
}

std::string cookie(const std::string& token, std::int64_t max_age_s, bool secure) {
  return "status_session=" + token + "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
         std::to_string(max_age_s) + (secure ? "; Secure" : "");
}

// Whether the client reached us over TLS (see AccountsDeps::serves_tls).
bool over_tls(const AccountsDeps& d, const Request& req, const ExchangePtr& ex) {
  if (d.serves_tls) return true;
  if (!d.trusted_proxies || !d.trusted_proxies->contains(ex->remote_address())) return false;
  auto proto = common::header(req, "X-Forwarded-Proto");
  return proto && *proto == "https";
}

}  // namespace

void add_account_routes(common::Router& r, AccountsDeps& deps, int access) {
  auto* d = &deps;
  auto fail = [](const ExchangePtr& ex, const RouteMatch& m, const std::string& node, int status,
                 const std::string& detail) {
    respond_api(ex, m, node, common::Router::error_response(HttpError(status, detail), m));
  };

  // Sign-up: open to anyone with --signup open, admins only with --signup admin.
  r.add(http::verb::post, "/api/accounts", [d, fail](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto f = string_fields(req, {"username", "password"});
    auto user = required(f, "username");
    auto pw = required(f, "password");
    check_name(user);
    check_password(pw, "password");
    if (!d->auth.options().signup_open) {
      auto id = d->auth.identify(req, wall_ms());
      if (!id || !id->admin) throw HttpError(403, "only an admin may create accounts here");
    }
    if (d->auth.account(user)) throw HttpError(409, "the username '" + user + "' is taken");
    bool queued = d->hashes.submit([d, ex, m, user, pw, fail] {
      Status acct;
      try {
        acct.text = Passwords::hash(pw);
      } catch (const std::exception& e) {
        return fail(ex, m, d->node_id, 503, "cannot hash the password now; retry");
      }
      write_record(d->store, std::string(kAccountPrefix) + user, acct, false, true,
                   [d, ex, m, user, fail](Outcome o) {
                     if (o == Outcome::kConflict) return fail(ex, m, d->node_id, 409, "the username '" + user + "' is taken");
                     if (o != Outcome::kCreated) return fail(ex, m, d->node_id, 503, "the account could not be stored; retry");
                     spdlog::info("event=account_created username={}", user);
                     json::object o2{{"username", user}, {"roles", json::array()}};
                     auto res = json_answer(201, o2, m);
                     res.set(http::field::location, "/api/accounts/" + user);
                     respond_api(ex, m, d->node_id, std::move(res));
                   }, d->answerer);
    });
    if (!queued) throw HttpError(503, "too many sign-ups and logins at once; retry", {{"Retry-After", "1"}});
  }, access);

  // Login.
  r.add(http::verb::post, "/api/sessions", [d, fail](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto f = string_fields(req, {"username", "password"});
    auto user = required(f, "username");
    auto pw = required(f, "password");
    if (user.size() > 64 || pw.size() > 1024) throw HttpError(401, "wrong username or password");
    auto now = std::chrono::steady_clock::now();
    if (auto wait = d->throttle.locked(user, now))
      throw HttpError(429, "too many failed sign-ins for this name; wait a minute",
                      {{"Retry-After", std::to_string(*wait)}});
    auto acct = d->auth.account(user);
    bool secure = over_tls(*d, req, ex);
    bool queued = d->hashes.submit([d, ex, m, user, pw, acct, fail, secure] {
      bool ok = Passwords::verify(acct ? acct->text : Passwords::decoy(), pw) && acct;
      if (!ok) {
        d->throttle.failed(user, std::chrono::steady_clock::now());
        spdlog::info("event=login_failed username={}", valid_username(user) ? user : "(invalid)");
        return fail(ex, m, d->node_id, 401, "wrong username or password");
      }
      d->throttle.succeeded(user);
      auto token = new_session_token();
      auto ttl = d->auth.options().session_ttl;
      std::int64_t expires = wall_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
      Status session;
      session.text = user;
      session.time_ms = expires;
      write_record(d->store, session_key(token), session, false, false,
                   [d, ex, m, user, token, expires, ttl, acct, fail, secure](Outcome o) {
                     if (o != Outcome::kCreated && o != Outcome::kReplaced)
                       return fail(ex, m, d->node_id, 503, "the session could not be stored; retry");
                     json::object body{{"token", token},
                                       {"username", user},
                                       {"roles", roles_of(*acct)},
                                       {"expiresAt", format_time(expires)}};
                     auto res = json_answer(201, body, m);
                     res.set(http::field::set_cookie, cookie(token, ttl.count(), secure));
                     res.set(http::field::cache_control, "no-store");
                     respond_api(ex, m, d->node_id, std::move(res));
                   }, d->answerer);
    });
    if (!queued) throw HttpError(503, "too many sign-ins at once; retry", {{"Retry-After", "1"}});
  }, access);

  // Logout: the session's tombstone reaches every node through the broker.
  r.add(http::verb::delete_, "/api/sessions/current", [d, fail](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto id = need_identity(*d, req);
    if (id.session_key.empty()) throw HttpError(400, "this credential is not a session (an OpenID token ends on its own)");
    bool secure = over_tls(*d, req, ex);
    write_record(d->store, id.session_key, std::nullopt, true, false, [d, ex, m, fail, secure](Outcome o) {
      if (o == Outcome::kFailed) return fail(ex, m, d->node_id, 503, "could not sign out; retry");
      auto res = no_content(m);
      res.set(http::field::set_cookie, cookie("", 0, secure));
      respond_api(ex, m, d->node_id, std::move(res));
    }, d->answerer);
  }, access);

  r.add(http::verb::get, "/api/me", [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto id = need_identity(*d, req);
    json::array roles;
    if (id.admin) roles.push_back("admin");
    respond_api(ex, m, d->node_id, json_answer(200, json::object{{"username", id.username}, {"roles", roles}}, m));
  }, access);

  // Password change: self with the current password, or an admin without it. The user's other
  // sessions end.
  r.add(http::verb::put, "/api/accounts/{username}/password", [d, fail](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto user = std::string(m.param("username"));
    check_name(user);
    auto id = need_identity(*d, req);
    bool self = id.username == user;
    if (!self && !id.admin) throw HttpError(403, "you may change only your own password");
    auto f = string_fields(req, {"current", "new"});
    auto fresh = required(f, "new");
    check_password(fresh, "new");
    std::optional<std::string> current;
    if (auto it = f.find("current"); it != f.end()) current = it->second;
    if (!current && !(id.admin && !self)) throw HttpError(400, "current is required");
    auto acct = d->auth.account(user);
    if (!acct) throw HttpError(404, "no account '" + user + "'");
    bool queued = d->hashes.submit([d, ex, m, user, fresh, current, acct, keep = id.session_key, fail] {
      if (current && !Passwords::verify(acct->text, *current))
        return fail(ex, m, d->node_id, 403, "the current password is wrong");
      Status updated = *acct;
      try {
        updated.text = Passwords::hash(fresh);
      } catch (const std::exception&) {
        return fail(ex, m, d->node_id, 503, "cannot hash the password now; retry");
      }
      write_record(d->store, std::string(kAccountPrefix) + user, updated, false, false,
                   [d, ex, m, user, keep, fail](Outcome o) {
                     if (o == Outcome::kFailed) return fail(ex, m, d->node_id, 503, "the password could not be stored; retry");
                     std::vector<std::string> others;
                     for (const auto& s : d->store.index().sessions_of(user))
                       if (s.username != keep) others.push_back(s.username);
                     delete_all(d->store, others, [d, ex, m](bool) { respond_api(ex, m, d->node_id, no_content(m)); },
                                d->answerer);
                   }, d->answerer);
    });
    if (!queued) throw HttpError(503, "too busy; retry", {{"Retry-After", "1"}});
  }, access);

  // Account deletion: the account, its status and its sessions go.
  r.add(http::verb::delete_, "/api/accounts/{username}", [d, fail](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto user = std::string(m.param("username"));
    check_name(user);
    auto id = need_identity(*d, req);
    if (id.username != user && !id.admin) throw HttpError(403, "you may delete only your own account");
    if (!d->auth.account(user)) throw HttpError(404, "no account '" + user + "'");
    std::vector<std::string> keys{std::string(kAccountPrefix) + user};
    if (d->store.get(user)) keys.push_back(user);
    for (const auto& s : d->store.index().sessions_of(user)) keys.push_back(s.username);
    delete_all(d->store, keys, [d, ex, m, user, fail](bool ok) {
      if (!ok) return fail(ex, m, d->node_id, 503, "the account could not be deleted completely; retry");
      spdlog::info("event=account_deleted username={}", user);
      respond_api(ex, m, d->node_id, no_content(m));
    }, d->answerer);
  }, access);
}

void ensure_admin(Store& store, const Authenticator& auth, const std::string& password) {
  auto current = auth.account("admin");
  if (current && current->extra == "admin" && Passwords::verify(current->text, password)) return;
  Status acct;
  acct.text = Passwords::hash(password);
  acct.extra = "admin";
  std::promise<Outcome> done;
  auto f = done.get_future();
  write_record(store, std::string(kAccountPrefix) + "admin", acct, false, false,
               [&done](Outcome o) { done.set_value(o); });
  auto o = f.get();
  if (o != Outcome::kCreated && o != Outcome::kReplaced)
    throw std::runtime_error("cannot store the admin account");
  spdlog::info("event=admin_account {}", current ? "reset" : "created");
}

}  // namespace status::node
