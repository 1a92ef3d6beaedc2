#include "server/policy_admin_service.h"

#include <functional>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "policy/diff.h"
#include "policy/preview.h"
#include "proto/item_validation.h"
#include "proto/status_macros.h"
#include "server/audit/audit_record.h"
#include "server/logging/log.h"
#include "server/security/grpc_status.h"

namespace havengate::server {
namespace {

constexpr size_t kMaxCommentBytes = 2000;
constexpr uint32_t kDefaultDiffItems = 10'000;
constexpr uint32_t kMaxDiffItems = 100'000;

absl::Status CheckComment(absl::string_view field, const std::string& comment,
                          bool required) {
  if (required && comment.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": required; say why the policy changes"));
  }
  if (comment.size() > kMaxCommentBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": at most ", kMaxCommentBytes, " bytes (", comment.size(), " given)"));
  }
  return absl::OkStatus();
}

void AddDiagnostic(const policy::Diagnostic& d, v1::ValidatePolicyResponse* out) {
  v1::PolicyDiagnostic* diagnostic = out->add_diagnostics();
  diagnostic->set_severity(d.severity == policy::Diagnostic::Severity::kError
                               ? v1::PolicyDiagnostic::ERROR
                               : v1::PolicyDiagnostic::WARNING);
  diagnostic->set_line(d.line);
  diagnostic->set_column(d.column);
  diagnostic->set_message(d.message);
  diagnostic->set_text(d.ToString());
}

std::string ItemName(const v1::Item& item) {
  return absl::StrCat(item.origin(), "/", item.item_id(), "@", item.version());
}

}  // namespace

PolicyAdminService::PolicyAdminService(std::string organisation,
                                       const security::Authenticator& authenticator,
                                       limits::CallerLimits& limits,
                                       PolicyHolder& policies,
                                       ProposalStore& proposals,
                                       PolicyLifecycle& lifecycle,
                                       store::Store& store)
    : organisation_(std::move(organisation)),
      policies_(policies),
      proposals_(proposals),
      lifecycle_(lifecycle),
      store_(store),
      officers_("PolicyAdmin", authenticator, limits, store) {}

