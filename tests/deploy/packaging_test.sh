#!/usr/bin/env bash
# Checks the install layout and the Debian package built from an existing build tree:
#  1. `cmake --install` (DESTDIR staging) puts binaries, unit, config, default pack and docs in
#     place;
#  2. `cpack -G DEB` builds a package whose contents (dpkg-deb -c) have the system paths, whose
#     /etc config is a conffile, and whose Depends name the Debian package of every shared
#     library the installed steppewatchd loads (ldd + dpkg -S), so it installs on a clean host.
# Usage: packaging_test.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=${1:?source dir}
bin=${2:?binary dir}
for tool in cpack dpkg-deb dpkg ldd objdump; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[[ -x $bin/steppewatchd && -x $bin/steppewatch ]] || { echo "FAIL: build steppewatchd and steppewatch first"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {  # expect LISTING PATH
  if grep -qxF -- "$2" "$1"; then echo "ok: $2"; else echo "FAIL: missing $2"; fail=1; fi
}

# 1. cmake --install into a staging root, with the package's prefix.
DESTDIR=$tmp/stage cmake --install "$bin" --prefix /usr >/dev/null
(cd "$tmp/stage" && find . \( -type f -o -type l \) | sort) >"$tmp/installed"
for p in ./usr/bin/steppewatchd ./usr/bin/steppewatch ./usr/lib/systemd/system/steppewatchd.service \
         ./usr/lib/systemd/system/steppewatch-stories.service ./etc/steppewatch/stories.yaml \
         ./etc/steppewatch/steppewatch.yaml ./usr/share/steppewatch/rules/central-asia/pack.yaml \
         ./usr/share/doc/steppewatch/README.deploy.md; do
  expect "$tmp/installed" "$p"
done

# The installed stories config is one the daemon accepts, with the installed pack (its
# /usr/share path, here under the staging root). --check-config binds the metrics address: in a
# network namespace of its own when possible, as that port may be taken on this host.
netns=()
if unshare --net true 2>/dev/null; then netns=(unshare --net); fi
if "${netns[@]}" "$bin/steppewatchd" --check-config --config "$tmp/stage/etc/steppewatch/stories.yaml" \
    --rules "$tmp/stage/usr/share/steppewatch/rules" >"$tmp/stories-check" 2>&1 &&
   grep -q '^roles: \["stories"\]' "$tmp/stories-check"; then
  echo "ok: steppewatchd --check-config accepts /etc/steppewatch/stories.yaml (roles: stories)"
else
  echo "FAIL: steppewatchd --check-config on /etc/steppewatch/stories.yaml:"; cat "$tmp/stories-check"
  fail=1
fi

# 2. The .deb.
cpack -G DEB --config "$bin/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/pkg/*.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|/$||' | sort >"$tmp/contents"
for p in ./usr/bin/steppewatchd ./usr/bin/steppewatch ./usr/lib/systemd/system/steppewatchd.service \
         ./usr/lib/systemd/system/steppewatch-stories.service ./etc/steppewatch/stories.yaml \
         ./etc/steppewatch/steppewatch.yaml ./usr/share/steppewatch/rules/central-asia/pack.yaml \
         ./usr/share/doc/steppewatch/README.deploy.md; do
  expect "$tmp/contents" "$p"
done
dpkg-deb -e "$deb" "$tmp/control"
expect "$tmp/control/conffiles" /etc/steppewatch/steppewatch.yaml
expect "$tmp/control/conffiles" /etc/steppewatch/stories.yaml
for script in postinst prerm postrm; do
  [[ -x $tmp/control/$script ]] && echo "ok: $script" || { echo "FAIL: no $script"; fail=1; }
done

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
dpkg-deb -x "$deb" "$tmp/root"
# The libraries steppewatchd itself names (DT_NEEDED); their own dependencies come with their
# packages' Depends. ldd resolves each name to the file the dynamic loader would use.
needed=$(objdump -p "$tmp/root/usr/bin/steppewatchd" | awk '/NEEDED/{print $2}')
declare -A seen=()
for name in $needed; do
  lib=$(ldd "$tmp/root/usr/bin/steppewatchd" | awk -v n="$name" '$1 == n {print $3}')
  [[ -n $lib ]] || { echo "FAIL: $name does not resolve on this host"; fail=1; continue; }
  real=$(readlink -f "$lib")
  pkg=$( (dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || \
          dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) | head -1 | cut -d: -f1)
  if [[ -z $pkg ]]; then echo "FAIL: no Debian package owns $lib"; fail=1; continue; fi
  [[ -n ${seen[$pkg]:-} ]] && continue
  seen[$pkg]=1
  if [[ ",$depends," == *", $pkg"[,\ ]* || ",$depends," == *",$pkg"[,\ ]* ]]; then
    echo "ok: $pkg (for $name) is in Depends"
  else
    echo "FAIL: steppewatchd needs $name from $pkg, which Depends does not name"; fail=1
  fi
done
exit $fail
