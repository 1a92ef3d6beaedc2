#include "server/audit/audit_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "havengate/v1/item.pb.h"

namespace havengate::audit {
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

absl::Status Error(sqlite3* db, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(
      what, ": ", db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

// Opens read-only and checks the audit table can be read.
absl::StatusOr<sqlite3*> OpenReadOnly(const std::string& path, bool immutable) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(FileUri(path, immutable).c_str(), &db,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = Error(db, absl::StrCat("cannot open ", path));
    sqlite3_close(db);
    return status;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    if (message.find("no such table") != std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": not a havengate store (it has no audit table)"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot read ", path, ": ", message));
  }
  return db;
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  // Next row: true, done: false; errors are set in `status`.
  bool Step(absl::Status& status) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status = Error(db_, "reading the store");
    return false;
  }
  absl::string_view Blob(int column) {
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr
               ? absl::string_view()
               : absl::string_view(static_cast<const char*>(data),
                                   static_cast<size_t>(size));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

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
bool Mentions(const Body& body, const std::string& number) {
  for (const auto& container : body.containers()) {
    if (NormaliseContainer(container.number()) == number) return true;
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
  Statement s(db_,
              "SELECT sequence, record FROM audit WHERE sequence > ? "
              "ORDER BY sequence");
  if (!s.ok()) return Error(db_, "reading the audit table");
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(after));
  absl::Status status;
  while (s.Step(status)) {
    uint64_t key = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
    if (!visit(key, s.Blob(1))) break;
  }
  return status;
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
  Statement s(db_, "SELECT origin, item_id, version, payload FROM items");
  if (!s.ok()) return Error(db_, "reading the items table");
  std::set<ItemVersion> found;
  absl::Status status;
  v1::Item item;
  while (s.Step(status)) {
    absl::string_view payload = s.Blob(3);
    if (!item.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      continue;
    }
    bool mentions = (item.has_alert() && Mentions(item.alert(), wanted)) ||
                    (item.has_report() && Mentions(item.report(), wanted));
    if (!mentions) continue;
    found.insert(ItemVersion{
        reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)),
        reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1)),
        static_cast<uint32_t>(sqlite3_column_int64(s.get(), 2))});
  }
  if (!status.ok()) return status;
  return found;
}

}  // namespace havengate::audit
