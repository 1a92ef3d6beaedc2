// The console's own safety parts: escaping, the one-time token and the
// session it buys, the CSRF check, and the embedded assets.
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "client/console/assets.h"
#include "client/console/html.h"
#include "client/console/session_guard.h"

namespace havengate::console {
namespace {

TEST(Escape, MarkupBecomesText) {
  EXPECT_EQ(Escape("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
  EXPECT_EQ(Escape("a\"b'c&d"), "a&quot;b&#39;c&amp;d");
  EXPECT_EQ(Escape("plain"), "plain");
}

TEST(Page, CarriesNoInlineScriptOrStyle) {
  std::string page = Page("T<", "/", "spiffe://x/officer/<a>", "<p>body</p>");
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_EQ(page.find("style="), std::string::npos);
  EXPECT_NE(page.find("<script src=\"/static/console.js\" defer></script>"), std::string::npos);
  EXPECT_NE(page.find("T&lt;"), std::string::npos);
  EXPECT_NE(page.find("spiffe://x/officer/&lt;a&gt;"), std::string::npos);
}

TEST(SessionGuard, TokenWorksOnceAndBuysOneSession) {
  SessionGuard guard;
  EXPECT_EQ(guard.login_token().size(), 64u);
  EXPECT_FALSE(guard.Exchange("wrong").ok());
  EXPECT_FALSE(guard.Exchange("").ok());
  EXPECT_FALSE(guard.FromCookieHeader("hg_console_session=").has_value());
  absl::StatusOr<Session> session = guard.Exchange(guard.login_token());
  ASSERT_TRUE(session.ok());
  EXPECT_NE(session->id, session->csrf);
  EXPECT_EQ(guard.Exchange(guard.login_token()).status().code(),
            absl::StatusCode::kPermissionDenied);

  auto found = guard.FromCookieHeader(absl::StrCat("a=b; hg_console_session=", session->id));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->csrf, session->csrf);
  EXPECT_FALSE(guard.FromCookieHeader("hg_console_session=" + session->csrf).has_value());
  EXPECT_FALSE(guard.FromCookieHeader("").has_value());

  EXPECT_TRUE(SessionGuard::CsrfMatches(*session, session->csrf));
  EXPECT_FALSE(SessionGuard::CsrfMatches(*session, ""));
  EXPECT_FALSE(SessionGuard::CsrfMatches(*session, session->id));
  const std::string cookie = SessionGuard::SetCookieValue(*session);
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
}

TEST(SessionGuard, TokensDiffer) {
  EXPECT_NE(SessionGuard().login_token(), SessionGuard().login_token());
}

TEST(Assets, AreEmbedded) {
  auto css = FindAsset("console.css");
  ASSERT_TRUE(css.has_value());
  EXPECT_NE(css->bytes.find("havengate"), absl::string_view::npos);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  auto js = FindAsset("console.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_NE(js->bytes.find("DOMContentLoaded"), absl::string_view::npos);
  EXPECT_FALSE(FindAsset("../etc/passwd").has_value());
}

}  // namespace
}  // namespace havengate::console
