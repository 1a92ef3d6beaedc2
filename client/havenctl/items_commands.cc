// `havenctl items ...`: push items into the gateway, list and follow the
// inbox, retract items.
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "google/protobuf/util/time_util.h"
#include "proto/json.h"
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
  int accepted = 0;
  int refused = 0;
  // A call or stream failed as a whole.
  bool failed = false;
};

void ReportResult(const std::string& where, const v1::PushResult& result,
                  PushSummary& summary) {
  if (result.code() == 0) {
    ++summary.accepted;
    std::cout << where << ": accepted " << result.receipt().item_id() << " v"
              << result.receipt().version() << " (cursor "
              << result.receipt().cursor()
              << (result.receipt().duplicate() ? ", already held" : "") << ")\n";
  } else {
    ++summary.refused;
    std::cerr << where << ": refused: "
              << absl::StatusCodeToString(static_cast<absl::StatusCode>(result.code()))
              << ": " << result.message() << "\n";
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
  }
  while (std::getline(in, line)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++summary.refused;
    std::cerr << name << ":" << line_number
              << ": not pushed: the stream ended before it\n";
  }
  return status;
}

int RunPush(const ConnectionFlags& connection,
            const std::vector<std::string>& files, bool jsonl_stdin) {
  auto client = connection.Connect();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  PushSummary summary;
  for (const std::string& file : files) {
    bool is_stdin = file == "-";
    std::ifstream file_in;
    if (!is_stdin) {
      file_in.open(file);
      if (!file_in) {
        std::cerr << file << ": cannot read file\n";
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
  std::cout << summary.accepted << " accepted, " << summary.refused << " refused\n";
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
  auto client = connection.Connect();
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

int RunWatch(const ConnectionFlags& connection, const FilterFlags& filters,
             uint64_t after, int count, bool json) {
  auto filter = filters.Build();
  if (!filter.ok()) {
    std::cerr << "havenctl: " << filter.status().message() << "\n";
    return 2;
  }
  auto client = connection.Connect();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  v1::SubscribeRequest request;
  *request.mutable_filter() = *filter;
  request.set_after_cursor(after);
  int seen = 0;
  if (!json) PrintTableHeader();
  absl::Status status = (*client)->Subscribe(request, [&](const v1::InboxEvent& e) {
    if (json) {
      std::cout << ToJson(e, {.pretty = false}) << std::endl;
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
               const std::string& reason) {
  auto client = connection.Connect();
  if (!client.ok()) {
    std::cerr << "havenctl: " << client.status().message() << "\n";
    return 1;
  }
  auto retraction = (*client)->Retract(item_id, reason);
  if (!retraction.ok()) {
    std::cerr << "havenctl: " << retraction.status().message() << "\n";
    return 1;
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

  {
    auto* cmd = items->add_subcommand(
        "push",
        "push items: FILE.json holds one item (proto3 JSON), FILE.jsonl one "
        "item per line (streamed); - reads standard input");
    auto connection = std::make_shared<ConnectionFlags>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto jsonl = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    cmd->add_option("files", *files, "item files, or - for standard input")
        ->required();
    cmd->add_flag("--jsonl", *jsonl, "standard input holds one item per line");
    cmd->callback([&run, connection, files, jsonl] {
      run = [connection, files, jsonl] { return RunPush(*connection, *files, *jsonl); };
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
    cmd->add_flag("--json", *json, "one JSON inbox entry per line");
    cmd->callback([&run, connection, filters, limit, all, json] {
      run = [=] { return RunList(*connection, *filters, *limit, *all, *json); };
    });
  }
  {
    auto* cmd = items->add_subcommand(
        "watch", "follow the inbox: print events as they arrive");
    auto connection = std::make_shared<ConnectionFlags>();
    auto filters = std::make_shared<FilterFlags>();
    auto after = std::make_shared<uint64_t>(0);
    auto count = std::make_shared<int>(0);
    auto json = std::make_shared<bool>(false);
    connection->AddTo(*cmd);
    filters->AddTo(*cmd);
    cmd->add_option("--after", *after,
                    "start after this cursor (0: from the beginning)");
    cmd->add_option("--count", *count, "stop after this many events");
    cmd->add_flag("--json", *json, "one JSON event per line");
    cmd->callback([&run, connection, filters, after, count, json] {
      run = [=] { return RunWatch(*connection, *filters, *after, *count, *json); };
    });
  }
  {
    auto* cmd = items->add_subcommand(
        "retract", "withdraw one of your organisation's items everywhere");
    auto connection = std::make_shared<ConnectionFlags>();
    auto item_id = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    connection->AddTo(*cmd);
    cmd->add_option("item_id", *item_id, "the item to withdraw")->required();
    cmd->add_option("--reason", *reason, "why, in words")->required();
    cmd->callback([&run, connection, item_id, reason] {
      run = [=] { return RunRetract(*connection, *item_id, *reason); };
    });
  }
}

}  // namespace havengate::havenctl
