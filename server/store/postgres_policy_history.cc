// PostgreSQL backend of the policy history (see postgres_store.h and
// policy_history.h): the `policies` table of the store's database.
#include <memory>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/store/pg_connection.h"
#include "server/store/postgres_schema.h"
#include "server/store/postgres_store.h"

namespace havengate::store {
namespace {

using v1::PolicyProposal;

constexpr char kColumns[] =
    "id, version, state, digest, proposed_by, proposed_at, comment, "
    "approved_by, approved_at, approval_comment, activated_by, activated_at, "
    "text";

// Unix microseconds; 0 for an unset time.
int64_t Micros(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return 0;
  return absl::ToUnixMicros(FromTimestamp(t));
}

absl::Status InHistory(const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("policy history: ", status.message()));
}

class PostgresPolicyHistory final : public PolicyHistory {
 public:
  explicit PostgresPolicyHistory(std::unique_ptr<pg::Connection> connection)
      : connection_(std::move(connection)) {}

  absl::StatusOr<std::string> Add(const PolicyProposal& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    HG_RETURN_IF_ERROR(InHistory(connection_->EnsureConnected()));
    absl::StatusOr<pg::Result> id = connection_->Exec(
        "INSERT INTO policies (version, state, digest, text, proposed_by, "
        "proposed_at, comment, approved_by, approved_at, approval_comment, "
        "activated_by, activated_at) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
        {pg::Text(e.version()), pg::Int(e.state()), pg::Text(e.digest()),
         pg::Text(e.policy_text()), pg::Text(e.proposed_by()),
         pg::Int(Micros(e.proposed_at())), pg::Text(e.comment()),
         pg::Text(e.approved_by()), pg::Int(Micros(e.approved_at())),
         pg::Text(e.approval_comment()), pg::Text(e.activated_by()),
         pg::Int(Micros(e.activated_at()))});
    if (!id.ok()) return InHistory(id.status());
    return absl::StrCat(id->Int(0, 0));
  }

  absl::Status Update(const std::vector<PolicyProposal>& entries) override {
    std::lock_guard<std::mutex> lock(mu_);
    HG_RETURN_IF_ERROR(InHistory(connection_->EnsureConnected()));
    HG_RETURN_IF_ERROR(InHistory(connection_->ExecScript("BEGIN")));
    absl::Status s;
    for (const PolicyProposal& e : entries) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(e.id(), &id)) {
        s = absl::InvalidArgumentError(
            absl::StrCat("policy history: id ", e.id(), " is not a number"));
        break;
      }
      s = connection_
              ->Exec("UPDATE policies SET state = $2, approved_by = $3, "
                     "approved_at = $4, approval_comment = $5, "
                     "activated_by = $6, activated_at = $7 WHERE id = $1",
                     {pg::Int(id), pg::Int(e.state()), pg::Text(e.approved_by()),
                      pg::Int(Micros(e.approved_at())),
                      pg::Text(e.approval_comment()),
                      pg::Text(e.activated_by()),
                      pg::Int(Micros(e.activated_at()))})
              .status();
      if (!s.ok()) break;
    }
    if (s.ok()) s = connection_->ExecScript("COMMIT");
    if (!s.ok()) {
      if (connection_->ok()) (void)connection_->ExecScript("ROLLBACK");
      return InHistory(s);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<PolicyProposal>> Find(
      const PolicyHistoryQuery& query) override {
    std::vector<std::string> where;
    std::vector<pg::Param> params;
    auto arg = [&params](pg::Param value) {
      params.push_back(std::move(value));
      return absl::StrCat("$", params.size());
    };
    if (query.id) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(*query.id, &id)) return std::vector<PolicyProposal>();
      where.push_back(absl::StrCat("id = ", arg(pg::Int(id))));
    }
    if (query.version) {
      where.push_back(absl::StrCat("version = ", arg(pg::Text(*query.version))));
    }
    if (query.digest) {
      where.push_back(absl::StrCat("digest = ", arg(pg::Text(*query.digest))));
    }
    if (!query.states.empty()) {
      std::vector<std::string> marks;
      for (PolicyProposal::State state : query.states) {
        marks.push_back(arg(pg::Int(state)));
      }
      where.push_back(absl::StrCat("state IN (", absl::StrJoin(marks, ", "), ")"));
    }
    std::string sql = absl::StrCat("SELECT ", kColumns, " FROM policies ");
    if (!where.empty()) {
      absl::StrAppend(&sql, "WHERE ", absl::StrJoin(where, " AND "), " ");
    }
    absl::StrAppend(&sql, "ORDER BY id DESC");
    if (query.limit > 0) absl::StrAppend(&sql, " LIMIT ", query.limit);

    std::lock_guard<std::mutex> lock(mu_);
    HG_RETURN_IF_ERROR(InHistory(connection_->EnsureConnected()));
    absl::StatusOr<pg::Result> r = connection_->Exec(sql, params);
    if (!r.ok()) return InHistory(r.status());
    std::vector<PolicyProposal> out;
    for (int i = 0; i < r->rows(); ++i) {
      PolicyProposal& p = out.emplace_back();
      p.set_id(absl::StrCat(r->Int(i, 0)));
      p.set_version(r->Bytes(i, 1));
      p.set_state(static_cast<PolicyProposal::State>(r->Int(i, 2)));
      p.set_digest(r->Bytes(i, 3));
      p.set_proposed_by(r->Bytes(i, 4));
      *p.mutable_proposed_at() = ToTimestamp(absl::FromUnixMicros(r->Int(i, 5)));
      p.set_comment(r->Bytes(i, 6));
      p.set_approved_by(r->Bytes(i, 7));
      if (int64_t at = r->Int(i, 8)) {
        *p.mutable_approved_at() = ToTimestamp(absl::FromUnixMicros(at));
      }
      p.set_approval_comment(r->Bytes(i, 9));
      p.set_activated_by(r->Bytes(i, 10));
      if (int64_t at = r->Int(i, 11)) {
        *p.mutable_activated_at() = ToTimestamp(absl::FromUnixMicros(at));
      }
      if (query.include_text) p.set_policy_text(r->Bytes(i, 12));
    }
    return out;
  }

 private:
  std::mutex mu_;  // one connection, used under mu_
  std::unique_ptr<pg::Connection> connection_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PolicyHistory>> OpenPostgresPolicyHistory(
    const std::string& dsn) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(dsn);
  if (!connection.ok()) return InHistory(connection.status());
  HG_RETURN_IF_ERROR(InHistory(EnsurePostgresSchema(**connection)));
  return std::unique_ptr<PolicyHistory>(
      std::make_unique<PostgresPolicyHistory>(std::move(*connection)));
}

}  // namespace havengate::store
