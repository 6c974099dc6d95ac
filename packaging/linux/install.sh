#!/bin/sh
# Add Even/Odd Studio to your desktop's application menu (per user, no root needed).
#
#   ./install.sh              install the menu entry, AppStream metadata and icons
#   ./install.sh --uninstall  remove them again (the app folder itself is left alone)
#
# Run it from the unpacked EvenOddStudio folder, which must stay where it is: the menu
# entry starts the EvenOddStudio program beside this script. Files go under
# ${XDG_DATA_HOME:-~/.local/share}: applications/, metainfo/ and icons/hicolor/.
set -eu

APP_ID=org.evenodd.studio
HERE=$(cd "$(dirname "$0")" && pwd -P)
EXE="$HERE/EvenOddStudio"
SHARE="$HERE/share"
DATA="${XDG_DATA_HOME:-${HOME:?HOME is not set}/.local/share}"
DESKTOP="$DATA/applications/$APP_ID.desktop"
METAINFO="$DATA/metainfo/$APP_ID.metainfo.xml"

refresh_caches() {  # optional tools: menus pick the change up without them, only later
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA/applications" 2>/dev/null || true
  fi
  if [ -d "$DATA/icons/hicolor" ]; then
    touch "$DATA/icons/hicolor"  # a newer folder tells icon themes to look again
    # Refresh an icon cache only where one exists: creating one would hide icons that
    # other programs add later without refreshing it.
    if [ -f "$DATA/icons/hicolor/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
      gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
    fi
  fi
}

icons() {  # the relative paths of the icons this bundle carries, one a line
  (cd "$SHARE/icons" && find hicolor -name "$APP_ID.png" -type f)
}

uninstall() {
  rm -f "$DESKTOP" "$METAINFO"
  if [ -d "$DATA/icons/hicolor" ]; then
    find "$DATA/icons/hicolor" -path "*/apps/$APP_ID.png" -type f -exec rm -f {} +
  fi
  refresh_caches
  echo "Removed Even/Odd Studio from the application menu ($DATA)."
}

# A value for the Exec key: the program's path in double quotes, with the characters the
# Desktop Entry spec reserves inside quotes escaped ($ " ` \ need a backslash, which the
# string escaping doubles), and % doubled because Exec gives it a meaning.
exec_value() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\\\\\/g' -e 's/["$`]/\\\\&/g' -e 's/%/%%/g')"
}

install() {
  [ -x "$EXE" ] || { echo "install.sh: no EvenOddStudio program beside this script ($HERE)" >&2; exit 1; }
  case "$EXE" in
    *"
"*) echo "install.sh: the folder's path contains a line break; move the folder" >&2; exit 1 ;;
  esac
  mkdir -p "$DATA/applications" "$DATA/metainfo"
  exec_line=$(exec_value "$EXE")
  try_exec=$(printf '%s' "$EXE" | sed -e 's/\\/\\\\/g')
  # Write beside the target, then rename: a menu never reads half an entry.
  # Through the environment, not awk -v, which would undo the backslash escapes.
  EXEC_LINE="$exec_line" TRY_EXEC="$try_exec" awk '
    /^Exec=/ { print "Exec=" ENVIRON["EXEC_LINE"]; next }
    /^TryExec=/ { print "TryExec=" ENVIRON["TRY_EXEC"]; next }
    { print }
  ' "$SHARE/applications/$APP_ID.desktop" >"$DESKTOP.tmp"
  mv -f "$DESKTOP.tmp" "$DESKTOP"
  cp "$SHARE/metainfo/$APP_ID.metainfo.xml" "$METAINFO.tmp"
  mv -f "$METAINFO.tmp" "$METAINFO"
  for icon in $(icons); do
    mkdir -p "$(dirname "$DATA/icons/$icon")"
    cp "$SHARE/icons/$icon" "$DATA/icons/$icon.tmp"
    mv -f "$DATA/icons/$icon.tmp" "$DATA/icons/$icon"
  done
  refresh_caches
  echo "Installed Even/Odd Studio in the application menu: $DESKTOP"
  echo "It starts $EXE; run $HERE/install.sh --uninstall to remove the entry."
}

case "${1:-}" in
  "") install ;;
  --uninstall) uninstall ;;
  -h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0" ;;
  *) echo "install.sh: unknown option $1 (use --uninstall or --help)" >&2; exit 2 ;;
esac
