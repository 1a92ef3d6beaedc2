#include "policy/policy_testing.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "proto/json.h"
#include "yaml-cpp/yaml.h"

namespace havengate::policy::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/hg_policy_XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    std::cerr << "cannot create a temporary directory\n";
    std::abort();
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void TempDir::WriteFile(const std::string& relative, absl::string_view content) const {
  fs::path p = fs::path(path_) / relative;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

std::string SourceDir() {
  const char* dir = std::getenv("HAVENGATE_SOURCE_DIR");
  return dir != nullptr ? dir : HAVENGATE_SOURCE_DIR_DEFAULT;
}

std::string BinaryDir() {
  const char* dir = std::getenv("HAVENGATE_BINARY_DIR");
  return dir != nullptr ? dir : HAVENGATE_BINARY_DIR_DEFAULT;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::abort();
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

v1::Item SampleItem(const std::string& name) {
  auto item = ParseJsonAs<v1::Item>(
      ReadFileOrDie(absl::StrCat(SourceDir(), "/deploy/samples/", name)));
  if (!item.ok()) {
    std::cerr << name << ": " << item.status() << "\n";
    std::abort();
  }
  return *item;
}

void WriteKeyFile(const std::string& path, int seed) {
  fs::create_directories(fs::path(path).parent_path());
  std::string bytes;
  for (int i = 0; i < 32; ++i) bytes.push_back(static_cast<char>((seed * 131 + i * 17) & 0xff));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != 32) {
    std::cerr << "cannot write key file " << path << "\n";
    std::abort();
  }
  ::close(fd);
}

namespace {

void WriteMissingKeys(absl::string_view yaml, const std::string& dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const std::exception&) {
    return;  // The loader reports the syntax error.
  }
  if (!root.IsMap() || !root["keys"] || !root["keys"].IsSequence()) return;
  int seed = 1;
  for (const auto& key : root["keys"]) {
    if (!key.IsMap() || !key["file"] || !key["file"].IsScalar()) continue;
    std::string file = key["file"].Scalar();
    std::string path = file.empty() || file[0] == '/' ? file : absl::StrCat(dir, "/", file);
    if (!fs::exists(path)) WriteKeyFile(path, seed);
    ++seed;
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadWithKeys(
    absl::string_view yaml, const TempDir& dir, std::vector<Diagnostic>* diagnostics) {
  WriteMissingKeys(yaml, dir.path());
  return LoadPolicyText(yaml, "policy.yaml", dir.path(), diagnostics);
}

std::string CopyDeployPolicy(const std::string& org, const TempDir& dir) {
  std::string text =
      ReadFileOrDie(absl::StrCat(SourceDir(), "/deploy/policies/", org, "/policy.yaml"));
  std::string path = absl::StrCat(dir.path(), "/", org, "/policy.yaml");
  dir.WriteFile(absl::StrCat(org, "/policy.yaml"), text);
  WriteMissingKeys(text, absl::StrCat(dir.path(), "/", org));
  return path;
}

}  // namespace havengate::policy::testing
