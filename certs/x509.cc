#include "certs/x509.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/file_util.h"

namespace havengate::pki {
namespace {

constexpr char kRejectReasonPayloadUrl[] =
    "type.havengate.example/havengate.pki.RejectReason";

constexpr RejectReason kAllReasons[] = {
    RejectReason::kNoCertificate,       RejectReason::kMalformedCertificate,
    RejectReason::kMissingSpiffeId,     RejectReason::kInvalidSpiffeId,
    RejectReason::kUnknownTrustDomain,  RejectReason::kUnknownIssuer,
    RejectReason::kForeignTrustDomain,  RejectReason::kSelfSigned,
    RejectReason::kExpired,             RejectReason::kNotYetValid,
    RejectReason::kRevoked,             RejectReason::kBadKeyUsage,
    RejectReason::kWeakCrypto,          RejectReason::kBadSignature,
    RejectReason::kNameConstraintViolation, RejectReason::kCrlUnavailable,
    RejectReason::kRoleNotAllowed,      RejectReason::kUnexpectedIdentity,
    RejectReason::kInvalidChain,
};

inline void FreeX509StackShallow(STACK_OF(X509)* s) { sk_X509_free(s); }
using X509StackShallowPtr =
    std::unique_ptr<STACK_OF(X509),
                    OpenSslDeleter<STACK_OF(X509), FreeX509StackShallow>>;

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr) return std::string();
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return BioToString(bio.get());
}

std::string IntegerToHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) {
    ClearOpenSslErrors();
    return std::string();
  }
  OpenSslStringPtr hex(BN_bn2hex(bn.get()));
  if (hex == nullptr) return std::string();
  std::string out = absl::AsciiStrToLower(hex.get());
  size_t first = out.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  return out.substr(first);
}

// An IP address SAN (4 or 16 octets) in text form.
std::string IpAddressText(const ASN1_OCTET_STRING* octets) {
  const int length = ASN1_STRING_length(octets);
  const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : -1;
  char text[INET6_ADDRSTRLEN] = {};
  if (family < 0 ||
      inet_ntop(family, ASN1_STRING_get0_data(octets), text, sizeof(text)) == nullptr) {
    return "(malformed IP address)";
  }
  return text;
}

std::vector<std::string> SansOfType(X509* x509, int type) {
  std::vector<std::string> out;
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509, NID_subject_alt_name, &critical, nullptr)));
  if (names == nullptr) {
    ClearOpenSslErrors();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    if (type == GEN_IPADD) {
      out.push_back(IpAddressText(name->d.iPAddress));
      continue;
    }
    const ASN1_IA5STRING* s =
        type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

// Maps an X509_verify_cert error to a reason and a precise message.
absl::Status VerifyFailure(int err, int depth, const Certificate& leaf,
                           const TrustAnchor& anchor) {
  const std::string what = depth == 0 ? "certificate" : "CA certificate";
  const std::string detail = X509_verify_cert_error_string(err);
  auto fail = [&](RejectReason reason, absl::string_view message) {
    return RejectionError(reason, message);
  };
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return fail(RejectReason::kExpired,
                  absl::StrCat(what, " expired at ",
                               absl::FormatTime(depth == 0
                                                    ? leaf.not_after()
                                                    : anchor.ca.not_after(),
                                                absl::UTCTimeZone())));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return fail(RejectReason::kNotYetValid,
                  absl::StrCat(what, " is not valid before ",
                               absl::FormatTime(depth == 0
                                                    ? leaf.not_before()
                                                    : anchor.ca.not_before(),
                                                absl::UTCTimeZone())));
    case X509_V_ERR_CERT_REVOKED:
      return fail(RejectReason::kRevoked,
                  absl::StrCat("certificate serial ", leaf.SerialHex(),
                               " is revoked by the CRL of trust domain ",
                               anchor.trust_domain));
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return fail(RejectReason::kSelfSigned,
                  "certificate is self-signed, not issued by the CA of trust "
                  "domain " + anchor.trust_domain);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return fail(RejectReason::kUnknownIssuer,
                  absl::StrCat("certificate (issuer \"", leaf.Issuer(),
                               "\") is not issued by the CA of trust domain ",
                               anchor.trust_domain, ": ", detail));
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_NON_CA:
    case X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA:
    case X509_V_ERR_CA_CERT_MISSING_KEY_USAGE:
    case X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA:
    case X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN:
    case X509_V_ERR_CA_BCONS_NOT_CRITICAL:
      return fail(RejectReason::kBadKeyUsage,
                  absl::StrCat(what, " is not valid for this use: ", detail));
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
    case X509_V_ERR_EC_KEY_EXPLICIT_PARAMS:
      return fail(RejectReason::kWeakCrypto, absl::StrCat(what, ": ", detail));
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
      return fail(RejectReason::kBadSignature, absl::StrCat(what, ": ", detail));
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
      return fail(RejectReason::kNameConstraintViolation,
                  absl::StrCat("certificate names are outside the name "
                               "constraints of the CA of trust domain ",
                               anchor.trust_domain, ": ", detail));
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
      return fail(RejectReason::kCrlUnavailable,
                  absl::StrCat("cannot check revocation against the CRL of "
                               "trust domain ",
                               anchor.trust_domain, ": ", detail));
    default:
      return fail(RejectReason::kInvalidChain,
                  absl::StrCat(what, " failed verification: ", detail));
  }
}

}  // namespace

