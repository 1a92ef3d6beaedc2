// `havenctl pki ...`: an organisation's certificate authority - create it,
// issue gateway / client / officer certificates, revoke them, publish CRLs,
// and inspect certificates. A thin shell over havengate::pki
// (certs/ca.h); see certs/README.md for the files and the procedures.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/ca.h"
#include "certs/file_util.h"
#include "certs/x509.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/json_output.h"

namespace havengate::havenctl {
namespace {

int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << "havenctl pki " << command << ": " << status.message() << "\n";
  return 1;
}

std::string When(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::Duration Days(int days) { return absl::Hours(24) * days; }

// --- init-ca ---------------------------------------------------------------

struct InitCaFlags {
  std::string org;
  std::string domain;
  std::string dir;
  int days = static_cast<int>(absl::ToInt64Hours(pki::kDefaultCaLifetime) / 24);
};

int RunInitCa(const InitCaFlags& f) {
  pki::CaOptions options;
  options.organisation_id = f.org;
  options.trust_domain = f.domain;
  options.lifetime = Days(f.days);
  absl::StatusOr<pki::CertificateAuthority> ca =
      pki::CertificateAuthority::Create(f.dir, options);
  if (!ca.ok()) return Fail("init-ca", ca.status());
  std::cout << "Created the CA of " << ca->organisation_id()
            << " (trust domain " << ca->trust_domain() << ")\n"
            << "  certificate  " << ca->cert_file()
            << "   (give this file to peer organisations)\n"
            << "  private key  " << pki::JoinPath(ca->dir(), pki::kCaKeyFile)
            << "   (mode 0600; keep it off the gateway host)\n"
            << "  CRL          " << ca->crl_file()
            << "   (publish it; gateways watch it)\n"
            << "  valid until  " << When(ca->certificate().not_after()) << "\n";
  return 0;
}

// --- issue -----------------------------------------------------------------

struct IssueFlags {
  std::string ca_dir;
  std::string role;
  std::string name;
  std::string out;
  int days = 0;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  bool json = false;
};

int RunIssue(const IssueFlags& f) {
  absl::StatusOr<pki::Role> role = pki::ParseRole(f.role);
  if (!role.ok()) return Fail("issue", role.status());
  if (*role != pki::Role::kGateway && f.name.empty()) {
    return Fail("issue", absl::InvalidArgumentError(absl::StrCat(
                             "--name is required for role ", f.role)));
  }
  absl::StatusOr<pki::CertificateAuthority> ca =
      pki::CertificateAuthority::Open(f.ca_dir);
  if (!ca.ok()) return Fail("issue", ca.status());
  pki::IssueRequest request;
  request.role = *role;
  request.name = f.name;
  request.dns_names = f.dns;
  request.ip_addresses = f.ips;
  if (f.days > 0) request.lifetime = Days(f.days);
  absl::StatusOr<pki::IssuedCertificate> issued = ca->Issue(request, f.out);
  if (!issued.ok()) return Fail("issue", issued.status());
  const pki::Certificate& cert = issued->certificate;
  if (f.json) {
    std::cout << JsonObject()
                     .String("spiffe_id", cert.UriSans().front())
                     .String("cert_file", issued->cert_file)
                     .String("key_file", issued->key_file)
                     .String("serial", cert.SerialHex())
                     .Time("not_after", cert.not_after())
                     .Strings("dns_names", cert.DnsSans())
                     .Strings("ip_addresses", cert.IpSans())
                     .str()
              << "\n";
    return 0;
  }
  std::cout << "Issued " << cert.UriSans().front() << "\n"
            << "  certificate  " << issued->cert_file << "\n"
            << "  private key  " << issued->key_file << "   (mode 0600)\n"
            << "  serial       " << cert.SerialHex() << "\n"
            << "  valid until  " << When(cert.not_after()) << "\n";
  if (!cert.DnsSans().empty()) {
    std::cout << "  DNS names    " << absl::StrJoin(cert.DnsSans(), ", ") << "\n";
  }
  if (!cert.IpSans().empty()) {
    std::cout << "  IP addresses " << absl::StrJoin(cert.IpSans(), ", ") << "\n";
  }
  return 0;
}

// --- revoke ----------------------------------------------------------------

struct RevokeFlags {
  std::string ca_dir;
  std::string cert_file;
  std::string serial;
  int crl_days = static_cast<int>(absl::ToInt64Hours(pki::kDefaultCrlValidity) / 24);
};

int RunRevoke(const RevokeFlags& f) {
  if (f.cert_file.empty() == f.serial.empty()) {
    return Fail("revoke", absl::InvalidArgumentError(
                              "give either a CERT_FILE or --serial, not both"));
  }
  absl::StatusOr<pki::CertificateAuthority> ca =
      pki::CertificateAuthority::Open(f.ca_dir);
  if (!ca.ok()) return Fail("revoke", ca.status());
  absl::StatusOr<pki::IndexEntry> entry;
  if (!f.cert_file.empty()) {
    absl::StatusOr<pki::Certificate> cert = pki::ReadCertificateFile(f.cert_file);
    if (!cert.ok()) return Fail("revoke", cert.status());
    entry = ca->RevokeCertificate(*cert);
  } else {
    entry = ca->RevokeSerial(f.serial);
  }
  if (!entry.ok()) return Fail("revoke", entry.status());
  // A revocation that is not published protects nobody: write the CRL now.
  absl::StatusOr<pki::Crl> crl = ca->WriteCrl(Days(f.crl_days));
  if (!crl.ok()) {
    return Fail("revoke",
                absl::Status(crl.status().code(),
                             absl::StrCat("revoked in the index, but the CRL "
                                          "could not be written: ",
                                          crl.status().message())));
  }
  std::cout << "Revoked " << entry->spiffe_id << " (serial " << entry->serial
            << ")\n"
            << "  CRL          " << ca->crl_file() << " (number "
            << crl->crl_number() << ", " << crl->RevokedSerials().size()
            << " revoked, next update " << When(crl->next_update()) << ")\n"
            << "Gateways watching this CRL refuse the certificate at its next "
               "handshake; copy the CRL to peers that keep their own copy.\n";
  return 0;
}

// --- crl -------------------------------------------------------------------

struct CrlFlags {
  std::string ca_dir;
  std::string out;
  int days = static_cast<int>(absl::ToInt64Hours(pki::kDefaultCrlValidity) / 24);
};

int RunCrl(const CrlFlags& f) {
  absl::StatusOr<pki::CertificateAuthority> ca =
      pki::CertificateAuthority::Open(f.ca_dir);
  if (!ca.ok()) return Fail("crl", ca.status());
  absl::StatusOr<pki::Crl> crl = ca->WriteCrl(Days(f.days), f.out);
  if (!crl.ok()) return Fail("crl", crl.status());
  std::cout << "Wrote CRL number " << crl->crl_number() << " to "
            << (f.out.empty() ? ca->crl_file() : f.out) << "\n"
            << "  revoked      " << crl->RevokedSerials().size()
            << " certificate(s)\n"
            << "  next update  " << When(crl->next_update())
            << "   (gateways refuse this CA's certificates after that: "
               "renew before)\n";
  return 0;
}

// --- show ------------------------------------------------------------------

struct ShowFlags {
  std::string cert_file;
  std::string ca_file;
  std::string crl_file;
  bool json = false;
};

std::vector<std::string> Usages(const pki::Certificate& cert) {
  std::vector<std::string> parts;
  const uint32_t ku = X509_get_key_usage(cert.native());
  if (ku != UINT32_MAX) {
    if (ku & KU_DIGITAL_SIGNATURE) parts.push_back("digitalSignature");
    if (ku & KU_KEY_ENCIPHERMENT) parts.push_back("keyEncipherment");
    if (ku & KU_KEY_AGREEMENT) parts.push_back("keyAgreement");
    if (ku & KU_KEY_CERT_SIGN) parts.push_back("keyCertSign");
    if (ku & KU_CRL_SIGN) parts.push_back("cRLSign");
  }
  const uint32_t xku = X509_get_extended_key_usage(cert.native());
  if (xku != UINT32_MAX) {
    if (xku & XKU_SSL_SERVER) parts.push_back("serverAuth");
    if (xku & XKU_SSL_CLIENT) parts.push_back("clientAuth");
  }
  return parts;
}

// What `pki show` found out about a certificate, printed as text or JSON.
struct CertificateReport {
  std::string subject, issuer;
  bool is_ca = false;
  std::string ca_trust_domain;  // CA only; "" if none named
  std::optional<pki::SpiffeId> id;
  std::string id_problem;  // leaf without a usable SPIFFE id
  std::string serial;
  absl::Time not_before, not_after;
  std::string state;  // valid, not_yet_valid, expired
  int64_t days_left = 0;
  std::vector<std::string> dns_names, ip_addresses, usage;
  std::string sha256;
  size_t chain_length = 0;  // further certificates in the file
  // Set with --ca.
  std::optional<absl::Status> verification;
};

CertificateReport Describe(const std::vector<pki::Certificate>& certs) {
  const pki::Certificate& cert = certs.front();
  const absl::Time now = absl::Now();
  CertificateReport r;
  r.subject = cert.Subject();
  r.issuer = cert.Issuer();
  r.is_ca = cert.IsCa();
  if (r.is_ca) {
    absl::StatusOr<std::string> domain = cert.CaTrustDomain();
    if (domain.ok()) r.ca_trust_domain = *domain;
  } else {
    absl::StatusOr<pki::SpiffeId> parsed = cert.GetSpiffeId();
    if (parsed.ok()) {
      r.id = *parsed;
    } else {
      r.id_problem = std::string(parsed.status().message());
    }
  }
  r.serial = cert.SerialHex();
  r.not_before = cert.not_before();
  r.not_after = cert.not_after();
  r.state = "valid";
  if (now < r.not_before) r.state = "not_yet_valid";
  if (now > r.not_after) r.state = "expired";
  r.days_left = absl::ToInt64Hours(r.not_after - now) / 24;
  r.dns_names = cert.DnsSans();
  r.ip_addresses = cert.IpSans();
  r.usage = Usages(cert);
  r.sha256 = cert.Sha256Fingerprint();
  r.chain_length = certs.size() - 1;
  return r;
}

void PrintText(const CertificateReport& r, const ShowFlags& f) {
  std::cout << "subject      " << r.subject << "\n"
            << "issuer       " << r.issuer << "\n";
  if (r.is_ca) {
    std::cout << "CA of        "
              << (r.ca_trust_domain.empty() ? "(no trust domain named)"
                                            : r.ca_trust_domain)
              << "\n";
  } else if (r.id) {
    std::cout << "SPIFFE id    " << r.id->ToString() << "\n"
              << "role         " << pki::RoleName(r.id->role()) << "\n"
              << "trust domain " << r.id->trust_domain() << "\n";
  } else {
    std::cout << "SPIFFE id    (none usable: " << r.id_problem << ")\n";
  }
  std::string state = "valid";
  if (r.state == "not_yet_valid") state = "NOT YET VALID";
  if (r.state == "expired") state = "EXPIRED";
  if (r.state == "valid") absl::StrAppend(&state, ", ", r.days_left, " days left");
  std::cout << "serial       " << r.serial << "\n"
            << "valid from   " << When(r.not_before) << "\n"
            << "valid until  " << When(r.not_after) << " (" << state << ")\n";
  if (!r.dns_names.empty()) {
    std::cout << "DNS names    " << absl::StrJoin(r.dns_names, ", ") << "\n";
  }
  if (!r.ip_addresses.empty()) {
    std::cout << "IP addresses " << absl::StrJoin(r.ip_addresses, ", ") << "\n";
  }
  std::cout << "usage        "
            << (r.usage.empty() ? "(none)" : absl::StrJoin(r.usage, ", ")) << "\n"
            << "SHA-256      " << r.sha256 << "\n";
  if (r.chain_length > 0) {
    std::cout << "chain        " << r.chain_length
              << " more certificate(s) in the file\n";
  }
  if (!r.verification) return;
  if (!r.verification->ok()) {
    std::cout << "verification FAILED ("
              << pki::RejectReasonName(pki::GetRejectReason(*r.verification)
                                           .value_or(pki::RejectReason::kInvalidChain))
              << "): " << r.verification->message() << "\n";
    return;
  }
  std::cout << "verification ok against " << f.ca_file
            << (f.crl_file.empty() ? " (no CRL checked)" : " and its CRL") << "\n";
}

void PrintJson(const CertificateReport& r, const ShowFlags& f) {
  JsonObject out;
  out.String("subject", r.subject).String("issuer", r.issuer).Bool("is_ca", r.is_ca);
  if (r.is_ca) {
    out.String("trust_domain", r.ca_trust_domain);
  } else if (r.id) {
    out.String("spiffe_id", r.id->ToString())
        .String("role", pki::RoleName(r.id->role()))
        .String("trust_domain", r.id->trust_domain());
  } else {
    out.String("spiffe_id_problem", r.id_problem);
  }
  out.String("serial", r.serial)
      .Time("not_before", r.not_before)
      .Time("not_after", r.not_after)
      .String("state", r.state)
      .Int("days_left", r.days_left)
      .Strings("dns_names", r.dns_names)
      .Strings("ip_addresses", r.ip_addresses)
      .Strings("usage", r.usage)
      .String("sha256", r.sha256)
      .Int("chain_length", static_cast<int64_t>(r.chain_length));
  if (r.verification) {
    JsonObject v;
    v.Bool("ok", r.verification->ok())
        .String("ca_file", f.ca_file)
        .Bool("crl_checked", !f.crl_file.empty());
    if (!r.verification->ok()) {
      v.String("reason",
               pki::RejectReasonName(pki::GetRejectReason(*r.verification)
                                         .value_or(pki::RejectReason::kInvalidChain)))
          .String("message", r.verification->message());
    }
    out.Raw("verification", v.str());
  }
  std::cout << out.str() << "\n";
}

int RunShow(const ShowFlags& f) {
  absl::StatusOr<std::vector<pki::Certificate>> certs =
      pki::ReadCertificatesFile(f.cert_file);
  if (!certs.ok()) return Fail("show", certs.status());
  CertificateReport report = Describe(*certs);
  if (!f.ca_file.empty()) {
    // Verify as a gateway would.
    absl::StatusOr<pki::Certificate> ca = pki::ReadCertificateFile(f.ca_file);
    if (!ca.ok()) return Fail("show", ca.status());
    absl::StatusOr<std::string> domain = ca->CaTrustDomain();
    pki::TrustAnchor anchor{
        domain.ok() ? *domain : (report.id ? report.id->trust_domain() : ""), *ca,
        std::nullopt};
    if (!f.crl_file.empty()) {
      absl::StatusOr<pki::Crl> crl = pki::Crl::ReadFile(f.crl_file);
      if (!crl.ok()) return Fail("show", crl.status());
      absl::Status issued = crl->CheckIssuedBy(*ca);
      if (!issued.ok()) return Fail("show", issued);
      anchor.crl = *crl;
    }
    const pki::Purpose purpose = report.id && report.id->role() == pki::Role::kGateway
                                     ? pki::Purpose::kServerAuth
                                     : pki::Purpose::kClientAuth;
    std::vector<pki::Certificate> chain(certs->begin() + 1, certs->end());
    report.verification =
        pki::VerifyPeerCertificate(certs->front(), chain, anchor, {absl::Now(), purpose})
            .status();
  }
  if (f.json) {
    PrintJson(report, f);
  } else {
    PrintText(report, f);
  }
  return report.verification && !report.verification->ok() ? 1 : 0;
}

// --- list ------------------------------------------------------------------

int RunList(const std::string& ca_dir, bool json) {
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Open(ca_dir);
  if (!ca.ok()) return Fail("list", ca.status());
  absl::StatusOr<std::vector<pki::IndexEntry>> index = ca->ListIssued();
  if (!index.ok()) return Fail("list", index.status());
  const absl::Time now = absl::Now();
  for (const pki::IndexEntry& e : *index) {
    std::string status = e.revoked ? "revoked" : (e.not_after < now ? "expired" : "valid");
    if (json) {
      JsonObject out;
      out.String("serial", e.serial)
          .String("status", status)
          .Time("not_after", e.not_after)
          .String("spiffe_id", e.spiffe_id)
          .String("subject", e.subject);
      if (e.revoked) out.Time("revoked_at", e.revoked_at);
      std::cout << out.str() << "\n";
      continue;
    }
    std::cout << e.serial << "  " << status << "  until "
              << absl::FormatTime("%Y-%m-%d", e.not_after, absl::UTCTimeZone())
              << "  " << e.spiffe_id << "\n";
  }
  return 0;
}

}  // namespace

void RegisterPkiCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* pki = app.add_subcommand(
      "pki", "Certificate authority: create it, issue, revoke, publish CRLs");
  pki->require_subcommand(1);

