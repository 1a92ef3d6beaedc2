// The item the benchmarks push: a realistic PIN-code fraud alert
// of about forty filled-in fields (classification, location with a
// position, two containers with valid ISO 6346 check digits, a vessel with
// a valid IMO number and MMSI, two persons, a company, reporter and
// source), about 1.5 KB encoded. Every pushed copy differs only in its
// item_id, so each one is a new item to the gateway.
#ifndef HAVENGATE_TESTS_BENCH_BENCH_ALERT_H_
#define HAVENGATE_TESTS_BENCH_BENCH_ALERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "havengate/v1/item.pb.h"

namespace havengate::bench {

// The template alert (its item_id is a placeholder). It passes the
// gateway's item validation; the benchmark checks that before measuring.
v1::Item MakeBenchAlert();

// The item a benchmark pushes: MakeBenchAlert() if `json_file` is empty,
// else the proto3 JSON item in that file (e.g. deploy/samples/*.json) with
// origin and provenance cleared (the gateway sets them). NOT_FOUND or
// INVALID_ARGUMENT naming the file.
absl::StatusOr<v1::Item> LoadBenchItem(const std::string& json_file);

// A distinct, valid item id: "<prefix>-<n>".
std::string BenchItemId(const std::string& prefix, int n);

// --distinct-keys: every copy pushed from now on gets match keys of its
// own (container numbers, IMO number and MMSI, all valid), so that no copy
// matches another on those either. Off (the default), every copy carries
// the template's containers and vessels, and each new item is a hit on up
// to 100 earlier ones per indexed key (store::kMaxHitsPerKey).
void SetDistinctKeys(bool distinct);

// Makes `copy` (a copy of the template) the item pushed as number `n`
// under `prefix`: item id BenchItemId(prefix, n), its containers' seal
// numbers made its own ("<seal>/<prefix>-<n>") so that a gateway indexing
// seal numbers finds no hits between the copies (real alerts are about
// different seals), and its own keys if SetDistinctKeys(true).
void MakeBenchCopy(v1::Item& copy, const std::string& prefix, int n);

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_BENCH_ALERT_H_
