#include "server/store/postgres_schema.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"

namespace havengate::store {
namespace {

constexpr int kSchemaVersion = 1;

// Integers are bigint throughout (results are read in binary, see
// pg_connection.h); times are Unix microseconds, 0 for "never".
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  cursor BIGSERIAL PRIMARY KEY,
  type BIGINT NOT NULL,
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  kind BIGINT NOT NULL,
  category BIGINT NOT NULL,
  received_at_us BIGINT NOT NULL,
  received_from TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  cursor BIGINT NOT NULL,
  digest TEXT NOT NULL,
  payload BYTEA NOT NULL,
  latest BIGINT NOT NULL,
  PRIMARY KEY(origin, item_id, version));
CREATE INDEX IF NOT EXISTS items_current_by_cursor ON items(cursor)
  WHERE latest = 1;
CREATE TABLE IF NOT EXISTS retractions(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  cursor BIGINT NOT NULL,
  payload BYTEA NOT NULL,
  by_origin BIGINT NOT NULL,
  PRIMARY KEY(origin, item_id));
CREATE TABLE IF NOT EXISTS shares(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  partner TEXT NOT NULL,
  PRIMARY KEY(origin, item_id, partner));
CREATE TABLE IF NOT EXISTS other_copies(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  PRIMARY KEY(origin, item_id, sender));
CREATE TABLE IF NOT EXISTS outbox(
  partner TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  payload BYTEA NOT NULL,
  expires_at_us BIGINT NOT NULL,
  enqueued_at_us BIGINT NOT NULL,
  PRIMARY KEY(partner, sequence));
CREATE TABLE IF NOT EXISTS outbox_sequence(
  partner TEXT PRIMARY KEY,
  last_sequence BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  sequence BIGINT PRIMARY KEY,
  record BYTEA NOT NULL);
-- One row every writing transaction locks first: writers of all replicas
-- commit one after another, so the chain and the cursors follow commits.
CREATE TABLE IF NOT EXISTS chain_head(id BIGINT PRIMARY KEY CHECK (id = 1));
INSERT INTO chain_head VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS policies(
  id BIGSERIAL PRIMARY KEY,
  version TEXT NOT NULL,
  state BIGINT NOT NULL,
  digest TEXT NOT NULL,
  text TEXT NOT NULL,
  proposed_by TEXT NOT NULL,
  proposed_at BIGINT NOT NULL,
  comment TEXT NOT NULL DEFAULT '',
  approved_by TEXT NOT NULL DEFAULT '',
  approved_at BIGINT NOT NULL DEFAULT 0,
  approval_comment TEXT NOT NULL DEFAULT '',
  activated_by TEXT NOT NULL DEFAULT '',
  activated_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS policies_by_version ON policies(version);
-- Match keys of held items, for hits (never a personal value in clear:
-- the writer hands pseudonym codes).
CREATE TABLE IF NOT EXISTS match_keys(
  key_type BIGINT NOT NULL,
  match_key TEXT NOT NULL,
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  PRIMARY KEY(key_type, match_key, origin, item_id));
CREATE INDEX IF NOT EXISTS match_keys_by_item ON match_keys(origin, item_id);
CREATE TABLE IF NOT EXISTS hits(
  cursor BIGINT PRIMARY KEY,
  payload BYTEA NOT NULL);
-- Requests for withheld fields (requests.proto), sent and received; `seq`
-- keeps the order they were first stored in.
CREATE TABLE IF NOT EXISTS field_requests(
  seq BIGSERIAL,
  role BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  payload BYTEA NOT NULL,
  PRIMARY KEY(role, request_id));
-- Who delivers each partner's outbox (server/federation's outbox lease).
CREATE TABLE IF NOT EXISTS outbox_leases(
  partner TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at_us BIGINT NOT NULL);
)sql";

}  // namespace

absl::Status EnsurePostgresSchema(pg::Connection& connection) {
  HG_RETURN_IF_ERROR(connection.ExecScript("BEGIN"));
  absl::Status status = [&]() -> absl::Status {
    HG_RETURN_IF_ERROR(
        connection.Exec("SELECT pg_advisory_xact_lock(4812766301)").status());
    HG_RETURN_IF_ERROR(connection.ExecScript(kSchema));
    HG_ASSIGN_OR_RETURN(
        pg::Result version,
        connection.Exec("SELECT value FROM meta WHERE key='schema_version'"));
    if (version.rows() == 0) {
      return connection
          .Exec("INSERT INTO meta VALUES('schema_version', $1)",
                {pg::Int(kSchemaVersion)})
          .status();
    }
    int stored = 0;
    const std::string text = version.Bytes(0, 0);
    if (!absl::SimpleAtoi(text, &stored) || stored > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database was written by a newer havengate (schema ", text,
          "); this build reads schema ", kSchemaVersion));
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    (void)connection.ExecScript("ROLLBACK");
    return status;
  }
  return connection.ExecScript("COMMIT");
}

}  // namespace havengate::store
