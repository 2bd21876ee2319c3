-- Shared by the scenarios of bench/api_bench.py (loaded with dofile).
--
-- Environment:
--   BENCH_TOKEN             API token (Authorization: Bearer ...)
-- done() prints one line "BENCH_JSON {...}" with counts and latency percentiles (us).
-- (wrk runs for its whole -d even when a thread stops early, so the bench picks -d from
-- the warm-up rate to get the wanted number of requests instead of stopping threads.)

local threads = {}

-- Globals (read from each thread in done() through thread:get).
non2xx = 0
first_error = ""

function auth_headers(extra)
  local h = { ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "") }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function response(status, headers, body)
  if status >= 300 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '\\', '\\\\')
  s = string.gsub(s, '"', '\\"')
  s = string.gsub(s, '[%c]', ' ')
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (tonumber(t:get("non2xx")) or 0)
    local s = t:get("first_error")
    if sample == "" and s and s ~= "" then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "timeouts": %d, "non2xx": %d, "p50_us": %d, "p95_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "sample_error": %s}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, bad,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, json_string(sample)))
end