absl::Status CheckLeafUsage(const Certificate& leaf, Purpose purpose) {
  X509* x = leaf.native();
  const uint32_t flags = X509_get_extension_flags(x);
  if ((flags & EXFLAG_INVALID) != 0) {
    return RejectionError(RejectReason::kMalformedCertificate,
                          "certificate has invalid or duplicate extensions");
  }
  if ((flags & EXFLAG_CA) != 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate is a CA certificate, not a leaf");
  }
  if ((flags & EXFLAG_KUSAGE) == 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate has no keyUsage extension");
  }
  const uint32_t ku = X509_get_key_usage(x);
  if ((ku & KU_DIGITAL_SIGNATURE) == 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate keyUsage lacks digitalSignature");
  }
  if ((ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
    return RejectionError(
        RejectReason::kBadKeyUsage,
        "certificate keyUsage allows keyCertSign or cRLSign, which a leaf "
        "must not");
  }
  if ((flags & EXFLAG_XKUSAGE) == 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate has no extendedKeyUsage extension");
  }
  const uint32_t xku = X509_get_extended_key_usage(x);
  if (purpose == Purpose::kClientAuth && (xku & XKU_SSL_CLIENT) == 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate extendedKeyUsage lacks clientAuth");
  }
  if (purpose == Purpose::kServerAuth && (xku & XKU_SSL_SERVER) == 0) {
    return RejectionError(RejectReason::kBadKeyUsage,
                          "certificate extendedKeyUsage lacks serverAuth");
  }
  return absl::OkStatus();
}

namespace {

int NoPassword(char*, int, int, void*) { return -1; }

}  // namespace

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNoCertificate:
      return "no_certificate";
    case RejectReason::kMalformedCertificate:
      return "malformed_certificate";
    case RejectReason::kMissingSpiffeId:
      return "missing_spiffe_id";
    case RejectReason::kInvalidSpiffeId:
      return "invalid_spiffe_id";
    case RejectReason::kUnknownTrustDomain:
      return "unknown_trust_domain";
    case RejectReason::kUnknownIssuer:
      return "unknown_issuer";
    case RejectReason::kForeignTrustDomain:
      return "foreign_trust_domain";
    case RejectReason::kSelfSigned:
      return "self_signed";
    case RejectReason::kExpired:
      return "expired";
    case RejectReason::kNotYetValid:
      return "not_yet_valid";
    case RejectReason::kRevoked:
      return "revoked";
    case RejectReason::kBadKeyUsage:
      return "bad_key_usage";
    case RejectReason::kWeakCrypto:
      return "weak_crypto";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kNameConstraintViolation:
      return "name_constraint_violation";
    case RejectReason::kCrlUnavailable:
      return "crl_unavailable";
    case RejectReason::kRoleNotAllowed:
      return "role_not_allowed";
    case RejectReason::kUnexpectedIdentity:
      return "unexpected_identity";
    case RejectReason::kInvalidChain:
      return "invalid_chain";
  }
  return "invalid_chain";
}

absl::Status RejectionError(RejectReason reason, absl::string_view message) {
  absl::Status status = absl::UnauthenticatedError(message);
  status.SetPayload(kRejectReasonPayloadUrl,
                    absl::Cord(RejectReasonName(reason)));
  return status;
}

