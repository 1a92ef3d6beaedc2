#include "server/config/config.h"

#include <filesystem>
#include <optional>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/identifiers.h"
#include "yaml-cpp/yaml.h"

namespace havengate::config {
namespace {

// Walks a YAML mapping, collecting every problem with the key path where it
// was found, and remembering which keys were read so unknown ones can be
// reported.
class Reader {
 public:
  Reader(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  void Problem(const std::string& key, absl::string_view problem,
               const YAML::Node* node = nullptr) {
    std::string where = file_;
    if (node != nullptr && node->Mark().line >= 0) {
      absl::StrAppend(&where, ":", node->Mark().line + 1);
    }
    problems_.push_back(absl::StrCat(where, ": ", key, ": ", problem));
  }

  // Reports keys of `map` that are not in `known`.
  void CheckKeys(const YAML::Node& map, const std::string& prefix,
                 const std::set<std::string>& known) {
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (known.count(key) == 0) {
        Problem(Join(prefix, key),
                absl::StrCat("unknown key (expected one of: ",
                             absl::StrJoin(known, ", "), ")"),
                &kv.first);
      }
    }
  }

  bool String(const YAML::Node& map, const std::string& prefix,
              const std::string& key, std::string* out, bool required) {
    YAML::Node node = map[key];
    if (!node) {
      if (required) Problem(Join(prefix, key), "is required", &map);
      return false;
    }
    if (!node.IsScalar()) {
      Problem(Join(prefix, key), "must be a single value", &node);
      return false;
    }
    *out = node.as<std::string>();
    if (out->empty() && required) {
      Problem(Join(prefix, key), "must not be empty", &node);
      return false;
    }
    return true;
  }

  // A file path, resolved against the config file's directory. With
  // `must_exist`, the file must be readable now.
  void Path(const YAML::Node& map, const std::string& prefix,
            const std::string& key, std::string* out, bool required,
            bool must_exist) {
    if (!String(map, prefix, key, out, required) || out->empty()) return;
    std::filesystem::path p(*out);
    if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
    *out = p.lexically_normal().string();
    if (must_exist) {
      std::ifstream in(*out);
      if (!in) {
        YAML::Node node = map[key];
        Problem(Join(prefix, key),
                absl::StrCat("cannot read file ", *out), &node);
      }
    }
  }

  void Int(const YAML::Node& map, const std::string& prefix,
           const std::string& key, int64_t min, int64_t max, int64_t* out) {
    YAML::Node node = map[key];
    if (!node) return;
    int64_t value = 0;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.as<std::string>(), &value)) {
      Problem(Join(prefix, key), "must be a whole number", &node);
      return;
    }
    if (value < min || value > max) {
      Problem(Join(prefix, key),
              absl::StrCat("must be between ", min, " and ", max), &node);
      return;
    }
    *out = value;
  }

  void Seconds(const YAML::Node& map, const std::string& prefix,
               const std::string& key, int64_t min, int64_t max,
               absl::Duration* out) {
    int64_t seconds = absl::ToInt64Seconds(*out);
    Int(map, prefix, key, min, max, &seconds);
    *out = absl::Seconds(seconds);
  }

  void Address(const std::string& key, const std::string& value,
               const YAML::Node& node) {
    std::vector<std::string> parts = absl::StrSplit(value, ':');
    int64_t port = -1;
    if (value.empty() || parts.size() < 2 || !absl::SimpleAtoi(parts.back(), &port)) {
      Problem(key, "must be host:port, e.g. 0.0.0.0:7443", &node);
    } else if (port < 0 || port > 65535) {
      Problem(key, absl::StrCat("port ", parts.back(), " is out of range (0 to 65535)"), &node);
    }
  }

  static std::string Join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : absl::StrCat(prefix, ".", key);
  }

  bool ok() const { return problems_.empty(); }
  absl::Status ToStatus() const {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid configuration:\n  ", absl::StrJoin(problems_, "\n  ")));
  }

 private:
  std::string file_;
  std::string base_dir_;
  std::vector<std::string> problems_;
};

