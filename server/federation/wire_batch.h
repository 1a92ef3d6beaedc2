// Batches on the federation link (federation.proto, "Batches"): the
// metadata pair both sides announce, and the bounds of one batch.
#ifndef HAVENGATE_SERVER_FEDERATION_WIRE_BATCH_H_
#define HAVENGATE_SERVER_FEDERATION_WIRE_BATCH_H_

namespace havengate::server {

// The sender's client metadata is kBatchKey: kBatchValue. The receiver's
// initial metadata is kBatchKey: the largest message it reads, in bytes
// (decimal), which bounds the sender's batches.
inline constexpr char kBatchKey[] = "havengate-batch";
inline constexpr char kBatchValue[] = "1";

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_WIRE_BATCH_H_
