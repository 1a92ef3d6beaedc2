// The console's static files (assets/: its stylesheet and script, written
// for havengate and under its licence), embedded into the binary at build
// time by CMake (embed_assets.cmake), so the console fetches nothing from
// anywhere else and needs no files beside havenctl.
#ifndef HAVENGATE_CLIENT_CONSOLE_ASSETS_H_
#define HAVENGATE_CLIENT_CONSOLE_ASSETS_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace havengate::console {

struct Asset {
  absl::string_view bytes;
  absl::string_view content_type;
};

// The asset called `name` (e.g. "console.css"), if there is one.
std::optional<Asset> FindAsset(absl::string_view name);

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_ASSETS_H_