constexpr StoreBackend kStoreBackends[] = {StoreBackend::kSqlite,
                                           StoreBackend::kPostgresql};

std::optional<StoreBackend> ParseStoreBackend(absl::string_view name) {
  for (StoreBackend backend : kStoreBackends) {
    if (StoreBackendName(backend) == name) return backend;
  }
  return std::nullopt;
}

std::string KnownBackends() {
  std::vector<std::string> names;
  for (StoreBackend backend : kStoreBackends) {
    names.emplace_back(StoreBackendName(backend));
  }
  return absl::StrJoin(names, ", ");
}

bool IsMap(Reader& r, const YAML::Node& node, const std::string& key) {
  if (!node) return false;
  if (!node.IsMap()) {
    r.Problem(key, "must be a mapping of keys to values", &node);
    return false;
  }
  return true;
}

// limits.per_caller: rates as whole numbers per second, 0 = no limit; a
// limited rate needs a burst of at least one.
void ReadPerCallerLimits(Reader& r, const YAML::Node& node,
                         limits::CallerLimitsOptions& c) {
  const std::string prefix = "limits.per_caller";
  if (!node || !IsMap(r, node, prefix)) return;
  r.CheckKeys(node, prefix,
              {"calls_per_second", "call_burst", "items_per_second",
               "item_burst", "max_concurrent_calls"});
  r.Int(node, prefix, "calls_per_second", 0, 1'000'000, &c.calls_per_second);
  r.Int(node, prefix, "call_burst", 1, 10'000'000, &c.call_burst);
  r.Int(node, prefix, "items_per_second", 0, 10'000'000, &c.items_per_second);
  r.Int(node, prefix, "item_burst", 1, 100'000'000, &c.item_burst);
  r.Int(node, prefix, "max_concurrent_calls", 0, 100'000,
        &c.max_concurrent_calls);
}

