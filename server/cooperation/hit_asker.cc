#include "server/cooperation/hit_asker.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "openssl/rand.h"
#include "server/audit/audit_record.h"

namespace havengate::server {
namespace {

v1::PartnerAnswer AskOne(const std::string& partner,
                         const std::shared_ptr<grpc::Channel>& channel,
                         const v1::HitQuestion& question, absl::Duration timeout) {
  v1::PartnerAnswer answer;
  answer.set_partner(partner);
  auto stub = v1::Cooperation::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::HitAnswer reply;
  grpc::Status status = stub->AskHit(&context, question, &reply);
  if (status.ok()) {
    answer.set_outcome(reply.hit() ? v1::PartnerAnswer::HIT : v1::PartnerAnswer::NO_HIT);
    if (reply.hit()) {
      *answer.mutable_references() = reply.references();
      answer.set_contact(reply.contact());
    }
  } else if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    answer.set_outcome(v1::PartnerAnswer::REFUSED);
    answer.set_message(status.error_message());
  } else {
    answer.set_outcome(v1::PartnerAnswer::UNANSWERED);
    answer.set_message(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                           ? "no answer within the deadline"
                           : status.error_message());
  }
  return answer;
}

std::string OutcomeText(const v1::PartnerAnswer& answer) {
  switch (answer.outcome()) {
    case v1::PartnerAnswer::HIT:
      return absl::StrCat("hit: ", answer.references_size(), " item reference(s)");
    case v1::PartnerAnswer::NO_HIT:
      return "no hit";
    case v1::PartnerAnswer::REFUSED:
      return absl::StrCat("refused: ", answer.message());
    default:
      return absl::StrCat("unanswered: ", answer.message());
  }
}

}  // namespace

std::string NewRandomId(absl::string_view prefix) {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return absl::StrCat(prefix, absl::ToUnixNanos(absl::Now()));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  return id;
}

HitAsker::HitAsker(store::Store& store) : store_(store) {}

void HitAsker::AddPeer(const std::string& partner, const std::string& address,
                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 20);
  auto channel = grpc::CreateCustomChannel(address, std::move(credentials), args);
  std::lock_guard<std::mutex> lock(mu_);
  channels_[partner] = std::move(channel);
}

void HitAsker::RemovePeer(const std::string& partner) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(partner);
}

absl::StatusOr<v1::AskHitsResponse> HitAsker::Ask(const HitQuestionRequest& request) {
  std::vector<std::pair<std::string, std::shared_ptr<grpc::Channel>>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (request.partners.empty()) {
      for (const auto& [partner, channel] : channels_) targets.emplace_back(partner, channel);
    }
    std::vector<std::string> unknown;
    for (const std::string& partner : request.partners) {
      auto it = channels_.find(partner);
      if (it == channels_.end()) {
        unknown.push_back(partner);
      } else {
        targets.emplace_back(partner, it->second);
      }
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "partners: not a peer of this gateway: ", absl::StrJoin(unknown, ", ")));
    }
  }
  v1::HitQuestion question;
  question.set_question_id(NewRandomId("q-"));
  *question.mutable_key() = request.key;
  question.set_case_reference(request.case_reference);

  std::vector<std::future<v1::PartnerAnswer>> pending;
  pending.reserve(targets.size());
  for (const auto& [partner, channel] : targets) {
    pending.push_back(std::async(std::launch::async, AskOne, partner, channel,
                                 question, request.timeout));
  }
  v1::AskHitsResponse response;
  response.set_question_id(question.question_id());
  std::vector<v1::AuditRecord> audit;
  for (auto& answer : pending) {
    v1::PartnerAnswer& a = *response.add_answers() = answer.get();
    v1::AuditRecord& record =
        audit.emplace_back(audit::MakeAuditRecord(v1::HIT_QUESTION_ASKED, request.actor));
    record.set_partner(a.partner());
    record.set_question_id(question.question_id());
    record.set_match_key_type(v1::MatchKeyType_Name(request.key.type()));
    record.set_match_key(request.key.key());
    record.set_detail(request.case_reference);
    record.set_hit(a.outcome() == v1::PartnerAnswer::HIT);
    record.set_reason(OutcomeText(a));
  }
  if (!audit.empty()) {
    absl::Status audited = store_.AppendAudit(std::move(audit));
    if (!audited.ok()) return audited;
  }
  return response;
}

}  // namespace havengate::server
