// havenctl items request: ask the origin of a received item for fields its
// policy withheld; havenctl requests list|show|approve|refuse: the
// requests partners sent (officers), or the ones sent (`list --sent`).
// See requests.proto.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "evidence/audit_store.h"
#include "proto/json.h"
#include "proto/timestamp.h"

namespace havengate::havenctl {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "havenctl: " << status.message() << "\n";
  return 1;
}

std::string When(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromTimestamp(ts), absl::UTCTimeZone());
}

void PrintRequest(const v1::FieldRequest& r) {
  const bool sent = r.role() == v1::FieldRequest::SENT;
  std::cout << absl::StrFormat("%-28s %-9s %s %s/%s  fields: %s\n", r.request_id(),
                               v1::FieldRequest::State_Name(r.state()),
                               sent ? "asked" : "from", sent ? r.origin() : r.requester(),
                               r.item_id(), absl::StrJoin(r.fields(), ","));
  std::cout << "    reason: " << r.reason();
  if (!r.case_reference().empty()) std::cout << "  (case " << r.case_reference() << ")";
  std::cout << "\n    approvals: " << r.approvers_size() << " of " << r.approvals_needed();
  if (!r.approvers().empty()) std::cout << " (" << absl::StrJoin(r.approvers(), ", ") << ")";
  std::cout << "  expires: " << When(r.expires_at()) << "\n";
  if (!r.outcome_reason().empty()) std::cout << "    outcome: " << r.outcome_reason() << "\n";
  if (r.has_release()) {
    const v1::ProvenanceHop& hop = r.release().provenance(r.release().provenance_size() - 1);
    std::cout << "    released on request " << hop.released_on_request() << " by "
              << hop.organisation() << ", approved by "
              << absl::StrJoin(hop.release_approvers(), ", ")
              << (r.release().classification().no_reshare() ? "; no_reshare" : "") << "\n"
              << "    release: " << ToJson(r.release(), {.pretty = false}) << "\n";
  }
}

struct AskFlags {
  std::string item, origin, fields, reason, case_reference;
  bool json = false;
};

// The origin of `item_id` as held here, when not given: the one origin
// other than the caller's own that the inbox holds it from.
absl::StatusOr<std::string> OriginOf(client::Client& client, const std::string& item_id) {
  v1::ListRequest list;
  list.mutable_filter()->set_item_id(item_id);
  list.set_page_size(10);
  absl::StatusOr<v1::ListResponse> page = client.List(list);
  if (!page.ok()) return page.status();
  std::vector<std::string> origins;
  for (const v1::InboxEntry& e : page->entries()) {
    // An own item has no provenance: nothing is withheld from its owner.
    if (e.item().provenance().empty()) continue;
    origins.push_back(e.item().origin());
  }
  if (origins.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        origins.empty() ? "no received item " : "several items ", item_id,
        origins.empty() ? " is held here" : " are held here", "; name it as ORIGIN/ITEM or "
        "give --origin"));
  }
  return origins[0];
}

int RunAsk(const ConnectionFlags& connection, const AskFlags& flags) {
  auto client = connection.ConnectAsClient();
  if (!client.ok()) return Fail(client.status());
  v1::NewFieldRequest request;
  std::string item = flags.item;
  std::string origin = flags.origin;
  if (std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('/', 1));
      parts.size() == 2) {
    origin = parts[0];
    item = parts[1];
  }
  if (origin.empty()) {
    absl::StatusOr<std::string> found = OriginOf(**client, item);
    if (!found.ok()) return Fail(found.status());
    origin = *found;
  }
  request.set_origin(origin);
  request.set_item_id(item);
  for (absl::string_view f : absl::StrSplit(flags.fields, ',', absl::SkipWhitespace())) {
    request.add_fields(std::string(absl::StripAsciiWhitespace(f)));
  }
  request.set_reason(flags.reason);
  request.set_case_reference(flags.case_reference);
  auto response = (*client)->RequestFields(request);
  if (!response.ok()) return Fail(response.status());
  if (flags.json) {
    std::cout << ToJson(*response, {.pretty = false}) << "\n";
  } else {
    std::cout << "request " << response->request_id() << " sent to " << origin
              << ": pending, " << response->approvals_needed() << " of its officers decide"
              << " (expires " << When(response->expires_at()) << ")\n";
  }
  return 0;
}