std::optional<RejectReason> GetRejectReason(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRejectReasonPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string name(*payload);
  for (RejectReason r : kAllReasons) {
    if (RejectReasonName(r) == name) return r;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Certificate

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  absl::StatusOr<std::vector<Certificate>> certs = ParsePemCertificates(pem);
  if (!certs.ok()) return certs.status();
  if (certs->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected exactly one PEM certificate, found ", certs->size()));
  }
  return std::move(certs->front());
}

Certificate Certificate::FromX509(X509Ptr x509) {
  return Certificate(std::move(x509));
}

Certificate::Certificate(const Certificate& other) {
  X509_up_ref(other.x509_.get());
  x509_.reset(other.x509_.get());
}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    X509_up_ref(other.x509_.get());
    x509_.reset(other.x509_.get());
  }
  return *this;
}

std::string Certificate::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
    ClearOpenSslErrors();
    return std::string();
  }
  return BioToString(bio.get());
}

std::string Certificate::SerialHex() const {
  return IntegerToHex(X509_get0_serialNumber(x509_.get()));
}

std::string Certificate::Subject() const {
  return NameToString(X509_get_subject_name(x509_.get()));
}

std::string Certificate::Issuer() const {
  return NameToString(X509_get_issuer_name(x509_.get()));
}

absl::Time Certificate::not_before() const {
  return Asn1TimeToTime(X509_get0_notBefore(x509_.get()));
}

absl::Time Certificate::not_after() const {
  return Asn1TimeToTime(X509_get0_notAfter(x509_.get()));
}

std::string Certificate::Sha256Fingerprint() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(x509_.get(), EVP_sha256(), md, &len) != 1) {
    ClearOpenSslErrors();
    return std::string();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), len));
}

std::vector<std::string> Certificate::UriSans() const {
  return SansOfType(x509_.get(), GEN_URI);
}

std::vector<std::string> Certificate::DnsSans() const {
  return SansOfType(x509_.get(), GEN_DNS);
}

std::vector<std::string> Certificate::IpSans() const {
  return SansOfType(x509_.get(), GEN_IPADD);
}

bool Certificate::IsCa() const {
  return (X509_get_extension_flags(x509_.get()) & EXFLAG_CA) != 0;
}

absl::StatusOr<SpiffeId> Certificate::GetSpiffeId() const {
  std::vector<std::string> uris = UriSans();
  if (uris.empty()) {
    return RejectionError(RejectReason::kMissingSpiffeId,
                          "certificate has no URI SAN (no SPIFFE id)");
  }
  if (uris.size() > 1) {
    return RejectionError(
        RejectReason::kInvalidSpiffeId,
        absl::StrCat("certificate has ", uris.size(),
                     " URI SANs; a havengate certificate has exactly one"));
  }
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uris.front());
  if (!id.ok()) {
    return RejectionError(RejectReason::kInvalidSpiffeId, id.status().message());
  }
  return id;
}

absl::StatusOr<std::string> Certificate::CaTrustDomain() const {
  std::vector<std::string> uris = UriSans();
  if (uris.empty()) {
    return absl::NotFoundError("CA certificate names no trust domain");
  }
  if (uris.size() > 1) {
    return absl::InvalidArgumentError(
        "CA certificate has more than one URI SAN");
  }
  return SpiffeId::ParseTrustDomainUri(uris.front());
}

absl::StatusOr<std::vector<Certificate>> ParsePemCertificates(
    absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternalError("BIO_new_mem_buf");
  std::vector<Certificate> out;
  while (true) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (x == nullptr) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM &&
          ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ClearOpenSslErrors();  // End of input.
        break;
      }
      return OpenSslError(
          absl::StatusCode::kInvalidArgument,
          absl::StrCat("PEM certificate #", out.size() + 1, " does not parse"));
    }
    out.push_back(Certificate::FromX509(std::move(x)));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("no PEM certificate found");
  }
  return out;
}

absl::StatusOr<std::vector<Certificate>> ReadCertificatesFile(
    const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFileToString(path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::vector<Certificate>> certs = ParsePemCertificates(*pem);
  if (!certs.ok()) {
    return absl::Status(certs.status().code(),
                        absl::StrCat(path, ": ", certs.status().message()));
  }
  return certs;
}

absl::StatusOr<Certificate> ReadCertificateFile(const std::string& path) {
  absl::StatusOr<std::vector<Certificate>> certs = ReadCertificatesFile(path);
  if (!certs.ok()) return certs.status();
  if (certs->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected exactly one certificate, found ",
                     certs->size()));
  }
  return std::move(certs->front());
}

