// SessionGuard: who may drive a console. At start the console makes one
// random one-time token and prints it in its URL (as Jupyter does). The
// first request carrying it exchanges it for a session: a random session
// id in a cookie (HttpOnly, SameSite=Strict, Path=/) and a random CSRF
// token that every state-changing request must carry. The token then
// stops working: a copied URL opens nothing. The session is bound to that
// token: no other way creates one, and there is one per console.
//
// Thread-safe.
#ifndef HAVENGATE_CLIENT_CONSOLE_SESSION_GUARD_H_
#define HAVENGATE_CLIENT_CONSOLE_SESSION_GUARD_H_

#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::console {

// 32 random bytes (OpenSSL's generator), as 64 hex digits.
std::string RandomToken();

struct Session {
  std::string id;
  std::string csrf;
};

class SessionGuard {
 public:
  SessionGuard();

  // The one-time token for the console's URL.
  const std::string& login_token() const { return login_token_; }

  // The session for `token`, once; PERMISSION_DENIED for a wrong token or
  // one already exchanged.
  [[nodiscard]] absl::StatusOr<Session> Exchange(absl::string_view token);

  // The session whose id the request's Cookie header carries.
  std::optional<Session> FromCookieHeader(absl::string_view cookie_header) const;

  // True if `csrf` is the session's CSRF token (compared in constant time).
  static bool CsrfMatches(const Session& session, absl::string_view csrf);

  // The Set-Cookie value for `session`.
  static std::string SetCookieValue(const Session& session);

  static constexpr absl::string_view kCookieName = "hg_console_session";

 private:
  const std::string login_token_;
  mutable std::mutex mu_;
  std::optional<Session> session_;  // guarded by mu_; set once
};

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_SESSION_GUARD_H_
