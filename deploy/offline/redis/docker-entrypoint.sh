#!/bin/sh
# Entry point of the redis stand-in, doing what upstream's docker-entrypoint.sh and build do:
#   - options alone (`docker run IMAGE --appendonly yes`) or a .conf file run redis-server;
#   - protected mode is off unless the command line or a configuration file given sets it
#     (upstream compiles it off), so other containers can connect without a password. It is
#     appended last, where it cannot be taken for a configuration file or disturb --version,
#     --help or --test-memory.
set -eu

case "${1-}" in
  -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "${1-}" = redis-server ]; then
  for argument in "$@"; do
    case $argument in
      --protected-mode) exec "$@" ;;
      -*) ;;
      *) if [ -f "$argument" ] && grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$argument"; then
        exec "$@"
      fi ;;
    esac
  done
  exec "$@" --protected-mode no
fi

exec "$@"
