#include "server/federation/federation_service.h"

#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "certs/x509.h"
#include "proto/status_macros.h"
#include "server/audit/audit_record.h"
#include "server/security/grpc_status.h"
#include "server/logging/log.h"
#include "server/federation/link_break.h"
#include "server/federation/ordered_answers.h"
#include "server/federation/wire_batch.h"

namespace havengate::server {
namespace {

v1::FederationAck MakeAck(uint64_t sequence, const absl::Status& status) {
  v1::FederationAck ack;
  ack.set_sequence(sequence);
  ack.set_code(static_cast<int32_t>(status.code()));
  ack.set_message(std::string(status.message()));
  return ack;
}

// Storage trouble is temporary: the message must not be acknowledged, so the
// sender keeps it and resends after reconnecting.
bool IsTransient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace

absl::Status CheckProvenance(const v1::Item& item, const std::string& sender,
                             const std::string& receiver) {
  const auto& hops = item.provenance();
  if (hops.empty()) {
    return absl::InvalidArgumentError(
        "provenance: is empty; a gateway must record its release");
  }
  if (hops[0].organisation() != item.origin()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "origin: item claims origin ", item.origin(),
        " but its provenance starts at ", hops[0].organisation()));
  }
  for (int i = 0; i < hops.size(); ++i) {
    if (hops[i].organisation() == receiver) {
      return absl::FailedPreconditionError(
          "provenance: the item already passed through this organisation");
    }
    if (i + 1 < hops.size() &&
        hops[i].released_to() != hops[i + 1].organisation()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "provenance[", i, "]: released to ", hops[i].released_to(),
          " but the next hop is ", hops[i + 1].organisation()));
    }
  }
  const v1::ProvenanceHop& last = hops[hops.size() - 1];
  if (last.organisation() != sender) {
    return absl::PermissionDeniedError(absl::StrCat(
        "origin: sent by ", sender, " but its last provenance hop is ",
        last.organisation()));
  }
  if (last.released_to() != receiver) {
    return absl::PermissionDeniedError(absl::StrCat(
        "provenance: released to ", last.released_to(), ", not to ", receiver));
  }
  return absl::OkStatus();
}

FederationService::FederationService(FederationServiceOptions options,
                                     const security::Authenticator& authenticator,
                                     const Sharing& sharing,
                                     store::Store& store)
    : options_(std::move(options)),
      authenticator_(authenticator),
      sharing_(sharing),
      store_(store) {}

absl::Status FederationService::CheckRetraction(
    const v1::Retraction& retraction, const security::PeerIdentity& peer) const {
  bool withdrawal = retraction.kind() == v1::Retraction::NO_LONGER_SHARED;
  if (withdrawal && retraction.decided_by() != peer.organisation_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "retraction.decided_by: a withdrawal sent by ", peer.organisation_id,
        " must be decided by it"));
  }
  if (!withdrawal && retraction.decided_by() != retraction.origin()) {
    return absl::PermissionDeniedError(
        "retraction.decided_by: only the origin retracts an item");
  }
  // Only a gateway the item came from may withdraw it here.
  HG_ASSIGN_OR_RETURN(v1::InboxEntry held,
                      store_.GetItem(retraction.origin(), retraction.item_id()));
  if (held.received_from() == peer.organisation_id) return absl::OkStatus();
  // The item also came by another path, from this peer, whose copy was
  // not kept: the origin's retraction counts from it too; its own
  // withdrawal concerns only the copy not kept.
  HG_ASSIGN_OR_RETURN(bool sent_a_copy,
                      store_.SentOtherCopy(retraction.origin(), retraction.item_id(),
                                           peer.organisation_id));
  if (!sent_a_copy) {
    return absl::PermissionDeniedError(absl::StrCat(
        "retraction: the item was received from ", held.received_from(),
        ", not from ", peer.organisation_id));
  }
  if (withdrawal) {
    return absl::NotFoundError(absl::StrCat(
        "the copy held here came from ", held.received_from(),
        "; nothing to withdraw"));
  }
  return absl::OkStatus();
}

absl::Status FederationService::CheckItem(const v1::Item& item,
                                          const security::PeerIdentity& peer,
                                          const ItemLimits& limits) const {
  HG_RETURN_IF_ERROR(ValidateReceivedItem(item, limits));
  for (const v1::ProvenanceHop& hop : item.provenance()) {
    // A release on request is the outcome of a request, kept with it and
    // never shared onwards: as an item it would be stored and re-shared.
    if (!hop.released_on_request().empty()) {
      return absl::InvalidArgumentError(
          "provenance: a hop released on request travels only as the outcome of "
          "that request, never as an item");
    }
  }
  return CheckProvenance(item, peer.organisation_id, options_.organisation);
}

