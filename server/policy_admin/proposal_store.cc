#include "server/policy_admin/proposal_store.h"

#include <sqlite3.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/digest.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "sqlite/statement.h"

namespace havengate::server {
namespace {

using v1::PolicyProposal;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS policies (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  version          TEXT NOT NULL,
  state            INTEGER NOT NULL,
  digest           TEXT NOT NULL,
  text             TEXT NOT NULL,
  proposed_by      TEXT NOT NULL,
  proposed_at      INTEGER NOT NULL,
  comment          TEXT NOT NULL DEFAULT '',
  approved_by      TEXT NOT NULL DEFAULT '',
  approved_at      INTEGER NOT NULL DEFAULT 0,
  approval_comment TEXT NOT NULL DEFAULT '',
  activated_by     TEXT NOT NULL DEFAULT '',
  activated_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS policies_by_version ON policies(version);
)sql";

constexpr char kColumns[] =
    "id, version, state, digest, proposed_by, proposed_at, comment, "
    "approved_by, approved_at, approval_comment, activated_by, activated_at, "
    "text";

std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }

// "policy history: ..." with the wrapper's message (UNAVAILABLE, or
// RESOURCE_EXHAUSTED for a full disk).
absl::Status InHistory(const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("policy history: ", status.message()));
}

// A statement with `args` bound as text (?1, ?2, ...).
absl::StatusOr<sqlite::Statement> Prepare(
    sqlite3* db, const std::string& sql, const std::vector<std::string>& args) {
  absl::StatusOr<sqlite::Statement> stmt = sqlite::Statement::Prepare(db, sql);
  if (!stmt.ok()) return InHistory(stmt.status());
  for (size_t i = 0; i < args.size(); ++i) {
    stmt->Bind(static_cast<int>(i + 1), args[i]);
  }
  return stmt;
}

std::string StateName(PolicyProposal::State state) {
  return PolicyProposal::State_Name(state);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProposalStore>> ProposalStore::Open(
    const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(
        absl::StrCat("policy history ", path, ": cannot open: ", message));
  }
  std::unique_ptr<ProposalStore> store(new ProposalStore(db));
  sqlite3_busy_timeout(db, 10'000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
    HG_RETURN_IF_ERROR(store->Exec(pragma, {}));
  }
  if (absl::Status created = sqlite::Exec(db, kSchema); !created.ok()) {
    return InHistory(absl::Status(
        created.code(),
        absl::StrCat(path, ": cannot create its tables: ", created.message())));
  }
  // Entries written before digests had one spelling carry a "sha256:"
  // prefix; without it they compare equal to digests computed now.
  HG_RETURN_IF_ERROR(store->Exec(
      "UPDATE policies SET digest = substr(digest, 8) "
      "WHERE digest LIKE 'sha256:%'",
      {}));
  return store;
}

ProposalStore::ProposalStore(sqlite3* db) : db_(db) {}

ProposalStore::~ProposalStore() { sqlite3_close(db_); }

absl::Status ProposalStore::Exec(const std::string& sql,
                                 const std::vector<std::string>& args) const {
  HG_ASSIGN_OR_RETURN(sqlite::Statement stmt, Prepare(db_, sql, args));
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return InHistory(row.status());
    if (!*row) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<PolicyProposal>> ProposalStore::Query(
    const std::string& where, const std::vector<std::string>& args,
    bool include_text) const {
  HG_ASSIGN_OR_RETURN(
      sqlite::Statement stmt,
      Prepare(db_, absl::StrCat("SELECT ", kColumns, " FROM policies ", where),
              args));
  std::vector<PolicyProposal> out;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return InHistory(row.status());
    if (!*row) return out;
    PolicyProposal& p = out.emplace_back();
    p.set_id(stmt.Text(0));
    p.set_version(stmt.Text(1));
    p.set_state(static_cast<PolicyProposal::State>(stmt.Int(2)));
    p.set_digest(stmt.Text(3));
    p.set_proposed_by(stmt.Text(4));
    *p.mutable_proposed_at() = ToTimestamp(absl::FromUnixMicros(stmt.Int(5)));
    p.set_comment(stmt.Text(6));
    p.set_approved_by(stmt.Text(7));
    if (int64_t at = stmt.Int(8)) {
      *p.mutable_approved_at() = ToTimestamp(absl::FromUnixMicros(at));
    }
    p.set_approval_comment(stmt.Text(9));
    p.set_activated_by(stmt.Text(10));
    if (int64_t at = stmt.Int(11)) {
      *p.mutable_activated_at() = ToTimestamp(absl::FromUnixMicros(at));
    }
    if (include_text) p.set_policy_text(stmt.Text(12));
  }
}

absl::StatusOr<PolicyProposal> ProposalStore::GetLocked(const std::string& id,
                                                        bool include_text) const {
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> found,
                      Query("WHERE id = ?1", {id}, include_text));
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("there is no proposal ", id, " (see `havenctl policy history`)"));
  }
  return found.front();
}

absl::StatusOr<PolicyProposal> ProposalStore::Get(const std::string& id,
                                                  bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  return GetLocked(id, include_text);
}

