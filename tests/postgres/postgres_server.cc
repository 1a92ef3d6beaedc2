#include "tests/postgres/postgres_server.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace havengate::testing {
namespace {

constexpr char kTestUser[] = "havengate-test";
// The socket's name is .s.PGSQL.<port>; the directory is the test's own.
constexpr int kPort = 5432;

// Runs argv (as kTestUser when we are root), output appended to `log`.
// Returns the exit code (-1 if it could not run).
int Run(std::vector<std::string> argv, const std::string& log) {
  if (geteuid() == 0) {
    argv.insert(argv.begin(), {"runuser", "-u", kTestUser, "--"});
  }
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The unprivileged user the server runs as under root; created if needed
// (concurrent test binaries may race to create it: retried).
absl::StatusOr<passwd> TestUser() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (passwd* pw = getpwnam(kTestUser)) return *pw;
    std::string cmd = absl::StrCat(
        "useradd --system --no-create-home --shell /usr/sbin/nologin ",
        kTestUser, " >/dev/null 2>&1");
    if (std::system(cmd.c_str()) == 0) continue;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot create the system user ", kTestUser,
      " that PostgreSQL runs as (it refuses to run as root)"));
}

absl::Status Sql(const std::string& dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK) {
      status = absl::InternalError(absl::StrCat(sql, ": ", PQerrorMessage(conn)));
    }
    PQclear(r);
  }
  PQfinish(conn);
  return status;
}

// Processes whose parent is `parent` (from /proc).
std::vector<pid_t> Children(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid ...": comm may hold spaces; read after ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == parent) children.push_back(pid);
  }
  return children;
}

std::unique_ptr<PostgresServer>& SharedServer() {
  static auto* server = new std::unique_ptr<PostgresServer>();
  return *server;
}

}  // namespace

std::string PostgresServer::BinDir() {
  const char* env = std::getenv("HAVENGATE_PG_BIN");
  return env != nullptr && *env != '\0' ? env : "/usr/lib/postgresql/15/bin";
}

absl::Status PostgresServer::Available() {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    std::string path = absl::StrCat(BinDir(), "/", tool);
    if (access(path.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(
          "PostgreSQL server binaries not found (", path,
          "); install the Debian package postgresql or set HAVENGATE_PG_BIN"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  if (absl::Status available = Available(); !available.ok()) return available;
  std::string pattern =
      (std::filesystem::temp_directory_path() / "havengate-pg-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  std::unique_ptr<PostgresServer> server(new PostgresServer(pattern));
  if (geteuid() == 0) {
    absl::StatusOr<passwd> user = TestUser();
    if (!user.ok()) return user.status();
    if (chown(pattern.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", pattern, ": ",
                                              strerror(errno)));
    }
  }
  const std::string log = server->dir_ + "/initdb.log";
  if (Run({BinDir() + "/initdb", "-D", server->dir_ + "/data", "-U",
           "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
           "--no-instructions"},
          log) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed: ", server->Log()));
  }
  if (absl::Status started = server->StartServer(); !started.ok()) {
    return started;
  }
  return server;
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  std::unique_ptr<PostgresServer>& shared = SharedServer();
  if (shared == nullptr) {
    absl::StatusOr<std::unique_ptr<PostgresServer>> started = Start();
    if (!started.ok()) return started.status();
    shared = std::move(*started);
    std::atexit([] { SharedServer().reset(); });
  }
  return shared.get();
}

absl::Status PostgresServer::StartServer() {
  const std::string options = absl::StrCat(
      "-c listen_addresses='' -k ", dir_, " -p ", kPort,
      " -c max_connections=300 -c shared_buffers=32MB");
  if (Run({BinDir() + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log",
           "-o", options, "-w", "-t", "30", "start"},
          dir_ + "/pg_ctl.log") != 0) {
    return absl::UnavailableError(
        absl::StrCat("pg_ctl start failed: ", Log()));
  }
  running_ = true;
  return absl::OkStatus();
}

PostgresServer::~PostgresServer() {
  if (running_) {
    (void)Run({BinDir() + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate",
               "-w", "stop"},
              dir_ + "/pg_ctl.log");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::Dsn(const std::string& database,
                                const std::string& schema) const {
  std::string dsn = absl::StrCat("host=", dir_, " port=", kPort,
                                 " user=postgres dbname=", database);
  if (!schema.empty()) {
    absl::StrAppend(&dsn, " options='-c search_path=", schema, "'");
  }
  return dsn;
}

absl::Status PostgresServer::CreateDatabase(const std::string& name) {
  return Sql(Dsn(), absl::StrCat("CREATE DATABASE \"", name, "\""));
}

absl::Status PostgresServer::CreateSchema(const std::string& database,
                                          const std::string& schema) {
  return Sql(Dsn(database),
             absl::StrCat("CREATE SCHEMA IF NOT EXISTS \"", schema, "\""));
}

absl::Status PostgresServer::KillPostmaster() {
  std::ifstream pid_file(dir_ + "/data/postmaster.pid");
  pid_t pid = 0;
  if (!(pid_file >> pid) || pid <= 0) {
    return absl::FailedPreconditionError("no postmaster.pid: not running");
  }
  // Its backends and helpers outlive it until they notice; a new
  // postmaster refuses to start while they hold the shared memory.
  killed_children_ = Children(pid);
  if (kill(pid, SIGKILL) != 0) {
    return absl::InternalError(absl::StrCat("kill ", pid, ": ", strerror(errno)));
  }
  while (kill(pid, 0) == 0) absl::SleepFor(absl::Milliseconds(10));
  running_ = false;
  return absl::OkStatus();
}

absl::Status PostgresServer::Restart() {
  absl::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (pid_t child : killed_children_) {
    while (kill(child, 0) == 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  killed_children_.clear();
  do {
    status = StartServer();
    if (status.ok()) return status;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  return status;
}

std::string PostgresServer::Log() const {
  std::string out;
  for (const char* name : {"initdb.log", "pg_ctl.log", "server.log"}) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    if (s.size() > 2000) s = s.substr(s.size() - 2000);
    if (!s.empty()) absl::StrAppend(&out, "\n--- ", name, " ---\n", s);
  }
  return out;
}

}  // namespace havengate::testing