  {
    auto f = std::make_shared<InitCaFlags>();
    auto* cmd = pki->add_subcommand(
        "init-ca", "Create an organisation CA (ECDSA P-256, self-signed, name-"
                   "constrained to its trust domain) in a new directory");
    cmd->add_option("--org", f->org, "organisation id, e.g. police-nl")->required();
    cmd->add_option("--domain", f->domain,
                    "SPIFFE trust domain, e.g. police.nl.example")
        ->required();
    cmd->add_option("--dir", f->dir, "CA directory to create (0700)")->required();
    cmd->add_option("--days", f->days, "CA lifetime in days (default 1826)")
        ->check(CLI::Range(1, 7300));
    cmd->callback([&run, f] { run = [f] { return RunInitCa(*f); }; });
  }
  {
    auto f = std::make_shared<IssueFlags>();
    auto* cmd = pki->add_subcommand(
        "issue", "Issue a gateway, client or officer certificate and key");
    cmd->add_option("--ca-dir", f->ca_dir, "CA directory")->required();
    cmd->add_option("--role", f->role, "gateway, client or officer")
        ->required()
        ->check(CLI::IsMember({"gateway", "client", "officer"}));
    cmd->add_option("--name", f->name,
                    "client/officer name in the SPIFFE id ([a-z0-9._-], 1-64); "
                    "for a gateway only the file name (default gateway)");
    cmd->add_option("--out", f->out,
                    "directory for NAME.crt and NAME.key (created 0700; "
                    "existing files are never overwritten)")
        ->required();
    cmd->add_option("--days", f->days, "lifetime in days (default 365)")
        ->check(CLI::Range(1, 825));
    cmd->add_option("--dns", f->dns, "extra DNS SAN, e.g. localhost (repeatable)");
    cmd->add_option("--ip", f->ips,
                    "IP address SAN, e.g. 127.0.0.1 (repeatable): for TLS clients "
                    "that dial the gateway by address and check it (curl, "
                    "Prometheus); havengate peers check the SPIFFE id instead");
    cmd->add_flag("--json", f->json,
                  "one JSON object: spiffe_id, cert_file, key_file, serial, "
                  "not_after (RFC 3339), dns_names, ip_addresses");
    cmd->callback([&run, f] { run = [f] { return RunIssue(*f); }; });
  }
  {
    auto f = std::make_shared<RevokeFlags>();
    auto* cmd = pki->add_subcommand(
        "revoke", "Revoke a certificate and rewrite the CA's CRL (crl.pem)");
    cmd->add_option("--ca-dir", f->ca_dir, "CA directory")->required();
    cmd->add_option("cert_file", f->cert_file, "certificate file to revoke");
    cmd->add_option("--serial", f->serial, "or: serial (hex) to revoke");
    cmd->add_option("--crl-days", f->crl_days,
                    "validity of the rewritten CRL in days (default 30)")
        ->check(CLI::Range(1, 366));
    cmd->callback([&run, f] { run = [f] { return RunRevoke(*f); }; });
  }
  {
    auto f = std::make_shared<CrlFlags>();
    auto* cmd = pki->add_subcommand(
        "crl", "Sign a fresh CRL (run it regularly, before next update)");
    cmd->add_option("--ca-dir", f->ca_dir, "CA directory")->required();
    cmd->add_option("--out", f->out, "where to write it (default CA_DIR/crl.pem)");
    cmd->add_option("--days", f->days, "validity in days (default 30)")
        ->check(CLI::Range(1, 366));
    cmd->callback([&run, f] { run = [f] { return RunCrl(*f); }; });
  }
  {
    auto f = std::make_shared<ShowFlags>();
    auto* cmd = pki->add_subcommand(
        "show", "Show a certificate: subject, SPIFFE id, role, validity, "
                "serial, issuer (and verify it with --ca)");
    cmd->add_option("cert_file", f->cert_file, "certificate file (PEM)")->required();
    cmd->add_option("--ca", f->ca_file, "also verify against this CA certificate");
    cmd->add_option("--crl", f->crl_file, "and this CRL (with --ca)");
    cmd->add_flag("--json", f->json,
                  "one JSON object: subject, issuer, is_ca, spiffe_id, role, "
                  "trust_domain, serial, not_before, not_after (RFC 3339), state "
                  "(valid, not_yet_valid, expired), days_left, dns_names, "
                  "ip_addresses, usage, sha256, chain_length; with --ca also "
                  "verification {ok, ca_file, crl_checked, reason, message}");
    cmd->callback([&run, f] { run = [f] { return RunShow(*f); }; });
  }
  {
    auto ca_dir = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* cmd = pki->add_subcommand("list", "List the certificates a CA issued");
    cmd->add_option("--ca-dir", *ca_dir, "CA directory")->required();
    cmd->add_flag("--json", *json,
                  "one JSON object per certificate and line: serial, status "
                  "(valid, expired, revoked), not_after, spiffe_id, subject, "
                  "revoked_at (revoked only)");
    cmd->callback([&run, ca_dir, json] {
      run = [ca_dir, json] { return RunList(*ca_dir, *json); };
    });
  }
}

}  // namespace havengate::havenctl
