-- wrk script for bench/load_web.py: headers from the environment, a request cap, JSON figures.
local cookie = os.getenv("BENCH_COOKIE") or ""
local htmx = os.getenv("BENCH_HTMX") == "1"
local cap = tonumber(os.getenv("BENCH_MAX_REQUESTS_PER_THREAD") or "200000")
local count = 0

wrk.headers["Cookie"] = cookie
if htmx then
  wrk.headers["HX-Request"] = "true"
end

function response(status, headers, body)
  count = count + 1
  if count >= cap then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local s = summary
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors_status": %d, "errors_other": %d, ' ..
    '"p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    s.requests, s.duration / 1e6, s.errors.status,
    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
