#include "server/requests/field_request_desk.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/field_requests.h"
#include "policy/item_paths.h"
#include "policy/policy.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/cooperation/cooperation_service.h"
#include "server/cooperation/hit_asker.h"
#include "server/audit/audit_record.h"
#include "server/logging/log.h"

namespace havengate::server {
namespace {

constexpr int kMaxFields = 32;
constexpr size_t kMaxReasonLength = 1000;
constexpr size_t kMaxCaseReferenceLength = 128;
constexpr size_t kMaxRequestIdLength = 64;

// Free text: no control characters (UTF-8 letters are fine).
bool NoControlCharacters(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::vector<std::string> Strings(const google::protobuf::RepeatedPtrField<std::string>& from) {
  return std::vector<std::string>(from.begin(), from.end());
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

bool IsRefusal(absl::StatusCode code) {
  return code == absl::StatusCode::kPermissionDenied ||
         code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kNotFound ||
         code == absl::StatusCode::kAlreadyExists;
}

}  // namespace

absl::Status ValidateFieldRequestTerms(
    const google::protobuf::RepeatedPtrField<std::string>& fields,
    const std::string& reason, const std::string& case_reference) {
  if (fields.empty() || fields.size() > kMaxFields) {
    return absl::InvalidArgumentError(
        absl::StrCat("fields: 1 to ", kMaxFields, " body field paths"));
  }
  for (int i = 0; i < fields.size(); ++i) {
    if (absl::Status s = policy::CheckRequestFieldPath(fields[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("fields[", i, "]: ", s.message()));
    }
    for (int j = 0; j < i; ++j) {
      if (fields[j] == fields[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("fields[", i, "]: `", fields[i], "` is listed twice"));
      }
    }
  }
  if (reason.empty() || reason.size() > kMaxReasonLength || !NoControlCharacters(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason: required, at most ", kMaxReasonLength,
        " characters without control characters (why the fields are needed)"));
  }
  if (case_reference.size() > kMaxCaseReferenceLength || !PrintableAscii(case_reference)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "case_reference: at most ", kMaxCaseReferenceLength, " printable ASCII characters"));
  }
  return absl::OkStatus();
}

FieldRequestDesk::FieldRequestDesk(FieldRequestDeskOptions options,
                                   const PolicyHolder& policies, store::Store& store)
    : options_(std::move(options)), policies_(policies), store_(store) {}

void FieldRequestDesk::AddPeer(const std::string& partner, const std::string& address,
                               std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 20);
  auto channel = grpc::CreateCustomChannel(address, std::move(credentials), args);
  std::lock_guard<std::mutex> lock(mu_);
  channels_[partner] = std::move(channel);
}

void FieldRequestDesk::RemovePeer(const std::string& partner) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(partner);
}

v1::AuditRecord FieldRequestDesk::Record(v1::AuditEventType type, const std::string& actor,
                                         const v1::FieldRequest& request,
                                         const std::string& partner) const {
  v1::AuditRecord record = audit::MakeAuditRecord(type, actor);
  record.set_partner(partner);
  record.set_request_id(request.request_id());
  record.mutable_item()->set_origin(request.origin());
  record.mutable_item()->set_item_id(request.item_id());
  for (const std::string& field : request.fields()) record.add_withheld_fields(field);
  return record;
}

// --- Requesting side ------------------------------------------------------