void FederationService::AuditRefusal(const security::PeerIdentity& peer,
                                     const v1::FederationMessage& message,
                                     const absl::Status& status) {
  v1::AuditRecord record = audit::MakeAuditRecord(
      v1::RECEIPT_REFUSED, peer.spiffe_id,
      message.has_item() ? &message.item() : nullptr);
  if (message.has_request_outcome()) {
    record.set_request_id(message.request_outcome().request_id());
    record.set_detail("outcome of a field request");
  }
  if (message.has_retraction()) {
    // Which item a refused retraction (or withdrawal) was about.
    record.mutable_item()->set_origin(message.retraction().origin());
    record.mutable_item()->set_item_id(message.retraction().item_id());
    record.set_detail(absl::StrCat(
        "retraction (", v1::Retraction::Kind_Name(message.retraction().kind()),
        ", decided by ", message.retraction().decided_by(), ")"));
  }
  record.set_partner(peer.organisation_id);
  record.set_reason(absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                 status.message()));
  log::Warn("receipt_refused",
            {{"peer", peer.organisation_id},
             {"sequence", message.sequence()},
             {"code", absl::StatusCodeToString(status.code())},
             {"reason", status.message()}});
  store_.AppendAuditAsync({std::move(record)}, [](absl::Status s) {
    if (!s.ok()) log::Error("audit_write_failed", {{"reason", s.message()}});
  });
}

void FederationService::AuditOtherCopy(const security::PeerIdentity& peer,
                                       const v1::Receipt& held,
                                       const std::string& held_from) {
  // Not a refusal: the partner has this version, as `held_from` released
  // it. The record says this copy arrived and is not the one shown.
  v1::AuditRecord record = audit::MakeAuditRecord(v1::ITEM_RECEIVED, peer.spiffe_id);
  record.mutable_item()->set_origin(held.origin());
  record.mutable_item()->set_item_id(held.item_id());
  record.mutable_item()->set_version(held.version());
  record.set_partner(peer.organisation_id);
  record.set_digest(held.digest());
  record.set_detail(absl::StrCat(
      "already held: the copy of this version received from ", held_from,
      " (digest above) stays; this one was not stored"));
  store_.AppendAuditAsync({std::move(record)}, [](absl::Status s) {
    if (!s.ok()) log::Error("audit_write_failed", {{"reason", s.message()}});
  });
}

void FederationService::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (const auto& [context, peer] : open_) context->TryCancel();
}

void FederationService::SetPeers(std::set<std::string> peers) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.peers = std::move(peers);
  for (const auto& [context, peer] : open_) {
    if (options_.peers.count(peer) == 0) {
      log::Info("peer_stream_ended", {{"peer", peer},
                                      {"reason", "removed from the configuration"}});
      context->TryCancel();
    }
  }
}

void FederationService::SetLimits(ItemLimits limits, int stream_window) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.limits = limits;
  options_.stream_window = stream_window;
}

absl::Status FederationService::Open(grpc::ServerContext* context,
                                     const std::string& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    return absl::UnavailableError("this gateway is shutting down; reconnect later");
  }
  if (options_.peers.count(peer) == 0) {
    return absl::PermissionDeniedError(
        "this organisation is not a configured peer of this gateway");
  }
  open_.emplace(context, peer);
  return absl::OkStatus();
}

void FederationService::Close(grpc::ServerContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(context);
}

absl::StatusOr<security::PeerIdentity> AuthoriseConfiguredPeer(
    const security::Authenticator& authenticator,
    absl::FunctionRef<bool(const std::string&)> is_peer, store::Store& store,
    grpc::ServerContext& context, absl::string_view method) {
  absl::StatusOr<security::PeerIdentity> peer = authenticator.Identify(context);
  absl::Status allowed = peer.ok() ? security::RequirePeerGateway(*peer) : peer.status();
  if (allowed.ok() && !is_peer(peer->organisation_id)) {
    allowed = absl::PermissionDeniedError(
        "this organisation is not a configured peer of this gateway");
  }
  if (allowed.ok()) return peer;
  v1::AuditRecord record =
      audit::MakeAuditRecord(v1::CALL_REJECTED, peer.ok() ? peer->spiffe_id : "");
  record.set_reason(absl::StrCat(method, ": ", absl::StatusCodeToString(allowed.code()),
                                 ": ", allowed.message()));
  log::Warn("call_rejected", {{"method", std::string(method)},
                              {"caller", peer.ok() ? peer->spiffe_id : ""},
                              {"reason", allowed.message()}});
  (void)store.AppendAudit({std::move(record)});
  return allowed;
}

