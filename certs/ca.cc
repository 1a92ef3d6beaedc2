#include "certs/ca.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/file_util.h"
#include "certs/openssl_util.h"
#include "proto/identifiers.h"
#include "proto/status_macros.h"

namespace havengate::pki {
namespace {

constexpr char kLockFile[] = ".lock";
constexpr char kCrlNumberFile[] = "crlnumber";
constexpr char kIndexHeader[] =
    "# havengate CA index: serial\tstatus (V valid, R revoked)\tnot_after\t"
    "revoked_at\tspiffe_id\tsubject\n";
constexpr absl::Duration kMaxCaLifetime = absl::Hours(24 * 365 * 20);

absl::Time NowOr(absl::Time t) {
  return t == absl::InfinitePast() ? absl::Now() : t;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseTime(absl::string_view s) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", s, absl::UTCTimeZone(), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("bad time \"", s, "\""));
  }
  return t;
}

// Index fields must not contain the separators.
std::string Sanitize(absl::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\t' || c == '\n' || c == '\r') c = '?';
  }
  return out;
}

absl::StatusOr<Asn1IntegerPtr> RandomSerial() {
  for (int attempt = 0; attempt < 8; ++attempt) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return OpenSslInternalError("RAND_bytes");
    }
    BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (bn == nullptr) return OpenSslInternalError("BN_bin2bn");
    if (BN_is_zero(bn.get())) continue;
    Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    if (serial == nullptr) return OpenSslInternalError("BN_to_ASN1_INTEGER");
    return serial;
  }
  return absl::InternalError("could not draw a non-zero serial");
}

absl::Status AddConfExtension(X509* cert, X509* issuer, int nid,
                              const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslInternalError(
        absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status AddSubjectAltNames(X509* cert,
                                const std::vector<std::string>& uris,
                                const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses) {
  if (uris.empty() && dns_names.empty() && ip_addresses.empty()) {
    return absl::OkStatus();
  }
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslInternalError("sk_GENERAL_NAME_new_null");
  // Takes ownership of `value` (an ASN1_IA5STRING or ASN1_OCTET_STRING).
  auto push = [&](int type, ASN1_STRING* value) -> absl::Status {
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) {
      ASN1_STRING_free(value);
      return OpenSslInternalError("GENERAL_NAME_new");
    }
    GENERAL_NAME_set0_value(name, type, value);
    if (sk_GENERAL_NAME_push(names.get(), name) <= 0) {
      GENERAL_NAME_free(name);
      return OpenSslInternalError("sk_GENERAL_NAME_push");
    }
    return absl::OkStatus();
  };
  auto add = [&](int type, const std::string& value) -> absl::Status {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (s == nullptr ||
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      return OpenSslInternalError("ASN1_STRING_set");
    }
    return push(type, s);
  };
  for (const std::string& uri : uris) HG_RETURN_IF_ERROR(add(GEN_URI, uri));
  for (const std::string& dns : dns_names) HG_RETURN_IF_ERROR(add(GEN_DNS, dns));
  for (const std::string& ip : ip_addresses) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    if (octets == nullptr) {
      ClearOpenSslErrors();
      return absl::InvalidArgumentError(
          absl::StrCat("\"", ip, "\" is not an IPv4 or IPv6 address"));
    }
    HG_RETURN_IF_ERROR(push(GEN_IPADD, octets));
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, 0) != 1) {
    return OpenSslInternalError("adding subjectAltName");
  }
  return absl::OkStatus();
}

