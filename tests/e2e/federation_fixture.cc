#include "tests/e2e/federation_fixture.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "evidence/audit_store.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/inbox.grpc.pb.h"
#include "proto/status_macros.h"

namespace havengate::testing {
namespace fs = std::filesystem;

std::string DemoDomain(const std::string& organisation) {
  static const auto* const kDomains = new std::map<std::string, std::string>{
      {"police-nl", "police.nl.example"},
      {"customs-nl", "customs.nl.example"},
      {"port-rtm", "portofrotterdam.example"},
      {"police-be", "police.be.example"},
      {"police-ec", "antinarcoticos.ec.example"},
  };
  auto it = kDomains->find(organisation);
  return it != kDomains->end() ? it->second : organisation + ".example";
}

Federation::~Federation() {
  clients_.clear();
  // Killed before the directory holding their stores goes.
  gateways_.clear();
}

absl::Status Federation::AddOrg(const std::string& id) {
  HG_ASSIGN_OR_RETURN(TestOrg org, CreateTestOrg(dir_.path(), id, DemoDomain(id)));
  orgs_[id] = std::make_unique<TestOrg>(std::move(org));
  ports_[id] = PickUnusedPort();
  return absl::OkStatus();
}

const TestOrg& Federation::org(const std::string& id) const {
  return *orgs_.at(id);
}

absl::StatusOr<std::string> Federation::InstallDeployPolicy(const std::string& id) {
  HG_ASSIGN_OR_RETURN(std::string path, testing::InstallDeployPolicy(org(id)));
  policies_[id] = path;
  return path;
}

absl::StatusOr<std::string> Federation::WritePolicy(const std::string& id,
                                                    const std::string& yaml) {
  std::string dir = org(id).dir + "/policy";
  fs::create_directories(dir);
  std::string path = dir + "/policy.yaml";
  // Atomically: a running gateway may read it at any moment.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << yaml;
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  fs::rename(tmp, path);
  HG_RETURN_IF_ERROR(policy::CreateMissingKeyFiles(path).status());
  policies_[id] = path;
  return path;
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> Federation::LoadPolicy(
    const std::string& id) const {
  auto it = policies_.find(id);
  if (it == policies_.end()) {
    return absl::NotFoundError(absl::StrCat("no policy installed for ", id));
  }
  return policy::LoadPolicyFile(it->second, nullptr);
}

absl::Status Federation::Start(const std::string& id,
                               const std::vector<std::string>& peers,
                               const std::string& extra_yaml) {
  GatewaySpec spec;
  spec.org = orgs_.at(id).get();
  spec.port = ports_.at(id);
  auto policy = policies_.find(id);
  if (policy != policies_.end()) spec.policy_file = policy->second;
  for (const std::string& peer : peers) {
    spec.peers.push_back({orgs_.at(peer).get(), ports_.at(peer)});
  }
  spec.extra_yaml = extra_yaml;
  HG_ASSIGN_OR_RETURN(gateways_[id], GatewayProcess::Start(spec));
  return absl::OkStatus();
}

client::Client& Federation::ClientOf(const std::string& id) {
  auto& client = clients_[id];
  if (client == nullptr) {
    auto connected = ConnectClient(org(id), ports_.at(id));
    if (!connected.ok()) {
      ADD_FAILURE() << connected.status();
      std::abort();
    }
    client = std::move(*connected);
  }
  return *client;
}

absl::StatusOr<v1::Receipt> Federation::Push(const std::string& id, v1::Item item) {
  item.clear_origin();
  item.clear_provenance();
  return ClientOf(id).Push(item);
}

absl::StatusOr<std::vector<v1::InboxEntry>> Federation::Inbox(
    const std::string& id, const v1::ItemFilter& filter) {
  std::vector<v1::InboxEntry> entries;
  v1::ListRequest request;
  *request.mutable_filter() = filter;
  request.set_page_size(1000);
  do {
    HG_ASSIGN_OR_RETURN(v1::ListResponse page, ClientOf(id).List(request));
    for (v1::InboxEntry& entry : *page.mutable_entries()) {
      entries.push_back(std::move(entry));
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return entries;
}

std::vector<v1::InboxEntry> Federation::Shown(const std::string& id,
                                              const std::string& item_id,
                                              bool include_retracted) {
  v1::ItemFilter filter;
  filter.set_item_id(item_id);
  filter.set_include_retracted(include_retracted);
  auto entries = Inbox(id, filter);
  if (!entries.ok()) {
    ADD_FAILURE() << id << ": " << entries.status();
    return {};
  }
  return *std::move(entries);
}

absl::StatusOr<v1::InboxEntry> Federation::AwaitItem(const std::string& id,
                                                     const std::string& item_id,
                                                     uint32_t version,
                                                     absl::Duration timeout) {
  v1::InboxEntry found;
  bool ok = WaitFor([&] {
    for (v1::InboxEntry& entry : Shown(id, item_id)) {
      if (entry.item().version() == version) {
        found = std::move(entry);
        return true;
      }
    }
    return false;
  }, timeout);
  if (!ok) {
    return absl::NotFoundError(absl::StrCat(id, " never showed ", item_id,
                                            " version ", version, "; logs:\n",
                                            Logs()));
  }
  return found;
}

bool Federation::AwaitGone(const std::string& id, const std::string& item_id,
                           absl::Duration timeout) {
  return WaitFor([&] { return Shown(id, item_id).empty(); }, timeout);
}

absl::StatusOr<std::vector<v1::InboxEvent>> Federation::Events(
    const std::string& id, uint64_t last_cursor) {
  auto stub = v1::Inbox::NewStub(ClientOf(id).channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::SubscribeRequest request;
  auto reader = stub->Subscribe(&context, request);
  std::vector<v1::InboxEvent> events;
  v1::InboxEvent event;
  while (reader->Read(&event)) {
    events.push_back(event);
    if (event.cursor() >= last_cursor) {
      context.TryCancel();
      while (reader->Read(&event)) {
      }
      reader->Finish();
      return events;
    }
  }
  grpc::Status status = reader->Finish();
  return absl::UnavailableError(absl::StrCat(
      "Subscribe at ", id, " ended before cursor ", last_cursor, ": ",
      status.error_message()));
}

absl::StatusOr<std::vector<v1::InboxEvent>> Federation::Replay(
    const std::string& id, absl::Duration quiet) {
  // The first events come at once; the stream then idles, and the
  // deadline ends it.
  auto stub = v1::Inbox::NewStub(ClientOf(id).channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + quiet));
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  std::vector<v1::InboxEvent> events;
  v1::InboxEvent event;
  while (reader->Read(&event)) events.push_back(event);
  grpc::Status status = reader->Finish();
  if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(absl::StrCat("Subscribe at ", id, " ended: ",
                                               status.error_message()));
  }
  return events;
}

std::vector<v1::AuditRecord> Federation::Audit(const std::string& id) {
  std::vector<v1::AuditRecord> records;
  auto store = evidence::AuditStore::Open(gateways_.at(id)->store_file());
  if (!store.ok()) {
    ADD_FAILURE() << id << ": " << store.status();
    return records;
  }
  // As events: a combined record (one for all partners' decisions on an
  // item, one for a batch's deliveries) reads as one record per partner or
  // item, as the oversight queries read it.
  absl::Status read = (*store)->ForEachEvent([&](const v1::AuditRecord& r) {
    records.push_back(r);
    return true;
  });
  if (!read.ok()) ADD_FAILURE() << id << ": " << read;
  return records;
}

std::vector<v1::AuditRecord> Federation::AuditWhere(
    const std::string& id,
    const std::function<bool(const v1::AuditRecord&)>& match) {
  std::vector<v1::AuditRecord> out;
  for (v1::AuditRecord& r : Audit(id)) {
    if (match(r)) out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<v1::AuditRecord> Federation::AwaitAudit(
    const std::string& id,
    const std::function<bool(const v1::AuditRecord&)>& match,
    absl::Duration timeout) {
  v1::AuditRecord found;
  bool ok = WaitFor([&] {
    std::vector<v1::AuditRecord> records = AuditWhere(id, match);
    if (records.empty()) return false;
    found = records.front();
    return true;
  }, timeout);
  if (!ok) {
    return absl::NotFoundError(absl::StrCat("no such audit record at ", id,
                                            "; logs:\n", Logs()));
  }
  return found;
}

absl::StatusOr<std::map<ItemKey, int>> Federation::StoredVersions(
    const std::string& id) {
  const std::string path = gateways_.at(id)->store_file();
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(db, sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path));
  }
  sqlite3_busy_timeout(db, 10'000);
  // Type 1: a current version; 3: a version stored after a higher one.
  // Retractions (type 2) are not versions.
  const char* sql =
      "SELECT origin, item_id, version, COUNT(*) FROM events "
      "WHERE type IN (1, 3) GROUP BY origin, item_id, version";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ", path, ": ", sqlite3_errmsg(db)));
  }
  std::map<ItemKey, int> versions;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto text = [&](int col) {
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, col)));
    };
    versions[ItemKey{text(0), text(1),
                     static_cast<uint32_t>(sqlite3_column_int64(stmt, 2))}] =
        static_cast<int>(sqlite3_column_int64(stmt, 3));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ", path, ": ", sqlite3_errmsg(db)));
  }
  return versions;
}