absl::StatusOr<v1::FieldRequest> FieldRequestDesk::Ask(
    const v1::NewFieldRequest& asked, const security::PeerIdentity& client) {
  HG_RETURN_IF_ERROR(
      ValidateFieldRequestTerms(asked.fields(), asked.reason(), asked.case_reference()));
  if (asked.origin().empty() || asked.item_id().empty()) {
    return absl::InvalidArgumentError("origin and item_id: required (the item as received)");
  }
  if (asked.origin() == options_.organisation) {
    return absl::InvalidArgumentError(
        "origin: the item is this organisation's own; nothing is withheld from it");
  }
  absl::StatusOr<v1::InboxEntry> held = store_.GetItem(asked.origin(), asked.item_id());
  if (absl::IsNotFound(held.status())) {
    return absl::NotFoundError(absl::StrCat("no item ", asked.item_id(), " from ",
                                            asked.origin(), " is held here"));
  }
  if (!held.ok()) return held.status();
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = channels_.find(asked.origin());
    if (it != channels_.end()) channel = it->second;
  }
  if (channel == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(asked.origin(), " is not a configured peer of this gateway"));
  }
  v1::FieldRequest request;
  request.set_request_id(NewRandomId("rq-"));
  request.set_role(v1::FieldRequest::SENT);
  request.set_origin(asked.origin());
  request.set_requester(options_.organisation);
  request.set_item_id(asked.item_id());
  *request.mutable_fields() = asked.fields();
  request.set_reason(asked.reason());
  request.set_case_reference(asked.case_reference());
  request.set_asked_by(client.spiffe_id);
  *request.mutable_created_at() = ToTimestamp(absl::Now());

  v1::FieldRequestSubmission submission;
  submission.set_request_id(request.request_id());
  submission.set_item_id(asked.item_id());
  *submission.mutable_fields() = asked.fields();
  submission.set_reason(asked.reason());
  submission.set_case_reference(asked.case_reference());
  submission.set_asked_by(client.spiffe_id);
  auto stub = v1::FieldRequestExchange::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.submit_timeout));
  v1::FieldRequestReceipt receipt;
  const absl::Status answer = FromGrpc(stub->Submit(&context, submission, &receipt));

  v1::AuditRecord record =
      Record(v1::FIELD_REQUEST_SENT, client.spiffe_id, request, asked.origin());
  record.set_detail(absl::StrCat("case ", asked.case_reference(), ": ", asked.reason()));
  if (!answer.ok() && !IsRefusal(answer.code())) {
    record.set_reason(absl::StrCat("unanswered: ", answer.message()));
    HG_RETURN_IF_ERROR(store_.AppendAudit({std::move(record)}));
    return absl::UnavailableError(absl::StrCat(
        asked.origin(), " did not take the request: ", answer.message()));
  }
  if (answer.ok()) {
    request.set_state(v1::FieldRequest::PENDING);
    *request.mutable_expires_at() = receipt.expires_at();
    request.set_approvals_needed(receipt.approvals_needed());
    record.set_reason(absl::StrCat("pending: ", receipt.approvals_needed(),
                                   " officer(s) of ", asked.origin(), " decide"));
  } else {
    request.set_state(v1::FieldRequest::REFUSED);
    request.set_outcome_reason(std::string(answer.message()));
    *request.mutable_decided_at() = ToTimestamp(absl::Now());
    record.set_reason(absl::StrCat("refused: ", answer.message()));
  }
  store::FieldRequestWrite write;
  write.request = request;
  write.audit.push_back(std::move(record));
  HG_RETURN_IF_ERROR(store_.WriteFieldRequest(std::move(write)));
  if (!answer.ok()) return answer;
  request.set_revision(1);
  return request;
}

