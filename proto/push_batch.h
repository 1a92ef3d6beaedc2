// Batches on Ingest.PushStream (ingest.proto, "Batches"): the metadata pair
// a client and the gateway announce to each other. Shared by the client
// library and the gateway.
#ifndef HAVENGATE_PROTO_PUSH_BATCH_H_
#define HAVENGATE_PROTO_PUSH_BATCH_H_

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace havengate {

// The client's metadata is kPushBatchKey: kPushBatchAsk. The gateway's
// initial metadata is kPushBatchKey: the largest message it reads, in bytes
// (decimal), which bounds the client's batches.
inline constexpr char kPushBatchKey[] = "havengate-push-batch";
inline constexpr char kPushBatchAsk[] = "1";

// The largest batch to send, in bytes, to a receiver that announced
// `announced` (the largest message it reads, as it sent it) when this side
// sends at most `own_max`: room is left for the framing around the
// entries. 0 if the announcement is not a positive number (no batches).
// The federation link reads its peer's announcement the same way.
inline int BatchBytesFor(absl::string_view announced, int own_max) {
  int receiver_max = 0;
  if (!absl::SimpleAtoi(announced, &receiver_max) || receiver_max <= 0) return 0;
  return std::max(1, std::min(own_max, receiver_max - receiver_max / 16));
}

}  // namespace havengate

#endif  // HAVENGATE_PROTO_PUSH_BATCH_H_
