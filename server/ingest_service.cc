#include "server/ingest_service.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/identifiers.h"
#include "proto/push_batch.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/audit/audit_record.h"
#include "server/security/grpc_status.h"
#include "server/logging/log.h"
#include "server/federation/ordered_answers.h"

namespace havengate::server {
namespace {

constexpr size_t kMaxReasonChars = 1000;

void LogAccepted(const v1::Receipt& receipt, const security::PeerIdentity& caller) {
  log::Info(receipt.duplicate() ? "item_duplicate" : "item_ingested",
            {{"origin", receipt.origin()},
             {"item_id", receipt.item_id()},
             {"version", receipt.version()},
             {"cursor", receipt.cursor()},
             {"client", caller.spiffe_id}});
}

}  // namespace

IngestService::IngestService(IngestOptions options,
                             const security::Authenticator& authenticator,
                             limits::CallerLimits& limits,
                             const Sharing& sharing, store::Store& store)
    : options_(std::move(options)),
      authenticator_(authenticator),
      limits_(limits),
      sharing_(sharing),
      store_(store) {}

void IngestService::AuditRejection(const std::string& actor,
                                   absl::string_view method,
                                   const absl::Status& status,
                                   const v1::Item* item) {
  v1::AuditRecord record = audit::MakeAuditRecord(v1::CALL_REJECTED, actor);
  if (item != nullptr) {
    record.mutable_item()->set_origin(sharing_.options().organisation);
    record.mutable_item()->set_item_id(item->item_id().substr(0, 128));
    record.mutable_item()->set_version(item->version());
  }
  record.set_reason(absl::StrCat(method, ": ",
                                 absl::StatusCodeToString(status.code()), ": ",
                                 status.message()));
  log::Warn("call_rejected", {{"method", method},
                              {"caller", actor},
                              {"code", absl::StatusCodeToString(status.code())},
                              {"reason", status.message()}});
  store_.AppendAuditAsync({std::move(record)}, [](absl::Status s) {
    if (!s.ok()) log::Error("audit_write_failed", {{"reason", s.message()}});
  });
}

absl::StatusOr<IngestService::AdmittedCall> IngestService::Authorise(
    const grpc::ServerContext& context, absl::string_view method) {
  absl::StatusOr<security::PeerIdentity> caller = authenticator_.Identify(context);
  if (!caller.ok()) {
    AuditRejection("", method, caller.status(), nullptr);
    return caller.status();
  }
  absl::Status allowed = security::RequireOwnClient(*caller);
  if (!allowed.ok()) {
    AuditRejection(caller->spiffe_id, method, allowed, nullptr);
    return allowed;
  }
  absl::StatusOr<limits::CallerLimits::CallSlot> slot =
      limits_.StartCall(caller->spiffe_id);
  if (!slot.ok()) {
    ReportLimitRefusal(caller->spiffe_id, method, slot.status());
    return slot.status();
  }
  return AdmittedCall{*std::move(caller), *std::move(slot)};
}

absl::Status IngestService::TakeItem(const security::PeerIdentity& caller,
                                     absl::string_view method) {
  absl::Status taken = limits_.TakeItem(caller.spiffe_id);
  if (!taken.ok()) ReportLimitRefusal(caller.spiffe_id, method, taken);
  return taken;
}

void IngestService::ReportLimitRefusal(const std::string& caller,
                                       absl::string_view method,
                                       const absl::Status& refusal) {
  const int64_t refused = limits_.NoteRefusal(caller);
  if (refused == 0) return;
  AuditRejection(caller, method,
                 absl::Status(refusal.code(),
                              absl::StrCat(refusal.message(), " [", refused,
                                           " refused since the last report]")),
                 nullptr);
}

bool IngestService::AwaitItem(const grpc::ServerContext& context,
                              const security::PeerIdentity& caller,
                              const std::function<void()>& before_waiting) {
  // Reading pauses, so HTTP/2 flow control slows the client down; the
  // pause is cut into short waits to notice a cancelled call (or shutdown).
  constexpr absl::Duration kLongestWait = absl::Milliseconds(100);
  absl::Duration wait;
  bool first_wait = true;
  while (!limits_.TakeItem(caller.spiffe_id, &wait).ok()) {
    // Items held back to be stored together go on before the pause.
    if (first_wait && before_waiting) before_waiting();
    first_wait = false;
    if (context.IsCancelled()) return false;
    absl::SleepFor(std::min(wait, kLongestWait));
  }
  return true;
}

namespace {

// Validates `item` as it will be stored (origin from the certificate,
// version as the write reads it) and prepares its write, taking the item
// over on success; on failure `item` is left as it was.
absl::StatusOr<store::ItemWrite> PrepareItem(v1::Item& item,
                                             const security::PeerIdentity& caller,
                                             const ItemLimits& limits,
                                             const Sharing& sharing) {
  if (item.provenance_size() > 0) {
    return absl::InvalidArgumentError(
        "provenance: is filled in by gateways; leave it empty");
  }
  // The origin is whatever the certificate proves, never the client's word.
  std::string sent_origin = std::move(*item.mutable_origin());
  const uint32_t sent_version = item.version();
  item.set_origin(caller.organisation_id);
  store::ItemWrite write(std::move(item), caller.organisation_id);
  absl::Status valid = ValidateItem(write.item, limits);
  if (!valid.ok()) {
    item = std::move(write.item);
    *item.mutable_origin() = std::move(sent_origin);
    item.set_version(sent_version);
    return valid;
  }
  return sharing.PrepareOwnItem(std::move(write), caller);
}

}  // namespace

void IngestService::SetOptions(const IngestOptions& options) {
  std::lock_guard<std::mutex> lock(options_mu_);
  options_ = options;
}

IngestOptions IngestService::options() const {
  std::lock_guard<std::mutex> lock(options_mu_);
  return options_;
}

absl::StatusOr<store::ItemWrite> IngestService::Prepare(
    const v1::PushRequest& request, const security::PeerIdentity& caller) {
  if (!request.has_item()) {
    return absl::InvalidArgumentError("item: is required");
  }
  v1::Item item = request.item();
  return PrepareItem(item, caller, options().limits, sharing_);
}

grpc::Status IngestService::Push(grpc::ServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) {
  absl::StatusOr<AdmittedCall> admitted = Authorise(*context, "Push");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  const security::PeerIdentity& caller = admitted->caller;
  absl::Status rate = TakeItem(caller, "Push");
  if (!rate.ok()) return security::ToGrpcStatus(rate);
  absl::StatusOr<store::ItemWrite> write = Prepare(*request, caller);
  if (!write.ok()) {
    AuditRejection(caller.spiffe_id, "Push", write.status(), &request->item());
    return security::ToGrpcStatus(write.status());
  }
  absl::StatusOr<store::ItemWriteResult> result =
      store_.WriteItem(std::move(*write));
  if (!result.ok()) {
    AuditRejection(caller.spiffe_id, "Push", result.status(), &request->item());
    return security::ToGrpcStatus(result.status());
  }
  LogAccepted(result->receipt, caller);
  *response->mutable_receipt() = std::move(result->receipt);
  return grpc::Status::OK;
}

namespace {

v1::PushResult MakeResult(uint64_t index, const std::string& item_id,
                          const absl::Status& status) {
  v1::PushResult result;
  result.set_index(index);
  result.set_item_id(item_id.substr(0, 128));
  result.set_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
  return result;
}

// One item's outcome, from the reader (refused before the store) or from
// the store's writer thread (stored, or refused by the store).
struct StreamAnswer {
  uint64_t index = 0;
  std::string item_id;
  absl::StatusOr<store::ItemWriteResult> outcome;
  // Refused by the store: still to be logged and audited.
  bool refused_by_store = false;
};

}  // namespace

grpc::Status IngestService::PushStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::PushResult, v1::PushRequest>* stream) {
  absl::StatusOr<AdmittedCall> admitted = Authorise(*context, "PushStream");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  const security::PeerIdentity* caller = &admitted->caller;

  const IngestOptions options = this->options();
  // A client of this release asks for batches (ingest.proto, "Batches"):
  // it is told the largest message read here, and answered in batches.
  bool answer_in_batches = false;
  if (auto it = context->client_metadata().find(kPushBatchKey);
      options.offer_batches && it != context->client_metadata().end() &&
      it->second == kPushBatchAsk) {
    answer_in_batches = true;
    context->AddInitialMetadata(kPushBatchKey,
                                absl::StrCat(options.max_message_bytes));
    stream->SendInitialMetadata();
  }

  OrderedAnswers<StreamAnswer> queue(options.stream_window);
  // Logs (and audits, if the store refused it) one item's outcome, and
  // makes its answer. Runs on the answer thread, never on the store's
  // writer thread, which every store write waits for.
  auto settle = [&](StreamAnswer& answer) {
    if (!answer.outcome.ok()) {
      if (answer.refused_by_store) {
        AuditRejection(caller->spiffe_id, "PushStream",
                       answer.outcome.status(), nullptr);
      }
      return MakeResult(answer.index, answer.item_id, answer.outcome.status());
    }
    LogAccepted(answer.outcome->receipt, *caller);
    v1::PushResult result =
        MakeResult(answer.index, answer.item_id, absl::OkStatus());
    *result.mutable_receipt() = std::move(answer.outcome->receipt);
    return result;
  };
  // Answers go out from their own thread so that reading, validating and
  // committing overlap: the client can keep a window of items in flight.
  // To a client that asked, everything answered so far goes out in one
  // message (several if it is large).
  bool write_failed = false;
  std::vector<StreamAnswer> unsent;
  std::thread writer([&] {
    std::vector<StreamAnswer> ready;
    v1::PushResult batch;
    // Far below any message limit: an answer is a receipt (~200 bytes).
    constexpr int kMaxAnswersPerMessage = 512;
    while (queue.NextReady(&ready)) {
      for (size_t i = 0; i < ready.size();) {
        const size_t count =
            answer_in_batches
                ? std::min(ready.size() - i, static_cast<size_t>(kMaxAnswersPerMessage))
                : 1;
        bool written;
        if (count == 1) {
          // No buffer hint: on a synchronous stream a hinted Write blocks
          // until a later write flushes it, and the later write is this
          // thread's next call (grpc/grpc#12975). The answers then sat
          // until other traffic or a keepalive ping (60 s) moved them.
          written = stream->Write(settle(ready[i]));
        } else {
          batch.Clear();
          for (size_t j = i; j < i + count; ++j) {
            *batch.add_batch() = settle(ready[j]);
          }
          written = stream->Write(batch);
        }
        i += count;
        if (!written) {
          write_failed = true;
          queue.Abandon();
          unsent.assign(std::make_move_iterator(ready.begin() + i),
                        std::make_move_iterator(ready.end()));
          return;
        }
      }
    }
  });

  // The items of the message being read: the valid ones of a batch are
  // stored in one transaction (group commit), each answered after it.
  std::vector<store::Store::GroupedWrite> group;
  auto store_group = [&] {
    if (!group.empty()) store_.WriteTogetherAsync(std::exchange(group, {}));
  };
  uint64_t accepted = 0, refused = 0, batches = 0;
  // Handles one item read (`refusal`, if set, refuses it without looking
  // at it). False when the stream is to end (cancelled or abandoned).
  auto handle = [&](v1::PushRequest& request, absl::Status refusal) {
    // Over its item rate, the caller waits here: nothing is refused, the
    // stream just slows down.
    if (!AwaitItem(*context, *caller, store_group)) return false;
    uint64_t index;
    if (!queue.Reserve(&index, store_group)) return false;
    std::string item_id = request.item().item_id();
    if (refusal.ok() && !request.has_item()) {
      refusal = absl::InvalidArgumentError("item: is required");
    }
    absl::StatusOr<store::ItemWrite> write =
        refusal.ok() ? PrepareItem(*request.mutable_item(), *caller,
                                   options.limits, sharing_)
                     : absl::StatusOr<store::ItemWrite>(refusal);
    if (!write.ok()) {
      ++refused;
      AuditRejection(caller->spiffe_id, "PushStream", write.status(),
                     &request.item());
      queue.Complete(index, StreamAnswer{index, std::move(item_id),
                                         write.status(), false});
      return true;
    }
    group.push_back(store::Store::ItemEntry{
        std::move(*write),
        [&queue, index, item_id = std::move(item_id)](
            absl::StatusOr<store::ItemWriteResult> result) mutable {
          const bool refused_by_store = !result.ok();
          queue.Complete(index, StreamAnswer{index, std::move(item_id),
                                             std::move(result),
                                             refused_by_store});
        }});
    ++accepted;
    return true;
  };

  v1::PushRequest request;
  while (stream->Read(&request)) {
    bool go_on = true;
    if (request.batch_size() == 0) {
      go_on = handle(request, absl::OkStatus());
    } else {
      ++batches;
      // Every entry is a position of the stream with its own answer; one
      // that is not a single item is refused alone.
      if (request.has_item()) {
        go_on = handle(request, absl::InvalidArgumentError(
                                    "item: is set beside batch; a request "
                                    "carries one or the other"));
      }
      for (int i = 0; go_on && i < request.batch_size(); ++i) {
        v1::PushRequest& entry = *request.mutable_batch(i);
        go_on = handle(entry, entry.batch_size() == 0
                                  ? absl::OkStatus()
                                  : absl::InvalidArgumentError(absl::StrCat(
                                        "batch[", i,
                                        "]: an entry of a batch carries one "
                                        "item and no batch of its own")));
      }
    }
    store_group();
    if (!go_on) break;
  }
  store_group();
  queue.ReadingDone();
  writer.join();
  // Store callbacks reference `queue`: wait for them before it goes away.
  queue.AwaitAllCompleted();
  // Items the client will not hear about are still logged (and audited).
  for (StreamAnswer& answer : unsent) settle(answer);
  for (StreamAnswer& answer : queue.TakeUntaken()) settle(answer);
  log::Info("push_stream_closed", {{"client", caller->spiffe_id},
                                   {"submitted", accepted},
                                   {"refused", refused},
                                   {"batches", batches}});
  if (write_failed || context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "the client closed the stream");
  }
  return grpc::Status::OK;
}

