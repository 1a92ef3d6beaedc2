#include "client/console/html.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace havengate::console {

std::string Escape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& NavEntries() {
  static const auto* entries = new std::vector<std::pair<std::string, std::string>>{
      {"/", "Overview"},       {"/policy", "Policy"},     {"/proposals", "Proposals"},
      {"/preview", "Preview"}, {"/impact", "Impact"},         {"/evidence", "Evidence"},
      {"/reports", "Reports"}, {"/hits", "Hits"},
  };
  return *entries;
}

std::string Page(absl::string_view title, absl::string_view active_path,
                 absl::string_view officer, absl::string_view body) {
  std::string nav;
  for (const auto& [path, label] : NavEntries()) {
    absl::StrAppend(&nav, "<a href=\"", path, "\"",
                    path == active_path ? " class=\"active\" aria-current=\"page\"" : "", ">",
                    Escape(label), "</a>");
  }
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>",
      Escape(title),
      " - havengate console</title>"
      "<link rel=\"stylesheet\" href=\"/static/console.css\">"
      "<script src=\"/static/console.js\" defer></script></head><body>"
      "<header><span class=\"brand\">havengate</span><nav>",
      nav, "</nav><span class=\"officer\" id=\"officer\">", Escape(officer),
      "</span></header><main><h1>", Escape(title), "</h1>", body, "</main></body></html>\n");
}

std::string CsrfField(absl::string_view csrf) {
  return absl::StrCat("<input type=\"hidden\" name=\"csrf\" value=\"", Escape(csrf), "\">");
}

std::string ErrorBox(absl::string_view text) {
  return absl::StrCat("<p class=\"error\" role=\"alert\">", Escape(text), "</p>");
}

std::string OkBox(absl::string_view text) {
  return absl::StrCat("<p class=\"ok\" role=\"status\">", Escape(text), "</p>");
}

std::string UrlEncode(absl::string_view text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&encoded, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return encoded;
}

std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows,
                  absl::string_view css_class) {
  std::string out = absl::StrCat("<table", css_class.empty() ? "" : " class=\"",
                                 css_class.empty() ? "" : Escape(css_class),
                                 css_class.empty() ? "" : "\"", "><thead><tr>");
  for (const std::string& h : header) absl::StrAppend(&out, "<th>", Escape(h), "</th>");
  absl::StrAppend(&out, "</tr></thead><tbody>");
  for (const auto& row : rows) {
    absl::StrAppend(&out, "<tr>");
    for (const std::string& cell : row) absl::StrAppend(&out, "<td>", cell, "</td>");
    absl::StrAppend(&out, "</tr>");
  }
  absl::StrAppend(&out, "</tbody></table>");
  return out;
}

}  // namespace havengate::console
