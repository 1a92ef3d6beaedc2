#include "client/havenctl/peer_bundle.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/file_util.h"
#include "certs/spiffe_id.h"
#include "certs/x509.h"
#include "proto/identifiers.h"
#include "proto/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace havengate::havenctl {
namespace {

namespace fs = std::filesystem;

constexpr int kBundleVersion = 1;

absl::Status Invalid(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
}

absl::StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Invalid(name, absl::StrCat("not YAML (line ", e.mark.line + 1, "): ", e.msg));
  }
}

// A scalar at `node[key]`, or "" if absent.
std::string Scalar(const YAML::Node& node, const char* key) {
  if (!node.IsMap() || !node[key] || !node[key].IsScalar()) return "";
  return node[key].Scalar();
}

std::string Resolve(const std::string& config_file, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(config_file).parent_path() / path).string();
}

absl::Status CheckAddress(const std::string& name, const std::string& address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return Invalid(name, absl::StrCat("gateway address `", address,
                                      "` must be host:port with a port from 1 to 65535"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PartnerBundle> ExportBundle(const std::string& config_file,
                                           const std::string& address,
                                           const std::string& crl_url) {
  HG_ASSIGN_OR_RETURN(std::string text, pki::ReadFileToString(config_file));
  HG_ASSIGN_OR_RETURN(YAML::Node config, LoadYaml(text, config_file));
  PartnerBundle b;
  b.organisation_id = Scalar(config["organisation"], "id");
  b.domain = Scalar(config["organisation"], "domain");
  if (b.organisation_id.empty() || b.domain.empty()) {
    return Invalid(config_file, "organisation.id and organisation.domain are required");
  }
  HG_RETURN_IF_ERROR(CheckAddress("--address", address));
  b.address = address;
  b.spiffe_id = absl::StrCat("spiffe://", b.domain, "/gateway");
  const YAML::Node tls = config["tls"];
  const std::string cert_file = Resolve(config_file, Scalar(tls, "certificate"));
  HG_ASSIGN_OR_RETURN(pki::Certificate cert, pki::ReadCertificateFile(cert_file));
  HG_ASSIGN_OR_RETURN(pki::SpiffeId id, cert.GetSpiffeId());
  if (id.ToString() != b.spiffe_id) {
    return Invalid(config_file, absl::StrCat("tls.certificate is ", id.ToString(),
                                             ", not this organisation's gateway ",
                                             b.spiffe_id));
  }
  const std::string ca_file = Resolve(config_file, Scalar(tls, "ca"));
  HG_ASSIGN_OR_RETURN(pki::Certificate ca, pki::ReadCertificateFile(ca_file));
  HG_RETURN_IF_ERROR(pki::ValidateCaCertificate(ca, b.domain));
  b.ca_pem = ca.ToPem();
  b.ca_sha256 = ca.Sha256Fingerprint();
  const std::string crl_file = Resolve(config_file, Scalar(tls, "crl"));
  if (!crl_file.empty()) {
    HG_ASSIGN_OR_RETURN(pki::Crl crl, pki::Crl::ReadFile(crl_file));
    HG_RETURN_IF_ERROR(crl.CheckIssuedBy(ca));
    b.crl_pem = crl.ToPem();
  }
  b.crl_url = crl_url;
  return b;
}

std::string BundleToYaml(const PartnerBundle& b) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "havengate_partner_bundle" << YAML::Value << kBundleVersion;
  out << YAML::Key << "organisation" << YAML::Value << YAML::Flow << YAML::BeginMap
      << YAML::Key << "id" << YAML::Value << b.organisation_id << YAML::Key << "domain"
      << YAML::Value << b.domain << YAML::EndMap;
  out << YAML::Key << "gateway" << YAML::Value << YAML::BeginMap << YAML::Key << "address"
      << YAML::Value << b.address << YAML::Key << "spiffe_id" << YAML::Value << b.spiffe_id
      << YAML::EndMap;
  out << YAML::Key << "ca_sha256" << YAML::Value << b.ca_sha256;
  out << YAML::Key << "ca_certificate" << YAML::Value << YAML::Literal << b.ca_pem;
  if (!b.crl_pem.empty()) out << YAML::Key << "crl" << YAML::Value << YAML::Literal << b.crl_pem;
  if (!b.crl_url.empty()) out << YAML::Key << "crl_url" << YAML::Value << b.crl_url;
  out << YAML::EndMap;
  return absl::StrCat("# havengate partner bundle of ", b.organisation_id,
                      " (havenctl peer bundle export). Compare ca_sha256 with the partner\n"
                      "# by another channel before `havenctl peer add`.\n",
                      out.c_str(), "\n");
}

absl::StatusOr<PartnerBundle> ParseBundle(const std::string& yaml, const std::string& name) {
  HG_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(yaml, name));
  if (!root.IsMap() || Scalar(root, "havengate_partner_bundle") != "1") {
    return Invalid(name, "not a havengate partner bundle (havengate_partner_bundle: 1)");
  }
  static const std::set<std::string> kKeys = {"havengate_partner_bundle", "organisation",
                                              "gateway",  "ca_sha256", "ca_certificate",
                                              "crl",      "crl_url"};
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    if (!kKeys.count(key)) return Invalid(name, absl::StrCat("unknown key `", key, "`"));
  }
  PartnerBundle b;
  b.organisation_id = Scalar(root["organisation"], "id");
  b.domain = Scalar(root["organisation"], "domain");
  b.address = Scalar(root["gateway"], "address");
  b.spiffe_id = Scalar(root["gateway"], "spiffe_id");
  b.ca_sha256 = Scalar(root, "ca_sha256");
  b.ca_pem = Scalar(root, "ca_certificate");
  b.crl_pem = Scalar(root, "crl");
  b.crl_url = Scalar(root, "crl_url");
  if (absl::Status s = ValidateOrganisationId(b.organisation_id); !s.ok()) {
    return Invalid(name, absl::StrCat("organisation.id: ", s.message()));
  }
  if (absl::Status s = pki::SpiffeId::ValidateTrustDomain(b.domain); !s.ok()) {
    return Invalid(name, absl::StrCat("organisation.domain: ", s.message()));
  }
  HG_RETURN_IF_ERROR(CheckAddress(name, b.address));
  if (b.spiffe_id != absl::StrCat("spiffe://", b.domain, "/gateway")) {
    return Invalid(name, absl::StrCat("gateway.spiffe_id `", b.spiffe_id,
                                      "` is not the gateway of ", b.domain));
  }
  absl::StatusOr<pki::Certificate> ca = pki::Certificate::FromPem(b.ca_pem);
  if (!ca.ok()) return Invalid(name, absl::StrCat("ca_certificate: ", ca.status().message()));
  if (absl::Status s = pki::ValidateCaCertificate(*ca, b.domain); !s.ok()) {
    return Invalid(name, absl::StrCat("ca_certificate: ", s.message()));
  }
  if (ca->Sha256Fingerprint() != b.ca_sha256) {
    return Invalid(name, "ca_sha256 does not match ca_certificate: the bundle was altered");
  }
  if (!b.crl_pem.empty()) {
    absl::StatusOr<pki::Crl> crl = pki::Crl::FromPem(b.crl_pem);
    if (!crl.ok()) return Invalid(name, absl::StrCat("crl: ", crl.status().message()));
    if (absl::Status s = crl->CheckIssuedBy(*ca); !s.ok()) {
      return Invalid(name, absl::StrCat("crl: not issued by ca_certificate: ", s.message()));
    }
  }
  return b;
}

