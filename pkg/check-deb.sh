#!/usr/bin/env bash
# Checks a built colonyd .deb as a user would meet it (CI runs this after pkg/deb.sh; as root):
#
#   pkg/check-deb.sh target/debian/colonyd_<version>-1_<arch>.deb
#
# 1. contents: binary, unit, env file (a conffile, COLONYD_LISTEN commented out), man pages,
#    completions, docs, dashboards; 2. lintian (errors and warnings fail; pkg/lintian-overrides
#    holds the accepted tags, each with its reason); 3. install with apt: the unit is enabled
#    and not started; the packaged binary runs and serves; `systemd-analyze verify` accepts the
#    installed unit; 4. remove keeps the env file, purge removes it.
set -euo pipefail
deb=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-deb: $*" >&2; exit 1; }

echo "--- control"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --field "$deb" Package | grep -qx colonyd || fail "package name"

echo "--- contents"
dpkg-deb --contents "$deb" | awk '{print $6}' | tee "$work/contents"
for path in ./usr/bin/colonyd ./etc/colonyd/colonyd.env \
  ./usr/share/man/man1/colonyd.1.gz ./usr/share/man/man1/colonyd-serve.1.gz \
  ./usr/share/man/man1/colonyd-import.1.gz \
  ./usr/share/bash-completion/completions/colonyd ./usr/share/zsh/vendor-completions/_colonyd \
  ./usr/share/fish/vendor_completions.d/colonyd.fish ./usr/share/doc/colonyd/copyright \
  ./usr/share/doc/colonyd/changelog.Debian.gz ./usr/share/doc/colonyd/README.md \
  ./usr/share/doc/colonyd/examples/grafana/colonyd.json \
  ./usr/share/doc/colonyd/examples/prometheus/colonyd-rules.yml; do
  grep -qx "$path" "$work/contents" || fail "missing $path"
done
unit=$(grep -E '^\./(usr/)?lib/systemd/system/colonyd\.service$' "$work/contents") \
  || fail "missing the systemd unit"
unit=${unit#.}

dpkg-deb --control "$deb" "$work/control"
grep -qx /etc/colonyd/colonyd.env "$work/control/conffiles" || fail "env file is not a conffile"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/colonyd/colonyd.env > "$work/env"
grep -q '^#COLONYD_LISTEN=' "$work/env" || fail "COLONYD_LISTEN is not commented out"
! grep -q '^COLONYD_LISTEN=' "$work/env" || fail "COLONYD_LISTEN is set in the env file"
grep -q 'deb-systemd-helper' "$work/control/postinst" || fail "postinst does not enable the unit"
! grep -q 'deb-systemd-invoke start' "$work/control/postinst" || fail "postinst starts the unit"

echo "--- lintian"
lintian --version
lintian --fail-on error,warning --display-info "$deb"

echo "--- install"
if dpkg -s colonyd >/dev/null 2>&1; then dpkg --purge colonyd; fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb"
test -x /usr/bin/colonyd || fail "/usr/bin/colonyd not installed"
test -L /etc/systemd/system/multi-user.target.wants/colonyd.service \
  || fail "the unit is not enabled"
pgrep -f "^/usr/bin/colonyd" >/dev/null && fail "installing started colonyd"
/usr/bin/colonyd --version
/usr/bin/colonyd serve --help | grep -q -- '--listen' || fail "serve --help"
grep -q '^ExecStart=/usr/bin/colonyd serve' "$unit" || fail "ExecStart is not /usr/bin/colonyd"
systemd-analyze verify --man=no "$unit"
systemd-analyze security --offline=true "$unit" | tail -n 1

# the packaged binary serves, with the packaged env file's settings (metrics moved to any free
# loopback port so a busy 9464 cannot fail the check), and answers its own client
port_file=$work/port
key=$(/usr/bin/colonyd keygen | sed -n 's/^prvkey=//p')
(
  set -a; . /etc/colonyd/colonyd.env; set +a
  COLONYD_METRICS_LISTEN=127.0.0.1:0
  COLONIES_SERVER_PRVKEY=$key exec /usr/bin/colonyd serve --listen 127.0.0.1:0 \
    --port-file "$port_file" --data-dir "$work/data"
) >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
[ -s "$port_file" ] || { cat "$work/serve.log"; fail "packaged colonyd did not start"; }
COLONIES_SERVER_PRVKEY=$key /usr/bin/colonyd status --server "127.0.0.1:$(cat "$port_file")" \
  || { cat "$work/serve.log"; fail "packaged colonyd status"; }
kill "$pid"; wait "$pid" || true

echo "--- remove and purge"
dpkg --remove colonyd
test ! -e /usr/bin/colonyd || fail "remove left the binary"
test -f /etc/colonyd/colonyd.env || fail "remove deleted the conffile"
dpkg --purge colonyd
test ! -e /etc/colonyd/colonyd.env || fail "purge left the conffile"
test ! -e /etc/systemd/system/multi-user.target.wants/colonyd.service || fail "purge left the enable link"
echo "check-deb: ok"
