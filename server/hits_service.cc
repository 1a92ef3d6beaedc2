#include "server/hits_service.h"

#include "absl/strings/str_cat.h"
#include "policy/policy.h"
#include "server/cooperation/cooperation_service.h"
#include "server/inbox_service.h"
#include "server/security/grpc_status.h"

namespace havengate::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kDefaultTimeoutMs = 5000;
constexpr int kMaxTimeoutMs = 60000;

}  // namespace

HitsService::HitsService(const security::Authenticator& authenticator,
                         limits::CallerLimits& limits, store::Store& store)
    : authenticator_(authenticator), limits_(limits), store_(store) {}

grpc::Status HitsService::List(grpc::ServerContext* context,
                               const v1::ListHitsRequest* request,
                               v1::ListHitsResponse* response) {
  absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
      AdmitOwnClient(authenticator_, limits_, *context, "Hits");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  int page_size = request->page_size();
  if (page_size < 0 || page_size > kMaxPageSize) {
    return security::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("page_size: must be between 0 and ", kMaxPageSize)));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  absl::StatusOr<std::vector<v1::Hit>> hits =
      store_.ReadHits(request->after_cursor(), page_size);
  if (!hits.ok()) return security::ToGrpcStatus(hits.status());
  for (v1::Hit& hit : *hits) *response->add_hits() = std::move(hit);
  if (static_cast<int>(hits->size()) == page_size) {
    response->set_next_after_cursor(response->hits().rbegin()->cursor());
  }
  return grpc::Status::OK;
}

HitQuestionsService::HitQuestionsService(const security::Authenticator& authenticator,
                                         limits::CallerLimits& limits,
                                         const PolicyHolder& policies, HitAsker& asker)
    : authenticator_(authenticator), limits_(limits), policies_(policies), asker_(asker) {}

grpc::Status HitQuestionsService::Ask(grpc::ServerContext* context,
                                      const v1::AskHitsRequest* request,
                                      v1::AskHitsResponse* response) {
  absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
      AdmitOwnClient(authenticator_, limits_, *context, "HitQuestions");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  absl::StatusOr<security::PeerIdentity> caller = authenticator_.Identify(*context);
  if (!caller.ok()) return security::ToGrpcStatus(caller.status());
  if (!v1::MatchKeyType_IsValid(request->key_type()) ||
      request->key_type() == v1::MATCH_KEY_TYPE_UNSPECIFIED) {
    return security::ToGrpcStatus(
        absl::InvalidArgumentError("key_type: not a match key type"));
  }
  if (request->timeout_ms() < 0 || request->timeout_ms() > kMaxTimeoutMs) {
    return security::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("timeout_ms: 0 to ", kMaxTimeoutMs)));
  }
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  if (policy == nullptr) {
    return security::ToGrpcStatus(absl::FailedPreconditionError(
        "this gateway has no sharing policy, so it asks no questions"));
  }
  absl::StatusOr<v1::MatchKey> key = policy->MatchKeyFor(
      static_cast<v1::MatchKeyType>(request->key_type()), request->value());
  if (!key.ok()) return security::ToGrpcStatus(key.status());
  {
    // Refused here, clearly, rather than by every partner as UNANSWERED.
    v1::HitQuestion probe;
    probe.set_question_id("q-check");
    *probe.mutable_key() = *key;
    probe.set_case_reference(request->case_reference());
    if (absl::Status valid = ValidateHitQuestion(probe); !valid.ok()) {
      return security::ToGrpcStatus(valid);
    }
  }
  HitQuestionRequest question;
  question.key = *std::move(key);
  question.partners.assign(request->partners().begin(), request->partners().end());
  question.case_reference = request->case_reference();
  question.timeout = absl::Milliseconds(
      request->timeout_ms() == 0 ? kDefaultTimeoutMs : request->timeout_ms());
  question.actor = caller->spiffe_id;
  absl::StatusOr<v1::AskHitsResponse> answers = asker_.Ask(question);
  if (!answers.ok()) return security::ToGrpcStatus(answers.status());
  *response = *std::move(answers);
  return grpc::Status::OK;
}

}  // namespace havengate::server