absl::StatusOr<security::PeerIdentity> FederationService::AuthorisePeer(
    grpc::ServerContext& context, absl::string_view method) {
  return AuthoriseConfiguredPeer(
      authenticator_,
      [this](const std::string& organisation) {
        std::lock_guard<std::mutex> lock(mu_);
        return options_.peers.count(organisation) > 0;
      },
      store_, context, method);
}

grpc::Status FederationService::GetCrl(grpc::ServerContext* context,
                                       const v1::GetCrlRequest* /*request*/,
                                       v1::GetCrlResponse* response) {
  absl::StatusOr<security::PeerIdentity> peer = AuthorisePeer(*context, "GetCrl");
  if (!peer.ok()) return security::ToGrpcStatus(peer.status());
  if (options_.own_crl_file.empty()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "this gateway has no CRL configured (tls.crl)");
  }
  absl::StatusOr<pki::Crl> crl = pki::Crl::ReadFile(options_.own_crl_file);
  if (!crl.ok()) {
    log::Error("crl_unreadable", {{"file", options_.own_crl_file},
                                  {"reason", crl.status().message()}});
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the CRL cannot be read now");
  }
  response->set_pem(crl->ToPem());
  response->set_this_update_seconds(absl::ToUnixSeconds(crl->this_update()));
  if (crl->next_update() != absl::InfiniteFuture()) {
    response->set_next_update_seconds(absl::ToUnixSeconds(crl->next_update()));
  }
  return grpc::Status::OK;
}

