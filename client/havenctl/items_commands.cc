// `havenctl items ...`: push items into the gateway, list and follow the
// inbox, retract items.
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "client/havenctl/json_output.h"
#include "google/protobuf/util/time_util.h"
#include "proto/json.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"

namespace havengate::havenctl {
namespace {

struct FilterFlags {
  std::vector<std::string> origins;
  std::string kind;
  std::vector<std::string> categories;
  std::string item_id;
  bool include_retracted = false;

  void AddTo(CLI::App& cmd) {
    cmd.add_option("--origin", origins, "only items from this organisation (repeatable)");
    cmd.add_option("--kind", kind, "only alert or report")
        ->check(CLI::IsMember({"alert", "report"}));
    cmd.add_option("--category", categories,
                   "only alerts of this category, e.g. PIN_CODE_FRAUD (repeatable)");
    cmd.add_option("--item", item_id, "only this item id");
    cmd.add_flag("--retracted", include_retracted, "include retracted items");
  }

  absl::StatusOr<v1::ItemFilter> Build() const {
    v1::ItemFilter filter;
    for (const auto& o : origins) filter.add_origins(o);
    if (kind == "alert") filter.set_kind(v1::ALERT);
    if (kind == "report") filter.set_kind(v1::REPORT);
    for (const auto& c : categories) {
      v1::Alert::Category category;
      if (!v1::Alert::Category_Parse(absl::AsciiStrToUpper(c), &category)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--category: unknown category ", c));
      }
      filter.add_categories(category);
    }
    filter.set_item_id(item_id);
    filter.set_include_retracted(include_retracted);
    return filter;
  }
};

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", FromTimestamp(ts),
                          absl::UTCTimeZone());
}

std::string Describe(const v1::Item& item) {
  switch (item.body_case()) {
    case v1::Item::kAlert:
      return absl::StrCat("alert  ",
                          v1::Alert::Category_Name(item.alert().category()));
    case v1::Item::kReport:
      return "report";
    default:
      return "-";
  }
}

std::string Title(const v1::Item& item) {
  if (item.has_alert()) return item.alert().title();
  if (item.has_report()) return item.report().title();
  return "";
}

void PrintTableHeader() {
  std::cout << absl::StrFormat("%-7s %-19s %-12s %-12s %-28s %-3s %-12s %-29s %s\n",
                               "CURSOR", "RECEIVED (UTC)", "FROM", "ORIGIN",
                               "ITEM", "V", "TLP", "KIND", "TITLE");
}

void PrintRow(const v1::InboxEntry& e) {
  std::string title = Title(e.item());
  if (e.has_retraction()) title = absl::StrCat("[RETRACTED] ", title);
  std::cout << absl::StrFormat(
      "%-7d %-19s %-12s %-12s %-28s %-3d %-12s %-29s %s\n", e.cursor(),
      FormatTime(e.received_at()), e.received_from(), e.item().origin(),
      e.item().item_id(), e.item().version(),
      v1::Classification::Tlp_Name(e.item().classification().tlp()),
      Describe(e.item()), title);
}

// --- push -----------------------------------------------------------------

struct PushSummary {
  // Print one JSON object per item on stdout (--json).
  bool json = false;
  int accepted = 0;
  int refused = 0;
  // A call or stream failed as a whole.
  bool failed = false;
};

// With --json: an item that was not accepted, as a JSON line on stdout; the
// diagnostic on stderr is printed by the caller as without --json.
void PrintRefusalJson(const PushSummary& summary, const std::string& where,
                      absl::StatusCode code, absl::string_view message) {
  if (!summary.json) return;
  std::cout << JsonObject()
                   .String("source", where)
                   .Bool("accepted", false)
                   .String("code", absl::StatusCodeToString(code))
                   .String("message", message)
                   .str()
            << std::endl;
}

