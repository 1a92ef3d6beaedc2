#include "policy/yaml_reader.h"

#include <cmath>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "policy/plan.h"
#include "policy/suggest.h"
#include "proto/json.h"

namespace havengate::policy {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// More nodes than any real policy has: protects against alias bombs
// (`&a [*b, *b, ...]`), which yaml-cpp shares rather than copies but a
// naive walk would expand.
constexpr int kMaxNodes = 2'000'000;

absl::string_view NodeTypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping (key: value)";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a single value";
    default: return "nothing";
  }
}

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF), as protobuf requires of proto3 text fields.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the 2nd byte
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return false;
    }
    i += extra + 1;
  }
  return true;
}

// "a Rule" -> readable name of a message type for officers.
std::string Noun(const Descriptor* d) {
  return absl::StrCat("`", d->name(), "`");
}

class Walker {
 public:
  Walker(SourceMap* map, std::vector<Diagnostic>* diagnostics)
      : map_(map), diagnostics_(diagnostics) {}

  bool ok() const { return ok_; }

  void Message(const YAML::Node& node, google::protobuf::Message* msg,
               const std::string& path) {
    if (!Count(node, path)) return;
    const Descriptor* d = msg->GetDescriptor();
    if (node.IsNull()) return;
    if (node.IsScalar()) {
      ShortForm(node, msg, path);
      return;
    }
    if (!node.IsMap()) {
      Error(path, node, absl::StrCat("expected the fields of ", Noun(d),
                                     " as a mapping (key: value), found ",
                                     NodeTypeName(node)));
      return;
    }
    absl::flat_hash_set<int> seen;
    for (const auto& entry : node) {
      // Copies: yaml-cpp's iterator yields temporaries; a Node is a handle.
      const YAML::Node key = entry.first;
      const YAML::Node value = entry.second;
      if (!key.IsScalar()) {
        Error(path, key, "a field name must be a single word");
        continue;
      }
      const std::string& name = key.Scalar();
      const FieldDescriptor* field = d->FindFieldByName(name);
      if (field == nullptr) field = d->FindFieldByLowercaseName(name);
      if (field == nullptr) {
        for (int i = 0; i < d->field_count() && field == nullptr; ++i) {
          if (d->field(i)->json_name() == name) field = d->field(i);
        }
      }
      std::string field_path =
          path.empty() ? name : absl::StrCat(path, ".", name);
      if (field == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < d->field_count(); ++i) {
          names.push_back(d->field(i)->name());
        }
        std::string hint = DidYouMean(name, names);
        if (hint.empty()) {
          hint = absl::StrCat("; the fields are: ", absl::StrJoin(names, ", "));
        }
        ErrorAtKey(key, absl::StrCat("unknown field `", name, "` in ",
                                     Noun(d), hint));
        continue;
      }
      field_path = path.empty() ? field->name()
                                : absl::StrCat(path, ".", field->name());
      if (!seen.insert(field->number()).second) {
        ErrorAtKey(key, absl::StrCat("`", field->name(),
                                     "` is given twice; keep one"));
        continue;
      }
      if (const auto* oneof = field->containing_oneof()) {
        const Reflection* r = msg->GetReflection();
        if (const FieldDescriptor* other = r->GetOneofFieldDescriptor(*msg, oneof)) {
          ErrorAtKey(key, absl::StrCat(Noun(d), " takes exactly one of ",
                                       OneofNames(oneof), "; `",
                                       other->name(), "` is already given"));
          continue;
        }
      }
      Record(field_path, value, key);
      Field(value, msg, field, field_path, key);
    }
  }

 private:
  static std::string OneofNames(const google::protobuf::OneofDescriptor* o) {
    std::vector<std::string> names;
    for (int i = 0; i < o->field_count(); ++i) names.push_back(o->field(i)->name());
    return absl::StrCat("`", absl::StrJoin(names, "`, `"), "`");
  }

  bool Count(const YAML::Node& node, const std::string& path) {
    if (++nodes_ <= kMaxNodes) return true;
    if (nodes_ == kMaxNodes + 1) {
      Error(path, node, "the document is too large (too many values)");
    }
    return false;
  }

  void Record(const std::string& path, const YAML::Node& value,
              const YAML::Node& key) {
    SourcePos key_pos = PosOf(key.Mark());
    // yaml-cpp places empty (null) values at the next token; the key is
    // where the officer looks.
    SourcePos value_pos = value.IsNull() ? key_pos : PosOf(value.Mark());
    map_->Put(path, value_pos, key_pos, !IsQuoted(value));
  }

  void ShortForm(const YAML::Node& node, google::protobuf::Message* msg,
                 const std::string& path) {
    const Descriptor* d = msg->GetDescriptor();
    // `redact`: the name of a field whose type is an empty message.
    if (const FieldDescriptor* f = d->FindFieldByName(node.Scalar())) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          !f->is_repeated() && f->message_type()->field_count() == 0) {
        msg->GetReflection()->MutableMessage(msg, f);
        return;
      }
    }
    if (d->field_count() == 1 && !d->field(0)->is_map()) {
      Field(node, msg, d->field(0),
            path.empty() ? d->field(0)->name()
                         : absl::StrCat(path, ".", d->field(0)->name()),
            node);
      return;
    }
    std::vector<std::string> empty_fields;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          f->message_type()->field_count() == 0) {
        empty_fields.push_back(f->name());
      }
    }
    std::string hint = DidYouMean(node.Scalar(), empty_fields);
    Error(path, node,
          absl::StrCat("expected the fields of ", Noun(d),
                       " as a mapping (key: value), found the single value `",
                       node.Scalar(), "`", hint));
  }

  void Field(const YAML::Node& node, google::protobuf::Message* msg,
             const FieldDescriptor* field, const std::string& path,
             const YAML::Node& key) {
    if (field->is_map()) {
      MapField(node, msg, field, path);
      return;
    }
    if (field->is_repeated()) {
      if (node.IsNull()) return;
      if (node.IsSequence()) {
        int i = 0;
        for (const auto& entry : node) {
          const YAML::Node element = entry;
          std::string element_path = absl::StrCat(path, "[", i++, "]");
          Record(element_path, element, element);
          if (element.IsNull()) {
            Error(element_path, element, absl::StrCat("empty entry in `",
                                                      field->name(), "`"));
            continue;
          }
          Single(element, msg, field, element_path);
        }
        return;
      }
      if (node.IsScalar() &&
          field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        std::string element_path = absl::StrCat(path, "[0]");
        Record(element_path, node, key);
        Single(node, msg, field, element_path);
        return;
      }
      Error(path, node, absl::StrCat("`", field->name(),
                                     "` is a list; found ", NodeTypeName(node)));
      return;
    }
    if (node.IsNull() &&
        field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return;  // `description:` with nothing after it: left unset.
    }
    Single(node, msg, field, path);
  }

  void MapField(const YAML::Node& node, google::protobuf::Message* msg,
                const FieldDescriptor* field, const std::string& path) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(path, node,
            absl::StrCat("`", field->name(),
                         "` is a mapping (key: value); found ",
                         NodeTypeName(node)));
      return;
    }
    const Descriptor* entry_type = field->message_type();
    const FieldDescriptor* key_field = entry_type->map_key();
    const FieldDescriptor* value_field = entry_type->map_value();
    absl::flat_hash_set<std::string> seen;
    for (const auto& kv : node) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      if (!key.IsScalar()) {
        Error(path, key, "a key must be a single value");
        continue;
      }
      const std::string& k = key.Scalar();
      if (!IsValidUtf8(k)) {
        ErrorAtKey(key, "a key must be valid UTF-8 text");
        continue;
      }
      std::string entry_path = absl::StrCat(path, "[", k, "]");
      if (!seen.insert(k).second) {
        ErrorAtKey(key, absl::StrCat("`", k, "` is given twice in `",
                                     field->name(), "`; keep one"));
        continue;
      }
      Record(entry_path, value, key);
      google::protobuf::Message* entry =
          msg->GetReflection()->AddMessage(msg, field);
      const Reflection* er = entry->GetReflection();
      if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        er->SetString(entry, key_field, k);
      } else {
        Error(entry_path, key, "only text keys are supported here");
        continue;
      }
      Single(value, entry, value_field, entry_path);
    }
  }

  // One value of `field` (an element, for repeated fields).
  void Single(const YAML::Node& node, google::protobuf::Message* msg,
              const FieldDescriptor* field, const std::string& path) {
    const Reflection* r = msg->GetReflection();
    bool rep = field->is_repeated();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      google::protobuf::Message* sub = rep ? r->AddMessage(msg, field)
                                           : r->MutableMessage(msg, field);
      Message(node, sub, path);
      return;
    }
    if (!node.IsScalar()) {
      Error(path, node, absl::StrCat("`", field->name(), "` takes ",
                                     ScalarNoun(field), "; found ",
                                     NodeTypeName(node)));
      return;
    }
    const std::string& text = node.Scalar();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        // Text that is not UTF-8 would load, then make every audit record,
        // policy message and item that carries it unreadable to protobuf.
        if (!IsValidUtf8(text)) {
          Error(path, node, absl::StrCat("`", field->name(), "` is not valid UTF-8 text"));
          return;
        }
        rep ? r->AddString(msg, field, text) : r->SetString(msg, field, text);
        return;
      case FieldDescriptor::CPPTYPE_BOOL: {
        std::string lower = absl::AsciiStrToLower(text);
        if (lower != "true" && lower != "false") {
          Error(path, node, absl::StrCat("`", field->name(),
                                         "` takes true or false; found `",
                                         text, "`"));
          return;
        }
        rep ? r->AddBool(msg, field, lower == "true")
            : r->SetBool(msg, field, lower == "true");
        return;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* v = EnumValue(field->enum_type(), text);
        if (v == nullptr) {
          std::vector<std::string> names;
          for (int i = 0; i < field->enum_type()->value_count(); ++i) {
            const std::string& n = field->enum_type()->value(i)->name();
            if (!absl::EndsWith(n, "_UNSPECIFIED")) names.push_back(n);
          }
          Error(path, node,
                absl::StrCat("`", text, "` is not a valid `", field->name(),
                             "`; choose one of: ", absl::StrJoin(names, ", "),
                             DidYouMean(text, names)));
          return;
        }
        rep ? r->AddEnumValue(msg, field, v->number())
            : r->SetEnumValue(msg, field, v->number());
        return;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double d;
        if (!absl::SimpleAtod(text, &d) || !std::isfinite(d)) {
          Error(path, node, absl::StrCat("`", field->name(),
                                         "` takes a number; found `", text,
                                         "`"));
          return;
        }
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          rep ? r->AddDouble(msg, field, d) : r->SetDouble(msg, field, d);
        } else {
          float f = static_cast<float>(d);
          rep ? r->AddFloat(msg, field, f) : r->SetFloat(msg, field, f);
        }
        return;
      }
      default:
        Integer(node, msg, field, path);
        return;
    }
  }

  void Integer(const YAML::Node& node, google::protobuf::Message* msg,
               const FieldDescriptor* field, const std::string& path) {
    const Reflection* r = msg->GetReflection();
    bool rep = field->is_repeated();
    const std::string& text = node.Scalar();
    int64_t i = 0;
    uint64_t u = 0;
    bool is_unsigned = field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 ||
                       field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
    bool parsed = is_unsigned ? absl::SimpleAtoi(text, &u)
                              : absl::SimpleAtoi(text, &i);
    bool in_range = true;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        in_range = i >= std::numeric_limits<int32_t>::min() &&
                   i <= std::numeric_limits<int32_t>::max();
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        in_range = u <= std::numeric_limits<uint32_t>::max();
        break;
      default:
        break;
    }
    if (!parsed || !in_range) {
      Error(path, node,
            absl::StrCat("`", field->name(), "` takes ",
                         is_unsigned ? "a whole number of 0 or more"
                                     : "a whole number",
                         "; found `", text, "`"));
      return;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(msg, field, static_cast<int32_t>(i))
            : r->SetInt32(msg, field, static_cast<int32_t>(i));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(msg, field, i) : r->SetInt64(msg, field, i);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(msg, field, static_cast<uint32_t>(u))
            : r->SetUInt32(msg, field, static_cast<uint32_t>(u));
        break;
      default:
        rep ? r->AddUInt64(msg, field, u) : r->SetUInt64(msg, field, u);
        break;
    }
  }

  static std::string ScalarNoun(const FieldDescriptor* field) {
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING: return "text";
      case FieldDescriptor::CPPTYPE_BOOL: return "true or false";
      case FieldDescriptor::CPPTYPE_ENUM: return "a name from a list";
      default: return "a number";
    }
  }

  static const EnumValueDescriptor* EnumValue(const EnumDescriptor* e,
                                              const std::string& text) {
    if (const auto* v = e->FindValueByName(text)) return v;
    for (int i = 0; i < e->value_count(); ++i) {
      if (absl::EqualsIgnoreCase(e->value(i)->name(), text)) return e->value(i);
    }
    return nullptr;
  }

  void Error(const std::string& path, const YAML::Node& node,
             std::string message) {
    ok_ = false;
    SourcePos pos = node.IsNull() ? map_->ValueAt(path) : PosOf(node.Mark());
    diagnostics_->push_back(
        map_->AtPos(pos, Diagnostic::Severity::kError, std::move(message)));
  }
  void ErrorAtKey(const YAML::Node& key, std::string message) {
    ok_ = false;
    diagnostics_->push_back(map_->AtPos(
        PosOf(key.Mark()), Diagnostic::Severity::kError, std::move(message)));
  }

  SourceMap* map_;
  std::vector<Diagnostic>* diagnostics_;
  bool ok_ = true;
  int nodes_ = 0;
};