absl::StatusOr<X509NamePtr> MakeName(absl::string_view organisation,
                                     absl::string_view common_name) {
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return OpenSslInternalError("X509_NAME_new");
  auto add = [&](const char* field, absl::string_view value) {
    return X509_NAME_add_entry_by_txt(
               name.get(), field, MBSTRING_UTF8,
               reinterpret_cast<const unsigned char*>(value.data()),
               static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add("O", organisation) || !add("CN", common_name)) {
    return OpenSslInternalError("building a distinguished name");
  }
  return name;
}

// A v3 certificate skeleton: random serial, subject `O=<org>, CN=<cn>`,
// `key`'s public half and the validity window. The caller sets the issuer,
// the extensions and signs.
absl::StatusOr<X509Ptr> NewCertificate(const PrivateKey& key,
                                       absl::string_view organisation,
                                       absl::string_view common_name,
                                       absl::Time not_before,
                                       absl::Time not_after) {
  X509Ptr x(X509_new());
  if (x == nullptr || X509_set_version(x.get(), X509_VERSION_3) != 1) {
    return OpenSslInternalError("X509_new");
  }
  HG_ASSIGN_OR_RETURN(Asn1IntegerPtr serial, RandomSerial());
  HG_ASSIGN_OR_RETURN(X509NamePtr subject, MakeName(organisation, common_name));
  if (X509_set_serialNumber(x.get(), serial.get()) != 1 ||
      X509_set_subject_name(x.get(), subject.get()) != 1 ||
      X509_set_pubkey(x.get(), key.native()) != 1) {
    return OpenSslInternalError("setting serial, subject and key");
  }
  HG_RETURN_IF_ERROR(SetAsn1Time(X509_getm_notBefore(x.get()), not_before));
  HG_RETURN_IF_ERROR(SetAsn1Time(X509_getm_notAfter(x.get()), not_after));
  return x;
}

absl::StatusOr<std::string> OrganisationOf(const Certificate& cert) {
  X509_NAME* name = X509_get_subject_name(cert.native());
  int idx = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
  if (idx < 0) {
    return absl::InvalidArgumentError("CA certificate subject has no O");
  }
  const ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

absl::Status ValidateDnsName(absl::string_view dns) {
  absl::Status status = SpiffeId::ValidateTrustDomain(dns);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNS name \"", dns, "\" is not a lower-case host name (letters, digits, "
        "'-' and '.'; no wildcards; an IP address goes in an IP SAN)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIpAddress(const std::string& ip) {
  ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
  if (octets == nullptr) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        "IP address \"", ip, "\" is not an IPv4 or IPv6 address"));
  }
  ASN1_OCTET_STRING_free(octets);
  return absl::OkStatus();
}

std::string KeyUsageString(uint32_t bits) {
  std::vector<std::string> parts = {"critical"};
  const std::pair<uint32_t, const char*> names[] = {
      {KU_DIGITAL_SIGNATURE, "digitalSignature"},
      {KU_NON_REPUDIATION, "nonRepudiation"},
      {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
      {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
      {KU_KEY_AGREEMENT, "keyAgreement"},
      {KU_KEY_CERT_SIGN, "keyCertSign"},
      {KU_CRL_SIGN, "cRLSign"},
  };
  for (const auto& [bit, name] : names) {
    if ((bits & bit) != 0) parts.push_back(name);
  }
  return absl::StrJoin(parts, ",");
}

// --- index.tsv ------------------------------------------------------------

absl::StatusOr<std::vector<IndexEntry>> ReadIndex(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (absl::IsNotFound(text.status())) return std::vector<IndexEntry>();
  if (!text.ok()) return text.status();
  std::vector<IndexEntry> entries;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(
          absl::StrCat(path, ":", line_no, ": ", why));
    };
    if (f.size() != 6) return bad("expected 6 tab-separated fields");
    IndexEntry e;
    e.serial = f[0];
    if (f[1] != "V" && f[1] != "R") return bad("status must be V or R");
    e.revoked = f[1] == "R";
    absl::StatusOr<absl::Time> not_after = ParseTime(f[2]);
    if (!not_after.ok()) return bad(not_after.status().message());
    e.not_after = *not_after;
    if (e.revoked) {
      absl::StatusOr<absl::Time> at = ParseTime(f[3]);
      if (!at.ok()) return bad(at.status().message());
      e.revoked_at = *at;
    }
    e.spiffe_id = f[4];
    e.subject = f[5];
    entries.push_back(std::move(e));
  }
  return entries;
}

absl::Status WriteIndex(const std::string& path,
                        const std::vector<IndexEntry>& entries) {
  std::string text = kIndexHeader;
  for (const IndexEntry& e : entries) {
    absl::StrAppend(&text, e.serial, "\t", e.revoked ? "R" : "V", "\t",
                    Rfc3339(e.not_after), "\t",
                    e.revoked ? Rfc3339(e.revoked_at) : "-", "\t",
                    Sanitize(e.spiffe_id), "\t", Sanitize(e.subject), "\n");
  }
  return WriteFileAtomically(path, text, 0644);
}

