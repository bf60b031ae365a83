#!/usr/bin/env bash
# Builds the Debian package of feedmerge (target/debian/feedmerge_VERSION-1_ARCH.deb) and
# checks it: its files against the list below, its conffiles and maintainer scripts, the
# unpacked binary (--version, check of the packaged config) and the unpacked unit
# (systemd-analyze verify and security, with the unpacked binary). Any difference stops it with "FAIL".
#
#   packaging/deb.sh             build and check
#   packaging/deb.sh --install   also, as root: dpkg -i, feedmerge check on the installed
#                                config, dpkg -r and dpkg -P (on a machine without feedmerge)
#
# Needs cargo, dpkg-deb, gzip and systemd-analyze (Debian: systemd). Installs cargo-deb when
# it is missing (cargo install cargo-deb --locked: about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

install=no
case "${1-}" in
  --install) install=yes ;;
  "") ;;
  *) echo "usage: packaging/deb.sh [--install]" >&2; exit 2 ;;
esac

fail() { echo "deb.sh: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# What the package holds, and nothing else.
EXPECTED_FILES="\
./etc/feedmerge/config.toml
./usr/bin/feedmerge
./usr/lib/systemd/system/feedmerge.service
./usr/share/bash-completion/completions/feedmerge
./usr/share/doc/feedmerge/README.md
./usr/share/doc/feedmerge/copyright
./usr/share/fish/vendor_completions.d/feedmerge.fish
./usr/share/man/man1/feedmerge.1.gz
./usr/share/zsh/vendor-completions/_feedmerge"
EXPECTED_CONFFILES="/etc/feedmerge/config.toml"
EXPECTED_CONTROL="conffiles control postinst postrm prerm"
UNIT=/usr/lib/systemd/system/feedmerge.service
DATABASE=/var/lib/feedmerge/feedmerge.db

if ! command -v cargo-deb >/dev/null; then
  step "installing cargo-deb"
  cargo install cargo-deb --locked
fi

step "building the release binary"
cargo build --release --locked
bin=target/release/feedmerge
version=$("$bin" --version | awk '{print $2}')

# What the package installs besides the binary, made from what the repository ships.
step "making the unit, config, man page and completions in target/deb"
out=target/deb
rm -rf "$out"
mkdir -p "$out"
# The unit of systemd/, with the package's binary and without the manual install notes.
{
  echo "# feedmerge as a system service, installed by the feedmerge Debian package."
  echo "# Config: /etc/feedmerge/config.toml (then: systemctl reload feedmerge)."
  echo "# Database: $DATABASE."
  echo
  sed -e 's|/usr/local/bin/feedmerge|/usr/bin/feedmerge|g' systemd/feedmerge.service |
    awk 'found || /^\[Unit\]$/ { found = 1 } found'
} >"$out/feedmerge.service"
grep -qx 'ExecStart=/usr/bin/feedmerge --config /etc/feedmerge/config.toml run' "$out/feedmerge.service" ||
  fail "systemd/feedmerge.service: no ExecStart=/usr/local/bin/feedmerge --config /etc/feedmerge/config.toml run to adapt"
grep -qx 'StateDirectory=feedmerge' "$out/feedmerge.service" ||
  fail "systemd/feedmerge.service: no StateDirectory=feedmerge (where the packaged config puts the database)"
# The repository's config, with the database in the service's state directory: one line differs.
sed -e "s|^path = \"data/feedmerge.db\"\$|path = \"$DATABASE\"|" config.toml >"$out/config.toml"
changed=$(diff config.toml "$out/config.toml" | grep -c '^>' || true)
[ "$changed" = 1 ] ||
  fail "config.toml: expected one [storage] line 'path = \"data/feedmerge.db\"' to replace, replaced $changed"
"$bin" man | gzip -9n >"$out/feedmerge.1.gz"
"$bin" completions bash >"$out/feedmerge.bash"
"$bin" completions zsh >"$out/_feedmerge"
"$bin" completions fish >"$out/feedmerge.fish"

step "packaging"
arch=$(dpkg --print-architecture)
deb="target/debian/feedmerge_${version}-1_${arch}.deb"
rm -f "$deb"
cargo deb --no-build --output target/debian/
[ -f "$deb" ] || fail "cargo deb made no $deb"
ls -l "$deb"

step "checking the contents"
dpkg-deb --contents "$deb"
files=$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)
diff <(echo "$EXPECTED_FILES") <(echo "$files") ||
  fail "the package's files differ from the expected list (< expected, > packaged)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
