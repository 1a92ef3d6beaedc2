#include "policy/diagnostic.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace havengate::policy {

std::string Diagnostic::ToString() const {
  absl::string_view kind =
      severity == Severity::kError ? "error" : "warning";
  if (line <= 0) return absl::StrCat(file, ": ", kind, ": ", message);
  return absl::StrCat(file, ":", line, ":", column, ": ", kind, ": ",
                      message);
}

int Count(const std::vector<Diagnostic>& diagnostics,
          Diagnostic::Severity severity) {
  return static_cast<int>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [&](const Diagnostic& d) { return d.severity == severity; }));
}

std::string FormatDiagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::vector<const Diagnostic*> sorted;
  for (const Diagnostic& d : diagnostics) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Diagnostic* a, const Diagnostic* b) {
                     return std::make_tuple(a->severity, a->file, a->line,
                                            a->column) <
                            std::make_tuple(b->severity, b->file, b->line,
                                            b->column);
                   });
  std::string out;
  for (const Diagnostic* d : sorted) absl::StrAppend(&out, d->ToString(), "\n");
  return out;
}

absl::Status ErrorsToStatus(absl::string_view what,
                            const std::vector<Diagnostic>& diagnostics) {
  int errors = Count(diagnostics, Diagnostic::Severity::kError);
  if (errors == 0) return absl::OkStatus();
  const Diagnostic* first = nullptr;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity != Diagnostic::Severity::kError) continue;
    if (first == nullptr || std::make_tuple(d.line, d.column) <
                                std::make_tuple(first->line, first->column)) {
      first = &d;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", errors, errors == 1 ? " error" : " errors",
                   "; first: ", first->ToString()));
}

}  // namespace havengate::policy
