#include "server/store/pg_connection.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <cstring>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "proto/status_macros.h"

namespace havengate::store::pg {
namespace {

// libpq's messages end in a newline (or several lines); one line is kept.
std::string FirstLine(const char* message) {
  std::string line = message == nullptr ? "" : message;
  if (size_t end = line.find('\n'); end != std::string::npos) line.resize(end);
  return line;
}

}  // namespace

Param Text(absl::string_view value) { return Param{std::string(value), false}; }
Param Int(int64_t value) { return Param{absl::StrCat(value), false}; }
Param Bytes(absl::string_view value) { return Param{std::string(value), true}; }

Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int Result::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

int64_t Result::Int(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const auto* p =
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column));
  const int length = PQgetlength(result_, row, column);
  uint64_t value = 0;
  for (int i = 0; i < length; ++i) value = (value << 8) | p[i];
  // Sign-extend the shorter integer types.
  if (length > 0 && length < 8 && (p[0] & 0x80) != 0) {
    value |= ~uint64_t{0} << (8 * length);
  }
  return static_cast<int64_t>(value);
}

std::string Result::Bytes(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     PQgetlength(result_, row, column));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& dsn) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (conn == nullptr) return absl::ResourceExhaustedError("out of memory");
  // NOTICEs ("relation already exists, skipping") are not for the log.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<Connection> connection(new Connection(conn, dsn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL (", RedactDsn(dsn),
                     "): ", FirstLine(PQerrorMessage(conn))));
  }
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

int Connection::socket() const { return PQsocket(conn_); }

absl::Status Connection::EnsureConnected() {
  if (ok()) return absl::OkStatus();
  const absl::Time now = absl::Now();
  if (now < next_attempt_) {
    return absl::UnavailableError(
        "the database connection is lost; reconnecting");
  }
  prepared_.clear();
  PQreset(conn_);
  if (ok()) {
    backoff_ = absl::Milliseconds(100);
    next_attempt_ = absl::InfinitePast();
    return absl::OkStatus();
  }
  next_attempt_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, absl::Seconds(2));
  return absl::UnavailableError(
      absl::StrCat("the database connection is lost; reconnecting: ",
                   FirstLine(PQerrorMessage(conn_))));
}

absl::Status Connection::Check(PGresult* result, absl::string_view what) {
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    return absl::OkStatus();
  }
  const char* state =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state == nullptr ? "" : state;
  std::string message = FirstLine(result != nullptr
                                      ? PQresultErrorMessage(result)
                                      : PQerrorMessage(conn_));
  if (message.empty()) message = FirstLine(PQerrorMessage(conn_));
  // 53100 disk_full, 53200 out_of_memory and 53400 configuration_limit
  // exceeded: the database has no room; like a full disk under SQLite.
  if (sqlstate == "53100") {
    return absl::ResourceExhaustedError(
        absl::StrCat("the database disk is full (", what, "): ", message));
  }
  if (!ok() || absl::StartsWith(sqlstate, "08") ||
      absl::StartsWith(sqlstate, "57P")) {
    return absl::UnavailableError(
        absl::StrCat("the database connection is lost (", what, "): ", message));
  }
  return absl::UnavailableError(
      absl::StrCat("database error (", what, ", SQLSTATE ", sqlstate, "): ",
                   message));
}

namespace {

struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const Param& p : params) {
      values.push_back(p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
  }
};

}  // namespace

absl::StatusOr<Result> Connection::Exec(absl::string_view sql,
                                        const std::vector<Param>& params) {
  if (pipeline_ || !send_error_.ok()) {
    HG_RETURN_IF_ERROR(FinishPipeline(/*keep_last=*/false).status());
  }
  ParamArrays a(params);
  const std::string text(sql);
  Result result(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()),
                             nullptr, a.values.data(), a.lengths.data(),
                             a.formats.data(), /*resultFormat=*/1));
  absl::Status status = Check(result.raw(), "query");
  if (!status.ok()) return status;
  return result;
}

bool Connection::EnterPipeline() {
  if (pipeline_) return true;
  if (PQenterPipelineMode(conn_) != 1) {
    if (send_error_.ok()) {
      send_error_ = absl::UnavailableError(
          absl::StrCat("the database connection is lost: ",
                       FirstLine(PQerrorMessage(conn_))));
    }
    return false;
  }
  pipeline_ = true;
  return true;
}

void Connection::DeferSql(const std::string& sql,
                          const std::vector<Param>& params) {
  if (!EnterPipeline()) return;
  ParamArrays a(params);
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()),
                        nullptr, a.values.data(), a.lengths.data(),
                        a.formats.data(), /*resultFormat=*/1) != 1) {
    if (send_error_.ok()) {
      send_error_ = absl::UnavailableError(absl::StrCat(
          "cannot send to the database: ", FirstLine(PQerrorMessage(conn_))));
    }
    return;
  }
  ++sent_;
}

