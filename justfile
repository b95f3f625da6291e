# world-runtime: the `just world-runtime-*` recipes of the original description (docs/origin.md), on top of the command line.
# `just` comes from the rust-just dev dependency: run `npx just --list`, `npx just world-runtime-create`.
# Every recipe honours WORLD_RUNTIME_HOME (state directory) and starts the daemon when none is running.
# Ids may be `last`: the newest live world (as a branch source, the newest snapshot; as an event, the newest open push-down).

cli := "node dist/src/cli/main.js"

# Extra options pass through as given (quoted words stay whole).
set positional-arguments

# List the recipes
default:
    @{{just_executable()}} --justfile {{justfile()}} --list

# Compile once if dist/ is missing
_build:
    @test -f dist/src/cli/main.js || npx tsc -p tsconfig.json

# Create new world (extra options go to `world-runtime create`, e.g. --trit=1 --meta seed=42)
world-runtime-create *args: _build
    {{cli}} create "$@"

# Snapshot current state of a world (default: the newest)
world-runtime-snapshot world="last" name="pre-event": _build
    {{cli}} snapshot {{world}} --name {{name}}

# Branch into 3 verses (trits -1, 0, +1) from a snapshot or world (default: the newest snapshot)
world-runtime-branch source="last" trits="-1,0,1": _build
    {{cli}} branch {{source}} --trits={{trits}}

# push_down operation: snapshot a world and split it into GF(3)-balanced verses (default: the newest world, the nash/optimal/chaos triad)
world-runtime-push-down world="last" *args: _build
    {{cli}} push-down "$@"

# pull_up with oracle: keep the winning verse, collapse the rest, extract WEV (oracle: a child name, or score:EXPR)
world-runtime-pull-up event="last" oracle="optimal" *args: _build
    #!/bin/sh
    set -eu
    event="$1"; oracle="$2"; shift 2
    case "$oracle" in
      score:*) exec {{cli}} pull-up "$event" --score "${oracle#score:}" "$@" ;;
      *) exec {{cli}} pull-up "$event" --outcome "$oracle" "$@" ;;
    esac

# Run Python in the verses of a push-down at once, e.g. last nash='x = 1' chaos='x = 2', or last --all 'x'
world-runtime-execute-in event="last" *args: _build
    {{cli}} execute-in "$@"

# The verse ledger: deposit, withdraw, transfer, push-down, pull-up, balances, journal, verses, events, check
world-runtime-ledger *args: _build
    {{cli}} ledger "$@"

# Push-down events of the daemon (or one, with its verses and worlds)
world-runtime-verses *args: _build
    {{cli}} verses "$@"

# Performance metrics: p50/p99 per operation beside the original 250 ms targets
world-runtime-metrics *args: _build
    {{cli}} metrics "$@"

# List all entities (e.g. --state running, --type snapshot, --json)
world-runtime-entities *args: _build
    {{cli}} entities "$@"

# Branch history
world-runtime-branches *args: _build
    {{cli}} branches "$@"

# Resolution history
world-runtime-resolutions *args: _build
    {{cli}} resolutions "$@"