// ---------------------------------------------------------------------------
// Crl

absl::StatusOr<Crl> Crl::FromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternalError("BIO_new_mem_buf");
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, NoPassword, nullptr));
  if (crl == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "no parseable PEM CRL found");
  }
  return Crl(std::move(crl));
}

absl::StatusOr<Crl> Crl::ReadFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFileToString(path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<Crl> crl = FromPem(*pem);
  if (!crl.ok()) {
    return absl::Status(crl.status().code(),
                        absl::StrCat(path, ": ", crl.status().message()));
  }
  return crl;
}

Crl Crl::FromX509Crl(X509CrlPtr crl) { return Crl(std::move(crl)); }

Crl::Crl(const Crl& other) {
  X509_CRL_up_ref(other.crl_.get());
  crl_.reset(other.crl_.get());
}

Crl& Crl::operator=(const Crl& other) {
  if (this != &other) {
    X509_CRL_up_ref(other.crl_.get());
    crl_.reset(other.crl_.get());
  }
  return *this;
}

std::string Crl::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl_.get()) != 1) {
    ClearOpenSslErrors();
    return std::string();
  }
  return BioToString(bio.get());
}

std::string Crl::Issuer() const {
  return NameToString(X509_CRL_get_issuer(crl_.get()));
}

absl::Time Crl::this_update() const {
  return Asn1TimeToTime(X509_CRL_get0_lastUpdate(crl_.get()));
}

absl::Time Crl::next_update() const {
  const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl_.get());
  if (t == nullptr) return absl::InfiniteFuture();
  return Asn1TimeToTime(t);
}

int64_t Crl::crl_number() const {
  int critical = 0;
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, &critical, nullptr)));
  if (number == nullptr) {
    ClearOpenSslErrors();
    return -1;
  }
  int64_t value = -1;
  if (ASN1_INTEGER_get_int64(&value, number.get()) != 1) {
    ClearOpenSslErrors();
    return -1;
  }
  return value;
}

std::vector<std::string> Crl::RevokedSerials() const {
  std::vector<std::string> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl_.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    out.push_back(IntegerToHex(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return out;
}

bool Crl::IsRevoked(const Certificate& cert) const {
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_cert(crl_.get(), &entry, cert.native()) == 1;
}

absl::Status Crl::CheckIssuedBy(const Certificate& ca) const {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl_.get()),
                    X509_get_subject_name(ca.native())) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CRL issuer \"", Issuer(), "\" is not the CA \"", ca.Subject(), "\""));
  }
  EVP_PKEY* key = X509_get0_pubkey(ca.native());
  if (key == nullptr || X509_CRL_verify(crl_.get(), key) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        "CRL signature does not verify with the key of CA \"", ca.Subject(),
        "\""));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// PrivateKey

absl::StatusOr<PrivateKey> PrivateKey::GenerateP256() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslInternalError("generating a P-256 key");
  return PrivateKey(std::move(key));
}

absl::StatusOr<PrivateKey> PrivateKey::ReadFile(const std::string& path) {
  absl::Status mode_ok = CheckOwnerOnlyMode(path);
  if (!mode_ok.ok()) return mode_ok;
  absl::StatusOr<std::string> pem = ReadFileToString(path);
  if (!pem.ok()) return pem.status();
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  EvpPkeyPtr key;
  if (bio != nullptr) {
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  }
  OPENSSL_cleanse(pem->data(), pem->size());
  if (key == nullptr) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not an unencrypted PEM private key"));
  }
  return PrivateKey(std::move(key));
}

absl::Status PrivateKey::WriteToNewFile(const std::string& path) const {
  // A secure-memory BIO is wiped when freed, so the encoding does not linger.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr,
                                    0, nullptr, nullptr) != 1) {
    return OpenSslInternalError("encoding private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) {
    return absl::InternalError("encoding private key produced no output");
  }
  return WriteNewFile(path, absl::string_view(data, static_cast<size_t>(len)),
                      0600);
}

bool PrivateKey::Matches(const Certificate& cert) const {
  EVP_PKEY* pub = X509_get0_pubkey(cert.native());
  bool match = pub != nullptr && EVP_PKEY_eq(pub, pkey_.get()) == 1;
  ClearOpenSslErrors();
  return match;
}

