#include "server/cooperation/cooperation_service.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/matching.h"
#include "policy/policy.h"
#include "server/audit/audit_record.h"
#include "server/federation/federation_service.h"
#include "server/logging/log.h"
#include "server/security/grpc_status.h"

namespace havengate::server {
namespace {

constexpr size_t kMaxKeyLength = 128;
constexpr size_t kMaxQuestionIdLength = 64;
constexpr size_t kMaxCaseReferenceLength = 128;

v1::AuditRecord QuestionRecord(v1::AuditEventType type,
                               const security::PeerIdentity& peer,
                               const v1::HitQuestion& question) {
  v1::AuditRecord record = audit::MakeAuditRecord(type, peer.spiffe_id);
  record.set_partner(peer.organisation_id);
  record.set_question_id(question.question_id());
  record.set_match_key_type(v1::MatchKeyType_Name(question.key().type()));
  record.set_match_key(question.key().key());
  record.set_detail(question.case_reference());
  return record;
}

}  // namespace

bool PrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

absl::Status ValidateHitQuestion(const v1::HitQuestion& question) {
  const v1::MatchKey& key = question.key();
  if (!v1::MatchKeyType_IsValid(key.type()) ||
      key.type() == v1::MATCH_KEY_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("key.type: not a match key type");
  }
  if (key.key().empty() || key.key().size() > kMaxKeyLength ||
      !PrintableAscii(key.key())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key.key: 1 to ", kMaxKeyLength, " printable ASCII characters"));
  }
  if (policy::IsPersonalMatchKeyType(key.type()) &&
      !policy::IsPseudonymCode(key.key())) {
    // Never repeat the value: it may be a name in clear.
    return absl::InvalidArgumentError(absl::StrCat(
        "key.key: ", v1::MatchKeyType_Name(key.type()),
        " questions carry a pseudonym code (`ps:` + 32 hex), never a value "
        "in clear"));
  }
  if (question.question_id().empty() ||
      question.question_id().size() > kMaxQuestionIdLength ||
      !PrintableAscii(question.question_id())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "question_id: 1 to ", kMaxQuestionIdLength, " printable ASCII characters"));
  }
  if (question.case_reference().size() > kMaxCaseReferenceLength ||
      !PrintableAscii(question.case_reference())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "case_reference: at most ", kMaxCaseReferenceLength,
        " printable ASCII characters"));
  }
  return absl::OkStatus();
}

CooperationService::CooperationService(CooperationServiceOptions options,
                                       const security::Authenticator& authenticator,
                                       const PolicyHolder& policies,
                                       store::Store& store)
    : options_(std::move(options)),
      authenticator_(authenticator),
      policies_(policies),
      store_(store) {}

void CooperationService::SetPeers(std::set<std::string> peers) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.peers = std::move(peers);
}

bool CooperationService::IsPeer(const std::string& organisation) {
  std::lock_guard<std::mutex> lock(mu_);
  return options_.peers.count(organisation) > 0;
}

grpc::Status CooperationService::AskHit(grpc::ServerContext* context,
                                        const v1::HitQuestion* request,
                                        v1::HitAnswer* response) {
  absl::StatusOr<security::PeerIdentity> peer = AuthoriseConfiguredPeer(
      authenticator_, [this](const std::string& org) { return IsPeer(org); }, store_,
      *context, "Cooperation.AskHit");
  if (!peer.ok()) return security::ToGrpcStatus(peer.status());
  std::optional<limits::CallerLimits::CallSlot> slots[2];
  limits::CallerLimits* const limits[2] = {options_.caller_limits,
                                           options_.question_limits};
  for (int i = 0; i < 2; ++i) {
    if (limits[i] == nullptr) continue;
    absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
        limits[i]->StartCall(peer->spiffe_id);
    if (!admitted.ok()) {
      if (limits[i]->NoteRefusal(peer->spiffe_id) > 0) {
        log::Warn("hit_question_limited", {{"partner", peer->organisation_id},
                                           {"reason", admitted.status().message()}});
      }
      return security::ToGrpcStatus(admitted.status());
    }
    slots[i].emplace(std::move(*admitted));
  }
  if (absl::Status valid = ValidateHitQuestion(*request); !valid.ok()) {
    v1::AuditRecord record = audit::MakeAuditRecord(v1::CALL_REJECTED, peer->spiffe_id);
    record.set_partner(peer->organisation_id);
    record.set_reason(absl::StrCat("Cooperation.AskHit: ", valid.message()));
    (void)store_.AppendAudit({std::move(record)});
    return security::ToGrpcStatus(valid);
  }
  v1::HitQuestion question = *request;
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  const v1::MatchKeyType type = question.key().type();
  if (policy == nullptr || !policy->AnswersHitQuestion(peer->organisation_id, type)) {
    absl::Status refused = absl::PermissionDeniedError(absl::StrCat(
        options_.organisation, " does not answer ",
        absl::AsciiStrToLower(v1::MatchKeyType_Name(type)), " questions from ",
        peer->organisation_id));
    v1::AuditRecord record =
        QuestionRecord(v1::HIT_QUESTION_REFUSED, *peer, question);
    record.set_reason(std::string(refused.message()));
    if (absl::Status audited = store_.AppendAudit({std::move(record)}); !audited.ok()) {
      return security::ToGrpcStatus(audited);
    }
    log::Info("hit_question_refused", {{"partner", peer->organisation_id},
                                       {"question_id", question.question_id()}});
    return security::ToGrpcStatus(refused);
  }
  // The asker's spelling does not matter: normalised as indexed here.
  absl::StatusOr<v1::MatchKey> key = policy->MatchKeyFor(type, question.key().key());
  if (!key.ok()) return security::ToGrpcStatus(key.status());
  *question.mutable_key() = *key;
  absl::StatusOr<std::vector<v1::HitItemRef>> held =
      store_.FindMatchKey(*key, kMaxHitReferences * 2);
  if (!held.ok()) return security::ToGrpcStatus(held.status());
  response->set_organisation(options_.organisation);
  for (const v1::HitItemRef& ref : *held) {
    // The asker's own items tell it nothing.
    if (ref.origin() == peer->organisation_id) continue;
    if (response->references_size() == kMaxHitReferences) break;
    v1::HitItemReference* out = response->add_references();
    out->set_origin(ref.origin());
    out->set_item_id(ref.item_id());
  }
  response->set_hit(response->references_size() > 0);
  if (response->hit()) response->set_contact(policy->source().matching().contact());

  v1::AuditRecord record = QuestionRecord(v1::HIT_QUESTION_ANSWERED, *peer, question);
  record.set_hit(response->hit());
  record.set_policy_version(policy->version());
  record.set_reason(response->hit()
                        ? absl::StrCat("hit: ", response->references_size(),
                                       " item reference(s) and the contact point")
                        : "no hit");
  // Audited before the answer leaves.
  if (absl::Status audited = store_.AppendAudit({std::move(record)}); !audited.ok()) {
    response->Clear();
    return security::ToGrpcStatus(audited);
  }
  return grpc::Status::OK;
}

}  // namespace havengate::server