absl::StatusOr<PolicyProposal> ProposalStore::Propose(
    const std::string& version, const std::string& text,
    const std::string& officer, const std::string& comment, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same,
                      Query("WHERE version = ?1 ORDER BY id DESC", {version}, false));
  if (!same.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "version \"", version, "\" was used before (entry ", same.front().id(),
        "); give the new policy a new version label"));
  }
  HG_RETURN_IF_ERROR(Exec(
      "INSERT INTO policies (version, state, digest, text, proposed_by, "
      "proposed_at, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
      {version, absl::StrCat(PolicyProposal::PROPOSED), Sha256Hex(text),
       text, officer, Micros(now), comment}));
  return GetLocked(absl::StrCat(sqlite3_last_insert_rowid(db_)), false);
}

absl::StatusOr<PolicyProposal> ProposalStore::Approve(const std::string& id,
                                                      const std::string& officer,
                                                      const std::string& comment,
                                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(PolicyProposal proposal, GetLocked(id, false));
  if (proposal.state() != PolicyProposal::PROPOSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("proposal ", id, " is ", StateName(proposal.state()),
                     ", not waiting for approval"));
  }
  if (proposal.proposed_by() == officer) {
    return absl::PermissionDeniedError(absl::StrCat(
        "four eyes: ", officer, " proposed ", id,
        " and cannot approve it; another officer must"));
  }
  HG_RETURN_IF_ERROR(Exec(
      "UPDATE policies SET state = ?2, approved_by = ?3, approved_at = ?4, "
      "approval_comment = ?5 WHERE id = ?1",
      {id, absl::StrCat(PolicyProposal::APPROVED), officer, Micros(now), comment}));
  return GetLocked(id, false);
}

absl::StatusOr<PolicyProposal> ProposalStore::MarkActive(const std::string& id,
                                                         const std::string& officer,
                                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  HG_RETURN_IF_ERROR(GetLocked(id, false).status());
  HG_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", {}));
  absl::Status s = Exec("UPDATE policies SET state = ?1 WHERE state = ?2",
                        {absl::StrCat(PolicyProposal::SUPERSEDED),
                         absl::StrCat(PolicyProposal::ACTIVE)});
  if (s.ok()) {
    s = Exec(
        "UPDATE policies SET state = ?2, activated_by = ?3, activated_at = ?4 "
        "WHERE id = ?1",
        {id, absl::StrCat(PolicyProposal::ACTIVE), officer, Micros(now)});
  }
  if (s.ok()) s = Exec("COMMIT", {});
  if (!s.ok()) {
    (void)Exec("ROLLBACK", {});
    return s;
  }
  return GetLocked(id, false);
}

absl::StatusOr<PolicyProposal> ProposalStore::RecordPolicyFile(
    const std::string& version, const std::string& text, absl::Time now) {
  const std::string digest = Sha256Hex(text);
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    HG_ASSIGN_OR_RETURN(
        std::vector<PolicyProposal> active,
        Query("WHERE state = ?1", {absl::StrCat(PolicyProposal::ACTIVE)}, false));
    if (!active.empty() && active.front().digest() == digest) return active.front();
    HG_ASSIGN_OR_RETURN(
        std::vector<PolicyProposal> same,
        Query("WHERE version = ?1 AND digest = ?2 ORDER BY id DESC",
              {version, digest}, false));
    if (!same.empty()) {
      id = same.front().id();
    } else {
      HG_RETURN_IF_ERROR(Exec(
          "INSERT INTO policies (version, state, digest, text, proposed_by, "
          "proposed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
          {version, absl::StrCat(PolicyProposal::SUPERSEDED), digest, text,
           kPolicyFileAuthor, Micros(now)}));
      id = absl::StrCat(sqlite3_last_insert_rowid(db_));
    }
  }
  return MarkActive(id, kPolicyFileAuthor, now);
}

absl::StatusOr<PolicyProposal> ProposalStore::FindVersion(
    const std::string& version, bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(
      std::vector<PolicyProposal> same,
      Query("WHERE version = ?1 ORDER BY id DESC LIMIT 1", {version}, include_text));
  if (same.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "there is no version \"", version, "\" (see `havenctl policy history`)"));
  }
  return same.front();
}

absl::StatusOr<PolicyProposal> ProposalStore::FindRollbackTarget(
    const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same,
                      Query("WHERE version = ?1 AND state IN (?2, ?3) ORDER BY id DESC",
                            {version, absl::StrCat(PolicyProposal::ACTIVE),
                             absl::StrCat(PolicyProposal::SUPERSEDED)},
                            true));
  if (!same.empty() && same.front().state() == PolicyProposal::ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("version \"", version, "\" is the active policy"));
  }
  if (same.empty()) {
    HG_ASSIGN_OR_RETURN(
        std::vector<PolicyProposal> earlier,
        Query("WHERE state = ?1 ORDER BY id DESC",
              {absl::StrCat(PolicyProposal::SUPERSEDED)}, false));
    std::vector<std::string> versions;
    for (const PolicyProposal& p : earlier) versions.push_back(p.version());
    return absl::NotFoundError(absl::StrCat(
        "version \"", version, "\" was never active here; versions that were: ",
        versions.empty() ? "none" : absl::StrJoin(versions, ", ")));
  }
  if (same.front().approved_by().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "four eyes: version \"", version,
        "\" was never approved by an officer (it came from the policy file on "
        "disk), so a rollback cannot bring it back without approval; propose "
        "its text under a new version label and have another officer approve it"));
  }
  return same.front();
}

absl::StatusOr<std::vector<PolicyProposal>> ProposalStore::List(
    bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Query("ORDER BY id DESC", {}, include_text);
}

}  // namespace havengate::server