void AppendJson(const YAML::Node& node, std::string* out) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : node) {
        if (!first) out->push_back(',');
        first = false;
        const YAML::Node key = kv.first;
        absl::StrAppend(out, JsonQuote(key.IsScalar() ? key.Scalar() : ""), ":");
        AppendJson(kv.second, out);
      }
      out->push_back('}');
      return;
    }
    case YAML::NodeType::Sequence: {
      out->push_back('[');
      bool first = true;
      for (const auto& element : node) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(element, out);
      }
      out->push_back(']');
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (!IsQuoted(node)) {
        double d;
        if (s == "true" || s == "false" || s == "null") {
          out->append(s);
          return;
        }
        if (absl::SimpleAtod(s, &d) && std::isfinite(d) &&
            s.find_first_not_of("0123456789+-.eE") == std::string::npos) {
          out->append(s);
          return;
        }
      }
      out->append(JsonQuote(s));
      return;
    }
    default:
      out->append("null");
  }
}

}  // namespace

SourcePos PosOf(const YAML::Mark& mark) {
  if (mark.line < 0) return SourcePos{};
  return SourcePos{mark.line + 1, mark.column + 1, mark.pos};
}

void SourceMap::Put(const std::string& path, SourcePos value, SourcePos key,
                    bool plain) {
  entries_[path] = Entry{value, key, plain};
}

