#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target of fuzz/ for a few seconds each
# (default 10; FUZZ_SECONDS=60 scripts/fuzz-smoke.sh for longer), starting
# from the seed inputs in fuzz/seeds/<target>/. Fails on the first crash;
# libFuzzer then leaves the input in fuzz/artifacts/<target>/.
#
# Toolchain: cargo-fuzz passes nightly-only rustc flags (-Zsanitizer=address,
# and -Z flags for coverage). Only stable Rust is used for this project, so
# the script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them; the
# stable toolchain ships the AddressSanitizer runtime, so this builds and runs
# with ASan (checked with rustc 1.95.0 and cargo-fuzz 0.13.2). If your
# toolchain lacks the sanitizer runtime, run with FUZZ_SANITIZER=none.
#
# scripts/test.sh runs it with the default 10 s a target (about 4 minutes
# for the first build, then 90 s). It depends on cargo-fuzz (installed here
# if missing), a C++ compiler (to build libFuzzer) and RUSTC_BOOTSTRAP, none
# of which the rest of the suite needs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-10}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
# Its own target directory: the sanitizer and coverage flags would otherwise
# rebuild the workspace's artifacts in the main one (scripts/test.sh exports
# CARGO_TARGET_DIR for those).
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/stateanchor/target-fuzz}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

cargo fuzz build --sanitizer "$sanitizer"

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
status=0
for target in $(cargo fuzz list); do
  mkdir -p "$corpus/$target"
  seeds=()
  if [ -d "seeds/$target" ]; then seeds=("seeds/$target"); fi
  echo "== fuzz $target for ${seconds}s"
  # The first corpus directory collects new inputs (a temporary one, so the
  # repository is not touched); the seed directory is only read.
  if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -print_final_stats=1 2>"$corpus/$target.log"; then
    tail -n 40 "$corpus/$target.log" >&2
    echo "fuzz-smoke: $target FAILED" >&2
    status=1
    continue
  fi
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$corpus/$target.log" || true
  echo "   corpus: $(find "$corpus/$target" -type f | wc -l) new inputs"
done
exit $status
