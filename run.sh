#!/usr/bin/env bash
# ./run.sh ARGS is ./mailer run ARGS: every configured role in one process on the embedded spool.
# With no arguments (and nothing in /configs) it starts a local instance with the built-in configuration.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mailer" run "$@"