absl::StatusOr<std::string> AddPeerToConfig(const std::string& config_file,
                                            const PartnerBundle& b) {
  HG_ASSIGN_OR_RETURN(std::string text, pki::ReadFileToString(config_file));
  HG_ASSIGN_OR_RETURN(YAML::Node config, LoadYaml(text, config_file));
  if (Scalar(config["organisation"], "id") == b.organisation_id ||
      Scalar(config["organisation"], "domain") == b.domain) {
    return absl::FailedPreconditionError(absl::StrCat(
        config_file, ": ", b.organisation_id, " (", b.domain, ") is this organisation"));
  }
  const YAML::Node peers = config["peers"];
  if (peers && peers.IsSequence()) {
    for (const YAML::Node& peer : peers) {
      if (Scalar(peer, "id") == b.organisation_id || Scalar(peer, "domain") == b.domain) {
        return absl::AlreadyExistsError(absl::StrCat(
            config_file, ": ", b.organisation_id, " (", b.domain,
            ") is already a peer; remove its entry first to replace it"));
      }
    }
  }
  // The trust anchors, beside the config as the operator's other files.
  const fs::path dir = fs::path(config_file).parent_path() / "peers" / b.organisation_id;
  HG_RETURN_IF_ERROR(pki::EnsureDirectory((dir.parent_path()).string(), 0755));
  HG_RETURN_IF_ERROR(pki::EnsureDirectory(dir.string(), 0755));
  const std::string rel = absl::StrCat("peers/", b.organisation_id);
  HG_RETURN_IF_ERROR(pki::WriteFileAtomically((dir / "ca.crt").string(), b.ca_pem, 0644));
  std::string entry = absl::StrCat("{id: ", b.organisation_id, ", domain: ", b.domain,
                                   ", address: \"", b.address, "\", ca: ", rel, "/ca.crt");
  if (!b.crl_pem.empty()) {
    HG_RETURN_IF_ERROR(pki::WriteFileAtomically((dir / "crl.pem").string(), b.crl_pem, 0644));
    absl::StrAppend(&entry, ", crl: ", rel, "/crl.pem");
  }
  absl::StrAppend(&entry, "}");

  // The entry goes at the end of a block `peers:` list; an absent or empty
  // (`peers: []`) list becomes a block list. The rest of the file, its
  // comments included, stays as it is.
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  int peers_line = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "peers:")) peers_line = static_cast<int>(i);
  }
  if (peers_line < 0) {
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    lines.push_back("peers:");
    lines.push_back(absl::StrCat("  - ", entry));
    lines.push_back("");
  } else {
    absl::string_view rest = absl::StripAsciiWhitespace(
        absl::string_view(lines[peers_line]).substr(std::string("peers:").size()));
    if (!rest.empty() && !absl::StartsWith(rest, "#")) {
      if (rest != "[]") {
        return absl::FailedPreconditionError(absl::StrCat(
            config_file, ": `peers:` is written on one line; write it as a list of "
                         "entries, one per line, and run peer add again"));
      }
      lines[peers_line] = "peers:";
    }
    size_t end = peers_line + 1;
    std::string indent = "  ";
    size_t last_item = peers_line;
    for (; end < lines.size(); ++end) {
      const std::string& line = lines[end];
      if (line.empty() || line[0] == ' ' || line[0] == '-' || line[0] == '#') {
        absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
        if (absl::StartsWith(trimmed, "- ") && last_item == static_cast<size_t>(peers_line)) {
          indent = line.substr(0, line.size() - trimmed.size());
        }
        if (!trimmed.empty() && !absl::StartsWith(trimmed, "#")) last_item = end;
        continue;
      }
      break;
    }
    lines.insert(lines.begin() + last_item + 1, absl::StrCat(indent, "- ", entry));
  }
  std::string updated = absl::StrJoin(lines, "\n");
  // The result must still read as the same config plus the new peer.
  HG_ASSIGN_OR_RETURN(YAML::Node check, LoadYaml(updated, config_file));
  bool found = false;
  if (check["peers"] && check["peers"].IsSequence()) {
    for (const YAML::Node& peer : check["peers"]) found |= Scalar(peer, "id") == b.organisation_id;
  }
  if (!found) {
    return absl::InternalError(absl::StrCat(
        config_file, ": could not add the entry to `peers:` (left unchanged); add it by hand: - ",
        entry));
  }
  // Same mode, owner and group as before (e.g. root:havengate 0640).
  struct stat st{};
  const bool known = stat(config_file.c_str(), &st) == 0;
  HG_RETURN_IF_ERROR(
      pki::WriteFileAtomically(config_file, updated, known ? (st.st_mode & 07777) : 0640));
  if (known && chown(config_file.c_str(), st.st_uid, st.st_gid) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        config_file, ": updated, but its owner could not be restored; check it"));
  }
  return entry;
}

}  // namespace havengate::havenctl