// ---------------------------------------------------------------------------
// Verification

absl::Status VerifyCertificate(const Certificate& leaf,
                               const std::vector<Certificate>& intermediates,
                               const TrustAnchor& anchor,
                               const VerifyOptions& options) {
  if (options.at == absl::InfinitePast() || options.at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("VerifyOptions.at must be set");
  }
  X509StorePtr store(X509_STORE_new());
  if (store == nullptr || X509_STORE_add_cert(store.get(), anchor.ca.native()) != 1) {
    return OpenSslInternalError("building the trust store");
  }
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (anchor.crl.has_value()) {
    if (X509_STORE_add_crl(store.get(), anchor.crl->native()) != 1) {
      return OpenSslInternalError("adding the CRL to the trust store");
    }
    flags |= X509_V_FLAG_CRL_CHECK;
  }
  X509StackShallowPtr untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return OpenSslInternalError("sk_X509_new_null");
  for (const Certificate& c : intermediates) {
    if (X509_cmp(c.native(), leaf.native()) == 0) continue;
    if (sk_X509_push(untrusted.get(), c.native()) <= 0) {
      return OpenSslInternalError("sk_X509_push");
    }
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(),
                          untrusted.get()) != 1) {
    return OpenSslInternalError("X509_STORE_CTX_init");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(options.at));
  X509_VERIFY_PARAM_set_auth_level(param, 2);
  X509_VERIFY_PARAM_set_depth(param, 4);
  if (X509_STORE_CTX_set_purpose(ctx.get(),
                                 options.purpose == Purpose::kClientAuth
                                     ? X509_PURPOSE_SSL_CLIENT
                                     : X509_PURPOSE_SSL_SERVER) != 1) {
    return OpenSslInternalError("X509_STORE_CTX_set_purpose");
  }
  const int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    ClearOpenSslErrors();
    if (err == X509_V_OK) {
      return RejectionError(RejectReason::kInvalidChain,
                            "certificate verification failed");
    }
    return VerifyFailure(err, depth, leaf, anchor);
  }
  return CheckLeafUsage(leaf, options.purpose);
}

absl::StatusOr<SpiffeId> VerifyPeerCertificate(
    const Certificate& leaf, const std::vector<Certificate>& intermediates,
    const TrustAnchor& anchor, const VerifyOptions& options) {
  absl::StatusOr<SpiffeId> id = leaf.GetSpiffeId();
  if (!id.ok()) return id.status();
  if (id->trust_domain() != anchor.trust_domain) {
    return RejectionError(
        RejectReason::kUnknownTrustDomain,
        absl::StrCat("certificate identity ", id->ToString(),
                     " is not in trust domain ", anchor.trust_domain));
  }
  absl::Status verified = VerifyCertificate(leaf, intermediates, anchor, options);
  if (!verified.ok()) return verified;
  return id;
}

bool SignedBy(const Certificate& cert, const Certificate& ca) {
  bool signed_by = X509_check_issued(ca.native(), cert.native()) == X509_V_OK;
  if (signed_by) {
    EVP_PKEY* key = X509_get0_pubkey(ca.native());
    signed_by = key != nullptr && X509_verify(cert.native(), key) == 1;
  }
  ClearOpenSslErrors();
  return signed_by;
}

absl::Status ValidateCaCertificate(const Certificate& ca,
                                   absl::string_view trust_domain) {
  if (!ca.IsCa()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", ca.Subject(), "\" is not a CA certificate (no basicConstraints "
        "CA:TRUE)"));
  }
  const uint32_t ku = X509_get_key_usage(ca.native());
  if ((ku & KU_KEY_CERT_SIGN) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate \"", ca.Subject(), "\" lacks keyUsage keyCertSign"));
  }
  if (X509_self_signed(ca.native(), 1) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate \"", ca.Subject(),
        "\" is not self-signed; havengate trusts only organisation root CAs"));
  }
  absl::StatusOr<std::string> domain = ca.CaTrustDomain();
  if (domain.ok() && *domain != trust_domain) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate \"", ca.Subject(), "\" is the CA of trust domain ",
        *domain, ", not of ", trust_domain));
  }
  if (!domain.ok() && !absl::IsNotFound(domain.status())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate \"", ca.Subject(), "\": ", domain.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace havengate::pki
