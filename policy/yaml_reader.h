// Reading protobuf messages from YAML (and JSON, which YAML includes) with
// every error pinned to the line and column of the offending node.
//
// The walker is driven by the message descriptor, following the proto3
// JSON mapping (protobuf field names or their lowerCamelCase JSON names,
// enum values by name), plus three short forms for people writing YAML by
// hand, all unambiguous:
//  - a repeated field may be given one value without brackets
//    (`to: customs-nl` for `to: [customs-nl]`);
//  - a message with exactly one field may be given as that field's value
//    (`pseudonymise: names-2026` for `pseudonymise: {key: names-2026}`,
//    `truncate_time: HOUR`, `round_geo: 2`, `mask: 4`, `replace: "..."`);
//  - a message may be given as the name of one of its fields that is an
//    empty message (`persons.name: redact` for `{redact: {}}`).
// Enum names are matched case-insensitively (`kinds: [alert]`).
//
// All problems are collected, not just the first. A `SourceMap` records
// where each value came from, so later stages (the policy compiler) can
// report their own errors at the right place, down to a column inside a
// string such as a `when` condition.
//
// yaml-cpp throws; nothing escapes these functions. Thread-compatible:
// separate calls share nothing.
#ifndef HAVENGATE_POLICY_YAML_READER_H_
#define HAVENGATE_POLICY_YAML_READER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "policy/diagnostic.h"
#include "yaml-cpp/yaml.h"

namespace havengate::policy {

// A place in a text: 1-based line and column, and the byte offset (-1 when
// unknown).
struct SourcePos {
  int line = 0;
  int column = 0;
  int offset = -1;
  bool known() const { return line > 0; }
};

SourcePos PosOf(const YAML::Mark& mark);

// Where the values of a message read from YAML came from, keyed by field
// path in the form `rules[2].transform[persons.name]`.
class SourceMap {
 public:
  SourceMap() = default;
  SourceMap(std::string file, std::shared_ptr<const std::string> text)
      : file_(std::move(file)), text_(std::move(text)) {}

  const std::string& file() const { return file_; }

  void Put(const std::string& path, SourcePos value, SourcePos key, bool plain);

  // Position of the value at `path`; if it was not written, the position of
  // the nearest enclosing value that was (e.g. the rule, for a missing
  // `name`). Unknown (0:0) if nothing encloses it.
  SourcePos ValueAt(absl::string_view path) const;
  // Position of the key naming `path` (`share:` for `rules[0].share`),
  // falling back as ValueAt does.
  SourcePos KeyAt(absl::string_view path) const;
  // Position of the character at byte `offset` of the string `value` read
  // from `path` (used to point into `when` conditions). Handles plain,
  // quoted and block scalars, including escapes and folded lines.
  SourcePos InsideValue(absl::string_view path, absl::string_view value,
                        size_t offset) const;

  // A diagnostic at the value (or key) of `path`.
  Diagnostic At(absl::string_view path, Diagnostic::Severity severity,
                std::string message) const;
  Diagnostic AtKey(absl::string_view path, Diagnostic::Severity severity,
                   std::string message) const;
  Diagnostic AtPos(SourcePos pos, Diagnostic::Severity severity,
                   std::string message) const;

 private:
  struct Entry {
    SourcePos value;
    SourcePos key;
    bool plain = true;
  };
  const Entry* Lookup(absl::string_view path) const;

  std::string file_;
  std::shared_ptr<const std::string> text_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

// Parses YAML text. On a syntax error adds a diagnostic at the error's
// position and returns nullopt.
std::optional<YAML::Node> ParseYaml(absl::string_view text,
                                    const std::string& display_name,
                                    std::vector<Diagnostic>* diagnostics);

// Reads `node` into `message` (cleared first); `text` is the document the
// node was parsed from. Adds a diagnostic for every problem and records
// positions in `map` under paths starting with `path_prefix` (usually "").
// Returns true if no error was added. Fields with errors are left unset.
bool ReadYamlMessage(const YAML::Node& node,
                     google::protobuf::Message* message,
                     const std::string& path_prefix, SourceMap* map,
                     std::vector<Diagnostic>* diagnostics);

// Converts a YAML subtree to JSON text: quoted scalars become strings,
// plain scalars that look like numbers, booleans or null become those.
// Used to read items written inline in YAML through the proto3 JSON parser.
std::string YamlToJson(const YAML::Node& node);

// True if the scalar was written quoted or as a block scalar (`|`, `>`),
// i.e. it is text even if it looks like a number.
bool IsQuoted(const YAML::Node& node);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_YAML_READER_H_
