#!/usr/bin/env bash
# Builds lanward-agent.msi from the release Windows agent.
#   packaging/windows/build-msi.sh [OUT.msi] [VERSION]
# Needs: rustup target x86_64-pc-windows-gnu, gcc-mingw-w64-x86-64, wixl.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/lanward-agent.msi}
version=${2:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}
cargo build --release -q -p lanward-agent --target x86_64-pc-windows-gnu
exe=target/x86_64-pc-windows-gnu/release/lanward-agent.exe
wixl -a x64 -D Version="$version" -D AgentExe="$exe" -o "$out" packaging/windows/lanward-agent.wxs
echo "$out ($version, $(stat -c %s "$out") bytes)"
