#!/usr/bin/env bash
# Private PostgreSQL + Redis for Guichet development and tests.
#
#   scripts/services.sh install   # apt-get install postgresql / redis-server if missing
#   scripts/services.sh start     # start both on 127.0.0.1 (idempotent)
#   scripts/services.sh env       # print `export ...` lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh status    # exit 0 when both answer
#   scripts/services.sh stop      # stop both (idempotent)
#   scripts/services.sh restart   # stop + start
#   scripts/services.sh destroy   # stop and delete the state dir (all data)
#
# Configuration (environment):
#   GUICHET_SERVICES_DIR  state dir               (default /tmp/guichet-services)
#   PGPORT                PostgreSQL TCP port     (default 54329)
#   REDIS_PORT            Redis TCP port          (default 63799)
#   GUICHET_PG_BIN        PostgreSQL bin dir      (default: newest /usr/lib/postgresql/*/bin)
#   GUICHET_PG_USER       OS user running postgres when invoked as root (default postgres)
#   GUICHET_SERVICES_TIMEOUT  seconds to wait for each server (default 60)
#
# All human-readable messages go to stderr; only `env` writes to stdout.
set -euo pipefail

STATE_DIR="${GUICHET_SERVICES_DIR:-/tmp/guichet-services}"
PG_PORT="${PGPORT:-54329}"
REDIS_PORT="${REDIS_PORT:-63799}"
PG_OS_USER="${GUICHET_PG_USER:-postgres}"
TIMEOUT="${GUICHET_SERVICES_TIMEOUT:-60}"

DB_USER=guichet
DB_PASSWORD=guichet
DB_NAMES=(guichet guichet_test)

