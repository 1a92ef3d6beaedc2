// Content digests: the deterministic protobuf encoding a digest (or a
// hash chain) is computed over, and SHA-256 spelled the one way havengate
// spells it — 64 lower-case hex digits, no prefix — in item receipts, the
// items the store keeps, audit records and the policy history; and the
// lower-case hex encoding itself.
//
// Functions are pure and thread-safe.
#ifndef HAVENGATE_PROTO_DIGEST_H_
#define HAVENGATE_PROTO_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace havengate {

// The deterministic encoding of `message` (map entries in key order): the
// same message gives the same bytes on every gateway and every run.
std::string DeterministicBytes(const google::protobuf::Message& message);

// SHA-256 of `bytes`, as 64 lower-case hex digits.
std::string Sha256Hex(absl::string_view bytes);

// Appends two lower-case hex digits per byte of `bytes` to `out` (growing
// it once; pseudonyms are built with it on the policy engine's hot path).
void AppendHex(absl::string_view bytes, std::string* out);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_DIGEST_H_
