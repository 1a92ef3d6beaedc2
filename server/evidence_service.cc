#include "server/evidence_service.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evidence/checkpoint_file.h"
#include "evidence/evidence_proto.h"
#include "evidence/verify.h"
#include "policy/matching.h"
#include "proto/status_macros.h"
#include "server/audit/audit_record.h"

namespace havengate::server {
namespace {

constexpr uint32_t kDefaultExtractRecords = 10'000;
constexpr uint32_t kMaxExtractRecords = 100'000;
constexpr size_t kMaxProblems = 100;
constexpr uint32_t kDefaultFoundItems = 50;
constexpr uint32_t kMaxFoundItems = 500;
constexpr uint32_t kDefaultRecentHits = 50;
constexpr uint32_t kMaxRecentHits = 500;
constexpr int kHitsPage = 1000;

absl::Status RequirePartner(const std::string& partner) {
  if (partner.empty()) return absl::InvalidArgumentError("partner: required");
  return absl::OkStatus();
}

// "since=... until=..." for the EVIDENCE_QUERIED record.
std::string DescribePeriod(const v1::EvidencePeriod& period) {
  std::string out;
  if (period.has_since()) absl::StrAppend(&out, " since=", period.since().seconds());
  if (period.has_until()) absl::StrAppend(&out, " until=", period.until().seconds());
  return out;
}

}  // namespace

EvidenceService::EvidenceService(EvidenceServiceOptions options,
                                 const security::Authenticator& authenticator,
                                 limits::CallerLimits& limits, const PolicyHolder& policies,
                                 ProposalStore& proposals, store::Store& store)
    : options_(std::move(options)),
      policies_(policies),
      proposals_(proposals),
      store_(store),
      officers_("Evidence", authenticator, limits, store) {}

absl::Status EvidenceService::Record(const security::PeerIdentity& officer,
                                     const std::string& question) {
  v1::AuditRecord record = audit::MakeAuditRecord(v1::EVIDENCE_QUERIED, officer.spiffe_id);
  record.set_detail(question);
  return store_.AppendAudit({std::move(record)});
}

absl::StatusOr<std::unique_ptr<evidence::AuditStore>> EvidenceService::Open(
    const security::PeerIdentity& officer, const std::string& question) {
  HG_RETURN_IF_ERROR(Record(officer, question));
  return evidence::AuditStore::Open(options_.store_path);
}

grpc::Status EvidenceService::Shared(grpc::ServerContext* context,
                                     const v1::SharedRequest* request,
                                     v1::EvidenceRecords* response) {
  return officers_.Serve(*context, "Shared", [&](const security::PeerIdentity& who) {
    HG_RETURN_IF_ERROR(RequirePartner(request->partner()));
    evidence::SharedQuery query;
    query.partner = request->partner();
    query.container = request->container();
    query.vessel = request->vessel();
    query.item_id = request->item_id();
    if (!request->person_pseudonym().empty()) {
      // Never echo what was given: it may be a clear name typed by mistake.
      if (!policy::IsPseudonymCode(request->person_pseudonym())) {
        return absl::InvalidArgumentError(
            "person_pseudonym: expected `ps:` and 32 lower-case hex characters, the code as "
            "the partner received it");
      }
      query.person_pseudonym = request->person_pseudonym();
      query.person_test = PersonTest(query.person_pseudonym);
    }
    HG_ASSIGN_OR_RETURN(query.range, evidence::RangeFromProto(request->period()));
    std::string question = absl::StrCat("Shared partner=", query.partner);
    if (!query.person_pseudonym.empty()) {
      absl::StrAppend(&question, " person_pseudonym=", query.person_pseudonym);
    }
    if (!query.container.empty()) absl::StrAppend(&question, " container=", query.container);
    if (!query.vessel.empty()) absl::StrAppend(&question, " vessel=", query.vessel);
    if (!query.item_id.empty()) absl::StrAppend(&question, " item=", query.item_id);
    absl::StrAppend(&question, DescribePeriod(request->period()));
    HG_ASSIGN_OR_RETURN(auto audit, Open(who, question));
    HG_ASSIGN_OR_RETURN(std::vector<v1::AuditRecord> records,
                        evidence::FindShared(*audit, query));
    response->mutable_records()->Add(records.begin(), records.end());
    return absl::OkStatus();
  });
}

evidence::PersonPseudonymTest EvidenceService::PersonTest(const std::string& code) const {
  auto compiled =
      std::make_shared<std::map<std::string, std::shared_ptr<const policy::CompiledPolicy>>>();
  return [this, code, compiled](const std::string& version,
                                const v1::Item& item) -> absl::StatusOr<bool> {
    auto it = compiled->find(version);
    if (it == compiled->end()) {
      HG_ASSIGN_OR_RETURN(std::shared_ptr<const policy::CompiledPolicy> policy,
                          CompileVersion(version));
      it = compiled->emplace(version, std::move(policy)).first;
    }
    return it->second->HasPersonPseudonymisedTo(item, code);
  };
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> EvidenceService::CompileVersion(
    const std::string& version) const {
  std::shared_ptr<const policy::CompiledPolicy> active = policies_.current();
  if (active != nullptr && active->version() == version) return active;
  absl::StatusOr<v1::PolicyProposal> entry = proposals_.FindVersion(version, true);
  if (!entry.ok()) {
    // Fail closed: without that version's keys the answer could miss shares.
    return absl::FailedPreconditionError(absl::StrCat(
        "policy version ", version,
        " decided shares but is not in the policy history; its pseudonyms cannot be "
        "recomputed"));
  }
  const std::string base_dir = std::filesystem::path(policies_.path()).parent_path().string();
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> compiled =
      policy::LoadPolicyText(entry->policy_text(), absl::StrCat("policy version ", version),
                             base_dir, nullptr);
  if (!compiled.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "policy version ", version, " from the history no longer compiles (",
        compiled.status().message(), "); its pseudonyms cannot be recomputed"));
  }
  return *std::move(compiled);
}