absl::Status FieldRequestDesk::TakeOutcome(const v1::FieldRequestOutcome& outcome,
                                           const security::PeerIdentity& peer) {
  HG_ASSIGN_OR_RETURN(std::optional<v1::FieldRequest> stored,
                      store_.GetFieldRequest(v1::FieldRequest::SENT, outcome.request_id()));
  if (!stored.has_value() || stored->origin() != peer.organisation_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no request ", outcome.request_id(), " was sent to ", peer.organisation_id));
  }
  v1::FieldRequest request = *std::move(stored);
  if (request.state() != v1::FieldRequest::PENDING) return absl::OkStatus();  // held
  const uint64_t read_revision = request.revision();
  v1::AuditRecord record;
  switch (outcome.state()) {
    case v1::FieldRequest::APPROVED: {
      const v1::Item& release = outcome.release();
      if (release.origin() != request.origin() || release.item_id() != request.item_id() ||
          release.provenance().empty()) {
        return absl::InvalidArgumentError(
            "release: not the item of the request, or without provenance");
      }
      const v1::ProvenanceHop& hop = release.provenance(release.provenance_size() - 1);
      if (hop.released_on_request() != request.request_id() ||
          hop.released_to() != options_.organisation) {
        return absl::InvalidArgumentError(
            "release: its last provenance hop does not name this request and organisation");
      }
      for (const std::string& path : policy::PresentLeafPaths(release)) {
        const bool asked = std::any_of(
            request.fields().begin(), request.fields().end(),
            [&](const std::string& f) { return policy::FieldPathCovers(f, path); });
        if (!asked) {
          return absl::InvalidArgumentError(
              absl::StrCat("release: carries `", path, "`, which was not asked for"));
        }
      }
      *request.mutable_release() = release;
      *request.mutable_approvers() = outcome.approvers();
      request.set_may_reshare(!release.classification().no_reshare());
      record = Record(v1::FIELD_RELEASED_ON_REQUEST, peer.spiffe_id, request,
                      peer.organisation_id);
      record.clear_withheld_fields();
      for (const std::string& path : policy::PresentLeafPaths(release)) {
        record.add_released_fields(path);
      }
      record.mutable_item()->set_version(release.version());
      record.set_digest(store::ItemDigest(release));
      record.set_detail(absl::StrCat("approved by ", absl::StrJoin(outcome.approvers(), ", ")));
      record.set_reason("released on request, outside the policy");
      break;
    }
    case v1::FieldRequest::REFUSED:
    case v1::FieldRequest::EXPIRED:
      record = Record(outcome.state() == v1::FieldRequest::REFUSED ? v1::FIELD_REQUEST_REFUSED
                                                                   : v1::FIELD_REQUEST_EXPIRED,
                      peer.spiffe_id, request, peer.organisation_id);
      record.set_reason(outcome.reason());
      break;
    default:
      return absl::InvalidArgumentError("state: not a final state of a request");
  }
  request.set_state(outcome.state());
  request.set_outcome_reason(outcome.reason());
  *request.mutable_decided_at() = ToTimestamp(absl::Now());
  store::FieldRequestWrite write;
  write.request = std::move(request);
  write.read_revision = read_revision;
  write.audit.push_back(std::move(record));
  return store_.WriteFieldRequest(std::move(write));
}

// --- Origin's side ----------------------------------------------------------

absl::Status FieldRequestDesk::AuditRefusal(const v1::FieldRequestSubmission& submission,
                                            const security::PeerIdentity& peer,
                                            const absl::Status& refusal) {
  v1::FieldRequest request;
  request.set_request_id(submission.request_id());
  request.set_origin(options_.organisation);
  request.set_item_id(submission.item_id());
  *request.mutable_fields() = submission.fields();
  v1::AuditRecord record =
      Record(v1::FIELD_REQUEST_REFUSED, peer.spiffe_id, request, peer.organisation_id);
  record.set_reason(absl::StrCat(absl::StatusCodeToString(refusal.code()), ": ",
                                 refusal.message()));
  record.set_detail(absl::StrCat("case ", submission.case_reference(), ": ",
                                 submission.reason()));
  log::Info("field_request_refused", {{"partner", peer.organisation_id},
                                      {"request_id", submission.request_id()},
                                      {"reason", refusal.message()}});
  HG_RETURN_IF_ERROR(store_.AppendAudit({std::move(record)}));
  return refusal;
}

