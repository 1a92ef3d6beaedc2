// Diagnostics: the errors and warnings found while loading a sharing policy
// or a policy-tests file, each pinned to `file:line:column` so a policy
// officer can go straight to the offending spot.
//
// Loading collects every problem it finds (it does not stop at the first),
// so officers fix a policy in one round. Diagnostics never quote item
// contents; they name fields, rules, partners and keys. Plain values, no
// synchronisation needed.
#ifndef HAVENGATE_POLICY_DIAGNOSTIC_H_
#define HAVENGATE_POLICY_DIAGNOSTIC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace havengate::policy {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  // 1-based; 0 when the problem has no place in a file (e.g. a policy built
  // as a protobuf message rather than read from text).
  int line = 0;
  int column = 0;
  std::string message;

  // "file:line:column: error: message" (or "file: error: message" when the
  // position is unknown).
  std::string ToString() const;
};

// Number of diagnostics of `severity` in `diagnostics`.
int Count(const std::vector<Diagnostic>& diagnostics,
          Diagnostic::Severity severity);

// One line per diagnostic, errors first, each in file order.
std::string FormatDiagnostics(const std::vector<Diagnostic>& diagnostics);

// INVALID_ARGUMENT summarising the errors in `diagnostics` ("<what>: 3
// errors; first: file:1:2: ..."), or OK when there are none.
absl::Status ErrorsToStatus(absl::string_view what,
                            const std::vector<Diagnostic>& diagnostics);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_DIAGNOSTIC_H_