const SourceMap::Entry* SourceMap::Lookup(absl::string_view path) const {
  while (true) {
    auto it = entries_.find(path);
    if (it != entries_.end()) return &it->second;
    // Drop the last step: `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a`. A step
    // may itself contain dots inside brackets (`transform[persons.name]`).
    size_t cut = absl::string_view::npos;
    int depth = 0;
    for (size_t i = path.size(); i-- > 0;) {
      char c = path[i];
      if (c == ']') ++depth;
      if (c == '[') {
        --depth;
        if (depth == 0) {
          cut = i;
          break;
        }
      }
      if (c == '.' && depth == 0) {
        cut = i;
        break;
      }
    }
    if (path.empty()) return nullptr;
    path = cut == absl::string_view::npos ? absl::string_view() : path.substr(0, cut);
  }
}

SourcePos SourceMap::ValueAt(absl::string_view path) const {
  const Entry* e = Lookup(path);
  return e == nullptr ? SourcePos{} : e->value;
}

SourcePos SourceMap::KeyAt(absl::string_view path) const {
  const Entry* e = Lookup(path);
  return e == nullptr ? SourcePos{} : e->key;
}

SourcePos SourceMap::InsideValue(absl::string_view path,
                                 absl::string_view value,
                                 size_t offset) const {
  auto it = entries_.find(path);
  if (it == entries_.end() || text_ == nullptr || it->second.value.offset < 0) {
    return ValueAt(path);
  }
  const std::string& text = *text_;
  size_t p = static_cast<size_t>(it->second.value.offset);
  if (p >= text.size()) return it->second.value;
  // Skip the opening quote, or the header line of a block scalar.
  if (text[p] == '"' || text[p] == '\'') {
    ++p;
  } else if (text[p] == '|' || text[p] == '>') {
    size_t nl = text.find('\n', p);
    p = nl == std::string::npos ? text.size() : nl + 1;
  }
  // Walk value and source together: every character of a scalar's value
  // appears in order in its source, between skipped indentation, escapes
  // and line folds. A folded line break in the value (a space) may stand
  // for a newline in the source.
  // Escapes of double-quoted scalars (`\t` for a tab) are matched as one
  // character.
  auto escape_for = [&](size_t at, char want) -> size_t {
    if (text[at] != '\\' || at + 1 >= text.size()) return 0;
    char e = text[at + 1];
    char decoded = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e;
    return decoded == want ? 2 : 0;
  };
  for (size_t i = 0; i < offset && i < value.size() && p < text.size(); ++i) {
    char want = value[i];
    size_t escape = 0;
    while (p < text.size() && text[p] != want &&
           !(want == ' ' && text[p] == '\n') &&
           (escape = escape_for(p, want)) == 0) {
      ++p;
    }
    if (p < text.size()) p += escape > 0 ? escape : 1;
  }
  if (offset < value.size()) {
    // Land on the character itself, not before skipped whitespace.
    while (p < text.size() && text[p] != value[offset] &&
           (text[p] == ' ' || text[p] == '\n' || text[p] == '\\')) {
      ++p;
    }
  }
  if (p > text.size()) p = text.size();
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < p; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return SourcePos{line, static_cast<int>(p - line_start) + 1,
                   static_cast<int>(p)};
}

