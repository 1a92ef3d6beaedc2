#include "certs/spiffe_id.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace havengate::pki {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
constexpr size_t kMaxTrustDomainLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxUriLength = 2048;

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Quotes untrusted input for an error message: bounded, printable ASCII only.
std::string Quote(absl::string_view s) {
  std::string out = "\"";
  size_t n = 0;
  for (char c : s) {
    if (++n > 80) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      out += '?';
    }
  }
  out += "\"";
  return out;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kGateway:
      return "gateway";
    case Role::kClient:
      return "client";
    case Role::kOfficer:
      return "officer";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  if (name == "gateway") return Role::kGateway;
  if (name == "client") return Role::kClient;
  if (name == "officer") return Role::kOfficer;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role ", Quote(name), "; expected gateway, client or officer"));
}

absl::Status SpiffeId::ValidateTrustDomain(absl::string_view domain) {
  if (domain.empty()) {
    return absl::InvalidArgumentError("trust domain is empty");
  }
  if (domain.size() > kMaxTrustDomainLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust domain is longer than ", kMaxTrustDomainLength,
                     " characters"));
  }
  for (char c : domain) {
    if (c >= 'A' && c <= 'Z') {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust domain ", Quote(domain), " must be lower-case"));
    }
    if (!IsLowerAlnum(c) && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust domain ", Quote(domain),
          " may contain only a-z, 0-9, '-' and '.' (no port, user info, "
          "path, query or fragment)"));
    }
  }
  std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  for (absl::string_view label : labels) {
    if (label.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust domain ", Quote(domain),
          " has an empty label (leading, trailing or double dot)"));
    }
    if (label.size() > kMaxLabelLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain ", Quote(domain), " has a label longer than ",
                       kMaxLabelLength, " characters"));
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust domain ", Quote(domain),
          " has a label that starts or ends with '-'"));
    }
  }
  bool last_all_digits = true;
  for (char c : labels.back()) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      last_all_digits = false;
    }
  }
  if (last_all_digits) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust domain ", Quote(domain),
                     " looks like an IP address; use a DNS-style name"));
  }
  return absl::OkStatus();
}

absl::Status SpiffeId::ValidateName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name is empty");
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name ", Quote(name), " is longer than ", kMaxNameLength, " characters"));
  }
  if (!IsLowerAlnum(name.front())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name ", Quote(name), " must start with a lower-case letter or digit"));
  }
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("name ", Quote(name),
                       " may contain only a-z, 0-9, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SpiffeId::ParseTrustDomainUri(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(uri), " does not start with \"spiffe://\""));
  }
  absl::string_view domain = uri.substr(kScheme.size());
  absl::Status valid = ValidateTrustDomain(domain);
  if (!valid.ok()) return valid;
  return std::string(domain);
}

std::string SpiffeId::TrustDomainUri(absl::string_view trust_domain) {
  return absl::StrCat(kScheme, trust_domain);
}

absl::StatusOr<SpiffeId> SpiffeId::Parse(absl::string_view uri) {
  if (uri.size() > kMaxUriLength) {
    return absl::InvalidArgumentError("SPIFFE id is too long");
  }
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE id ", Quote(uri), " does not start with \"spiffe://\""));
  }
  absl::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE id ", Quote(uri), " has no path; expected /gateway, "
        "/client/<name> or /officer/<name>"));
  }
  absl::string_view domain = rest.substr(0, slash);
  absl::string_view path = rest.substr(slash + 1);
  absl::Status domain_ok = ValidateTrustDomain(domain);
  if (!domain_ok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE id ", Quote(uri), ": ", domain_ok.message()));
  }
  if (path == "gateway") {
    return SpiffeId(std::string(domain), Role::kGateway, "");
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  if (segments.size() == 2 &&
      (segments[0] == "client" || segments[0] == "officer")) {
    absl::Status name_ok = ValidateName(segments[1]);
    if (!name_ok.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SPIFFE id ", Quote(uri), ": ", name_ok.message()));
    }
    return SpiffeId(std::string(domain),
                    segments[0] == "client" ? Role::kClient : Role::kOfficer,
                    std::string(segments[1]));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "SPIFFE id ", Quote(uri),
      " must have the path /gateway, /client/<name> or /officer/<name>"));
}

absl::StatusOr<SpiffeId> SpiffeId::Make(absl::string_view trust_domain,
                                        Role role, absl::string_view name) {
  absl::Status domain_ok = ValidateTrustDomain(trust_domain);
  if (!domain_ok.ok()) return domain_ok;
  if (role == Role::kGateway) {
    if (!name.empty()) {
      return absl::InvalidArgumentError(
          "a gateway identity has no name (spiffe://<domain>/gateway)");
    }
    return SpiffeId(std::string(trust_domain), role, "");
  }
  absl::Status name_ok = ValidateName(name);
  if (!name_ok.ok()) return name_ok;
  return SpiffeId(std::string(trust_domain), role, std::string(name));
}

std::string SpiffeId::ToString() const {
  if (role_ == Role::kGateway) {
    return absl::StrCat(kScheme, trust_domain_, "/gateway");
  }
  return absl::StrCat(kScheme, trust_domain_, "/", RoleName(role_), "/", name_);
}

}  // namespace havengate::pki
