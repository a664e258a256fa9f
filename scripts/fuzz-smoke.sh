#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target of fuzz/ for a few seconds each
# (default 10; FUZZ_SECONDS=600 scripts/fuzz-smoke.sh for the documented
# long run), starting from the seed inputs in fuzz/seeds/<target>/.
# FUZZ_PARALLEL=N runs N targets at a time (default 1); FUZZ_CORPUS_OUT=DIR
# keeps the inputs found in DIR/<target>/ (default: a temporary directory).
# Fails if any target crashes; libFuzzer then leaves the input in
# fuzz/artifacts/<target>/.
#
# Toolchain: cargo-fuzz passes nightly-only rustc flags (-Zsanitizer=address,
# and -Z flags for coverage). Only stable Rust is used for this project, so
# the script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them; the
# stable toolchain ships the AddressSanitizer runtime, so this builds and runs
# with ASan (checked with rustc 1.95.0 and cargo-fuzz 0.13.2). If your
# toolchain lacks the sanitizer runtime, run with FUZZ_SANITIZER=none.
#
# scripts/test.sh runs it with the default 10 s a target, two at a time
# (2 min 40 s from a fresh clone with the first build of the targets). It depends on cargo-fuzz (installed here
# if missing), a C++ compiler (to build libFuzzer) and RUSTC_BOOTSTRAP, none
# of which the rest of the suite needs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-10}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
# scripts/test.sh lints the workspace by wrapping rustc in clippy-driver; the
# fuzz targets are built by plain rustc.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
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
# FUZZ_CORPUS_OUT=DIR keeps the new inputs (DIR/<target>/) after the run.
keep="${FUZZ_CORPUS_OUT:-}"

# Runs one target; its report goes to $corpus/<target>.report, and a failure
# leaves $corpus/<target>.failed.
run_one() {
  local target="$1"
  local out="$corpus/$target"
  [ -n "$keep" ] && out="$keep/$target"
  mkdir -p "$out"
  local seeds=()
  if [ -d "seeds/$target" ]; then seeds=("seeds/$target"); fi
  echo "== fuzz $target for ${seconds}s" >&2
  # The first corpus directory collects new inputs (a temporary one, so the
  # repository is not touched); the seed directory is only read.
  {
    echo "== $target (${seconds}s)"
    if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "$out" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>"$corpus/$target.log"; then
      tail -n 40 "$corpus/$target.log"
      echo "fuzz-smoke: $target FAILED"
      touch "$corpus/$target.failed"
    else
      grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$corpus/$target.log" || true
      echo "   corpus: $(find "$out" -type f | wc -l) inputs"
    fi
  } >"$corpus/$target.report"
}

# FUZZ_PARALLEL targets at a time (default 1; the documented long run uses
# one per core).
parallel="${FUZZ_PARALLEL:-1}"
targets=$(cargo fuzz list)
running=0
for target in $targets; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
status=0
for target in $targets; do
  cat "$corpus/$target.report"
  if [ -e "$corpus/$target.failed" ]; then status=1; fi
done
exit $status
