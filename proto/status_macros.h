// Early-return helpers for absl::Status / absl::StatusOr, which Abseil
// 20220623 does not ship. Every havengate library uses these; nothing else
// should define its own.
//
//   HG_RETURN_IF_ERROR(store.Put(item));
//   HG_ASSIGN_OR_RETURN(auto policy, LoadPolicy(path));
#ifndef HAVENGATE_PROTO_STATUS_MACROS_H_
#define HAVENGATE_PROTO_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HG_STATUS_CONCAT_INNER_(a, b) a##b
#define HG_STATUS_CONCAT_(a, b) HG_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the current function if it is not OK.
#define HG_RETURN_IF_ERROR(expr)                                \
  do {                                                          \
    ::absl::Status hg_status_ = ::havengate::ToStatus((expr));  \
    if (!hg_status_.ok()) return hg_status_;                    \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the current function, otherwise moves the value into `lhs`, which may be a
// declaration (`auto x`) or an existing variable.
#define HG_ASSIGN_OR_RETURN(lhs, rexpr)                                       \
  HG_ASSIGN_OR_RETURN_IMPL_(HG_STATUS_CONCAT_(hg_statusor_, __LINE__), lhs, \
                            rexpr)

#define HG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

namespace havengate {

inline const absl::Status& ToStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace havengate

#endif  // HAVENGATE_PROTO_STATUS_MACROS_H_
