// Validation of items on ingest: required fields, identifier formats and
// check digits, enum values, text lengths and the item size limit.
//
// Errors name the field path in protobuf field names (as policies spell
// them), with indexes into repeated fields, e.g.
//   alert.containers[1].number: check digit is 7, expected 3
// and never repeat a field's value, so they are safe to return, log and
// audit. Thread-safe (pure functions).
#ifndef HAVENGATE_PROTO_ITEM_VALIDATION_H_
#define HAVENGATE_PROTO_ITEM_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "havengate/v1/item.pb.h"

namespace havengate {

struct ItemLimits {
  // Largest accepted item, in bytes of its protobuf encoding.
  size_t max_item_bytes = 1 << 20;
  // Errors reported in one status before the rest are summarised.
  int max_reported_errors = 10;
};

// Checks an item as pushed by an integration client. Returns OK,
// RESOURCE_EXHAUSTED if the item exceeds `limits.max_item_bytes`, or
// INVALID_ARGUMENT listing every problem found ("path: reason; path: reason").
// The envelope fields a gateway fills in (origin, provenance) are not checked
// here.
[[nodiscard]] absl::Status ValidateItem(const v1::Item& item,
                                        const ItemLimits& limits = {});

// Checks an item a partner's gateway sent. The sender's policy may have
// withheld any body field or transformed it (a pseudonymised container
// number no longer has a check digit), so only what holds for every
// projection is checked: size, item id, classification, a body of a known
// kind, text lengths and the generic checks of ValidateItem. Same results
// as ValidateItem otherwise.
[[nodiscard]] absl::Status ValidateReceivedItem(const v1::Item& item,
                                                const ItemLimits& limits = {});

// The kind of the item's body, or ITEM_KIND_UNSPECIFIED if it has none.
v1::ItemKind KindOf(const v1::Item& item);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_ITEM_VALIDATION_H_