Diagnostic SourceMap::At(absl::string_view path, Diagnostic::Severity severity,
                         std::string message) const {
  return AtPos(ValueAt(path), severity, std::move(message));
}

Diagnostic SourceMap::AtKey(absl::string_view path,
                            Diagnostic::Severity severity,
                            std::string message) const {
  return AtPos(KeyAt(path), severity, std::move(message));
}

Diagnostic SourceMap::AtPos(SourcePos pos, Diagnostic::Severity severity,
                            std::string message) const {
  Diagnostic d;
  d.severity = severity;
  d.file = file_;
  d.line = pos.line;
  d.column = pos.column;
  d.message = std::move(message);
  return d;
}

std::optional<YAML::Node> ParseYaml(absl::string_view text,
                                    const std::string& display_name,
                                    std::vector<Diagnostic>* diagnostics) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    Diagnostic d;
    d.file = display_name;
    d.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    d.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    d.message = absl::StrCat("not valid YAML: ", e.msg);
    diagnostics->push_back(std::move(d));
  } catch (const std::exception& e) {
    Diagnostic d;
    d.file = display_name;
    d.message = absl::StrCat("not valid YAML: ", e.what());
    diagnostics->push_back(std::move(d));
  }
  return std::nullopt;
}

bool ReadYamlMessage(const YAML::Node& node,
                     google::protobuf::Message* message,
                     const std::string& path_prefix, SourceMap* map,
                     std::vector<Diagnostic>* diagnostics) {
  message->Clear();
  // The message itself: where missing required fields are reported.
  map->Put(path_prefix, PosOf(node.Mark()), PosOf(node.Mark()), true);
  Walker walker(map, diagnostics);
  try {
    walker.Message(node, message, path_prefix);
  } catch (const std::exception& e) {
    diagnostics->push_back(map->AtPos(PosOf(node.Mark()),
                                      Diagnostic::Severity::kError,
                                      absl::StrCat("cannot read: ", e.what())));
    return false;
  }
  return walker.ok();
}

