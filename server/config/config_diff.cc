#include "server/config/config_diff.h"

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace havengate::config {
namespace {

auto PeerSettings(const PeerConfig& p) {
  return std::tie(p.domain, p.address, p.ca, p.crl, p.crl_refresh);
}

auto LiveLimits(const LimitsConfig& l) {
  const limits::CallerLimitsOptions& c = l.per_caller;
  return std::tie(l.max_item_bytes, l.stream_window, c.calls_per_second, c.call_burst,
                  c.items_per_second, c.item_burst, c.max_concurrent_calls,
                  l.hit_questions_per_second, l.hit_question_burst);
}

// Every setting that only a restart applies, by the key that names it.
// The listener's transport limits are fixed when gRPC builds the server.
void RestartOnly(const GatewayConfig& a, const GatewayConfig& b,
                 std::vector<std::string>& keys) {
  auto check = [&keys](bool same, const char* key) {
    if (!same) keys.emplace_back(key);
  };
  check(a.organisation_id == b.organisation_id, "organisation.id");
  check(a.organisation_domain == b.organisation_domain, "organisation.domain");
  check(a.listen_address == b.listen_address, "listen");
  check(a.port_file == b.port_file, "port_file");
  check(a.tls.certificate == b.tls.certificate, "tls.certificate");
  check(a.tls.private_key == b.tls.private_key, "tls.private_key");
  check(a.tls.ca == b.tls.ca, "tls.ca");
  check(a.tls.crl == b.tls.crl, "tls.crl");
  check(a.tls.reload_interval == b.tls.reload_interval, "tls.reload_interval_seconds");
  check(a.tls.state_dir == b.tls.state_dir, "tls.state_dir");
  check(a.store.backend == b.store.backend, "store.backend");
  check(a.store.path == b.store.path, "store.path");
  check(a.store.dsn == b.store.dsn, "store.dsn");
  check(a.policy_path == b.policy_path, "policy");
  check(a.metrics_listen_address == b.metrics_listen_address, "metrics.listen");
  check(a.audit.checkpoint_every_records == b.audit.checkpoint_every_records,
        "audit.checkpoint_every_records");
  check(a.audit.checkpoint_interval == b.audit.checkpoint_interval,
        "audit.checkpoint_interval_seconds");
  check(a.audit.checkpoint_file == b.audit.checkpoint_file, "audit.checkpoint_file");
  check(a.log_format == b.log_format, "log.format");
  check(a.limits.max_message_bytes == b.limits.max_message_bytes,
        "limits.max_message_bytes");
  check(a.limits.max_concurrent_streams == b.limits.max_concurrent_streams,
        "limits.max_concurrent_streams");
  check(a.limits.max_connection_age == b.limits.max_connection_age,
        "limits.max_connection_age_seconds");
}

std::vector<std::string> Ids(const std::vector<PeerConfig>& peers) {
  std::vector<std::string> ids;
  for (const PeerConfig& p : peers) ids.push_back(p.id);
  return ids;
}

}  // namespace

ConfigDiff DiffConfigs(const GatewayConfig& running, const GatewayConfig& next) {
  ConfigDiff diff;
  std::map<std::string, const PeerConfig*> before;
  for (const PeerConfig& p : running.peers) before[p.id] = &p;
  for (const PeerConfig& p : next.peers) {
    auto it = before.find(p.id);
    if (it == before.end()) {
      diff.added.push_back(p);
      continue;
    }
    if (PeerSettings(*it->second) != PeerSettings(p)) diff.changed.push_back(p);
    before.erase(it);
  }
  for (const PeerConfig& p : running.peers) {
    if (before.count(p.id) > 0) diff.removed.push_back(p.id);
  }
  diff.limits_changed = LiveLimits(running.limits) != LiveLimits(next.limits);
  RestartOnly(running, next, diff.restart_required);
  return diff;
}

std::string DescribeDiff(const ConfigDiff& diff) {
  std::vector<std::string> parts;
  if (!diff.added.empty()) {
    parts.push_back(absl::StrCat("peers added: ", absl::StrJoin(Ids(diff.added), ", ")));
  }
  if (!diff.removed.empty()) {
    parts.push_back(absl::StrCat("peers removed: ", absl::StrJoin(diff.removed, ", ")));
  }
  if (!diff.changed.empty()) {
    parts.push_back(absl::StrCat("peers changed: ", absl::StrJoin(Ids(diff.changed), ", ")));
  }
  if (diff.limits_changed) parts.emplace_back("limits changed");
  if (!diff.restart_required.empty()) {
    parts.push_back(absl::StrCat("needing a restart: ",
                                 absl::StrJoin(diff.restart_required, ", ")));
  }
  return parts.empty() ? "no change" : absl::StrJoin(parts, "; ");
}

}  // namespace havengate::config
