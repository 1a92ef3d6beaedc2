// DomainStore: the Store every backend shares. It wraps a Backend (rows and
// transactions, see backend.h) and holds everything about the gateway's
// state that is a rule rather than storage, so that a second backend
// implements storage and inherits the rules unchanged:
// - duplicates: the same (origin, item_id, version) again is a duplicate
//   with the original receipt; other content from the same sender is
//   ALREADY_EXISTS, from another sender a copy that travelled another path;
// - versions: only the newest is current and queues copies; an older one
//   arriving late is kept but changes nothing (normalisation of version 0
//   is ItemWrite's, before the decision: see store.h);
// - retraction vs withdrawal: a retraction by the origin is for good and
//   replaces a withdrawal; a withdrawal is lifted by a newer version;
// - who receives a withdrawal or a retraction: every partner that was
//   queued a copy of the item, less those getting a copy of this version;
// - the audit chain: records are sealed into the hash chain
//   (evidence/audit_chain.h), checkpoints signed at their place;
// - encodings: the item digest and the bytes kept for items, retractions
//   and outbox messages (the outbox keeps what the federation link sends,
//   a v1::FederationMessage without its sequence, so that existing outboxes
//   read unchanged).
//
// Why a wrapper over a narrow interface rather than helpers each backend
// calls: the rules then run in one place in one order, and a backend cannot
// forget one. The price is that group commit (one writer thread batching
// queued writes into one transaction, each refused write undone alone) is
// here too, written against Backend's transactions and marks.
//
// Threads: see store.h. The DomainStore owns its backend and one writer
// thread (from OpenDomainStore until Close()).
#ifndef HAVENGATE_SERVER_STORE_DOMAIN_STORE_H_
#define HAVENGATE_SERVER_STORE_DOMAIN_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/store/backend.h"
#include "server/store/store.h"
#include "server/store/store_options.h"

namespace havengate::store {

// Reads the backend's state (cursor, audit chain head), then starts the
// writer thread. DATA_LOSS if the last audit record cannot be read.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> OpenDomainStore(
    std::unique_ptr<Backend> backend, StoreOptions options);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_DOMAIN_STORE_H_
