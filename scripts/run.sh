#!/usr/bin/env bash
# Runs the log server on its embedded RocksDB with sensible defaults:
# data in ./data, listening on 127.0.0.1:8080. Installs missing system
# prerequisites first. Extra arguments go to `stateanchor-log serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
exec cargo run --locked --release -p log-server --bin stateanchor-log -- serve "$@"