void ReadConfig(Reader& r, const YAML::Node& root, GatewayConfig& c) {
  r.CheckKeys(root, "",
              {"organisation", "listen", "port_file", "tls", "store", "policy",
               "peers", "metrics", "log", "limits", "audit"});

  YAML::Node org = root["organisation"];
  if (!org) {
    r.Problem("organisation", "is required (id and domain)", &root);
  } else if (IsMap(r, org, "organisation")) {
    r.CheckKeys(org, "organisation", {"id", "domain"});
    if (r.String(org, "organisation", "id", &c.organisation_id, true)) {
      absl::Status s = ValidateOrganisationId(c.organisation_id);
      if (!s.ok()) r.Problem("organisation.id", s.message(), &org);
    }
    r.String(org, "organisation", "domain", &c.organisation_domain, true);
  }

  if (r.String(root, "", "listen", &c.listen_address, true)) {
    r.Address("listen", c.listen_address, root["listen"]);
  }
  r.Path(root, "", "port_file", &c.port_file, false, false);

  YAML::Node tls = root["tls"];
  if (!tls) {
    r.Problem("tls", "is required (certificate, private_key, ca)", &root);
  } else if (IsMap(r, tls, "tls")) {
    r.CheckKeys(tls, "tls",
                {"certificate", "private_key", "ca", "crl",
                 "reload_interval_seconds", "state_dir"});
    r.Path(tls, "tls", "certificate", &c.tls.certificate, true, true);
    r.Path(tls, "tls", "private_key", &c.tls.private_key, true, true);
    r.Path(tls, "tls", "ca", &c.tls.ca, true, true);
    r.Path(tls, "tls", "crl", &c.tls.crl, false, true);
    r.Seconds(tls, "tls", "reload_interval_seconds", 1, 86400,
              &c.tls.reload_interval);
    r.Path(tls, "tls", "state_dir", &c.tls.state_dir, false, false);
  }

  YAML::Node store = root["store"];
  if (!store) {
    r.Problem("store", "is required (path of the database file)", &root);
  } else if (IsMap(r, store, "store")) {
    r.CheckKeys(store, "store", {"backend", "path", "dsn"});
    std::string backend;
    if (r.String(store, "store", "backend", &backend, false)) {
      std::optional<StoreBackend> known = ParseStoreBackend(backend);
      if (known.has_value()) {
        c.store.backend = *known;
      } else {
        YAML::Node node = store["backend"];
        r.Problem("store.backend",
                  absl::StrCat("unknown backend \"", backend,
                               "\" (expected one of: ", KnownBackends(), ")"),
                  &node);
      }
    }
    if (c.store.backend == StoreBackend::kSqlite) {
      r.Path(store, "store", "path", &c.store.path, true, false);
      if (YAML::Node dsn = store["dsn"]) {
        r.Problem("store.dsn", "is for backend postgresql; sqlite keeps its "
                  "file at store.path", &dsn);
      }
    } else {
      r.String(store, "store", "dsn", &c.store.dsn, true);
      if (YAML::Node path = store["path"]) {
        r.Problem("store.path", "is for backend sqlite; postgresql is "
                  "reached through store.dsn", &path);
      }
    }
  }

  r.Path(root, "", "policy", &c.policy_path, false, true);

  YAML::Node peers = root["peers"];
  if (peers && !peers.IsSequence()) {
    r.Problem("peers", "must be a list", &peers);
  } else if (peers) {
    std::set<std::string> ids;
    for (size_t i = 0; i < peers.size(); ++i) {
      std::string key = absl::StrCat("peers[", i, "]");
      YAML::Node p = peers[i];
      if (!IsMap(r, p, key)) continue;
      r.CheckKeys(p, key,
                  {"id", "domain", "address", "ca", "crl", "crl_refresh_seconds"});
      PeerConfig peer;
      if (r.String(p, key, "id", &peer.id, true)) {
        absl::Status s = ValidateOrganisationId(peer.id);
        if (!s.ok()) r.Problem(key + ".id", s.message(), &p);
        if (peer.id == c.organisation_id) {
          r.Problem(key + ".id", "is this gateway's own organisation", &p);
        }
        if (!ids.insert(peer.id).second) {
          r.Problem(key + ".id", "is listed twice", &p);
        }
      }
      r.String(p, key, "domain", &peer.domain, true);
      if (!peer.domain.empty() && peer.domain == c.organisation_domain) {
        r.Problem(key + ".domain", "is this gateway's own trust domain", &p);
      }
      if (r.String(p, key, "address", &peer.address, true)) {
        r.Address(key + ".address", peer.address, p["address"]);
      }
      r.Path(p, key, "ca", &peer.ca, true, true);
      r.Path(p, key, "crl", &peer.crl, false, true);
      r.Seconds(p, key, "crl_refresh_seconds", 1, 86400, &peer.crl_refresh);
      if (p["crl_refresh_seconds"] && peer.crl.empty()) {
        r.Problem(key + ".crl_refresh_seconds",
                  "needs crl (the file the fetched CRL is written to)", &p);
      }
      c.peers.push_back(std::move(peer));
    }
  }

  YAML::Node metrics = root["metrics"];
  if (metrics && IsMap(r, metrics, "metrics")) {
    r.CheckKeys(metrics, "metrics", {"listen"});
    if (r.String(metrics, "metrics", "listen", &c.metrics_listen_address, true)) {
      r.Address("metrics.listen", c.metrics_listen_address, metrics["listen"]);
    }
  }

  YAML::Node log = root["log"];
  if (log && IsMap(r, log, "log")) {
    r.CheckKeys(log, "log", {"format"});
    if (r.String(log, "log", "format", &c.log_format, true) &&
        c.log_format != "text" && c.log_format != "json") {
      r.Problem("log.format", "must be text or json", &log);
    }
  }

  YAML::Node audit = root["audit"];
  if (audit && IsMap(r, audit, "audit")) {
    r.CheckKeys(audit, "audit",
                {"checkpoint_every_records", "checkpoint_interval_seconds",
                 "checkpoint_file"});
    r.Int(audit, "audit", "checkpoint_every_records", 1, 10'000'000,
          &c.audit.checkpoint_every_records);
    r.Seconds(audit, "audit", "checkpoint_interval_seconds", 1, 86400,
              &c.audit.checkpoint_interval);
    r.Path(audit, "audit", "checkpoint_file", &c.audit.checkpoint_file, false,
           false);
  }
  // State beside the store unless the file puts it elsewhere.
  if (c.audit.checkpoint_file.empty() && !c.store.path.empty()) {
    c.audit.checkpoint_file = absl::StrCat(c.store.path, ".checkpoints");
  }
  if (c.tls.state_dir.empty() && !c.store.path.empty()) {
    c.tls.state_dir = absl::StrCat(c.store.path, ".tls");
  }
  // On PostgreSQL there is no store file to keep files beside: the TLS
  // state (generated from the certificates, per machine) is put where the
  // file says; checkpoints are records of the chain in the database (a
  // checkpoint file is written only if audit.checkpoint_file names one).
  if (c.store.backend == StoreBackend::kPostgresql && c.tls.state_dir.empty() &&
      root["tls"] && root["tls"].IsMap()) {
    YAML::Node tls_node = root["tls"];
    r.Problem("tls.state_dir",
              "is required with store.backend postgresql (there is no store "
              "file to keep the generated TLS files beside)",
              &tls_node);
  }

  YAML::Node limits = root["limits"];
  if (limits && IsMap(r, limits, "limits")) {
    r.CheckKeys(limits, "limits",
                {"max_item_bytes", "max_message_bytes",
                 "max_concurrent_streams", "max_connection_age_seconds",
                 "stream_window", "per_caller", "hit_questions_per_second",
                 "hit_question_burst"});
    LimitsConfig& l = c.limits;
    r.Int(limits, "limits", "max_item_bytes", 1024, 64 << 20, &l.max_item_bytes);
    r.Int(limits, "limits", "max_message_bytes", 4096, 64 << 20,
          &l.max_message_bytes);
    int64_t streams = l.max_concurrent_streams;
    r.Int(limits, "limits", "max_concurrent_streams", 1, 10000, &streams);
    l.max_concurrent_streams = static_cast<int>(streams);
    r.Seconds(limits, "limits", "max_connection_age_seconds", 60, 30 * 86400,
              &l.max_connection_age);
    int64_t window = l.stream_window;
    r.Int(limits, "limits", "stream_window", 1, 65536, &window);
    l.stream_window = static_cast<int>(window);
    if (l.max_message_bytes < l.max_item_bytes) {
      r.Problem("limits.max_message_bytes",
                "must be at least limits.max_item_bytes", &limits);
    }
    ReadPerCallerLimits(r, limits["per_caller"], l.per_caller);
    r.Int(limits, "limits", "hit_questions_per_second", 0, 100'000,
          &l.hit_questions_per_second);
    r.Int(limits, "limits", "hit_question_burst", 1, 1'000'000,
          &l.hit_question_burst);
  }
}

}  // namespace

absl::string_view StoreBackendName(StoreBackend backend) {
  switch (backend) {
    case StoreBackend::kSqlite:
      return "sqlite";
    case StoreBackend::kPostgresql:
      return "postgresql";
  }
  return "unknown";
}

absl::StatusOr<GatewayConfig> ParseGatewayConfig(absl::string_view yaml,
                                                 const std::string& display_name,
                                                 const std::string& base_dir) {
  Reader reader(display_name, base_dir);
  GatewayConfig config;
  config.source_path = display_name;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          display_name, ": must be a YAML mapping of keys to values"));
    }
    ReadConfig(reader, root, config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        display_name, ":", e.mark.line + 1, ":", e.mark.column + 1,
        ": not valid YAML: ", e.msg));
  }
  if (!reader.ok()) return reader.ToStatus();
  return config;
}

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string base_dir =
      std::filesystem::absolute(path).parent_path().string();
  return ParseGatewayConfig(text.str(), path, base_dir);
}

}  // namespace havengate::config
