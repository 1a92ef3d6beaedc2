// Content digests as audit records and policy history spell them.
#ifndef HAVENGATE_PROTO_DIGEST_H_
#define HAVENGATE_PROTO_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"

namespace havengate {

// "sha256:<64 lowercase hex digits>" of `bytes`.
std::string Sha256Digest(absl::string_view bytes);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_DIGEST_H_