int RunList(const ConnectionFlags& connection, bool sent, const std::string& item_id,
            bool json) {
  auto client = sent ? connection.ConnectAsClient() : connection.Connect();
  if (!client.ok()) return Fail(client.status());
  v1::ListFieldRequestsRequest request;
  request.set_sent(sent);
  request.set_item_id(item_id);
  auto response = (*client)->ListFieldRequests(request);
  if (!response.ok()) return Fail(response.status());
  for (const v1::FieldRequest& r : response->requests()) {
    if (json) {
      std::cout << ToJson(r, {.pretty = false}) << "\n";
    } else {
      PrintRequest(r);
    }
  }
  return 0;
}

int RunShow(const ConnectionFlags& connection, const std::string& id, bool json) {
  auto client = connection.Connect();
  if (!client.ok()) return Fail(client.status());
  auto view = (*client)->ShowFieldRequest(id);
  if (!view.ok()) return Fail(view.status());
  if (json) {
    std::cout << ToJson(*view, {.pretty = false}) << "\n";
    return 0;
  }
  PrintRequest(view->request());
  std::cout << "the item holds: " << absl::StrJoin(view->held_fields(), ", ") << "\n"
            << view->request().requester() << " already has (active policy): "
            << (view->partner_released_fields().empty()
                    ? std::string("nothing")
                    : absl::StrJoin(view->partner_released_fields(), ", "))
            << "\nwithheld from it: " << absl::StrJoin(view->partner_withheld_fields(), ", ")
            << "\nthe item as held here: " << ToJson(view->item(), {.pretty = false}) << "\n";
  return 0;
}

int RunDecide(const ConnectionFlags& connection, const std::string& id, bool approve,
              const std::string& reason, bool json) {
  auto client = connection.Connect();
  if (!client.ok()) return Fail(client.status());
  auto decided = approve ? (*client)->ApproveFieldRequest(id)
                         : (*client)->RefuseFieldRequest(id, reason);
  if (!decided.ok()) return Fail(decided.status());
  if (json) {
    std::cout << ToJson(*decided, {.pretty = false}) << "\n";
    return 0;
  }
  PrintRequest(*decided);
  return 0;
}

struct AuditFlags {
  std::string store, item_id, partner;
  bool json = false;
};

bool IsRequestEvent(v1::AuditEventType type) {
  return type >= v1::FIELD_REQUEST_SENT && type <= v1::FIELD_RELEASED_ON_REQUEST;
}

int RunAuditRequests(const AuditFlags& f) {
  absl::StatusOr<std::unique_ptr<evidence::AuditStore>> store =
      evidence::AuditStore::Open(f.store);
  if (!store.ok()) return Fail(store.status());
  std::vector<v1::AuditRecord> records;
  absl::Status read = (*store)->ForEachRecord([&](const v1::AuditRecord& r) {
    if (IsRequestEvent(r.type()) && (f.item_id.empty() || r.item().item_id() == f.item_id) &&
        (f.partner.empty() || r.partner() == f.partner)) {
      records.push_back(r);
    }
    return true;
  });
  if (!read.ok()) return Fail(read);
  if (f.json) {
    for (const v1::AuditRecord& r : records) std::cout << ToJson(r, {.pretty = false}) << "\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-20s %-6s %-26s %-28s %-28s %-12s %s\n", "TIME (UTC)", "SEQ",
                               "EVENT", "REQUEST", "ITEM", "PARTNER", "WHO / WHAT");
  int released = 0;
  for (const v1::AuditRecord& r : records) {
    std::string what = r.actor().empty() ? "the gateway" : r.actor();
    if (r.withheld_fields_size() > 0) {
      absl::StrAppend(&what, "; asked: ", absl::StrJoin(r.withheld_fields(), ","));
    }
    if (r.released_fields_size() > 0) {
      absl::StrAppend(&what, "; released: ", absl::StrJoin(r.released_fields(), ","));
    }
    if (!r.detail().empty()) absl::StrAppend(&what, "; ", r.detail());
    if (!r.reason().empty()) absl::StrAppend(&what, "; ", r.reason());
    if (r.type() == v1::FIELD_RELEASED_ON_REQUEST) ++released;
    std::cout << absl::StrFormat("%-20s %-6d %-26s %-28s %-28s %-12s %s\n",
                                 When(r.recorded_at()), r.sequence(),
                                 v1::AuditEventType_Name(r.type()), r.request_id(),
                                 absl::StrCat(r.item().origin(), "/", r.item().item_id()),
                                 r.partner(), what);
  }
  std::cout << "\n" << records.size() << " record(s) about requests for withheld fields; "
            << released << " release(s) outside the policy\n";
  return 0;
}

}  // namespace

