// Reading values out of items by field path, as policy tests and policy
// diffs need: `containers.number` yields the number of every container,
// formatted as text (enum values by name, times in RFC 3339, messages as
// `{...}`). Paths are relative to the body; a path whose first step is an
// envelope field (`classification.tlp`, `item_id`) reads the envelope.
// Pure functions, thread-safe.
#ifndef HAVENGATE_POLICY_ITEM_PATHS_H_
#define HAVENGATE_POLICY_ITEM_PATHS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"

namespace havengate::policy {

// Every value at `path` in `item`, in document order. INVALID_ARGUMENT if
// the path names no field of the item's body kind or envelope.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ValuesAtPath(
    const v1::Item& item, absl::string_view path);

// Leaf paths of the body that hold a value, each once, in schema order.
std::vector<std::string> PresentLeafPaths(const v1::Item& item);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_ITEM_PATHS_H_