std::string Federation::Logs() {
  std::string out;
  for (const auto& [id, gateway] : gateways_) {
    absl::StrAppend(&out, "----- ", id, " -----\n", gateway->ReadLog());
  }
  return out;
}

policy::PartnerDecision ExpectedRelease(const policy::CompiledPolicy& policy,
                                        const v1::Item& item,
                                        const std::string& partner,
                                        bool received_from_partner) {
  policy::DecideOptions options;
  options.received_from_partner = received_from_partner;
  absl::StatusOr<policy::PartnerDecision> decision =
      policy.DecideFor(partner, item, options);
  if (!decision.ok()) {
    ADD_FAILURE() << partner << ": " << decision.status();
    return {};
  }
  return *std::move(decision);
}

std::string DiffItems(const v1::Item& expected, const v1::Item& held) {
  v1::Item without_hop = held;
  if (without_hop.provenance_size() > 0) {
    without_hop.mutable_provenance()->RemoveLast();
  }
  std::string report;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  if (differencer.Compare(expected, without_hop)) return "";
  return report;
}

v1::Item MakeAlertAt(const std::string& item_id, const std::string& unlocode,
                     v1::Alert::Category category) {
  v1::Item item = MakeAlert(item_id);
  item.mutable_alert()->mutable_location()->set_unlocode(unlocode);
  item.mutable_alert()->set_category(category);
  return item;
}

}  // namespace havengate::testing
