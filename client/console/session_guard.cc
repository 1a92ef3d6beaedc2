#include "client/console/session_guard.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace havengate::console {
namespace {

bool SameSecret(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Without randomness there is no safe token: never serve.
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

SessionGuard::SessionGuard() : login_token_(RandomToken()) {}

absl::StatusOr<Session> SessionGuard::Exchange(absl::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_.has_value() || !SameSecret(token, login_token_)) {
    return absl::PermissionDeniedError(
        "this sign-in link is not valid (a link works once): start havenctl console "
        "again and open the URL it prints");
  }
  session_ = Session{RandomToken(), RandomToken()};
  return *session_;
}

std::optional<Session> SessionGuard::FromCookieHeader(absl::string_view cookie_header) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!session_.has_value()) return std::nullopt;
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kCookieName) && absl::ConsumePrefix(&part, "=") &&
        SameSecret(part, session_->id)) {
      return session_;
    }
  }
  return std::nullopt;
}

bool SessionGuard::CsrfMatches(const Session& session, absl::string_view csrf) {
  return SameSecret(csrf, session.csrf);
}

std::string SessionGuard::SetCookieValue(const Session& session) {
  return absl::StrCat(kCookieName, "=", session.id, "; HttpOnly; SameSite=Strict; Path=/");
}

}  // namespace havengate::console
