// The blocking forms of the Store's writes, and the two rules every
// backend shares that callers apply before a write reaches a store: version
// normalisation (ItemWrite) and the item digest.
#include "server/store/store.h"

#include <future>
#include <utility>

#include "proto/digest.h"

namespace havengate::store {

ItemWrite::ItemWrite(v1::Item item_in, std::string received_from_in)
    : item(std::move(item_in)), received_from(std::move(received_from_in)) {
  // item.proto: "0 is read as 1".
  if (item.version() == 0) item.set_version(1);
}

std::string ItemDigest(const v1::Item& item) {
  return Sha256Hex(DeterministicBytes(item));
}

absl::StatusOr<ItemWriteResult> Store::WriteItem(ItemWrite write) {
  std::promise<absl::StatusOr<ItemWriteResult>> promise;
  auto future = promise.get_future();
  WriteItemAsync(std::move(write), [&promise](absl::StatusOr<ItemWriteResult> r) {
    promise.set_value(std::move(r));
  });
  return future.get();
}

namespace {
// Runs an async write and waits for its status.
template <typename Start>
absl::Status Await(Start start) {
  std::promise<absl::Status> promise;
  auto future = promise.get_future();
  start([&promise](absl::Status s) { promise.set_value(std::move(s)); });
  return future.get();
}
}  // namespace

absl::Status Store::WriteRetraction(RetractionWrite write) {
  return Await([&](DoneCallback done) {
    WriteRetractionAsync(std::move(write), std::move(done));
  });
}

absl::Status Store::AppendAudit(std::vector<v1::AuditRecord> records) {
  return Await([&](DoneCallback done) {
    AppendAuditAsync(std::move(records), std::move(done));
  });
}

absl::Status Store::AckOutbox(const std::string& partner, uint64_t sequence,
                              std::vector<v1::AuditRecord> audit) {
  return Await([&](DoneCallback done) {
    AckOutboxAsync(partner, sequence, std::move(audit), std::move(done));
  });
}

absl::Status Store::WriteFieldRequest(FieldRequestWrite write) {
  return Await([&](DoneCallback done) {
    WriteFieldRequestAsync(std::move(write), std::move(done));
  });
}

}  // namespace havengate::store