void Connection::Send(const Statement& statement,
                      const std::vector<Param>& params) {
  if (!EnterPipeline()) return;
  if (prepared_.count(statement.name) == 0) {
    if (PQsendPrepare(conn_, statement.name, statement.sql, 0, nullptr) != 1) {
      if (send_error_.ok()) {
        send_error_ = absl::UnavailableError(absl::StrCat(
            "cannot send to the database: ", FirstLine(PQerrorMessage(conn_))));
      }
      return;
    }
    ++sent_;
    prepared_.insert(statement.name);
  }
  ParamArrays a(params);
  if (PQsendQueryPrepared(conn_, statement.name, static_cast<int>(params.size()),
                          a.values.data(), a.lengths.data(), a.formats.data(),
                          /*resultFormat=*/1) != 1) {
    if (send_error_.ok()) {
      send_error_ = absl::UnavailableError(absl::StrCat(
          "cannot send to the database: ", FirstLine(PQerrorMessage(conn_))));
    }
    return;
  }
  ++sent_;
}

void Connection::Defer(const Statement& statement,
                       const std::vector<Param>& params) {
  Send(statement, params);
}

absl::StatusOr<Result> Connection::FinishPipeline(bool keep_last) {
  absl::Status status = send_error_;
  Result last(nullptr);
  if (pipeline_) {
    if (PQpipelineSync(conn_) != 1 || PQflush(conn_) != 0) {
      if (status.ok()) {
        status = absl::UnavailableError(absl::StrCat(
            "the database connection is lost: ", FirstLine(PQerrorMessage(conn_))));
      }
    } else {
      for (int i = 0; i < sent_ && ok(); ++i) {
        while (PGresult* r = PQgetResult(conn_)) {
          Result result(r);
          const ExecStatusType st = PQresultStatus(r);
          if (st == PGRES_FATAL_ERROR && status.ok()) {
            status = Check(r, "pipelined write");
          } else if (st == PGRES_PIPELINE_ABORTED && status.ok()) {
            status = absl::UnavailableError("database error: a pipelined write was aborted");
          }
          if (keep_last && i == sent_ - 1) last = std::move(result);
        }
      }
      // The synchronisation point's own result.
      if (PGresult* sync = PQgetResult(conn_)) PQclear(sync);
    }
    if (!ok() && status.ok()) {
      status = absl::UnavailableError(absl::StrCat(
          "the database connection is lost: ", FirstLine(PQerrorMessage(conn_))));
    }
    (void)PQexitPipelineMode(conn_);
  }
  pipeline_ = false;
  sent_ = 0;
  send_error_ = absl::OkStatus();
  if (!status.ok()) {
    // Which of the statements sent were prepared is not known: start
    // over on this connection.
    prepared_.clear();
    if (ok() && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      PQclear(PQexec(conn_, "DEALLOCATE ALL"));
    }
    return status;
  }
  return last;
}

absl::StatusOr<Result> Connection::Run(const Statement& statement,
                                       const std::vector<Param>& params) {
  if (pipeline_ || !send_error_.ok()) {
    // With the deferred writes: one round trip for all of them.
    Send(statement, params);
    return FinishPipeline(/*keep_last=*/true);
  }
  if (prepared_.count(statement.name) == 0) {
    Result prepared(PQprepare(conn_, statement.name, statement.sql, 0, nullptr));
    absl::Status status = Check(prepared.raw(), statement.name);
    if (!status.ok()) return status;
    prepared_.insert(statement.name);
  }
  ParamArrays a(params);
  Result result(PQexecPrepared(conn_, statement.name,
                               static_cast<int>(params.size()), a.values.data(),
                               a.lengths.data(), a.formats.data(),
                               /*resultFormat=*/1));
  absl::Status status = Check(result.raw(), statement.name);
  if (!status.ok()) return status;
  return result;
}

absl::Status Connection::ExecScript(const char* sql) {
  if (pipeline_ || !send_error_.ok()) {
    HG_RETURN_IF_ERROR(FinishPipeline(/*keep_last=*/false).status());
  }
  Result result(PQexec(conn_, sql));
  return Check(result.raw(), "schema");
}

absl::StatusOr<std::vector<std::string>> Connection::ConsumeNotifications() {
  if (PQconsumeInput(conn_) == 0) {
    return absl::UnavailableError(absl::StrCat(
        "the database connection is lost: ", FirstLine(PQerrorMessage(conn_))));
  }
  std::vector<std::string> payloads;
  while (PGnotify* notify = PQnotifies(conn_)) {
    payloads.emplace_back(notify->extra == nullptr ? "" : notify->extra);
    PQfreemem(notify);
  }
  return payloads;
}

std::string RedactDsn(const std::string& dsn) {
  // URI: postgresql://user:secret@host/db; key=value: password=secret or
  // password='se cret'.
  static const std::regex kUriPassword(R"(^(postgres(ql)?://[^:/@]*:)[^@]*@)");
  static const std::regex kKeyPassword(
      R"((password\s*=\s*)('([^'\\]|\\.)*'|\S+))");
  std::string redacted = std::regex_replace(dsn, kUriPassword, "$1***@");
  redacted = std::regex_replace(redacted, kKeyPassword, "$1***");
  // ?password=... in a URI's query.
  static const std::regex kQueryPassword(R"(([?&]password=)[^&]*)");
  return std::regex_replace(redacted, kQueryPassword, "$1***");
}

}  // namespace havengate::store::pg