grpc::Status EvidenceService::Received(grpc::ServerContext* context,
                                       const v1::ReceivedRequest* request,
                                       v1::EvidenceRecords* response) {
  return officers_.Serve(*context, "Received", [&](const security::PeerIdentity& who) {
    HG_RETURN_IF_ERROR(RequirePartner(request->partner()));
    HG_ASSIGN_OR_RETURN(evidence::TimeRange range,
                        evidence::RangeFromProto(request->period()));
    HG_ASSIGN_OR_RETURN(auto audit, Open(who, absl::StrCat("Received partner=", request->partner(),
                                                           DescribePeriod(request->period()))));
    HG_ASSIGN_OR_RETURN(std::vector<v1::AuditRecord> records,
                        evidence::FindReceived(*audit, request->partner(), range));
    response->mutable_records()->Add(records.begin(), records.end());
    return absl::OkStatus();
  });
}

grpc::Status EvidenceService::FieldReleases(grpc::ServerContext* context,
                                            const v1::FieldReleasesRequest* request,
                                            v1::FieldReleasesResponse* response) {
  return officers_.Serve(*context, "FieldReleases", [&](const security::PeerIdentity& who) {
    if (request->field().empty()) return absl::InvalidArgumentError("field: required");
    evidence::FieldQuery query;
    query.field = request->field();
    query.partner = request->partner();
    HG_ASSIGN_OR_RETURN(query.range, evidence::RangeFromProto(request->period()));
    HG_ASSIGN_OR_RETURN(
        auto audit, Open(who, absl::StrCat("FieldReleases field=", query.field,
                                           query.partner.empty() ? "" : " partner=",
                                           query.partner, DescribePeriod(request->period()))));
    HG_ASSIGN_OR_RETURN(std::vector<evidence::FieldRelease> releases,
                        evidence::FindFieldReleases(*audit, query));
    for (const evidence::FieldRelease& release : releases) {
      v1::FieldRelease* out = response->add_releases();
      *out = evidence::FieldReleaseToProto(release);
      // The policy history names the proposer and approver even when the
      // lifecycle records predate this log (e.g. a restored store).
      absl::StatusOr<v1::PolicyProposal> entry =
          proposals_.FindVersion(release.policy_version, false);
      if (entry.ok()) {
        out->set_proposed_by(entry->proposed_by());
        out->set_approved_by(entry->approved_by());
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status EvidenceService::ChainStatus(grpc::ServerContext* context,
                                          const v1::ChainStatusRequest*,
                                          v1::ChainStatusResponse* response) {
  return officers_.Serve(*context, "ChainStatus", [&](const security::PeerIdentity& who) {
    HG_RETURN_IF_ERROR(Record(who, "ChainStatus"));
    return DoChainStatus(response);
  });
}

absl::Status EvidenceService::DoChainStatus(v1::ChainStatusResponse* response) const {
  evidence::VerifyOptions options;
  options.store_path = options_.store_path;
  options.checkpoint_file = options_.checkpoint_file;
  options.max_problems = kMaxProblems;
  HG_ASSIGN_OR_RETURN(evidence::CheckpointVerifier verifier,
                      evidence::CheckpointVerifier::FromCertificateFiles(
                          {options_.gateway_certificate}));
  options.signatures = verifier;
  HG_ASSIGN_OR_RETURN(evidence::VerifyResult result, evidence::VerifyAuditStore(options));
  const evidence::AuditChainReport& report = result.report;
  response->set_ok(report.ok());
  response->set_records(report.records);
  response->set_last_sequence(report.last_sequence);
  response->set_checkpoints(report.checkpoints);
  response->set_signatures_verified(result.signatures_verified);
  response->set_unsealed_tail(result.unsealed_tail);
  for (const evidence::AuditProblem& p : report.problems) {
    response->add_problems(absl::StrCat(evidence::AuditProblemKindName(p.kind), " at ",
                                        p.first_sequence, "..", p.last_sequence, ": ",
                                        p.detail));
  }
  for (const std::string& note : result.notes) response->add_notes(note);
  HG_ASSIGN_OR_RETURN(auto audit, evidence::AuditStore::Open(options_.store_path));
  HG_RETURN_IF_ERROR(audit->ForEachRecord([&](const v1::AuditRecord& r) {
    if (r.sequence() == report.last_sequence) {
      *response->mutable_last_recorded_at() = r.recorded_at();
    }
    if (r.type() == v1::CHECKPOINT && r.sequence() == report.last_checkpoint_sequence) {
      v1::AuditCheckpoint checkpoint = evidence::CheckpointOf(r);
      response->set_last_checkpoint_signature_valid(
          verifier
              .Verify(checkpoint.sequence(), checkpoint.previous_hash(),
                      checkpoint.signature(), checkpoint.key_id())
              .ok());
      *response->mutable_last_checkpoint() = std::move(checkpoint);
    }
    return true;
  }));
  return absl::OkStatus();
}

grpc::Status EvidenceService::Extract(grpc::ServerContext* context,
                                      const v1::ExtractRequest* request,
                                      v1::ExtractResponse* response) {
  return officers_.Serve(*context, "Extract", [&](const security::PeerIdentity& who) {
    if (request->max_records() > kMaxExtractRecords) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_records: at most ", kMaxExtractRecords));
    }
    HG_RETURN_IF_ERROR(evidence::RangeFromProto(request->period()).status());
    HG_ASSIGN_OR_RETURN(auto audit,
                        Open(who, absl::StrCat("Extract", DescribePeriod(request->period()))));
    return DoExtract(*audit, *request, response);
  });
}

grpc::Status EvidenceService::Activity(grpc::ServerContext* context,
                                       const v1::ActivityRequest* request,
                                       v1::ActivityResponse* response) {
  return officers_.Serve(*context, "Activity", [&](const security::PeerIdentity& who) {
    HG_ASSIGN_OR_RETURN(evidence::TimeRange range,
                        evidence::RangeFromProto(request->period()));
    HG_ASSIGN_OR_RETURN(auto audit,
                        Open(who, absl::StrCat("Activity", DescribePeriod(request->period()))));
    uint64_t rejected = 0;
    HG_ASSIGN_OR_RETURN(auto activity, evidence::FindActivity(*audit, range, &rejected));
    for (auto& [partner, a] : activity) *response->add_partners() = std::move(a);
    response->set_calls_rejected(rejected);
    return absl::OkStatus();
  });
}

grpc::Status EvidenceService::FindItems(grpc::ServerContext* context,
                                        const v1::FindItemsRequest* request,
                                        v1::FindItemsResponse* response) {
  return officers_.Serve(*context, "FindItems", [&](const security::PeerIdentity& who) {
    if (request->max_items() > kMaxFoundItems) {
      return absl::InvalidArgumentError(absl::StrCat("max_items: at most ", kMaxFoundItems));
    }
    evidence::ItemQuery query;
    query.container = request->container();
    query.vessel = request->vessel();
    query.alert_category = request->category();
    query.limit = request->max_items() == 0 ? kDefaultFoundItems : request->max_items();
    HG_ASSIGN_OR_RETURN(query.range, evidence::RangeFromProto(request->period()));
    std::string question = "FindItems";
    if (!query.container.empty()) absl::StrAppend(&question, " container=", query.container);
    if (!query.vessel.empty()) absl::StrAppend(&question, " vessel=", query.vessel);
    if (query.alert_category != 0) {
      absl::StrAppend(&question, " category=", v1::Alert::Category_Name(request->category()));
    }
    absl::StrAppend(&question, DescribePeriod(request->period()));
    HG_ASSIGN_OR_RETURN(auto audit, Open(who, question));
    bool truncated = false;
    HG_ASSIGN_OR_RETURN(std::vector<v1::Item> items,
                        evidence::FindStoredItems(*audit, query, &truncated));
    response->mutable_items()->Add(items.begin(), items.end());
    response->set_truncated(truncated);
    return absl::OkStatus();
  });
}

grpc::Status EvidenceService::RecentHits(grpc::ServerContext* context,
                                         const v1::RecentHitsRequest* request,
                                         v1::RecentHitsResponse* response) {
  return officers_.Serve(*context, "RecentHits", [&](const security::PeerIdentity& who) {
    if (request->max_hits() > kMaxRecentHits) {
      return absl::InvalidArgumentError(absl::StrCat("max_hits: at most ", kMaxRecentHits));
    }
    const size_t limit = request->max_hits() == 0 ? kDefaultRecentHits : request->max_hits();
    HG_RETURN_IF_ERROR(Record(who, absl::StrCat("RecentHits max=", limit)));
    // Hits are read oldest first by cursor; keep the newest `limit`. A
    // linear pass, as the console asks rarely.
    std::deque<v1::Hit> newest;
    uint64_t after = 0;
    while (true) {
      HG_ASSIGN_OR_RETURN(std::vector<v1::Hit> page, store_.ReadHits(after, kHitsPage));
      for (v1::Hit& hit : page) {
        after = hit.cursor();
        newest.push_back(std::move(hit));
        if (newest.size() > limit) newest.pop_front();
      }
      if (page.size() < static_cast<size_t>(kHitsPage)) break;
    }
    for (auto it = newest.rbegin(); it != newest.rend(); ++it) {
      *response->add_hits() = std::move(*it);
    }
    return absl::OkStatus();
  });
}

absl::Status EvidenceService::DoExtract(evidence::AuditStore& audit,
                                        const v1::ExtractRequest& request,
                                        v1::ExtractResponse* response) const {
  HG_ASSIGN_OR_RETURN(evidence::TimeRange range, evidence::RangeFromProto(request.period()));
  const uint32_t limit =
      request.max_records() == 0 ? kDefaultExtractRecords : request.max_records();
  uint64_t last = 0;
  v1::AuditCheckpoint sealing;
  HG_RETURN_IF_ERROR(audit.ForEachRecord([&](const v1::AuditRecord& r) {
    if (r.type() == v1::CHECKPOINT &&
        (sealing.sequence() == 0 || sealing.sequence() < last || last == 0)) {
      // The first checkpoint after the extract's last record seals it;
      // until one exists, the newest so far.
      sealing = evidence::CheckpointOf(r);
    }
    if (!range.Contains(r.recorded_at())) return true;
    if (static_cast<uint32_t>(response->records_size()) >= limit) {
      response->set_truncated(true);
      return true;
    }
    *response->add_records() = r;
    last = r.sequence();
    return true;
  }));
  *response->mutable_checkpoint() = std::move(sealing);
  std::ifstream in(options_.gateway_certificate, std::ios::binary);
  std::stringstream pem;
  pem << in.rdbuf();
  response->set_gateway_certificate_pem(pem.str());
  return absl::OkStatus();
}

}  // namespace havengate::server