IndexEntry EntryFor(const Certificate& cert) {
  IndexEntry e;
  e.serial = cert.SerialHex();
  e.not_after = cert.not_after();
  std::vector<std::string> uris = cert.UriSans();
  e.spiffe_id = uris.empty() ? "-" : absl::StrJoin(uris, ",");
  e.subject = cert.Subject();
  return e;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

absl::Duration DefaultLifetime(Role role) {
  switch (role) {
    case Role::kGateway:
      return kDefaultGatewayLifetime;
    case Role::kClient:
      return kDefaultClientLifetime;
    case Role::kOfficer:
      return kDefaultOfficerLifetime;
  }
  return kDefaultClientLifetime;
}

std::string CertificateAuthority::cert_file() const {
  return JoinPath(dir_, kCaCertFile);
}

std::string CertificateAuthority::crl_file() const {
  return JoinPath(dir_, kCaCrlFile);
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Create(
    const std::string& dir, const CaOptions& options) {
  HG_RETURN_IF_ERROR(ValidateOrganisationId(options.organisation_id));
  HG_RETURN_IF_ERROR(SpiffeId::ValidateTrustDomain(options.trust_domain));
  if (options.lifetime <= absl::ZeroDuration() ||
      options.lifetime > kMaxCaLifetime) {
    return absl::InvalidArgumentError(
        "CA lifetime must be positive and at most 20 years");
  }
  HG_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  HG_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(JoinPath(dir, kLockFile)));
  const std::string key_path = JoinPath(dir, kCaKeyFile);
  const std::string cert_path = JoinPath(dir, kCaCertFile);
  for (const std::string& path : {key_path, cert_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists: ", dir,
          " already holds a CA; refusing to overwrite it"));
    }
  }

  const absl::Time now = NowOr(options.now);
  HG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::GenerateP256());
  HG_ASSIGN_OR_RETURN(
      X509Ptr x,
      NewCertificate(key, options.organisation_id,
                     absl::StrCat("havengate CA ", options.organisation_id),
                     now - kBackdate, now + options.lifetime));
  if (X509_set_issuer_name(x.get(), X509_get_subject_name(x.get())) != 1) {
    return OpenSslInternalError("setting the CA issuer");
  }
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), x.get(), NID_basic_constraints,
                                      "critical,CA:TRUE,pathlen:0"));
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), x.get(), NID_key_usage,
                                      "critical,keyCertSign,cRLSign"));
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), x.get(),
                                      NID_subject_key_identifier, "hash"));
  HG_RETURN_IF_ERROR(
      AddConfExtension(x.get(), x.get(), NID_name_constraints,
                       absl::StrCat("critical,permitted;URI:",
                                    options.trust_domain)));
  HG_RETURN_IF_ERROR(AddSubjectAltNames(
      x.get(), {SpiffeId::TrustDomainUri(options.trust_domain)}, {}, {}));
  if (X509_sign(x.get(), key.native(), EVP_sha256()) <= 0) {
    return OpenSslInternalError("signing the CA certificate");
  }
  Certificate cert = Certificate::FromX509(std::move(x));

  HG_RETURN_IF_ERROR(key.WriteToNewFile(key_path));
  HG_RETURN_IF_ERROR(WriteNewFile(cert_path, cert.ToPem(), 0644));
  HG_RETURN_IF_ERROR(EnsureDirectory(JoinPath(dir, kCaIssuedDir), 0755));
  HG_RETURN_IF_ERROR(WriteIndex(JoinPath(dir, kCaIndexFile), {}));
  CertificateAuthority ca(dir, options.organisation_id, options.trust_domain,
                          std::move(cert),
                          std::make_shared<const PrivateKey>(std::move(key)));
  // Publish an empty CRL right away so a gateway can be configured with it.
  // WriteCrl takes the directory lock itself, so release ours first.
  { FileLock released = std::move(lock); }
  HG_RETURN_IF_ERROR(ca.WriteCrl(kDefaultCrlValidity, "", now).status());
  return ca;
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Open(
    const std::string& dir) {
  HG_ASSIGN_OR_RETURN(Certificate cert,
                      ReadCertificateFile(JoinPath(dir, kCaCertFile)));
  HG_ASSIGN_OR_RETURN(std::string domain, cert.CaTrustDomain());
  HG_RETURN_IF_ERROR(ValidateCaCertificate(cert, domain));
  HG_ASSIGN_OR_RETURN(std::string organisation, OrganisationOf(cert));
  HG_ASSIGN_OR_RETURN(PrivateKey key,
                      PrivateKey::ReadFile(JoinPath(dir, kCaKeyFile)));
  if (!key.Matches(cert)) {
    return absl::FailedPreconditionError(
        absl::StrCat(JoinPath(dir, kCaKeyFile), " is not the key of ",
                     JoinPath(dir, kCaCertFile)));
  }
  return CertificateAuthority(dir, std::move(organisation), std::move(domain),
                              std::move(cert),
                              std::make_shared<const PrivateKey>(std::move(key)));
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::Issue(
    const IssueRequest& request, const std::string& out_dir) const {
  return IssueImpl(request, nullptr, out_dir);
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::IssueForTesting(
    const IssueRequest& request,
    const CertificateOverridesForTesting& overrides,
    const std::string& out_dir) const {
  return IssueImpl(request, &overrides, out_dir);
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::IssueImpl(
    const IssueRequest& request,
    const CertificateOverridesForTesting* overrides,
    const std::string& out_dir) const {
  // Identity and file names.
  std::string name = request.name;
  absl::StatusOr<SpiffeId> id =
      SpiffeId::Make(trust_domain_, request.role,
                     request.role == Role::kGateway ? "" : request.name);
  if (!id.ok()) return id.status();
  if (request.role == Role::kGateway) {
    if (name.empty()) name = "gateway";
    HG_RETURN_IF_ERROR(SpiffeId::ValidateName(name));
  }
  for (const std::string& dns : request.dns_names) {
    HG_RETURN_IF_ERROR(ValidateDnsName(dns));
  }
  for (const std::string& ip : request.ip_addresses) {
    HG_RETURN_IF_ERROR(ValidateIpAddress(ip));
  }
  HG_RETURN_IF_ERROR(EnsureDirectory(out_dir, 0700));
  const std::string key_path = JoinPath(out_dir, absl::StrCat(name, ".key"));
  const std::string cert_path = JoinPath(out_dir, absl::StrCat(name, ".crt"));
  for (const std::string& path : {key_path, cert_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists; refusing to overwrite it (issue into "
                "another directory, or move the old files away)"));
    }
  }

  // Validity.
  const absl::Time now = NowOr(request.now);
  const absl::Duration lifetime = request.lifetime == absl::ZeroDuration()
                                      ? DefaultLifetime(request.role)
                                      : request.lifetime;
  absl::Time not_before = now - kBackdate;
  absl::Time not_after = now + lifetime;
  if (overrides == nullptr) {
    if (lifetime <= absl::ZeroDuration() || lifetime > kMaxLeafLifetime) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate lifetime must be between 1 day and ",
          absl::ToInt64Hours(kMaxLeafLifetime) / 24, " days"));
    }
    if (not_after > cert_.not_after()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the certificate would outlive its CA (CA valid until ",
          Rfc3339(cert_.not_after()), "); choose fewer days"));
    }
  } else {
    if (overrides->not_before.has_value()) not_before = *overrides->not_before;
    if (overrides->not_after.has_value()) not_after = *overrides->not_after;
  }

  // The certificate.
  HG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::GenerateP256());
  HG_ASSIGN_OR_RETURN(X509Ptr x, NewCertificate(key, organisation_id_, name,
                                                not_before, not_after));
  const bool self_signed = overrides != nullptr && overrides->self_signed;
  X509* issuer = self_signed ? x.get() : cert_.native();
  if (X509_set_issuer_name(x.get(), X509_get_subject_name(issuer)) != 1) {
    return OpenSslInternalError("setting the issuer");
  }
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), issuer, NID_basic_constraints,
                                      "critical,CA:FALSE"));
  uint32_t key_usage = KU_DIGITAL_SIGNATURE;
  if (overrides != nullptr && overrides->key_usage.has_value()) {
    key_usage = *overrides->key_usage;
  }
  if (key_usage != 0) {
    HG_RETURN_IF_ERROR(AddConfExtension(x.get(), issuer, NID_key_usage,
                                        KeyUsageString(key_usage)));
  }
  std::vector<int> eku = {NID_client_auth};
  if (request.role == Role::kGateway) eku = {NID_server_auth, NID_client_auth};
  if (overrides != nullptr && overrides->extended_key_usage.has_value()) {
    eku = *overrides->extended_key_usage;
  }
  if (!eku.empty()) {
    std::vector<std::string> names;
    for (int nid : eku) names.push_back(OBJ_nid2sn(nid));
    HG_RETURN_IF_ERROR(AddConfExtension(x.get(), issuer, NID_ext_key_usage,
                                        absl::StrJoin(names, ",")));
  }
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), issuer,
                                      NID_subject_key_identifier, "hash"));
  HG_RETURN_IF_ERROR(AddConfExtension(x.get(), issuer,
                                      NID_authority_key_identifier,
                                      "keyid:always"));
  std::vector<std::string> uris = {id->ToString()};
  if (overrides != nullptr && overrides->uri_sans.has_value()) {
    uris = *overrides->uri_sans;
  }
  HG_RETURN_IF_ERROR(AddSubjectAltNames(x.get(), uris, request.dns_names,
                                        request.ip_addresses));
  EVP_PKEY* signing_key = self_signed ? key.native() : key_->native();
  if (X509_sign(x.get(), signing_key, EVP_sha256()) <= 0) {
    return OpenSslInternalError("signing the certificate");
  }
  Certificate cert = Certificate::FromX509(std::move(x));

  // Record it, then hand it out.
  if (!self_signed) {
    HG_ASSIGN_OR_RETURN(FileLock lock,
                        FileLock::Acquire(JoinPath(dir_, kLockFile)));
    const std::string index_path = JoinPath(dir_, kCaIndexFile);
    HG_ASSIGN_OR_RETURN(std::vector<IndexEntry> index, ReadIndex(index_path));
    index.push_back(EntryFor(cert));
    HG_RETURN_IF_ERROR(EnsureDirectory(JoinPath(dir_, kCaIssuedDir), 0755));
    HG_RETURN_IF_ERROR(WriteNewFile(
        JoinPath(JoinPath(dir_, kCaIssuedDir),
                 absl::StrCat(cert.SerialHex(), ".crt")),
        cert.ToPem(), 0644));
    HG_RETURN_IF_ERROR(WriteIndex(index_path, index));
  }
  HG_RETURN_IF_ERROR(key.WriteToNewFile(key_path));
  absl::Status cert_written = WriteNewFile(cert_path, cert.ToPem(), 0644);
  if (!cert_written.ok()) {
    unlink(key_path.c_str());  // We created it; leave no orphan key behind.
    return cert_written;
  }
  return IssuedCertificate{std::move(cert), cert_path, key_path};
}