grpc::Status FederationService::Exchange(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::FederationAck, v1::FederationMessage>*
        stream) {
  absl::StatusOr<security::PeerIdentity> peer = AuthorisePeer(*context, "Exchange");
  if (!peer.ok()) return security::ToGrpcStatus(peer.status());
  std::optional<limits::CallerLimits::CallSlot> slot;
  if (options_.caller_limits != nullptr) {
    absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
        options_.caller_limits->StartCall(peer->spiffe_id);
    if (!admitted.ok()) {
      if (int64_t refused = options_.caller_limits->NoteRefusal(peer->spiffe_id);
          refused > 0) {
        log::Warn("call_rejected", {{"method", "Exchange"},
                                    {"caller", peer->spiffe_id},
                                    {"reason", admitted.status().message()},
                                    {"refused_since_last_report", refused}});
      }
      return security::ToGrpcStatus(admitted.status());
    }
    slot.emplace(*std::move(admitted));
  }
  if (absl::Status opened = Open(context, peer->organisation_id); !opened.ok()) {
    if (absl::IsUnavailable(opened)) {
      context->AddTrailingMetadata(kBreakReasonKey, kUnavailableValue);
    }
    return security::ToGrpcStatus(opened);
  }
  absl::Cleanup close = [this, context] { Close(context); };
  log::Info("peer_connected", {{"peer", peer->organisation_id}});
  ItemLimits limits;
  int stream_window = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    limits = options_.limits;
    stream_window = options_.stream_window;
  }

  // A sender of this release announces batches (federation.proto); it is
  // told the largest message read here, and answered in batches.
  bool batches = false;
  if (auto it = context->client_metadata().find(kBatchKey);
      it != context->client_metadata().end() && it->second == kBatchValue) {
    batches = true;
    context->AddInitialMetadata(kBatchKey, absl::StrCat(options_.max_message_bytes));
    stream->SendInitialMetadata();
  }

  OrderedAnswers<v1::FederationAck> answers(stream_window);
  std::atomic<bool> transient_failure{false};
  std::mutex transient_mu;
  absl::Status transient_status;  // the first one; guarded by transient_mu
  std::thread writer([&] {
    std::vector<v1::FederationAck> ready;
    v1::FederationAck batch;
    while (answers.NextReady(&ready)) {
      // Everything answered so far goes out in one message (or one message
      // each, to an earlier sender), up to the first transient failure,
      // which is not acknowledged and ends the stream.
      size_t count = 0;
      while (count < ready.size() &&
             !IsTransient(absl::Status(
                 static_cast<absl::StatusCode>(ready[count].code()), ""))) {
        ++count;
      }
      bool written = true;
      if (batches && count > 1) {
        batch.Clear();
        for (size_t i = 0; i < count; ++i) batch.add_batch()->Swap(&ready[i]);
        written = stream->Write(batch);
      } else {
        for (size_t i = 0; i < count && written; ++i) written = stream->Write(ready[i]);
      }
      if (!written || count < ready.size()) {
        answers.Abandon();
        return;
      }
    }
  });

  // The store writes of the message being read: all entries of a batch
  // are stored in one transaction, each answered after its commit.
  std::vector<store::Store::GroupedWrite> group;
  auto store_group = [&] {
    if (!group.empty()) store_.WriteTogetherAsync(std::exchange(group, {}));
  };

  // Handles one entry read; `received` holds it until its answer is done
  // (a refusal is audited with the item it refused).
  auto handle = [&](std::shared_ptr<const v1::FederationMessage> received,
                    const v1::FederationMessage& message) {
    if (message.has_retraction() || message.has_request_outcome()) {
      // Whether it may be retracted (or the outcome taken) is read from
      // the store: what came before it must be there first.
      store_group();
      answers.AwaitAllCompleted();
    }
    uint64_t index;
    if (!answers.Reserve(&index, store_group)) return false;
    const uint64_t sequence = message.sequence();
    const v1::FederationMessage* entry = &message;  // held by `received`
    auto complete = [this, &answers, &transient_failure, &transient_mu,
                     &transient_status, index, sequence, peer = *peer,
                     received, entry](const absl::Status& status) {
      if (IsTransient(status)) {
        // Leave it and everything after it unacknowledged and end the
        // stream: the sender resends them after reconnecting.
        {
          std::lock_guard<std::mutex> lock(transient_mu);
          if (transient_status.ok()) transient_status = status;
        }
        transient_failure = true;
        answers.Complete(index, MakeAck(sequence, status));
        if (!deferring_.exchange(true)) {
          log::Warn("receipts_deferred",
                    {{"peer", peer.organisation_id},
                     {"code", absl::StatusCodeToString(status.code())},
                     {"reason", status.message()}});
        }
        return;
      }
      if (status.ok() && deferring_.exchange(false)) {
        log::Info("receipts_resumed", {{"peer", peer.organisation_id}});
      }
      if (!status.ok()) AuditRefusal(peer, *entry, status);
      answers.Complete(index, MakeAck(sequence, status));
    };

    if (message.has_item()) {
      absl::Status checked = CheckItem(message.item(), *peer, limits);
      absl::StatusOr<store::ItemWrite> write =
          checked.ok() ? sharing_.PrepareReceivedItem(message.item(), *peer)
                       : checked;
      if (!write.ok()) {
        complete(write.status());
        return true;
      }
      group.push_back(store::Store::ItemEntry{
          std::move(*write),
          [this, complete, peer = *peer](
              absl::StatusOr<store::ItemWriteResult> result) {
            if (result.ok()) {
              log::Info(result->receipt.duplicate() ? "item_already_held"
                                                    : "item_received",
                        {{"from", peer.organisation_id},
                         {"origin", result->receipt.origin()},
                         {"item_id", result->receipt.item_id()},
                         {"version", result->receipt.version()}});
              if (!result->stored_copy_from.empty()) {
                AuditOtherCopy(peer, result->receipt, result->stored_copy_from);
              }
            }
            complete(result.status());
          }});
    } else if (message.has_retraction()) {
      absl::Status allowed_retraction =
          CheckRetraction(message.retraction(), *peer);
      if (absl::IsNotFound(allowed_retraction)) {
        complete(absl::OkStatus());  // nothing to do here
        return true;
      }
      if (!allowed_retraction.ok()) {
        complete(allowed_retraction);
        return true;
      }
      group.push_back(store::Store::RetractionEntry{
          sharing_.PrepareReceivedRetraction(message.retraction(), *peer),
          [complete](absl::Status s) {
            // A retraction of an item never held here needs nothing.
            complete(s.code() == absl::StatusCode::kNotFound ? absl::OkStatus()
                                                             : s);
          }});
    } else if (message.has_request_outcome()) {
      complete(options_.on_request_outcome
                   ? options_.on_request_outcome(message.request_outcome(), *peer)
                   : absl::FailedPreconditionError(
                         "this gateway takes no outcomes of field requests"));
    } else {
      complete(absl::InvalidArgumentError("message: carries neither an item nor a retraction"));
    }
    return true;
  };

  for (;;) {
    auto message = std::make_shared<v1::FederationMessage>();
    if (transient_failure || !stream->Read(message.get())) break;
    bool go_on = true;
    if (message->batch_size() > 0) {
      for (const v1::FederationMessage& entry : message->batch()) {
        if (transient_failure || !(go_on = handle(message, entry))) break;
      }
    } else {
      go_on = handle(message, *message);
    }
    store_group();
    if (!go_on) break;
  }
  answers.ReadingDone();
  writer.join();
  answers.AwaitAllCompleted();
  log::Info("peer_disconnected", {{"peer", peer->organisation_id}});
  if (transient_failure) {
    std::lock_guard<std::mutex> lock(transient_mu);
    const bool full = absl::IsResourceExhausted(transient_status);
    context->AddTrailingMetadata(kBreakReasonKey,
                                 full ? kOutOfSpaceValue : kUnavailableValue);
    return full ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "storage is full; resend later")
                : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "storage is unavailable; resend later");
  }
  return grpc::Status::OK;
}

}  // namespace havengate::server
