#include "server/policy_holder/policy_holder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/diagnostic.h"
#include "proto/status_macros.h"

namespace havengate::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the policy file"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `text` to `path` so that a reader (or a crash) sees the old file or
// the new one, never a mix: a temporary file beside it, synced, renamed over
// it, and the directory synced.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = absl::StrCat(path, ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(tmp, ": cannot write: ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrCat(tmp, ": cannot write: ", std::strerror(error)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat(tmp, ": cannot sync"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot replace: ", std::strerror(errno)));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

PolicyHolder::PolicyHolder(PolicyHolderOptions options)
    : options_(std::move(options)), peers_(options_.peers) {}

void PolicyHolder::SetPeers(std::set<std::string> peers) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(peers);
  last_bad_text_.clear();
}

absl::StatusOr<std::unique_ptr<PolicyHolder>> PolicyHolder::Load(
    PolicyHolderOptions options) {
  std::unique_ptr<PolicyHolder> holder(new PolicyHolder(std::move(options)));
  if (holder->options_.path.empty()) return holder;
  HG_ASSIGN_OR_RETURN(std::string text, ReadFile(holder->options_.path));
  HG_ASSIGN_OR_RETURN(auto policy, holder->Compile(text));
  holder->Swap(std::move(policy), std::move(text));
  return holder;
}

std::shared_ptr<const policy::CompiledPolicy> PolicyHolder::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::string PolicyHolder::current_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_text_;
}

std::vector<std::string> PolicyHolder::CandidateProblems(
    const policy::CompiledPolicy& candidate) const {
  std::vector<std::string> problems;
  if (candidate.organisation() != options_.organisation) {
    problems.push_back(absl::StrCat("organisation: the policy is written for ",
                                    candidate.organisation(),
                                    ", but this gateway belongs to ",
                                    options_.organisation));
  }
  std::set<std::string> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    peers = peers_;
  }
  for (const std::string& partner : candidate.partners()) {
    if (peers.count(partner) == 0) {
      problems.push_back(absl::StrCat(
          "partners: ", partner,
          " is not a peer in the gateway configuration (add it under peers, "
          "or remove it from the policy)"));
    }
  }
  return problems;
}

absl::Status PolicyHolder::CheckCandidate(
    const policy::CompiledPolicy& candidate) const {
  std::vector<std::string> problems = CandidateProblems(candidate);
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(options_.path, ": ", absl::StrJoin(problems, "; ")));
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
PolicyHolder::CompileCandidate(const std::string& text,
                               const std::string& display_name,
                               std::vector<policy::Diagnostic>* diagnostics) const {
  std::string base_dir =
      std::filesystem::path(options_.path).parent_path().string();
  std::vector<policy::Diagnostic> found;
  auto compiled = policy::LoadPolicyText(
      text, display_name, base_dir.empty() ? "." : base_dir, &found);
  if (compiled.ok()) {
    for (std::string& problem : CandidateProblems(**compiled)) {
      found.push_back({policy::Diagnostic::Severity::kError, display_name, 0, 0,
                       std::move(problem)});
    }
  }
  absl::Status errors = policy::ErrorsToStatus(display_name, found);
  if (diagnostics != nullptr) {
    diagnostics->insert(diagnostics->end(), found.begin(), found.end());
  }
  if (!compiled.ok() && errors.ok()) return compiled.status();
  if (!errors.ok()) return errors;
  return compiled;
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
PolicyHolder::Compile(const std::string& text) const {
  std::vector<policy::Diagnostic> diagnostics;
  auto compiled = CompileCandidate(text, options_.path, &diagnostics);
  if (compiled.ok()) return compiled;
  std::vector<policy::Diagnostic> errors;
  for (const policy::Diagnostic& d : diagnostics) {
    if (d.severity == policy::Diagnostic::Severity::kError) errors.push_back(d);
  }
  if (errors.empty()) return compiled.status();
  return absl::Status(compiled.status().code(),
                      policy::FormatDiagnostics(errors));
}

void PolicyHolder::Swap(std::shared_ptr<const policy::CompiledPolicy> policy,
                        std::string text) {
  decltype(listeners_) listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = policy;
    current_text_ = std::move(text);
    last_bad_text_.clear();
    listeners = listeners_;
  }
  for (const auto& listener : listeners) listener(policy);
}

absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
PolicyHolder::Activate(const std::string& text) {
  std::lock_guard<std::mutex> change(change_mu_);
  if (options_.path.empty()) {
    return absl::FailedPreconditionError(
        "this gateway has no policy file (config key `policy`)");
  }
  HG_ASSIGN_OR_RETURN(auto policy, Compile(text));
  HG_RETURN_IF_ERROR(WriteFileAtomically(options_.path, text));
  Swap(policy, text);
  return policy;
}

absl::StatusOr<bool> PolicyHolder::ReloadIfChanged() {
  std::lock_guard<std::mutex> change(change_mu_);
  if (options_.path.empty()) return false;
  HG_ASSIGN_OR_RETURN(std::string text, ReadFile(options_.path));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (text == current_text_) return false;
    if (text == last_bad_text_) return false;  // already reported
  }
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> policy =
      Compile(text);
  if (!policy.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    last_bad_text_ = text;
    return policy.status();
  }
  Swap(std::move(*policy), std::move(text));
  return true;
}

void PolicyHolder::OnActivated(
    std::function<void(const std::shared_ptr<const policy::CompiledPolicy>&)>
        listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(std::move(listener));
}

}  // namespace havengate::server