void RegisterAuditRequestsCommand(CLI::App& audit, CommandRunner& run) {
  auto* cmd = audit.add_subcommand(
      "requests",
      "requests for withheld fields in the audit log (offline, on the store file): "
      "who asked what about which item, who approved or refused, and which fields "
      "were released outside the policy");
  auto f = std::make_shared<AuditFlags>();
  cmd->add_option("--store", f->store, "the gateway's store file (a copy will do)")
      ->required();
  cmd->add_option("--item", f->item_id, "only requests about this item id");
  cmd->add_option("--partner", f->partner, "only requests to or from this partner");
  cmd->add_flag("--json", f->json, "the audit records as JSON lines");
  cmd->callback([&run, f] { run = [f] { return RunAuditRequests(*f); }; });
}

void RegisterItemsRequestCommand(CLI::App& items, CommandRunner& run) {
  auto* cmd = items.add_subcommand(
      "request",
      "ask the origin of a received item for fields its policy withheld; "
      "its officers decide (the outcome: havenctl requests list --sent)");
  auto connection = std::make_shared<ConnectionFlags>();
  auto flags = std::make_shared<AskFlags>();
  connection->AddTo(*cmd);
  cmd->add_option("ITEM", flags->item, "the item id (or ORIGIN/ITEM)")->required();
  cmd->add_option("--origin", flags->origin, "the item's origin (default: as held)");
  cmd->add_option("--fields", flags->fields,
                  "body field paths, comma-separated, e.g. persons.name")
      ->required();
  cmd->add_option("--reason", flags->reason, "why the fields are needed (required)")
      ->required();
  cmd->add_option("--case", flags->case_reference, "your case reference");
  cmd->add_flag("--json", flags->json, "the stored request as proto3 JSON FieldRequest");
  cmd->callback([&run, connection, flags] {
    run = [=] { return RunAsk(*connection, *flags); };
  });
}

void RegisterRequestsCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* requests = app.add_subcommand(
      "requests", "requests for withheld fields: partners' (officers) and sent ones");
  requests->require_subcommand(1);
  {
    auto* cmd = requests->add_subcommand(
        "list", "the requests partners sent here (officers), or with --sent the ones "
                "this organisation sent, with their outcome and release");
    auto connection = std::make_shared<ConnectionFlags>();
    auto sent = std::make_shared<bool>(false);
    auto item = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_flag("--sent", *sent, "the requests this organisation sent");
    cmd->add_option("--item", *item, "only requests about this item id");
    cmd->add_flag("--json", *json, "one proto3 JSON FieldRequest per line");
    cmd->callback([&run, connection, sent, item, json] {
      run = [=] { return RunList(*connection, *sent, *item, *json); };
    });
  }
  {
    auto* cmd = requests->add_subcommand(
        "show", "one request a partner sent: what the item holds, what the partner has");
    auto connection = std::make_shared<ConnectionFlags>();
    auto id = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("ID", *id, "the request id")->required();
    cmd->add_flag("--json", *json, "proto3 JSON FieldRequestView");
    cmd->callback([&run, connection, id, json] {
      run = [=] { return RunShow(*connection, *id, *json); };
    });
  }
  for (const bool approve : {true, false}) {
    auto* cmd = requests->add_subcommand(
        approve ? "approve" : "refuse",
        approve ? "approve a partner's request (each officer once; the policy sets how "
                  "many distinct officers must approve before the fields are released)"
                : "refuse a partner's request, with a reason the partner is told");
    auto connection = std::make_shared<ConnectionFlags>();
    auto id = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("ID", *id, "the request id")->required();
    if (!approve) {
      cmd->add_option("--reason", *reason, "why (the requester is told)")->required();
    }
    cmd->add_flag("--json", *json, "the request as proto3 JSON FieldRequest");
    cmd->callback([&run, connection, id, approve, reason, json] {
      run = [=] { return RunDecide(*connection, *id, approve, *reason, *json); };
    });
  }
}

}  // namespace havengate::havenctl
