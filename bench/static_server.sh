#!/usr/bin/env bash
# A static file server on 127.0.0.1 for the benchmarks: ETag, Last-Modified, 304.
#
#   static_server.sh start DIR PORT     serve DIR on http://127.0.0.1:PORT/
#   static_server.sh stop  DIR PORT
#   static_server.sh status DIR PORT
#
# nginx (Debian nginx-light or nginx) with a config generated into
# $BENCH_ROOT/srv-PORT/: static files, ETag = "mtime-size", Last-Modified = mtime,
# If-None-Match / If-Modified-Since answered 304, sendfile, keepalive.
# Without nginx, falls back to static_server.py (Python standard library, same
# validators); bench/serve.sh needs the real nginx.
#
# Environment:
#   ACCESS_LOG=FILE   log "status method uri bytes" per request (default: no log)
#   GZIP_STATIC=1     serve FILE.gz to clients that accept gzip (nginx gzip_static)
#   WORKERS=1         nginx worker processes
#   CPUS=             pin the server to these CPUs (taskset list, e.g. "0")
#   OPEN_FILE_CACHE=1 cache open file descriptors and stat() results (nginx open_file_cache)
#   BENCH_ROOT=/tmp/feedmerge-bench
# Stops only the PID recorded in its own pid file.
set -euo pipefail
cmd=${1:?start|stop|status}; dir=${2:?DIR}; port=${3:?PORT}
here=$(cd "$(dirname "$0")" && pwd)
run=${BENCH_ROOT:-/tmp/feedmerge-bench}/srv-$port
pidf=$run/server.pid
pin=(); [[ -n ${CPUS:-} ]] && pin=(taskset -c "$CPUS")

wait_up() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on 127.0.0.1:$port did not come up" >&2; return 1
}

nginx_bin() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

case $cmd in
start)
  dir=$(cd "$dir" && pwd)
  mkdir -p "$run"
  if [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "already running (pid $(cat "$pidf"))" >&2; exit 1
  fi
  NGINX=$(nginx_bin)
  if [[ -n $NGINX ]]; then
    if [[ -n ${ACCESS_LOG:-} ]]; then
      : > "$ACCESS_LOG"; chmod 666 "$ACCESS_LOG"
      logline="log_format bench '\$status \$request_method \$uri \$body_bytes_sent'; access_log $ACCESS_LOG bench;"
    else
      logline="access_log off;"
    fi
    gz="gzip off;"; [[ ${GZIP_STATIC:-0} == 1 ]] && gz="gzip off; gzip_static on; gzip_vary on;"
    ofc=""; [[ ${OPEN_FILE_CACHE:-0} == 1 ]] && ofc="open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;"
    cat > "$run/nginx.conf" <<CONF
worker_processes ${WORKERS:-1};
pid $pidf;
error_log $run/error.log warn;
events { worker_connections 4096; }
http {
  types { application/rss+xml rss xml; application/atom+xml atom; application/rdf+xml rdf; }
  default_type application/octet-stream;
  client_body_temp_path $run/tmp_body; proxy_temp_path $run/tmp_proxy;
  fastcgi_temp_path $run/tmp_fcgi; uwsgi_temp_path $run/tmp_uwsgi; scgi_temp_path $run/tmp_scgi;
  sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_timeout 60; keepalive_requests 1000000;
  etag on; if_modified_since exact; $gz $ofc
  $logline
  server {
    listen 127.0.0.1:$port;
    root $dir;
    location / { try_files \$uri =404; }
  }
}
CONF
    "${pin[@]}" "$NGINX" -p "$run" -c "$run/nginx.conf" -e "$run/error.log"
    wait_up
    echo "nginx serving $dir on http://127.0.0.1:$port/ (pid $(cat "$pidf"))"
  else
    nohup "${pin[@]}" python3 "$here/static_server.py" "$dir" "$port" "${ACCESS_LOG:-}" > "$run/static_server.log" 2>&1 &
    echo $! > "$pidf"
    wait_up
    echo "python static server serving $dir on http://127.0.0.1:$port/ (pid $(cat "$pidf"))"
  fi
  ;;
stop)
  if [[ -f $pidf ]]; then
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidf"; echo "stopped $pid"
  else
    echo "not running" >&2
  fi
  ;;
status)
  if [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "running pid $(cat "$pidf")"; else echo "not running"; exit 1; fi
  ;;
*) echo "usage: $0 start|stop|status DIR PORT" >&2; exit 2 ;;
esac
