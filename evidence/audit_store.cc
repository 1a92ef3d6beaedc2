#include "evidence/audit_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "havengate/v1/item.pb.h"
#include "proto/status_macros.h"
#include "sqlite/statement.h"

namespace havengate::evidence {
namespace {

// A file: URI for `path` (so that mode=ro / immutable=1 can be given).
std::string FileUri(const std::string& path, bool immutable) {
  std::string absolute = std::filesystem::absolute(path).string();
  std::string uri = "file:";
  for (char c : absolute) {
    if (c == '%' || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&uri, "%", absl::Hex(static_cast<unsigned char>(c),
                                           absl::kZeroPad2));
    } else {
      uri.push_back(c);
    }
  }
  absl::StrAppend(&uri, "?mode=ro", immutable ? "&immutable=1" : "");
  return uri;
}

absl::Status OpenError(sqlite3* db, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("cannot open ", path, ": ",
                   db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

// Opens read-only and checks the audit table can be read.
absl::StatusOr<sqlite3*> OpenReadOnly(const std::string& path, bool immutable) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(FileUri(path, immutable).c_str(), &raw,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  sqlite::Db db(raw);
  if (rc != SQLITE_OK) return OpenError(db.get(), path);
  sqlite3_busy_timeout(db.get(), 5000);
  absl::StatusOr<sqlite::Statement> count =
      sqlite::Statement::Prepare(db.get(), "SELECT count(*) FROM audit");
  absl::StatusOr<bool> row = count.ok() ? count->Step() : count.status();
  if (!row.ok() || !*row) {
    std::string message = sqlite3_errmsg(db.get());
    if (message.find("no such table") != std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": not a havengate store (it has no audit table)"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot read ", path, ": ", message));
  }
  return db.release();
}

std::string NormaliseContainer(absl::string_view number) {
  std::string out;
  for (char c : number) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) {
      out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

template <typename Body>
bool MentionsContainer(const Body& body, const std::string& number) {
  for (const auto& container : body.containers()) {
    if (NormaliseContainer(container.number()) == number) return true;
  }
  return false;
}

template <typename Body>
bool MentionsVessel(const Body& body, const std::string& wanted) {
  for (const auto& vessel : body.vessels()) {
    if (NormaliseContainer(vessel.imo()) == wanted ||
        NormaliseContainer(vessel.name()) == wanted) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditStore>> AuditStore::Open(
    const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  absl::StatusOr<sqlite3*> db = OpenReadOnly(path, /*immutable=*/false);
  bool immutable = false;
  if (!db.ok() && db.status().code() == absl::StatusCode::kUnavailable) {
    // A WAL database on read-only media cannot be opened normally.
    db = OpenReadOnly(path, /*immutable=*/true);
    immutable = true;
  }
  if (!db.ok()) return db.status();
  return std::unique_ptr<AuditStore>(new AuditStore(*db, immutable));
}

AuditStore::~AuditStore() { sqlite3_close(db_); }

absl::Status AuditStore::ForEachRow(
    uint64_t after,
    const std::function<bool(uint64_t, absl::string_view)>& visit) {
  HG_ASSIGN_OR_RETURN(
      sqlite::Statement s,
      sqlite::Statement::Prepare(db_,
                                 "SELECT sequence, record FROM audit "
                                 "WHERE sequence > ? ORDER BY sequence"));
  s.Bind(1, static_cast<int64_t>(after));
  while (true) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || !visit(static_cast<uint64_t>(s.Int(0)), s.Blob(1))) break;
  }
  return absl::OkStatus();
}

absl::Status AuditStore::ForEachRecord(
    const std::function<bool(const v1::AuditRecord&)>& visit,
    uint64_t* undecodable) {
  v1::AuditRecord record;
  return ForEachRow(0, [&](uint64_t, absl::string_view bytes) {
    if (!record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      if (undecodable != nullptr) ++*undecodable;
      return true;
    }
    return visit(record);
  });
}

absl::StatusOr<std::set<ItemVersion>> AuditStore::ItemsMentioningContainer(
    absl::string_view number) {
  const std::string wanted = NormaliseContainer(number);
  return ItemsWhere([&](const v1::Item& item) {
    return (item.has_alert() && MentionsContainer(item.alert(), wanted)) ||
           (item.has_report() && MentionsContainer(item.report(), wanted));
  });
}

absl::StatusOr<std::set<ItemVersion>> AuditStore::ItemsMentioningVessel(
    absl::string_view imo_or_name) {
  const std::string wanted = NormaliseContainer(imo_or_name);
  return ItemsWhere([&](const v1::Item& item) {
    return (item.has_alert() && MentionsVessel(item.alert(), wanted)) ||
           (item.has_report() && MentionsVessel(item.report(), wanted));
  });
}

absl::Status AuditStore::ForEachItem(
    const std::function<bool(const ItemVersion&, const v1::Item&)>& visit) {
  HG_ASSIGN_OR_RETURN(
      sqlite::Statement s,
      sqlite::Statement::Prepare(db_, "SELECT origin, item_id, version, payload FROM items"));
  v1::Item item;
  while (true) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    absl::string_view payload = s.Blob(3);
    if (!item.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) continue;
    if (!visit(ItemVersion{s.Text(0), s.Text(1), static_cast<uint32_t>(s.Int(2))}, item)) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::set<ItemVersion>> AuditStore::ItemsWhere(
    const std::function<bool(const v1::Item&)>& match) {
  std::set<ItemVersion> found;
  HG_RETURN_IF_ERROR(ForEachItem([&](const ItemVersion& version, const v1::Item& item) {
    if (match(item)) found.insert(version);
    return true;
  }));
  return found;
}

}  // namespace havengate::evidence
