# Shared by the apply scripts: dry run unless --yes, and every change prints its undo.
APPLY=0
args=()
for a in "$@"; do if [ "$a" = "--yes" ]; then APPLY=1; else args+=("$a"); fi; done
set -- "${args[@]+"${args[@]}"}"
# change DESCRIPTION UNDO-COMMAND COMMAND...
change() {
  local what="$1" undo="$2"; shift 2
  if [ "$APPLY" = 1 ]; then
    echo "changing: $what"; "$@" || { echo "failed: $*" >&2; return 1; }
    echo "  undo with: $undo"
  else
    echo "would change: $what"; echo "  command: $*"; echo "  undo with: $undo"
  fi
}
need_root() { if [ "$APPLY" = 1 ] && [ "$(id -u)" -ne 0 ]; then echo "$(basename "$0"): run as root (sudo) to apply" >&2; exit 1; fi; }
finish() { [ "$APPLY" = 1 ] || echo "(dry run: add --yes to apply)"; }