void ReportResult(const std::string& where, const v1::PushResult& result,
                  PushSummary& summary) {
  if (result.code() == 0 && summary.json) {
    ++summary.accepted;
    std::cout << JsonObject()
                     .String("source", where)
                     .Bool("accepted", true)
                     .Raw("receipt", ToJson(result.receipt(), {.pretty = false}))
                     .str()
              << std::endl;
  } else if (result.code() == 0) {
    ++summary.accepted;
    std::cout << where << ": accepted " << result.receipt().item_id() << " v"
              << result.receipt().version() << " (cursor "
              << result.receipt().cursor()
              << (result.receipt().duplicate() ? ", already held" : "") << ")\n";
  } else {
    ++summary.refused;
    const auto code = static_cast<absl::StatusCode>(result.code());
    std::cerr << where << ": refused: " << absl::StatusCodeToString(code) << ": "
              << result.message() << "\n";
    PrintRefusalJson(summary, where, code, result.message());
  }
}

// Streams the lines of a JSON-lines input, one item per line; lines that
// do not parse are reported with their line number and not sent.
absl::Status PushLines(client::Client& client, std::istream& in,
                       const std::string& name, PushSummary& summary) {
  // `next` runs on the client library's writer thread while `on_result`
  // runs on this one: what both touch is guarded by mu.
  std::mutex mu;
  std::vector<int> line_of_index;  // stream index -> line number; guarded by mu
  int line_number = 0;             // read and written by `next` only
  std::string line;
  auto next = [&]() -> std::optional<v1::Item> {
    while (std::getline(in, line)) {
      ++line_number;
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      auto item = ParseJsonAs<v1::Item>(line);
      std::lock_guard<std::mutex> lock(mu);
      if (!item.ok()) {
        ++summary.refused;
        std::cerr << name << ":" << line_number << ": refused: "
                  << item.status().message() << "\n";
        PrintRefusalJson(summary, absl::StrCat(name, ":", line_number),
                         item.status().code(), item.status().message());
        continue;
      }
      line_of_index.push_back(line_number);
      return std::move(*item);
    }
    return std::nullopt;
  };
  size_t answered = 0;
  auto on_result = [&](const v1::PushResult& result) {
    std::lock_guard<std::mutex> lock(mu);
    size_t index = static_cast<size_t>(result.index());
    int at = index < line_of_index.size() ? line_of_index[index] : 0;
    ReportResult(absl::StrCat(name, ":", at), result, summary);
    ++answered;
  };
  absl::Status status = client.PushStream(next, on_result);
  // The writer thread has ended: no lock needed from here on.
  if (status.ok()) return status;
  // Every line still counts: those sent and not answered, and those never
  // sent, are named one by one.
  for (size_t i = answered; i < line_of_index.size(); ++i) {
    ++summary.refused;
    std::cerr << name << ":" << line_of_index[i]
              << ": not acknowledged: " << status.message() << "\n";
    PrintRefusalJson(summary, absl::StrCat(name, ":", line_of_index[i]),
                     status.code(),
                     absl::StrCat("not acknowledged: ", status.message()));
  }
  while (std::getline(in, line)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++summary.refused;
    std::cerr << name << ":" << line_number
              << ": not pushed: the stream ended before it\n";
    PrintRefusalJson(summary, absl::StrCat(name, ":", line_number),
                     absl::StatusCode::kAborted,
                     "not pushed: the stream ended before it");
  }
  return status;
}