control="$scratch/control"
dpkg-deb --control "$deb" "$control"
diff <(echo "$EXPECTED_CONTROL") <(ls "$control" | sort | xargs) ||
  fail "control files differ (< expected, > packaged)"
diff <(echo "$EXPECTED_CONFFILES") "$control/conffiles" || fail "conffiles differ"
grep -q 'deb-systemd-helper enable feedmerge.service' "$control/postinst" ||
  fail "postinst does not enable the unit"
# Started on install, restarted on upgrade.
grep -q '_dh_action=start' "$control/postinst" &&
  grep -qF 'deb-systemd-invoke $_dh_action feedmerge.service' "$control/postinst" ||
  fail "postinst does not start the unit"
grep -q 'deb-systemd-invoke stop feedmerge.service' "$control/prerm" ||
  fail "prerm does not stop the unit"
sed -n 's/^\(Package\|Version\|Architecture\|Depends\|Installed-Size\):/&/p' "$control/control"

step "checking the unpacked package"
root="$scratch/root"
dpkg-deb --extract "$deb" "$root"
shown=$("$root/usr/bin/feedmerge" --version)
[ "$shown" = "feedmerge $version" ] || fail "--version says '$shown', not 'feedmerge $version'"
echo "$shown"
checked=$("$root/usr/bin/feedmerge" --config "$root/etc/feedmerge/config.toml" check) ||
  fail "feedmerge check refuses the packaged config"
echo "$checked" | grep -q "database $DATABASE\$" ||
  fail "the packaged config does not put the database at $DATABASE:
$checked"
cmp -s "$root$UNIT" "$out/feedmerge.service" || fail "the packaged unit is not the one made"
# The unit is verified as packaged, with ExecStart pointing at the unpacked binary: under
# --root=, systemd-analyze would look for the system's own units and /bin/kill there too.
mkdir "$scratch/unit"
unit="$scratch/unit/feedmerge.service"
sed "s|/usr/bin/feedmerge|$root/usr/bin/feedmerge|g" "$root$UNIT" >"$unit"
verify=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
echo "systemd-analyze verify: ok"
exposure=$(systemd-analyze security --offline=true --no-pager "$unit" |
  sed -n 's/.*Overall exposure level for feedmerge.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 1.5) }' || fail "systemd-analyze security: exposure $exposure > 1.5"
echo "systemd-analyze security: exposure $exposure"

if [ "$install" = yes ]; then
  step "installing on this machine"
  [ "$(id -u)" = 0 ] || fail "--install needs root"
  if dpkg-query -W -f '${Status}' feedmerge 2>/dev/null | grep -q 'installed'; then
    fail "feedmerge is installed on this machine already; --install checks a clean install only"
  fi
  dpkg -i "$deb"
  # From a folder without a config.toml, a command reads the service's config.
  (cd / && feedmerge check) | grep -q "^/etc/feedmerge/config.toml: ok\$" ||
    fail "feedmerge check does not read /etc/feedmerge/config.toml"
  echo "feedmerge check: /etc/feedmerge/config.toml ok"
  [ -L /etc/systemd/system/multi-user.target.wants/feedmerge.service ] ||
    fail "the unit is not enabled"
  echo "enabled: /etc/systemd/system/multi-user.target.wants/feedmerge.service"
  dpkg -r feedmerge
  [ ! -e /usr/bin/feedmerge ] || fail "dpkg -r left /usr/bin/feedmerge"
  [ -f /etc/feedmerge/config.toml ] || fail "dpkg -r removed the conffile (only purge should)"
  dpkg -P feedmerge
  [ ! -e /etc/feedmerge/config.toml ] || fail "dpkg -P left /etc/feedmerge/config.toml"
  [ ! -e /etc/systemd/system/multi-user.target.wants/feedmerge.service ] ||
    fail "dpkg -P left the unit enabled"
  echo "removed and purged"
fi

step "ok: $deb"