bool IsQuoted(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() == "!";
}

std::string YamlToJson(const YAML::Node& node) {
  std::string out;
  AppendJson(node, &out);
  return out;
}

// Reading a policy document: the policy message from YAML, then the
// compiler (CompileWithSources in plan.h).

namespace {

using Severity = Diagnostic::Severity;

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompileYamlNodeOrThrow(
    const YAML::Node& root, SourceMap& sources, const std::string& base_dir,
    std::vector<Diagnostic>* diagnostics) {
  std::vector<Diagnostic> local;
  std::vector<Diagnostic>* out = diagnostics != nullptr ? diagnostics : &local;
  std::vector<Diagnostic> read_errors;
  v1::SharingPolicy policy;
  if (!root.IsMap()) {
    Diagnostic d = sources.AtPos(PosOf(root.Mark()), Severity::kError,
                                 "a policy is a mapping that starts with "
                                 "`organisation:` and `version:`");
    if (!d.line) d.line = d.column = 1;
    out->push_back(d);
    return ErrorsToStatus(absl::StrCat("policy ", sources.file(), " is invalid"), *out);
  }
  if (ReadYamlMessage(root, &policy, "", &sources, &read_errors)) {
    return CompileWithSources(policy, sources, base_dir, out);
  }
  // Report what can still be checked, so officers see all problems at
  // once; never return a policy that did not read cleanly. Sections with
  // read errors are known to be incomplete.
  absl::flat_hash_set<std::string> unreliable;
  for (const Diagnostic& d : read_errors) {
    std::string section;
    int start = 0;
    for (const auto& kv : root) {
      int line = PosOf(kv.first.Mark()).line;
      if (line <= d.line && line >= start) {
        start = line;
        section = kv.first.Scalar();
      }
    }
    unreliable.insert(section);
  }
  std::vector<Diagnostic> more;
  (void)CompileWithSources(policy, sources, base_dir, &more, &unreliable);
  out->insert(out->end(), read_errors.begin(), read_errors.end());
  // A value that could not be read is left unset, which the compiler would
  // report again in other words: keep only its other findings.
  absl::flat_hash_set<int> lines;
  for (const Diagnostic& d : read_errors) lines.insert(d.line);
  for (Diagnostic& d : more) {
    if (d.severity == Severity::kError && !lines.contains(d.line)) out->push_back(std::move(d));
  }
  return ErrorsToStatus(absl::StrCat("policy ", sources.file(), " is invalid"), *out);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompileYamlNode(
    const YAML::Node& root, SourceMap& sources, const std::string& base_dir,
    std::vector<Diagnostic>* diagnostics) {
  try {
    return CompileYamlNodeOrThrow(root, sources, base_dir, diagnostics);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("reading policy ", sources.file(), " failed: ", e.what()));
  }
}

}  // namespace havengate::policy