int RunPush(const ConnectionFlags& connection,
            const std::vector<std::string>& files, bool jsonl_stdin, bool json) {
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  PushSummary summary;
  summary.json = json;
  for (const std::string& file : files) {
    bool is_stdin = file == "-";
    std::ifstream file_in;
    if (!is_stdin) {
      file_in.open(file);
      if (!file_in) {
        std::cerr << file << ": cannot read file\n";
        PrintRefusalJson(summary, file, absl::StatusCode::kNotFound,
                         "cannot read file");
        ++summary.refused;
        continue;
      }
    }
    std::istream& in = is_stdin ? std::cin : file_in;
    std::string name = is_stdin ? "<stdin>" : file;
    if ((is_stdin && jsonl_stdin) || absl::EndsWith(file, ".jsonl")) {
      absl::Status status = PushLines(**client, in, name, summary);
      if (!status.ok()) {
        std::cerr << name << ": stream failed: " << status.message() << "\n";
        summary.failed = true;
      }
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto item = ParseJsonAs<v1::Item>(text.str());
    if (!item.ok()) {
      ++summary.refused;
      std::cerr << name << ": refused: " << item.status().message() << "\n";
      PrintRefusalJson(summary, name, item.status().code(), item.status().message());
      continue;
    }
    auto receipt = (*client)->Push(*item);
    v1::PushResult result;
    if (receipt.ok()) {
      *result.mutable_receipt() = *receipt;
    } else {
      result.set_code(static_cast<int>(receipt.status().code()));
      result.set_message(std::string(receipt.status().message()));
    }
    ReportResult(name, result, summary);
  }
  // With --json stdout holds only the per-item objects.
  (json ? std::cerr : std::cout)
      << summary.accepted << " accepted, " << summary.refused << " refused\n";
  return summary.refused == 0 && !summary.failed ? 0 : 1;
}

// --- list / watch / retract -----------------------------------------------

int RunList(const ConnectionFlags& connection, const FilterFlags& filters,
            int limit, bool all, bool json) {
  auto filter = filters.Build();
  if (!filter.ok()) {
    std::cerr << "havenctl: " << filter.status().message() << "\n";
    return 2;
  }
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::ListRequest request;
  *request.mutable_filter() = *filter;
  request.set_page_size(std::min(limit, 1000));
  if (!json) PrintTableHeader();
  int shown = 0;
  for (;;) {
    auto page = (*client)->List(request);
    if (!page.ok()) {
      std::cerr << "havenctl: " << page.status().message() << "\n";
      return 1;
    }
    for (const auto& entry : page->entries()) {
      if (!all && shown >= limit) break;
      if (json) {
        std::cout << ToJson(entry, {.pretty = false}) << "\n";
      } else {
        PrintRow(entry);
      }
      ++shown;
    }
    if (page->next_page_token().empty() || (!all && shown >= limit)) break;
    request.set_page_token(page->next_page_token());
  }
  return 0;
}

// An inbox event in the record shape of `items list --json` (InboxEntry):
// a new version is its entry; a withdrawal has cursor and retraction only.
v1::InboxEntry AsEntry(const v1::InboxEvent& e) {
  if (e.has_entry()) return e.entry();
  v1::InboxEntry entry;
  entry.set_cursor(e.cursor());
  *entry.mutable_retraction() = e.retraction();
  return entry;
}

int RunWatch(const ConnectionFlags& connection, const FilterFlags& filters,
             std::optional<uint64_t> after, int count, bool json) {
  auto filter = filters.Build();
  if (!filter.ok()) {
    std::cerr << "havenctl: " << filter.status().message() << "\n";
    return 2;
  }
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::SubscribeRequest request;
  *request.mutable_filter() = *filter;
  // Without --after or --from-start: from the gateway's current end (the
  // gateway takes it when the call starts, so nothing held is replayed).
  if (after.has_value()) {
    request.set_after_cursor(*after);
  } else {
    request.set_from_now(true);
  }
  int seen = 0;
  if (!json) PrintTableHeader();
  absl::Status status = (*client)->Subscribe(request, [&](const v1::InboxEvent& e) {
    if (json) {
      std::cout << ToJson(AsEntry(e), {.pretty = false}) << std::endl;
    } else if (e.has_entry()) {
      PrintRow(e.entry());
      std::cout << std::flush;
    } else {
      std::cout << absl::StrFormat("%-7d retracted %s/%s: %s\n", e.cursor(),
                                   e.retraction().origin(),
                                   e.retraction().item_id(),
                                   e.retraction().reason())
                << std::flush;
    }
    ++seen;
    return count <= 0 || seen < count;
  });
  if (!status.ok()) {
    std::cerr << "havenctl: " << status.message() << "\n";
    return 1;
  }
  return 0;
}

int RunRetract(const ConnectionFlags& connection, const std::string& item_id,
               const std::string& reason, bool json) {
  auto client = connection.ConnectAsClient();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  auto retraction = (*client)->Retract(item_id, reason);
  if (!retraction.ok()) {
    std::cerr << "havenctl: " << retraction.status().message() << "\n";
    return 1;
  }
  if (json) {
    std::cout << ToJson(*retraction, {.pretty = false}) << "\n";
    return 0;
  }
  std::cout << "retracted " << retraction->item_id()
            << "; partners that received it are told\n";
  return 0;
}

}  // namespace

void RegisterItemsCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* items = app.add_subcommand(
      "items", "push items into the gateway and read its inbox");
  items->require_subcommand(1);
  RegisterItemsRequestCommand(*items, run);

  {
    auto* cmd = items->add_subcommand(
        "push",
        "push items: FILE.json holds one item (proto3 JSON), FILE.jsonl one "
        "item per line (streamed); - reads standard input");
    auto connection = std::make_shared<ConnectionFlags>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto jsonl = std::make_shared<bool>(false);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("files", *files, "item files, or - for standard input")
        ->required();
    cmd->add_flag("--jsonl", *jsonl, "standard input holds one item per line");
    cmd->add_flag("--json", *json,
                  "one JSON object per item on stdout: {source, accepted: true, "
                  "receipt: {item_id, version, cursor, duplicate, ...}} or "
                  "{source, accepted: false, code, message}; source is FILE or "
                  "FILE:LINE; the count goes to stderr");
    cmd->callback([&run, connection, files, jsonl, json] {
      run = [=] { return RunPush(*connection, *files, *jsonl, *json); };
    });
  }
  {
    auto* cmd = items->add_subcommand(
        "list", "list the current version of items in the inbox, newest first");
    auto connection = std::make_shared<ConnectionFlags>();
    auto filters = std::make_shared<FilterFlags>();
    auto limit = std::make_shared<int>(20);
    auto all = std::make_shared<bool>(false);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    filters->AddTo(*cmd);
    cmd->add_option("--limit", *limit, "show at most this many (default 20)")
        ->check(CLI::Range(1, 1000000));
    cmd->add_flag("--all", *all, "show every matching item");
    cmd->add_flag("--json", *json,
                  "one JSON inbox entry per line (proto3 JSON InboxEntry: "
                  "cursor, item, received_at, received_from, retraction); the "
                  "same records as items watch --json");
    cmd->callback([&run, connection, filters, limit, all, json] {
      run = [=] { return RunList(*connection, *filters, *limit, *all, *json); };
    });
  }
  {
    auto* cmd = items->add_subcommand(
        "watch",
        "follow the inbox: print events as they arrive; by default only new "
        "ones (from the current end of the inbox), with --from-start or "
        "--after CURSOR also those already held");
    auto connection = std::make_shared<ConnectionFlags>();
    auto filters = std::make_shared<FilterFlags>();
    auto after = std::make_shared<uint64_t>(0);
    auto from_start = std::make_shared<bool>(false);
    auto count = std::make_shared<int>(0);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    filters->AddTo(*cmd);
    CLI::Option* after_option = cmd->add_option(
        "--after", *after,
        "start after this cursor, e.g. the last one printed, to resume "
        "(0: from the beginning)");
    cmd->add_flag("--from-start", *from_start,
                  "replay every event the inbox holds first (same as --after 0)")
        ->excludes(after_option);
    cmd->add_option("--count", *count, "stop after this many events");
    cmd->add_flag("--json", *json,
                  "one JSON inbox entry per line, as items list --json; a "
                  "withdrawal is {cursor, retraction}");
    cmd->callback([&run, connection, filters, after, after_option, from_start,
                   count, json] {
      std::optional<uint64_t> start;  // none: the current end
      if (*from_start) start = 0;
      if (after_option->count() > 0) start = *after;
      run = [=] { return RunWatch(*connection, *filters, start, *count, *json); };
    });
  }
  {
    auto* cmd = items->add_subcommand(
        "retract", "withdraw one of your organisation's items everywhere");
    auto connection = std::make_shared<ConnectionFlags>();
    auto item_id = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("item_id", *item_id, "the item to withdraw")->required();
    cmd->add_option("--reason", *reason, "why, in words")->required();
    cmd->add_flag("--json", *json,
                  "the retraction as one JSON object (proto3 JSON Retraction: "
                  "origin, item_id, reason, ...)");
    cmd->callback([&run, connection, item_id, reason, json] {
      run = [=] { return RunRetract(*connection, *item_id, *reason, *json); };
    });
  }
}

}  // namespace havengate::havenctl
