#!/usr/bin/env bash
# Builds the Debian package: target/debian/colonyd_<version>-1_<arch>.deb
#
#   pkg/deb.sh                                   # this machine's architecture
#   pkg/deb.sh --target aarch64-unknown-linux-gnu  # arm64 (needs the cross toolchain, below)
#   pkg/deb.sh --target armv7-unknown-linux-gnueabihf  # armhf
#
# Man pages (examples/man.rs) and completions (`colonyd completions`) are generated on the
# host from the same clap definitions as --help (they do not depend on the architecture);
# cargo-deb writes the maintainer scripts for the unit; the packaged unit is
# systemd/colonyd.service with ExecStart at /usr/bin. Needs cargo-deb
# (`cargo install cargo-deb --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
assets=$target_dir/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions" "$assets/systemd" "$assets/scripts"

cargo build --release --bin colonyd "$@"
host_bin=$target_dir/release/colonyd
if [ ! -x "$host_bin" ] || [ $# -gt 0 ]; then
  cargo build --release --bin colonyd
fi
# the dev profile: CI has built the examples already, and the pages do not depend on it
cargo run --example man -- "$assets/man"
gzip -9n "$assets"/man/*.1
"$host_bin" completions bash > "$assets/completions/colonyd"
"$host_bin" completions zsh > "$assets/completions/_colonyd"
"$host_bin" completions fish > "$assets/completions/colonyd.fish"
sed 's|^ExecStart=/usr/local/bin/colonyd|ExecStart=/usr/bin/colonyd|' systemd/colonyd.service \
  > "$assets/systemd/colonyd.service"
grep -q '^ExecStart=/usr/bin/colonyd serve' "$assets/systemd/colonyd.service"

cargo deb --no-build "$@"