absl::StatusOr<v1::FieldRequestReceipt> FieldRequestDesk::Receive(
    const v1::FieldRequestSubmission& submission, const security::PeerIdentity& peer) {
  absl::Status valid = ValidateFieldRequestTerms(submission.fields(), submission.reason(),
                                                 submission.case_reference());
  if (valid.ok() && (submission.request_id().empty() ||
                     submission.request_id().size() > kMaxRequestIdLength ||
                     !PrintableAscii(submission.request_id()))) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "request_id: 1 to ", kMaxRequestIdLength, " printable ASCII characters"));
  }
  if (valid.ok() && submission.item_id().empty()) {
    valid = absl::InvalidArgumentError("item_id: required");
  }
  if (!valid.ok()) return AuditRefusal(submission, peer, valid);
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  if (policy == nullptr) {
    return AuditRefusal(submission, peer,
                        absl::PermissionDeniedError(absl::StrCat(
                            options_.organisation,
                            " has no sharing policy, so no partner may ask for fields")));
  }
  absl::StatusOr<policy::FieldRequestTerms> terms =
      policy->FieldRequestTermsFor(peer.organisation_id, Strings(submission.fields()));
  if (!terms.ok()) return AuditRefusal(submission, peer, terms.status());
  const absl::Status never_released = absl::FailedPreconditionError(
      absl::StrCat(options_.organisation, " never released item ", submission.item_id(),
                   " to ", peer.organisation_id));
  absl::StatusOr<v1::InboxEntry> held =
      store_.GetItem(options_.organisation, submission.item_id());
  if (absl::IsNotFound(held.status())) return AuditRefusal(submission, peer, never_released);
  if (!held.ok()) return held.status();
  for (const std::string& field : submission.fields()) {
    absl::StatusOr<std::vector<std::string>> values = policy::ValuesAtPath(held->item(), field);
    if (!values.ok() || values->empty()) {
      return AuditRefusal(submission, peer,
                          absl::FailedPreconditionError(absl::StrCat(
                              "item ", submission.item_id(), " holds no `", field, "`")));
    }
  }
  const absl::Time now = absl::Now();
  v1::FieldRequest request;
  request.set_request_id(submission.request_id());
  request.set_role(v1::FieldRequest::RECEIVED);
  request.set_state(v1::FieldRequest::PENDING);
  request.set_origin(options_.organisation);
  request.set_requester(peer.organisation_id);
  request.set_item_id(submission.item_id());
  *request.mutable_fields() = submission.fields();
  request.set_reason(submission.reason());
  request.set_case_reference(submission.case_reference());
  request.set_asked_by(submission.asked_by());
  *request.mutable_created_at() = ToTimestamp(now);
  *request.mutable_expires_at() = ToTimestamp(now + terms->expires_after);
  request.set_approvals_needed(terms->approvals_needed);
  request.set_may_reshare(terms->may_reshare);

  v1::AuditRecord record =
      Record(v1::FIELD_REQUEST_RECEIVED, peer.spiffe_id, request, peer.organisation_id);
  record.set_policy_version(policy->version());
  record.set_detail(absl::StrCat("case ", submission.case_reference(), ": ",
                                 submission.reason()));
  record.set_reason(absl::StrCat("pending: ", terms->approvals_needed,
                                 " distinct officer(s) must approve"));
  store::FieldRequestWrite write;
  write.request = request;
  write.require_shared_with = peer.organisation_id;
  write.audit.push_back(std::move(record));
  absl::Status stored = store_.WriteFieldRequest(std::move(write));
  if (absl::IsFailedPrecondition(stored)) return AuditRefusal(submission, peer, never_released);
  if (absl::IsAlreadyExists(stored)) return AuditRefusal(submission, peer, stored);
  HG_RETURN_IF_ERROR(stored);
  log::Info("field_request_received", {{"partner", peer.organisation_id},
                                       {"request_id", request.request_id()},
                                       {"item_id", request.item_id()}});
  v1::FieldRequestReceipt receipt;
  receipt.set_request_id(request.request_id());
  *receipt.mutable_expires_at() = request.expires_at();
  receipt.set_approvals_needed(request.approvals_needed());
  return receipt;
}

