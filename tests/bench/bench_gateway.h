// A gateway assembled inside a benchmark binary (server::Gateway, as
// server/main.cc assembles it) and run as a child process by the harness:
// GatewaySpec::launcher = BenchGatewayLauncher(...). It exists for what the
// havengate binary must never offer: running without the audit
// (GatewayConfig::discard_audit_for_benchmark, which no config file can
// set), so that the audit benchmark can compare the same gateway with and
// without it; likewise peer links without batches, and a PushStream
// that offers clients no batches.
#ifndef HAVENGATE_TESTS_BENCH_BENCH_GATEWAY_H_
#define HAVENGATE_TESTS_BENCH_BENCH_GATEWAY_H_

#include <optional>
#include <string>
#include <vector>

namespace havengate::bench {

// The command that runs this binary as a gateway (the harness appends
// `--config FILE`). `discard_audit`: no audit record is kept. `unbatched`:
// the peer links send one entry per message (no batches).
// `old_push_streams`: PushStream offers no batches to clients, as an
// earlier release (GatewayConfig::unbatched_push_streams_for_testing).
std::vector<std::string> BenchGatewayLauncher(bool discard_audit, bool unbatched = false,
                                              bool old_push_streams = false);

// For the benchmark's main(), before it parses its own flags: if `argv`
// is a BenchGatewayLauncher command line, runs the gateway until SIGTERM
// and returns the exit code (as the havengate binary's); otherwise nullopt.
std::optional<int> RunBenchGatewayIfAsked(int argc, char** argv);

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_BENCH_GATEWAY_H_
