// havenctl hits list|watch: the hits the gateway recorded (hits.proto);
// havenctl hits ask: a hit/no-hit question to the partners
// (cooperation.proto).
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "policy/matching.h"
#include "proto/json.h"

namespace havengate::havenctl {
namespace {

std::string Ref(const v1::HitItemRef& ref) {
  return absl::StrFormat("%s/%s v%d (from %s)", ref.origin(), ref.item_id(),
                         ref.version(), ref.received_from());
}

void PrintHit(const v1::Hit& hit) {
  std::cout << absl::StrFormat("%-7d %-16s %-36s %s  <->  %s\n", hit.cursor(),
                               v1::MatchKeyType_Name(hit.key_type()), hit.key(),
                               Ref(hit.item()), Ref(hit.other()))
            << std::flush;
}

void PrintHeader() {
  std::cout << absl::StrFormat("%-7s %-16s %-36s %s\n", "CURSOR", "KEY TYPE",
                               "KEY", "ITEM  <->  ITEM HELD BEFORE");
}

void Output(const v1::Hit& hit, bool json) {
  if (json) {
    std::cout << ToJson(hit, {.pretty = false}) << std::endl;
  } else {
    PrintHit(hit);
  }
}

int RunHitsList(const ConnectionFlags& connection, uint64_t after, bool json) {
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::ListHitsRequest request;
  request.set_after_cursor(after);
  request.set_page_size(1000);
  if (!json) PrintHeader();
  for (;;) {
    auto page = (*client)->ListHits(request);
    if (!page.ok()) {
      std::cerr << "havenctl: " << page.status().message() << "\n";
      return 1;
    }
    for (const v1::Hit& hit : page->hits()) Output(hit, json);
    if (page->next_after_cursor() == 0) return 0;
    request.set_after_cursor(page->next_after_cursor());
  }
}

int RunHitsWatch(const ConnectionFlags& connection,
                 std::optional<uint64_t> after, int count, bool json) {
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::SubscribeRequest request;
  request.set_hits_only(true);
  if (after.has_value()) {
    request.set_after_cursor(*after);
  } else {
    request.set_from_now(true);
  }
  if (!json) PrintHeader();
  int seen = 0;
  absl::Status status = (*client)->Subscribe(request, [&](const v1::InboxEvent& e) {
    if (!e.has_hit()) return true;
    Output(e.hit(), json);
    ++seen;
    return count <= 0 || seen < count;
  });
  if (!status.ok()) {
    std::cerr << "havenctl: " << status.message() << "\n";
    return 1;
  }
  return 0;
}

struct AskFlags {
  std::string container, imo, mmsi, pseudonym, type = "person_name", match;
  std::vector<std::string> partners;
  std::string case_reference;
  int timeout_ms = 5000;
  bool json = false;
};

// The question's key type and value from the flags; exactly one is given.
absl::StatusOr<std::pair<v1::MatchKeyType, std::string>> AskedKey(const AskFlags& f) {
  std::vector<std::pair<v1::MatchKeyType, std::string>> given;
  if (!f.container.empty()) given.emplace_back(v1::CONTAINER_NUMBER, f.container);
  if (!f.imo.empty()) given.emplace_back(v1::VESSEL_IMO, f.imo);
  if (!f.mmsi.empty()) given.emplace_back(v1::VESSEL_MMSI, f.mmsi);
  if (!f.pseudonym.empty()) {
    absl::StatusOr<v1::MatchKeyType> type = policy::ParseMatchKeyType(f.type);
    if (!type.ok()) return absl::InvalidArgumentError(absl::StrCat("--type: ", type.status().message()));
    given.emplace_back(*type, f.pseudonym);
  }
  if (!f.match.empty()) {
    std::pair<std::string, std::string> parts = absl::StrSplit(f.match, absl::MaxSplits(':', 1));
    absl::StatusOr<v1::MatchKeyType> type = policy::ParseMatchKeyType(parts.first);
    if (!type.ok()) return absl::InvalidArgumentError(absl::StrCat("--match: ", type.status().message()));
    given.emplace_back(*type, parts.second);
  }
  if (given.size() != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --container, --imo, --mmsi, --pseudonym, --match");
  }
  return given[0];
}

int RunHitsAsk(const ConnectionFlags& connection, const AskFlags& flags) {
  absl::StatusOr<std::pair<v1::MatchKeyType, std::string>> key = AskedKey(flags);
  if (!key.ok()) {
    std::cerr << "havenctl: " << key.status().message() << "\n";
    return 2;
  }
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::AskHitsRequest request;
  request.set_key_type(key->first);
  request.set_value(key->second);
  for (const std::string& p : flags.partners) request.add_partners(p);
  request.set_case_reference(flags.case_reference);
  request.set_timeout_ms(flags.timeout_ms);
  auto response = (*client)->AskHits(request);
  if (!response.ok()) {
    std::cerr << "havenctl: " << response.status().message() << "\n";
    return 1;
  }
  if (flags.json) {
    std::cout << ToJson(*response, {.pretty = false}) << "\n";
    return 0;
  }
  std::cout << "question " << response->question_id() << "\n";
  for (const v1::PartnerAnswer& a : response->answers()) {
    std::cout << absl::StrFormat("  %-12s %s", a.partner(),
                                 v1::PartnerAnswer::Outcome_Name(a.outcome()));
    for (const auto& ref : a.references()) {
      std::cout << " " << ref.origin() << "/" << ref.item_id();
    }
    if (!a.contact().empty()) std::cout << "  contact: " << a.contact();
    if (!a.message().empty()) std::cout << "  (" << a.message() << ")";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void RegisterHitsCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* hits = app.add_subcommand(
      "hits", "items held here that share a container, vessel or pseudonym");
  hits->require_subcommand(1);
  {
    auto* cmd = hits->add_subcommand("list", "list the hits recorded, oldest first");
    auto connection = std::make_shared<ConnectionFlags>();
    auto after = std::make_shared<uint64_t>(0);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("--after", *after, "only hits after this cursor");
    cmd->add_flag("--json", *json,
                  "one JSON hit per line (proto3 JSON Hit: cursor, recorded_at, "
                  "key_type, key, item, other)");
    cmd->callback([&run, connection, after, json] {
      run = [=] { return RunHitsList(*connection, *after, *json); };
    });
  }
  {
    auto* cmd = hits->add_subcommand(
        "watch", "follow hits as they are recorded (by default only new ones)");
    auto connection = std::make_shared<ConnectionFlags>();
    auto after = std::make_shared<uint64_t>(0);
    auto count = std::make_shared<int>(0);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    CLI::Option* after_option = cmd->add_option(
        "--after", *after, "start after this cursor (0: every hit held)");
    cmd->add_option("--count", *count, "stop after this many hits");
    cmd->add_flag("--json", *json, "one JSON hit per line, as hits list --json");
    cmd->callback([&run, connection, after, after_option, count, json] {
      std::optional<uint64_t> start;
      if (after_option->count() > 0) start = *after;
      run = [=] { return RunHitsWatch(*connection, start, *count, *json); };
    });
  }
  {
    auto* cmd = hits->add_subcommand(
        "ask",
        "ask the partners whether they hold anything under a key: each "
        "answers HIT (item references and a contact point, never contents), "
        "NO_HIT, REFUSED (its policy does not answer this) or UNANSWERED");
    auto connection = std::make_shared<ConnectionFlags>();
    auto flags = std::make_shared<AskFlags>();
    connection->AddTo(*cmd);
    cmd->add_option("--container", flags->container, "a container number");
    cmd->add_option("--imo", flags->imo, "a vessel's IMO number");
    cmd->add_option("--mmsi", flags->mmsi, "a vessel's MMSI");
    cmd->add_option("--pseudonym", flags->pseudonym,
                    "a pseudonym code (ps:...) of the --type given");
    cmd->add_option("--type", flags->type,
                    "key type of --pseudonym: person_name (default), badge_id, "
                    "document_number, company_name");
    cmd->add_option("--match", flags->match, "any key as TYPE:VALUE, e.g. seal_number:SL-1");
    cmd->add_option("--partner", flags->partners,
                    "ask only this partner (repeatable; default: every peer)");
    cmd->add_option("--case", flags->case_reference, "your case reference (audited)");
    cmd->add_option("--timeout-ms", flags->timeout_ms, "per-partner deadline")
        ->check(CLI::Range(100, 60000));
    cmd->add_flag("--json", flags->json,
                  "the answers as one JSON object (proto3 JSON AskHitsResponse: "
                  "question_id, answers[{partner, outcome, references, contact, "
                  "message}])");
    cmd->callback([&run, connection, flags] {
      run = [=] { return RunHitsAsk(*connection, *flags); };
    });
  }
}

}  // namespace havengate::havenctl
