// HTML for the officers' console: escaping and the page frame. Every value
// that reaches a page — from an item, a policy, an audit record or the
// gateway's error messages — goes through Escape (or Text/Attr below), so
// an item titled `<img src=x onerror=alert(1)>` shows as text. Pages carry
// no inline script or style: the Content-Security-Policy forbids them.
//
// Thread-safety: pure functions.
#ifndef HAVENGATE_CLIENT_CONSOLE_HTML_H_
#define HAVENGATE_CLIENT_CONSOLE_HTML_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace havengate::console {

// `text` with & < > " ' replaced by character references: safe in element
// content and in quoted attribute values.
std::string Escape(absl::string_view text);

// The navigation entries, in order: (path, label).
const std::vector<std::pair<std::string, std::string>>& NavEntries();

// A whole page: head (stylesheet and script from /static), the navigation
// with `active_path` marked, who is signed in, then `body` (already HTML).
std::string Page(absl::string_view title, absl::string_view active_path,
                 absl::string_view officer, absl::string_view body);

// A hidden form field carrying the session's CSRF token.
std::string CsrfField(absl::string_view csrf);

// `text` percent-encoded for a URL's query (all but A-Z a-z 0-9 - _ . ~).
std::string UrlEncode(absl::string_view text);

// <p class="error"> / <p class="ok"> with escaped text.
std::string ErrorBox(absl::string_view text);
std::string OkBox(absl::string_view text);

// A table: escaped header cells, rows of cells already HTML.
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows,
                  absl::string_view css_class = "");

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_HTML_H_
