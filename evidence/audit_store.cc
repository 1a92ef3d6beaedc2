#include "evidence/audit_store.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "havengate/v1/item.pb.h"
#include "proto/audit_views.h"
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

class AuditStore::SqliteSource final : public AuditStore::Source {
 public:
  explicit SqliteSource(sqlite3* db) : db_(db) {}
  ~SqliteSource() override { sqlite3_close(db_); }

  absl::Status ForEachAuditRow(
      uint64_t after,
      const std::function<bool(uint64_t, absl::string_view)>& visit) override {
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

  absl::Status ForEachItem(
      const std::function<void(ItemVersion, absl::string_view)>& visit) override {
    HG_ASSIGN_OR_RETURN(
        sqlite::Statement s,
        sqlite::Statement::Prepare(
            db_, "SELECT origin, item_id, version, payload FROM items"));
    while (true) {
      HG_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      visit(ItemVersion{s.Text(0), s.Text(1), static_cast<uint32_t>(s.Int(2))},
            s.Blob(3));
    }
    return absl::OkStatus();
  }

 private:
  sqlite3* db_;
};

// A PostgreSQL store, read a page of rows at a time in read-only
// transactions (binary results: bigint columns are 8 bytes big-endian).
class AuditStore::PostgresSource final : public AuditStore::Source {
 public:
  explicit PostgresSource(PGconn* conn) : conn_(conn) {}
  ~PostgresSource() override { PQfinish(conn_); }

  static absl::StatusOr<std::unique_ptr<PostgresSource>> Open(
      const std::string& dsn) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    auto source = std::make_unique<PostgresSource>(conn);
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    if (PQstatus(conn) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to the PostgreSQL store: ", FirstLine(PQerrorMessage(conn))));
    }
    HG_RETURN_IF_ERROR(
        source->Exec("SET default_transaction_read_only = on", {}).status());
    absl::StatusOr<Result> audit =
        source->Exec("SELECT to_regclass('audit') IS NOT NULL", {});
    if (!audit.ok()) return audit.status();
    if (PQgetvalue(audit->get(), 0, 0)[0] == 0) {
      return absl::FailedPreconditionError(
          "the database is not a havengate store (it has no audit table)");
    }
    return source;
  }

  absl::Status ForEachAuditRow(
      uint64_t after,
      const std::function<bool(uint64_t, absl::string_view)>& visit) override {
    constexpr int kPage = 5000;
    while (true) {
      HG_ASSIGN_OR_RETURN(
          Result r, Exec("SELECT sequence, record FROM audit WHERE sequence > $1 "
                         "ORDER BY sequence LIMIT 5000",
                         {absl::StrCat(after)}));
      const int rows = PQntuples(r.get());
      for (int i = 0; i < rows; ++i) {
        after = static_cast<uint64_t>(BigInt(r.get(), i, 0));
        if (!visit(after, Bytes(r.get(), i, 1))) return absl::OkStatus();
      }
      if (rows < kPage) return absl::OkStatus();
    }
  }

  absl::Status ForEachItem(
      const std::function<void(ItemVersion, absl::string_view)>& visit) override {
    HG_ASSIGN_OR_RETURN(
        Result r, Exec("SELECT origin, item_id, version, payload FROM items", {}));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      visit(ItemVersion{std::string(Bytes(r.get(), i, 0)),
                        std::string(Bytes(r.get(), i, 1)),
                        static_cast<uint32_t>(BigInt(r.get(), i, 2))},
            Bytes(r.get(), i, 3));
    }
    return absl::OkStatus();
  }

 private:
  using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;
  static std::string FirstLine(const char* message) {
    std::string line = message == nullptr ? "" : message;
    return line.substr(0, line.find('\n'));
  }
  static absl::string_view Bytes(const PGresult* r, int row, int column) {
    return absl::string_view(PQgetvalue(r, row, column),
                             PQgetlength(r, row, column));
  }
  static int64_t BigInt(const PGresult* r, int row, int column) {
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, column));
    uint64_t value = 0;
    for (int i = 0; i < PQgetlength(r, row, column); ++i) value = (value << 8) | p[i];
    return static_cast<int64_t>(value);
  }
  absl::StatusOr<Result> Exec(const char* sql, const std::vector<std::string>& args) {
    std::vector<const char*> values;
    for (const std::string& a : args) values.push_back(a.c_str());
    Result r(PQexecParams(conn_, sql, static_cast<int>(args.size()), nullptr,
                          values.data(), nullptr, nullptr, /*resultFormat=*/1),
             PQclear);
    const ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      return absl::UnavailableError(absl::StrCat(
          "cannot read the PostgreSQL store: ", FirstLine(PQerrorMessage(conn_))));
    }
    return r;
  }

  PGconn* conn_;
};

bool AuditStore::IsDatabaseDsn(absl::string_view path) {
  return absl::StartsWith(path, "postgresql://") ||
         absl::StartsWith(path, "postgres://") ||
         absl::StrContains(path, "dbname=");
}

absl::StatusOr<std::unique_ptr<AuditStore>> AuditStore::Open(
    const std::string& path) {
  if (IsDatabaseDsn(path)) {
    HG_ASSIGN_OR_RETURN(std::unique_ptr<PostgresSource> source,
                        PostgresSource::Open(path));
    return std::unique_ptr<AuditStore>(
        new AuditStore(std::move(source), /*immutable=*/false));
  }
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
  return std::unique_ptr<AuditStore>(
      new AuditStore(std::make_unique<SqliteSource>(*db), immutable));
}

AuditStore::~AuditStore() = default;

absl::Status AuditStore::ForEachRow(
    uint64_t after,
    const std::function<bool(uint64_t, absl::string_view)>& visit) {
  return source_->ForEachAuditRow(after, visit);
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

absl::Status AuditStore::ForEachEvent(
    const std::function<bool(const v1::AuditRecord&)>& visit,
    uint64_t* undecodable) {
  return ForEachRecord(
      [&](const v1::AuditRecord& record) { return ForEachAuditEvent(record, visit); },
      undecodable);
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
  // The sources read every row; once `visit` has had enough the rest are
  // skipped unparsed.
  bool more = true;
  v1::Item item;
  return source_->ForEachItem([&](ItemVersion version, absl::string_view payload) {
    if (!more) return;
    if (!item.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return;
    more = visit(version, item);
  });
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