absl::StatusOr<IndexEntry> CertificateAuthority::RevokeSerial(
    absl::string_view serial_hex, absl::Time now) const {
  std::string serial(absl::StripPrefix(serial_hex, "0x"));
  for (char& c : serial) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  serial.erase(0, std::min(serial.find_first_not_of('0'), serial.size()));
  HG_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(JoinPath(dir_, kLockFile)));
  const std::string index_path = JoinPath(dir_, kCaIndexFile);
  HG_ASSIGN_OR_RETURN(std::vector<IndexEntry> index, ReadIndex(index_path));
  for (IndexEntry& e : index) {
    if (e.serial != serial) continue;
    if (e.revoked) {
      return absl::FailedPreconditionError(absl::StrCat(
          "certificate ", serial, " (", e.spiffe_id, ") is already revoked"));
    }
    e.revoked = true;
    e.revoked_at = NowOr(now);
    IndexEntry result = e;
    HG_RETURN_IF_ERROR(WriteIndex(index_path, index));
    return result;
  }
  return absl::NotFoundError(absl::StrCat(
      "serial ", serial, " is not in the index of the CA in ", dir_));
}

absl::StatusOr<IndexEntry> CertificateAuthority::RevokeCertificate(
    const Certificate& cert, absl::Time now) const {
  if (!SignedBy(cert, cert_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate \"", cert.Subject(), "\" was not issued by the CA in ",
        dir_));
  }
  {
    // A certificate this CA signed but whose index line was lost is added,
    // so that it can still be revoked.
    HG_ASSIGN_OR_RETURN(FileLock lock,
                        FileLock::Acquire(JoinPath(dir_, kLockFile)));
    const std::string index_path = JoinPath(dir_, kCaIndexFile);
    HG_ASSIGN_OR_RETURN(std::vector<IndexEntry> index, ReadIndex(index_path));
    bool known = false;
    for (const IndexEntry& e : index) known = known || e.serial == cert.SerialHex();
    if (!known) {
      index.push_back(EntryFor(cert));
      HG_RETURN_IF_ERROR(WriteIndex(index_path, index));
    }
  }
  return RevokeSerial(cert.SerialHex(), now);
}