absl::StatusOr<std::pair<std::string, std::string>>
PolicyAdminService::CandidateText(const v1::PolicyCandidate& candidate) const {
  switch (candidate.source_case()) {
    case v1::PolicyCandidate::kPolicyText:
      return std::make_pair(candidate.policy_text(), std::string("candidate"));
    case v1::PolicyCandidate::kProposalId: {
      HG_ASSIGN_OR_RETURN(v1::PolicyProposal proposal,
                          proposals_.Get(candidate.proposal_id(), true));
      return std::make_pair(proposal.policy_text(),
                            absl::StrCat("proposal ", proposal.id()));
    }
    case v1::PolicyCandidate::kVersion: {
      HG_ASSIGN_OR_RETURN(v1::PolicyProposal entry,
                          proposals_.FindVersion(candidate.version(), true));
      return std::make_pair(entry.policy_text(),
                            absl::StrCat("version ", entry.version()));
    }
    case v1::PolicyCandidate::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "candidate: give the policy text, a proposal id or a version label");
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
PolicyAdminService::Compile(const v1::PolicyCandidate& candidate,
                            v1::ValidatePolicyResponse* report) const {
  HG_ASSIGN_OR_RETURN(auto text, CandidateText(candidate));
  std::vector<policy::Diagnostic> diagnostics;
  auto compiled = policies_.CompileCandidate(text.first, text.second, &diagnostics);
  if (report != nullptr) {
    // Errors first, as `havenctl policy check` prints them.
    for (auto severity : {policy::Diagnostic::Severity::kError,
                          policy::Diagnostic::Severity::kWarning}) {
      for (const policy::Diagnostic& d : diagnostics) {
        if (d.severity == severity) AddDiagnostic(d, report);
      }
    }
    report->set_valid(compiled.ok());
    if (compiled.ok()) report->set_version((*compiled)->version());
  }
  return compiled;
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
PolicyAdminService::CompiledOrActive(const v1::PolicyCandidate* candidate,
                                     absl::string_view field) const {
  if (candidate == nullptr) {
    std::shared_ptr<const policy::CompiledPolicy> active = policies_.current();
    if (active == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this gateway has no active policy; give a ", field, " policy"));
    }
    return active;
  }
  auto compiled = Compile(*candidate, nullptr);
  if (!compiled.ok()) {
    return absl::Status(compiled.status().code(),
                        absl::StrCat(field, ": ", compiled.status().message()));
  }
  return compiled;
}

absl::Status PolicyAdminService::DoValidate(
    const v1::ValidatePolicyRequest& request, v1::ValidatePolicyResponse* response) {
  auto compiled = Compile(request.candidate(), response);
  // A candidate with errors is a valid answer (valid = false); only a
  // request that names no candidate, or an unknown proposal, fails.
  if (!compiled.ok() && response->diagnostics_size() == 0) {
    return compiled.status();
  }
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoPreview(
    const v1::PreviewPolicyRequest& request, v1::PreviewPolicyResponse* response) {
  HG_ASSIGN_OR_RETURN(
      std::shared_ptr<const policy::CompiledPolicy> policy,
      CompiledOrActive(request.has_candidate() ? &request.candidate() : nullptr,
                       "candidate"));
  v1::Item item = request.item();
  if (item.origin().empty()) item.set_origin(organisation_);
  absl::Status valid = request.received_from_partner() ? ValidateReceivedItem(item)
                                                        : ValidateItem(item);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("item: ", valid.message()));
  }
  policy::DecideOptions options;
  options.received_from_partner = request.received_from_partner();
  options.explain = request.explain();
  *response = policy::ToPreview(policy->Decide(item, options));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoDiff(
    const v1::DiffPolicyRequest& request, v1::DiffPolicyResponse* response) {
  HG_ASSIGN_OR_RETURN(
      std::shared_ptr<const policy::CompiledPolicy> base,
      CompiledOrActive(request.has_base() ? &request.base() : nullptr, "base"));
  auto candidate = Compile(request.candidate(), nullptr);
  if (!candidate.ok()) return candidate.status();
  if (request.max_items() > kMaxDiffItems) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_items: at most ", kMaxDiffItems));
  }
  const uint32_t max_items =
      request.max_items() == 0 ? kDefaultDiffItems : request.max_items();

  // The stored items of the period: this organisation's own, and those
  // partners sent (decided as received items, as re-sharing decides them).
  v1::ItemFilter filter;
  if (request.has_since()) *filter.mutable_received_after() = request.since();
  if (request.has_until()) *filter.mutable_received_before() = request.until();
  std::vector<policy::NamedItem> own, received;
  std::string token;
  uint32_t count = 0;
  do {
    absl::StatusOr<store::ListPage> page = store_.ListItems(filter, 1000, token);
    if (!page.ok()) return page.status();
    for (v1::InboxEntry& entry : page->entries) {
      if (count == max_items) {
        response->set_truncated(true);
        break;
      }
      ++count;
      std::string name = ItemName(entry.item());
      (entry.received_from() == organisation_ ? own : received)
          .push_back({std::move(name), std::move(*entry.mutable_item())});
    }
    token = page->next_page_token;
  } while (!token.empty() && !response->truncated());

  response->set_base_version(base->version());
  response->set_candidate_version((*candidate)->version());
  response->set_items_compared(count);
  policy::DecideOptions as_received;
  as_received.received_from_partner = true;
  policy::PolicyDiff all;
  for (const auto& [items, options] :
       {std::make_pair(&own, policy::DecideOptions{}),
        std::make_pair(&received, as_received)}) {
    policy::PolicyDiff diff =
        policy::DiffPolicies(*base, **candidate, *items, options);
    std::move(diff.changes.begin(), diff.changes.end(),
              std::back_inserter(all.changes));
  }
  for (const policy::PartnerSummary& s : policy::SummariseByPartner(all)) {
    v1::PartnerImpactSummary* summary = response->add_partners();
    summary->set_partner(s.partner);
    summary->set_items_gained(s.items_gained);
    summary->set_items_lost(s.items_lost);
    summary->set_items_changed(s.items_changed);
    for (const auto& [counts, out] :
         {std::make_pair(&s.gained, summary->mutable_gained()),
          std::make_pair(&s.lost, summary->mutable_lost()),
          std::make_pair(&s.changed, summary->mutable_changed())}) {
      for (const auto& [what, items] : *counts) {
        out->Add(absl::StrCat(what, " (", items, items == 1 ? " item)" : " items)"));
      }
    }
  }
  for (policy::PartnerChange& change : all.changes) {
    v1::PartnerImpact* impact = response->add_changes();
    impact->set_item(change.item);
    impact->set_partner(change.partner);
    impact->set_received_before(change.received_before);
    impact->set_received_after(change.received_after);
    for (std::string& path : change.gained) impact->add_gained(std::move(path));
    for (std::string& path : change.lost) impact->add_lost(std::move(path));
    for (std::string& form : change.changed) impact->add_changed(std::move(form));
  }
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoPropose(const security::PeerIdentity& who,
    const v1::ProposePolicyRequest& request, v1::PolicyProposal* response) {
  HG_RETURN_IF_ERROR(CheckComment("comment", request.comment(), true));
  v1::PolicyCandidate candidate;
  candidate.set_policy_text(request.policy_text());
  v1::ValidatePolicyResponse report;
  auto compiled = Compile(candidate, &report);
  if (!compiled.ok()) {
    std::string errors;
    for (const v1::PolicyDiagnostic& d : report.diagnostics()) {
      if (d.severity() == v1::PolicyDiagnostic::ERROR) {
        absl::StrAppend(&errors, "\n", d.text());
      }
    }
    return lifecycle_.Refuse(who, "proposal", report.version(),
                             absl::InvalidArgumentError(absl::StrCat(
                                 "the candidate has errors and cannot be proposed:",
                                 errors.empty() ? std::string(compiled.status().message())
                                                : errors)));
  }
  HG_ASSIGN_OR_RETURN(*response, lifecycle_.Propose(who, (*compiled)->version(),
                                                    request.policy_text(), request.comment()));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoApprove(const security::PeerIdentity& who,
    const v1::ApprovePolicyRequest& request, v1::PolicyProposal* response) {
  HG_RETURN_IF_ERROR(CheckComment("comment", request.comment(), false));
  HG_ASSIGN_OR_RETURN(*response,
                      lifecycle_.Approve(who, request.proposal_id(), request.comment()));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoActivate(const security::PeerIdentity& who,
    const v1::ActivatePolicyRequest& request, v1::PolicyProposal* response) {
  HG_ASSIGN_OR_RETURN(*response, lifecycle_.Activate(who, request.proposal_id()));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoRollback(const security::PeerIdentity& who,
    const v1::RollbackPolicyRequest& request, v1::PolicyProposal* response) {
  HG_RETURN_IF_ERROR(CheckComment("comment", request.comment(), true));
  HG_ASSIGN_OR_RETURN(*response,
                      lifecycle_.Rollback(who, request.version(), request.comment()));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::DoHistory(
    const v1::PolicyHistoryRequest& request, v1::PolicyHistoryResponse* response) {
  auto list = proposals_.List(request.include_text());
  if (!list.ok()) return list.status();
  for (v1::PolicyProposal& p : *list) *response->add_proposals() = std::move(p);
  return absl::OkStatus();
}

grpc::Status PolicyAdminService::Validate(grpc::ServerContext* context,
    const v1::ValidatePolicyRequest* request, v1::ValidatePolicyResponse* response) {
  return officers_.Serve(*context, "Validate",
               [&](const security::PeerIdentity&) { return DoValidate(*request, response); });
}

grpc::Status PolicyAdminService::Preview(grpc::ServerContext* context,
    const v1::PreviewPolicyRequest* request, v1::PreviewPolicyResponse* response) {
  return officers_.Serve(*context, "Preview",
               [&](const security::PeerIdentity&) { return DoPreview(*request, response); });
}

grpc::Status PolicyAdminService::Diff(grpc::ServerContext* context,
    const v1::DiffPolicyRequest* request, v1::DiffPolicyResponse* response) {
  return officers_.Serve(*context, "Diff",
               [&](const security::PeerIdentity&) { return DoDiff(*request, response); });
}

grpc::Status PolicyAdminService::Propose(grpc::ServerContext* context,
    const v1::ProposePolicyRequest* request, v1::PolicyProposal* response) {
  return officers_.Serve(*context, "Propose",
               [&](const security::PeerIdentity& who) { return DoPropose(who, *request, response); });
}

grpc::Status PolicyAdminService::Approve(grpc::ServerContext* context,
    const v1::ApprovePolicyRequest* request, v1::PolicyProposal* response) {
  return officers_.Serve(*context, "Approve",
               [&](const security::PeerIdentity& who) { return DoApprove(who, *request, response); });
}

grpc::Status PolicyAdminService::Activate(grpc::ServerContext* context,
    const v1::ActivatePolicyRequest* request, v1::PolicyProposal* response) {
  return officers_.Serve(*context, "Activate",
               [&](const security::PeerIdentity& who) { return DoActivate(who, *request, response); });
}

grpc::Status PolicyAdminService::Rollback(grpc::ServerContext* context,
    const v1::RollbackPolicyRequest* request, v1::PolicyProposal* response) {
  return officers_.Serve(*context, "Rollback",
               [&](const security::PeerIdentity& who) { return DoRollback(who, *request, response); });
}

grpc::Status PolicyAdminService::History(grpc::ServerContext* context,
    const v1::PolicyHistoryRequest* request, v1::PolicyHistoryResponse* response) {
  return officers_.Serve(*context, "History",
               [&](const security::PeerIdentity&) { return DoHistory(*request, response); });
}

}  // namespace havengate::server
