// ConfigDiff: what a reload (SIGHUP) of the configuration file would change
// in a running gateway, setting by setting. The gateway applies what can
// change live (peers, the item and call limits) and refuses a file that
// also changes a setting only a restart can apply (the listen address, the
// store, the organisation, ...): such a file is refused as a whole, so the
// running gateway never runs half of a configuration.
//
// A plain value; DiffConfigs is pure.
#ifndef HAVENGATE_SERVER_CONFIG_CONFIG_DIFF_H_
#define HAVENGATE_SERVER_CONFIG_CONFIG_DIFF_H_

#include <string>
#include <vector>

#include "server/config/config.h"

namespace havengate::config {

struct ConfigDiff {
  // Peers in the new file only, in its order.
  std::vector<PeerConfig> added;
  // Organisation ids of peers in the running configuration only.
  std::vector<std::string> removed;
  // Peers in both whose entry differs (address, domain, CA, CRL or its
  // refresh), as the new file has them.
  std::vector<PeerConfig> changed;
  // limits.max_item_bytes, limits.stream_window or limits.per_caller.
  bool limits_changed = false;
  // Keys the new file changes that only a restart applies, e.g. "listen",
  // "store.path" (as the file spells them), in a fixed order.
  std::vector<std::string> restart_required;

  // Nothing to apply and nothing refused: the file says what runs.
  bool empty() const {
    return added.empty() && removed.empty() && changed.empty() && !limits_changed &&
           restart_required.empty();
  }
};

// The difference from `running` to `next`.
[[nodiscard]] ConfigDiff DiffConfigs(const GatewayConfig& running,
                                     const GatewayConfig& next);

// "peers added: a, b; removed: c; changed: d; limits changed", or
// "no change" (ids and key names only: no paths' contents, no secrets).
[[nodiscard]] std::string DescribeDiff(const ConfigDiff& diff);

}  // namespace havengate::config

#endif  // HAVENGATE_SERVER_CONFIG_CONFIG_DIFF_H_