set_paths() {
    case "$STATE_DIR" in /*) ;; *) STATE_DIR="$(pwd)/$STATE_DIR" ;; esac
    PGDATA_DIR="$STATE_DIR/pgdata"
    PG_SOCKET_DIR="$STATE_DIR/pgsocket"
    PG_LOG="$STATE_DIR/postgres.log"
    REDIS_DIR="$STATE_DIR/redis"
    REDIS_PIDFILE="$STATE_DIR/redis.pid"
    REDIS_PORTFILE="$STATE_DIR/redis.port"
    REDIS_LOG="$STATE_DIR/redis.log"
    LOCK_FILE="$STATE_DIR/.lock"
}

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

validate_config() {
    local p
    for p in "$PG_PORT" "$REDIS_PORT"; do
        if ! [[ "$p" =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then
            die "invalid port '$p' (check PGPORT / REDIS_PORT)"
        fi
    done
    [ "$PG_PORT" != "$REDIS_PORT" ] || die "PGPORT and REDIS_PORT must differ"
    [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "GUICHET_SERVICES_TIMEOUT must be an integer"
    set_paths
    case "$STATE_DIR" in
        *[[:space:]\'\"]*) die "GUICHET_SERVICES_DIR must not contain spaces or quotes: $STATE_DIR" ;;
    esac
    # Unix socket paths are limited to 107 bytes.
    local sock="$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT.lock"
    [ "${#sock}" -lt 100 ] || die "GUICHET_SERVICES_DIR is too long for a unix socket path: $STATE_DIR"
}

# ---------------------------------------------------------------- discovery

# Newest PostgreSQL bin dir that has initdb, or the one matching $1 (major version).
find_pg_bin() {
    local want="${1:-}"
    if [ -n "${GUICHET_PG_BIN:-}" ]; then
        [ -x "$GUICHET_PG_BIN/initdb" ] || die "GUICHET_PG_BIN=$GUICHET_PG_BIN has no initdb"
        printf '%s\n' "$GUICHET_PG_BIN"; return 0
    fi
    if [ -n "$want" ]; then
        if [ -x "/usr/lib/postgresql/$want/bin/initdb" ]; then
            printf '%s\n' "/usr/lib/postgresql/$want/bin"; return 0
        fi
        return 1
    fi
    local d best="" bestv=-1 v
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] || continue
        v="$(basename "$(dirname "$d")")"
        v="${v%%.*}"
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if [ "$v" -gt "$bestv" ]; then bestv="$v"; best="$d"; fi
    done
    [ -n "$best" ] || return 1
    printf '%s\n' "$best"
}

have_pg() { find_pg_bin >/dev/null 2>&1; }
have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

# ---------------------------------------------------------------- install

cmd_install() {
    local pkgs=()
    have_pg || pkgs+=(postgresql)
    have_redis || pkgs+=(redis-server)
    if [ "${#pkgs[@]}" -eq 0 ]; then
        log "postgresql and redis-server already installed"
        return 0
    fi
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${pkgs[*]}"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${pkgs[*]}"
    log "installing: ${pkgs[*]}"

    # Keep Debian's maintainer scripts from starting the system-wide services
    # (there is no systemd/init here, and we run our own private instances).
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        created_policy=1
    fi
    local rc=0
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${pkgs[@]}"
    } </dev/null >&2 || rc=$?
    if [ "$created_policy" -eq 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc) installing: ${pkgs[*]}"

    have_pg || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
    have_redis || die "redis-server installed but redis-server/redis-cli not on PATH"
    log "installed: ${pkgs[*]}"
}

# ---------------------------------------------------------------- helpers

# Run a command as the unprivileged PostgreSQL OS user with a clean environment
# (so stray PGDATA/PGHOST/PGUSER/... from the caller cannot interfere).
as_pg() {
    local envv=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$STATE_DIR" "LANG=C.UTF-8" "LC_ALL=C.UTF-8")
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (exec 9>&-; cd / && runuser -u "$PG_OS_USER" -- "${envv[@]}" "$@")
        else
            (exec 9>&-; cd / && setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "${envv[@]}" "$@")
        fi
    else
        (exec 9>&-; cd / && "${envv[@]}" "$@")
    fi
}

ensure_pg_os_user() {
    is_root || return 0
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        log "creating system user $PG_OS_USER"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
}

owner_spec() { printf '%s:%s' "$PG_OS_USER" "$(id -gn "$PG_OS_USER")"; }

tail_log() {
    local f="$1"
    if [ -f "$f" ]; then
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
        printf -- '-----\n' >&2
    else
        printf '(no log file %s)\n' "$f" >&2
    fi
}

lock_state() {
    mkdir -p "$STATE_DIR"
    # fd 9 must never leak into the daemons (see the `exec 9>&-` in as_pg and redis_start).
    exec 9>>"$LOCK_FILE"
    if command -v flock >/dev/null 2>&1; then
        flock -w 300 9 || die "timed out waiting for lock $LOCK_FILE (held by: $(fuser "$LOCK_FILE" 2>/dev/null || echo unknown))"
    fi
}

# True if $1 is a live (non-zombie) process.
proc_alive() {
    local pid="$1" stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    case "${stat%% *}" in Z|X|x) return 1 ;; esac
    return 0
}

postmaster_pid() {
    local pid
    pid="$(head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$pid"
}

pg_cluster_running() {
    # Our own cluster (by data dir), not "something answers on the port".
    # A killed postmaster stays a zombie until init reaps it; `pg_ctl status`
    # (kill -0) would call that running, so check /proc first.
    local pid; pid="$(postmaster_pid)" || return 1
    proc_alive "$pid" || return 1
    grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null || return 1
    local bin; bin="$(find_pg_bin 2>/dev/null)" || return 1
    as_pg "$bin/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# After a crash the dead postmaster may linger as a zombie; postgres refuses to
# start while the PID in postmaster.pid still "exists". Wait for it to be
# reaped, and drop the stale lock file if nobody ever reaps it.
pg_clear_stale_pid() {
    local pid i=0; pid="$(postmaster_pid)" || return 0
    proc_alive "$pid" && return 0
    while [ -e "/proc/$pid" ] && [ "$i" -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
    if [ -e "/proc/$pid" ]; then
        log "postmaster $pid is a zombie nobody reaps; removing stale postmaster.pid"
        rm -f "$PGDATA_DIR/postmaster.pid"
    fi
}

pg_answers() {
    local bin; bin="$(find_pg_bin 2>/dev/null)" || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

redis_answers() {
    command -v redis-cli >/dev/null 2>&1 || return 1
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null </dev/null)" = "PONG" ]
}

redis_pid() {
    [ -f "$REDIS_PIDFILE" ] || return 1
    local pid; pid="$(cat "$REDIS_PIDFILE" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against PID reuse after a crash/reboot.
    grep -qa redis "/proc/$pid/cmdline" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

psql_admin() {
    local bin="$1"; shift
    as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

app_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$DB_USER" "$DB_PASSWORD" "$PG_PORT" "$1"; }

# ---------------------------------------------------------------- postgres

pg_init_cluster() {
    local bin="$1"
    log "initialising PostgreSQL cluster in $PGDATA_DIR"
    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    rm -rf "$PGDATA_DIR"
    mkdir -p "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    is_root && chown "$(owner_spec)" "$PGDATA_DIR"
    if ! as_pg "$bin/initdb" -D "$PGDATA_DIR" -U postgres --encoding=UTF8 --locale="$locale" \
            --auth-local=trust --auth-host=scram-sha-256 >"$STATE_DIR/initdb.log" 2>&1; then
        tail_log "$STATE_DIR/initdb.log"
        rm -rf "$PGDATA_DIR"
        die "initdb failed"
    fi
    # Loopback only; fast-and-unsafe durability settings (throwaway dev/test data).
    cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# ---- added by scripts/services.sh ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCKET_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    # pg_hba: unix socket = trust (admin, socket dir is private to the postgres user);
    # TCP = password (scram) from loopback only.
    cat >"$PGDATA_DIR/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
    is_root && chown "$(owner_spec)" "$PGDATA_DIR/postgresql.conf" "$PGDATA_DIR/pg_hba.conf"
    return 0
}

pg_provision() {
    local bin="$1"
    psql_admin "$bin" <<EOF
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
ALTER ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
EOF
    local db
    for db in "${DB_NAMES[@]}"; do
        psql_admin "$bin" <<EOF
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$db') \gexec
EOF
    done
}

pg_start() {
    local bin version
    if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
        version="$(cat "$PGDATA_DIR/PG_VERSION")"
        bin="$(find_pg_bin "$version")" \
            || die "existing cluster $PGDATA_DIR is PostgreSQL $version but those binaries are not installed; run '$0 destroy' to start over"
    else
        bin="$(find_pg_bin)" || die "PostgreSQL server binaries not found; run '$0 install'"
    fi

    if pg_cluster_running; then
        local running_port
        running_port="$(sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$running_port" ] && [ "$running_port" != "$PG_PORT" ]; then
            die "the PostgreSQL from $STATE_DIR is running on port $running_port, not $PG_PORT; run '$0 stop' first (with the old PGPORT) or use another GUICHET_SERVICES_DIR"
        fi
        log "PostgreSQL already running (data $PGDATA_DIR, port $PG_PORT)"
    elif pg_answers; then
        # Some other server owns the port; accept it only if our credentials work.
        if PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q "$(app_url guichet_test)" -c 'select 1' >/dev/null 2>&1; then
            log "WARNING: a PostgreSQL not managed from $STATE_DIR answers on port $PG_PORT and accepts guichet/guichet; using it"
            return 0
        fi
        die "port $PG_PORT is used by another PostgreSQL server (not from $STATE_DIR); stop it or set PGPORT"
    else
        ensure_pg_os_user
        pg_clear_stale_pid
        if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
            pg_init_cluster "$bin"
        else
            log "reusing existing PostgreSQL cluster in $PGDATA_DIR"
        fi
        mkdir -p "$PG_SOCKET_DIR"
        chmod 700 "$PG_SOCKET_DIR"
        touch "$PG_LOG"
        if is_root; then
            chown -R "$(owner_spec)" "$PGDATA_DIR" "$PG_SOCKET_DIR" "$PG_LOG"
            as_pg test -w "$PGDATA_DIR" -a -w "$PG_SOCKET_DIR" \
                || die "user $PG_OS_USER cannot reach $STATE_DIR (a parent directory is not traversable?); set GUICHET_SERVICES_DIR elsewhere"
        fi
        chmod 700 "$PGDATA_DIR"
        log "starting PostgreSQL ($bin) on 127.0.0.1:$PG_PORT"
        # Port / socket / listen address are passed on every start so that a
        # reused cluster follows the current PGPORT.
        if ! as_pg "$bin/pg_ctl" start -D "$PGDATA_DIR" -l "$PG_LOG" -w -t "$TIMEOUT" \
                -o "-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1" >/dev/null 2>&1; then
            tail_log "$PG_LOG"
            die "PostgreSQL failed to start on port $PG_PORT (log: $PG_LOG)"
        fi
    fi

    local i=0
    until pg_answers; do
        i=$((i + 1))
        if [ "$i" -gt "$TIMEOUT" ]; then
            tail_log "$PG_LOG"
            die "PostgreSQL did not answer on 127.0.0.1:$PG_PORT within ${TIMEOUT}s"
        fi
        sleep 1
    done

    if ! pg_provision "$bin" 2>"$STATE_DIR/provision.log"; then
        tail_log "$STATE_DIR/provision.log"
        die "could not create role/databases"
    fi
    if ! PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q "$(app_url guichet_test)" -c 'select 1' >/dev/null 2>"$STATE_DIR/provision.log"; then
        tail_log "$STATE_DIR/provision.log"
        die "PostgreSQL is up but $(app_url guichet_test) does not accept connections"
    fi
    log "PostgreSQL ready: $(app_url guichet) and .../guichet_test"
}

pg_stop() {
    if pg_cluster_running; then
        local bin; bin="$(find_pg_bin "$(cat "$PGDATA_DIR/PG_VERSION")")" || bin="$(find_pg_bin)"
        log "stopping PostgreSQL"
        if ! as_pg "$bin/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t "$TIMEOUT" >/dev/null 2>&1; then
            log "fast shutdown timed out; trying immediate"
            as_pg "$bin/pg_ctl" stop -D "$PGDATA_DIR" -m immediate -w -t "$TIMEOUT" >/dev/null 2>&1 \
                || { tail_log "$PG_LOG"; die "could not stop PostgreSQL"; }
        fi
    else
        log "PostgreSQL not running (from $STATE_DIR)"
        if pg_answers; then log "note: another PostgreSQL answers on port $PG_PORT; left alone"; fi
    fi
}

# ---------------------------------------------------------------- redis

redis_start() {
    have_redis || die "redis-server/redis-cli not found; run '$0 install'"
    if redis_pid >/dev/null; then
        local running_port
        running_port="$(cat "$REDIS_PORTFILE" 2>/dev/null || true)"
        if [ -n "$running_port" ] && [ "$running_port" != "$REDIS_PORT" ]; then
            die "the Redis from $STATE_DIR is running on port $running_port, not $REDIS_PORT; run '$0 stop' first (with the old REDIS_PORT) or use another GUICHET_SERVICES_DIR"
        fi
        log "Redis already running (pid $(redis_pid), port $REDIS_PORT)"
    elif redis_answers; then
        log "WARNING: a Redis not managed from $STATE_DIR answers on port $REDIS_PORT; using it"
        return 0
    else
        mkdir -p "$REDIS_DIR"
        rm -f "$REDIS_PIDFILE"
        printf '%s\n' "$REDIS_PORT" >"$REDIS_PORTFILE"
        : >"$REDIS_LOG"
        log "starting Redis on 127.0.0.1:$REDIS_PORT"
        if ! (exec 9>&-; cd "$REDIS_DIR" && redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
                --protected-mode yes --daemonize yes --dir "$REDIS_DIR" \
                --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
                --save '' --appendonly no </dev/null >/dev/null 2>&1); then
            tail_log "$REDIS_LOG"
            die "redis-server failed to start"
        fi
    fi
    local i=0
    until redis_answers; do
        i=$((i + 1))
        # redis-server daemonizes before binding: a bind failure only shows as
        # the daemon exiting, so stop waiting as soon as it is gone.
        if [ "$i" -gt 4 ] && ! redis_pid >/dev/null; then
            tail_log "$REDIS_LOG"
            die "redis-server exited during startup (port $REDIS_PORT busy?)"
        fi
        if [ "$i" -gt "$((TIMEOUT * 2))" ]; then
            tail_log "$REDIS_LOG"
            die "Redis did not answer on 127.0.0.1:$REDIS_PORT within ${TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "Redis ready: redis://127.0.0.1:$REDIS_PORT/0"
}

redis_stop() {
    local pid
    if pid="$(redis_pid)"; then
        log "stopping Redis (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1))
            if [ "$i" -gt "$((TIMEOUT * 5))" ]; then
                log "Redis did not exit on SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        rm -f "$REDIS_PIDFILE" "$REDIS_PORTFILE"
    else
        log "Redis not running (from $STATE_DIR)"
        if redis_answers; then log "note: another Redis answers on port $REDIS_PORT; left alone"; fi
    fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
    if ! have_pg || ! have_redis; then cmd_install; fi
    lock_state
    pg_start
    redis_start
}

cmd_stop() {
    [ -d "$STATE_DIR" ] || { log "nothing to stop ($STATE_DIR does not exist)"; return 0; }
    lock_state
    redis_stop
    pg_stop
}

cmd_status() {
    local rc=0
    if pg_answers; then
        if pg_cluster_running; then
            log "PostgreSQL: running on 127.0.0.1:$PG_PORT (data $PGDATA_DIR)"
        else
            log "PostgreSQL: something answers on 127.0.0.1:$PG_PORT (not managed from $STATE_DIR)"
        fi
    else
        log "PostgreSQL: not running on 127.0.0.1:$PG_PORT"; rc=3
    fi
    if redis_answers; then
        if redis_pid >/dev/null; then
            log "Redis: running on 127.0.0.1:$REDIS_PORT (pid $(redis_pid))"
        else
            log "Redis: something answers on 127.0.0.1:$REDIS_PORT (not managed from $STATE_DIR)"
        fi
    else
        log "Redis: not running on 127.0.0.1:$REDIS_PORT"; rc=3
    fi
    return "$rc"
}

cmd_env() {
    printf "export DATABASE_URL='postgresql+psycopg://%s:%s@127.0.0.1:%s/guichet'\n" "$DB_USER" "$DB_PASSWORD" "$PG_PORT"
    printf "export TEST_DATABASE_URL='postgresql+psycopg://%s:%s@127.0.0.1:%s/guichet_test'\n" "$DB_USER" "$DB_PASSWORD" "$PG_PORT"
    printf "export REDIS_URL='redis://127.0.0.1:%s/0'\n" "$REDIS_PORT"
}

cmd_destroy() {
    cmd_stop
    if [ -d "$STATE_DIR" ]; then
        log "removing $STATE_DIR"
        rm -rf "$STATE_DIR"
    fi
}

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
}

main() {
    local cmd="${1:-}"
    [ "$#" -gt 0 ] && shift
    validate_config
    case "$cmd" in
        install) cmd_install ;;
        start)   cmd_start ;;
        stop)    cmd_stop ;;
        restart) cmd_stop; cmd_start ;;
        status)  cmd_status ;;
        env)     cmd_env ;;
        destroy) cmd_destroy ;;
        -h|--help|help) usage ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