absl::StatusOr<Crl> CertificateAuthority::WriteCrl(absl::Duration validity,
                                                   const std::string& out_file,
                                                   absl::Time now) const {
  if (validity <= absl::ZeroDuration() || validity > absl::Hours(24 * 366)) {
    return absl::InvalidArgumentError(
        "CRL validity must be between 1 day and 366 days");
  }
  const absl::Time t = NowOr(now);
  HG_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(JoinPath(dir_, kLockFile)));
  HG_ASSIGN_OR_RETURN(std::vector<IndexEntry> index,
                      ReadIndex(JoinPath(dir_, kCaIndexFile)));
  const std::string number_path = JoinPath(dir_, kCrlNumberFile);
  int64_t number = 0;
  absl::StatusOr<std::string> number_text = ReadFileToString(number_path, 64);
  if (number_text.ok()) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*number_text), &number) ||
        number < 0) {
      return absl::DataLossError(absl::StrCat(number_path, " is corrupt"));
    }
  } else if (!absl::IsNotFound(number_text.status())) {
    return number_text.status();
  }
  ++number;

  X509CrlPtr crl(X509_CRL_new());
  if (crl == nullptr || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(),
                               X509_get_subject_name(cert_.native())) != 1) {
    return OpenSslInternalError("X509_CRL_new");
  }
  Asn1TimePtr last(ASN1_TIME_new());
  Asn1TimePtr next(ASN1_TIME_new());
  if (last == nullptr || next == nullptr) return OpenSslInternalError("ASN1_TIME_new");
  HG_RETURN_IF_ERROR(SetAsn1Time(last.get(), t));
  HG_RETURN_IF_ERROR(SetAsn1Time(next.get(), t + validity));
  if (X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return OpenSslInternalError("setting CRL times");
  }
  for (const IndexEntry& e : index) {
    if (!e.revoked) continue;
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, e.serial.c_str()) == 0) {
      return absl::DataLossError(
          absl::StrCat("index holds a malformed serial \"", e.serial, "\""));
    }
    BignumPtr bn(raw);
    Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    Asn1TimePtr when(ASN1_TIME_new());
    X509RevokedPtr revoked(X509_REVOKED_new());
    if (serial == nullptr || when == nullptr || revoked == nullptr) {
      return OpenSslInternalError("building a CRL entry");
    }
    HG_RETURN_IF_ERROR(SetAsn1Time(when.get(), e.revoked_at));
    if (X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(revoked.get(), when.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      return OpenSslInternalError("adding a CRL entry");
    }
    revoked.release();  // Owned by the CRL now.
  }
  Asn1IntegerPtr crl_number(ASN1_INTEGER_new());
  if (crl_number == nullptr ||
      ASN1_INTEGER_set_int64(crl_number.get(), number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0,
                            0) != 1) {
    return OpenSslInternalError("adding cRLNumber");
  }
  {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert_.native(), nullptr, nullptr, crl.get(), 0);
    X509ExtensionPtr aki(X509V3_EXT_conf_nid(
        nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
    if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
      return OpenSslInternalError("adding authorityKeyIdentifier to the CRL");
    }
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), key_->native(), EVP_sha256()) <= 0) {
    return OpenSslInternalError("signing the CRL");
  }
  Crl result = Crl::FromX509Crl(std::move(crl));
  HG_RETURN_IF_ERROR(
      WriteFileAtomically(number_path, absl::StrCat(number, "\n"), 0644));
  HG_RETURN_IF_ERROR(WriteFileAtomically(
      out_file.empty() ? crl_file() : out_file, result.ToPem(), 0644));
  return result;
}

absl::StatusOr<std::vector<IndexEntry>> CertificateAuthority::ListIssued() const {
  return ReadIndex(JoinPath(dir_, kCaIndexFile));
}

}  // namespace havengate::pki