grpc::Status IngestService::Retract(grpc::ServerContext* context,
                                    const v1::RetractRequest* request,
                                    v1::RetractResponse* response) {
  absl::StatusOr<AdmittedCall> admitted = Authorise(*context, "Retract");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  const security::PeerIdentity* caller = &admitted->caller;
  absl::Status valid = ValidateItemId(request->item_id());
  if (!valid.ok()) {
    valid = absl::InvalidArgumentError(absl::StrCat("item_id: ", valid.message()));
  } else if (request->reason().empty()) {
    valid = absl::InvalidArgumentError("reason: is required");
  } else if (request->reason().size() > kMaxReasonChars) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("reason: is longer than ", kMaxReasonChars, " characters"));
  }
  if (!valid.ok()) {
    AuditRejection(caller->spiffe_id, "Retract", valid, nullptr);
    return security::ToGrpcStatus(valid);
  }
  v1::Retraction retraction;
  retraction.set_origin(caller->organisation_id);
  retraction.set_item_id(request->item_id());
  retraction.set_reason(request->reason());
  *retraction.mutable_retracted_at() = ToTimestamp(absl::Now());
  retraction.set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  retraction.set_decided_by(caller->organisation_id);
  absl::Status status =
      store_.WriteRetraction(sharing_.PrepareOwnRetraction(retraction, *caller));
  if (!status.ok()) {
    AuditRejection(caller->spiffe_id, "Retract", status, nullptr);
    return security::ToGrpcStatus(status);
  }
  log::Info("item_retracted", {{"origin", retraction.origin()},
                               {"item_id", retraction.item_id()},
                               {"client", caller->spiffe_id}});
  *response->mutable_retraction() = std::move(retraction);
  return grpc::Status::OK;
}

}  // namespace havengate::server