absl::StatusOr<std::vector<v1::FieldRequest>> FieldRequestDesk::List(
    v1::FieldRequest::Role role, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(std::vector<v1::FieldRequest> all, store_.ListFieldRequests(role));
  if (item_id.empty()) return all;
  std::vector<v1::FieldRequest> out;
  for (v1::FieldRequest& r : all) {
    if (r.item_id() == item_id) out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<v1::FieldRequestView> FieldRequestDesk::Show(const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(std::optional<v1::FieldRequest> request,
                      store_.GetFieldRequest(v1::FieldRequest::RECEIVED, request_id));
  if (!request.has_value()) {
    return absl::NotFoundError(absl::StrCat("no request ", request_id, " was received"));
  }
  v1::FieldRequestView view;
  *view.mutable_request() = *request;
  absl::StatusOr<v1::InboxEntry> held = store_.GetItem(request->origin(), request->item_id());
  if (!held.ok()) return view;  // withdrawn since: the request alone
  *view.mutable_item() = held->item();
  for (const std::string& path : policy::PresentLeafPaths(held->item())) {
    view.add_held_fields(path);
  }
  if (std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current()) {
    absl::StatusOr<policy::PartnerDecision> decision =
        policy->DecideFor(request->requester(), held->item());
    if (decision.ok()) {
      if (decision->released) {
        for (absl::string_view f : decision->released_fields) {
          view.add_partner_released_fields(std::string(f));
        }
      }
      for (absl::string_view f : decision->withheld_fields) {
        view.add_partner_withheld_fields(std::string(f));
      }
    }
  }
  return view;
}

absl::StatusOr<v1::FieldRequest> FieldRequestDesk::PendingReceived(
    const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(std::optional<v1::FieldRequest> request,
                      store_.GetFieldRequest(v1::FieldRequest::RECEIVED, request_id));
  if (!request.has_value()) {
    return absl::NotFoundError(absl::StrCat("no request ", request_id, " was received"));
  }
  if (request->state() != v1::FieldRequest::PENDING) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", request_id, " is already ",
                     v1::FieldRequest::State_Name(request->state())));
  }
  if (absl::Now() >= FromTimestamp(request->expires_at())) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", request_id, " has expired"));
  }
  return *std::move(request);
}

absl::Status FieldRequestDesk::Decide(v1::FieldRequest request, uint64_t read_revision,
                                      std::vector<v1::AuditRecord> audit) {
  store::FieldRequestWrite write;
  if (request.state() != v1::FieldRequest::PENDING) {
    v1::FieldRequestOutcome& outcome = write.outcome.emplace();
    outcome.set_request_id(request.request_id());
    outcome.set_state(request.state());
    outcome.set_reason(request.outcome_reason());
    *outcome.mutable_approvers() = request.approvers();
    if (request.has_release()) *outcome.mutable_release() = request.release();
    write.outcome_partner = request.requester();
  }
  write.request = std::move(request);
  write.read_revision = read_revision;
  write.audit = std::move(audit);
  return store_.WriteFieldRequest(std::move(write));
}

absl::StatusOr<v1::FieldRequest> FieldRequestDesk::Approve(
    const std::string& request_id, const security::PeerIdentity& officer) {
  std::lock_guard<std::mutex> lock(decide_mu_);
  HG_ASSIGN_OR_RETURN(v1::FieldRequest request, PendingReceived(request_id));
  const uint64_t read_revision = request.revision();
  if (std::find(request.approvers().begin(), request.approvers().end(), officer.spiffe_id) !=
      request.approvers().end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        officer.spiffe_id, " has already approved request ", request_id, "; ",
        request.approvals_needed(), " distinct officers must approve"));
  }
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  if (policy == nullptr) {
    return absl::FailedPreconditionError("this gateway has no sharing policy");
  }
  // The policy active now decides, not the one the request arrived under.
  HG_ASSIGN_OR_RETURN(policy::FieldRequestTerms terms,
                      policy->FieldRequestTermsFor(request.requester(),
                                                   Strings(request.fields())));
  request.set_approvals_needed(std::max(request.approvals_needed(), terms.approvals_needed));
  request.add_approvers(officer.spiffe_id);
  std::vector<v1::AuditRecord> audit;
  v1::AuditRecord& approved =
      audit.emplace_back(Record(v1::FIELD_REQUEST_APPROVED, officer.spiffe_id, request,
                                request.requester()));
  approved.set_policy_version(policy->version());
  approved.set_detail(absl::StrCat("approval ", request.approvers_size(), " of ",
                                   request.approvals_needed()));
  if (request.approvers_size() >= request.approvals_needed()) {
    HG_ASSIGN_OR_RETURN(v1::InboxEntry held,
                        store_.GetItem(request.origin(), request.item_id()));
    if (held.has_retraction()) {
      return absl::FailedPreconditionError(
          absl::StrCat("item ", request.item_id(), " was retracted; nothing to release"));
    }
    const absl::Time now = absl::Now();
    v1::Item release = policy::KeepOnlyFields(held.item(), Strings(request.fields()));
    release.mutable_classification()->set_no_reshare(!terms.may_reshare);
    if (!terms.may_reshare) release.mutable_classification()->clear_reshare_to();
    v1::ProvenanceHop* hop = release.add_provenance();
    hop->set_organisation(options_.organisation);
    hop->set_gateway(options_.gateway_spiffe_id);
    *hop->mutable_released_at() = ToTimestamp(now);
    hop->set_policy_version(policy->version());
    hop->set_released_to(request.requester());
    hop->set_released_on_request(request.request_id());
    *hop->mutable_release_approvers() = request.approvers();
    request.set_state(v1::FieldRequest::APPROVED);
    request.set_may_reshare(terms.may_reshare);
    *request.mutable_decided_at() = ToTimestamp(now);
    v1::AuditRecord& released =
        audit.emplace_back(Record(v1::FIELD_RELEASED_ON_REQUEST, options_.gateway_spiffe_id,
                                  request, request.requester()));
    released.clear_withheld_fields();
    for (const std::string& path : policy::PresentLeafPaths(release)) {
      released.add_released_fields(path);
    }
    released.mutable_item()->set_version(release.version());
    released.set_policy_version(policy->version());
    released.set_digest(store::ItemDigest(release));
    released.set_detail(absl::StrCat("approved by ", absl::StrJoin(request.approvers(), ", ")));
    released.set_reason(terms.may_reshare ? "released on request, outside the policy"
                                          : "released on request, outside the policy; no_reshare");
    *request.mutable_release() = std::move(release);
  }
  HG_RETURN_IF_ERROR(Decide(request, read_revision, std::move(audit)));
  log::Info("field_request_approved", {{"request_id", request_id},
                                       {"officer", officer.spiffe_id},
                                       {"state", v1::FieldRequest::State_Name(request.state())}});
  request.set_revision(read_revision + 1);
  return request;
}

