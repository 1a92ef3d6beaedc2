#include "client/havenctl/connection_flags.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/spiffe_id.h"
#include "certs/x509.h"
#include "proto/status_macros.h"

namespace havengate::havenctl {

void ConnectionFlags::AddTo(CLI::App& cmd) {
  cmd.add_option("--connection", connection_file_,
                 "connection file (YAML: address, certificate, private_key, "
                 "ca, gateway_id); default $HAVENCTL_CONNECTION or "
                 "./havenctl.yaml");
  cmd.add_option("--address", address_, "gateway host:port");
  cmd.add_option("--cert", certificate_, "client certificate (PEM)");
  cmd.add_option("--key", private_key_, "client private key (PEM)");
  cmd.add_option("--ca", ca_, "organisation CA certificate (PEM)");
  cmd.add_option("--gateway-id", gateway_id_,
                 "SPIFFE id the gateway must present, e.g. "
                 "spiffe://police.nl.example/gateway");
}

absl::StatusOr<client::ConnectionOptions> ConnectionFlags::Resolve() const {
  client::ConnectionOptions options;
  std::string file = connection_file_;
  if (file.empty()) {
    if (const char* env = std::getenv("HAVENCTL_CONNECTION")) file = env;
  }
  if (file.empty() && std::filesystem::exists("havenctl.yaml")) {
    file = "havenctl.yaml";
  }
  if (!file.empty()) {
    HG_ASSIGN_OR_RETURN(options, client::LoadConnectionFile(file));
  }
  if (!address_.empty()) options.address = address_;
  if (!certificate_.empty()) options.certificate = certificate_;
  if (!private_key_.empty()) options.private_key = private_key_;
  if (!ca_.empty()) options.ca = ca_;
  if (!gateway_id_.empty()) options.gateway_id = gateway_id_;
  std::vector<std::string> missing;
  if (options.address.empty()) missing.push_back("--address");
  if (options.certificate.empty()) missing.push_back("--cert");
  if (options.private_key.empty()) missing.push_back("--key");
  if (options.ca.empty()) missing.push_back("--ca");
  if (options.gateway_id.empty()) missing.push_back("--gateway-id");
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no connection settings for: ", absl::StrJoin(missing, ", "),
        " (give --connection FILE or the flags)"));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<client::Client>> ConnectionFlags::Connect()
    const {
  HG_ASSIGN_OR_RETURN(client::ConnectionOptions options, Resolve());
  return client::Client::Connect(options);
}

absl::StatusOr<std::unique_ptr<client::Client>> ConnectionFlags::ConnectAsClient() const {
  HG_ASSIGN_OR_RETURN(client::ConnectionOptions options, Resolve());
  HG_ASSIGN_OR_RETURN(pki::Certificate cert, pki::ReadCertificateFile(options.certificate));
  HG_ASSIGN_OR_RETURN(pki::SpiffeId id, cert.GetSpiffeId());
  if (id.role() != pki::Role::kClient) {
    return absl::PermissionDeniedError(absl::StrCat(
        options.certificate, ": ", id.ToString(),
        ": this call is for integration clients of this organisation "
        "(spiffe://<domain>/client/<name>)"));
  }
  return client::Client::Connect(options);
}

}  // namespace havengate::havenctl