absl::StatusOr<v1::FieldRequest> FieldRequestDesk::Refuse(
    const std::string& request_id, const std::string& reason,
    const security::PeerIdentity& officer) {
  if (reason.empty() || reason.size() > kMaxReasonLength || !NoControlCharacters(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason: required (the requester is told it), at most ", kMaxReasonLength,
        " characters without control characters"));
  }
  std::lock_guard<std::mutex> lock(decide_mu_);
  HG_ASSIGN_OR_RETURN(v1::FieldRequest request, PendingReceived(request_id));
  const uint64_t read_revision = request.revision();
  request.set_state(v1::FieldRequest::REFUSED);
  request.set_refused_by(officer.spiffe_id);
  request.set_outcome_reason(reason);
  *request.mutable_decided_at() = ToTimestamp(absl::Now());
  std::vector<v1::AuditRecord> audit;
  v1::AuditRecord& refused = audit.emplace_back(
      Record(v1::FIELD_REQUEST_REFUSED, officer.spiffe_id, request, request.requester()));
  refused.set_reason(reason);
  HG_RETURN_IF_ERROR(Decide(request, read_revision, std::move(audit)));
  request.set_revision(read_revision + 1);
  return request;
}

absl::Status FieldRequestDesk::ExpireDue() {
  std::lock_guard<std::mutex> lock(decide_mu_);
  HG_ASSIGN_OR_RETURN(std::vector<v1::FieldRequest> all,
                      store_.ListFieldRequests(v1::FieldRequest::RECEIVED));
  const absl::Time now = absl::Now();
  for (v1::FieldRequest& request : all) {
    if (request.state() != v1::FieldRequest::PENDING ||
        now < FromTimestamp(request.expires_at())) {
      continue;
    }
    const uint64_t read_revision = request.revision();
    request.set_state(v1::FieldRequest::EXPIRED);
    request.set_outcome_reason(absl::StrCat(
        "not decided by ", options_.organisation, "'s officers before it expired (",
        request.approvers_size(), " of ", request.approvals_needed(), " approvals)"));
    *request.mutable_decided_at() = ToTimestamp(now);
    std::vector<v1::AuditRecord> audit;
    v1::AuditRecord& expired = audit.emplace_back(
        Record(v1::FIELD_REQUEST_EXPIRED, "", request, request.requester()));
    expired.set_reason(request.outcome_reason());
    HG_RETURN_IF_ERROR(Decide(std::move(request), read_revision, std::move(audit)));
  }
  return absl::OkStatus();
}

}  // namespace havengate::server
