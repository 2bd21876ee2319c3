-- POST /api/v1/tickets with a JSON body. BENCH_BODY is a template in which {{n}} is a
-- per-request counter and {{email}} cycles through BENCH_EMAILS (comma-separated emails of
-- existing contacts).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local template = os.getenv("BENCH_BODY") or "{}"
local emails = {}
for e in string.gmatch(os.getenv("BENCH_EMAILS") or "", "[^,]+") do
  table.insert(emails, e)
end
local headers = auth_headers({ ["Content-Type"] = "application/json" })
local n = 0
tid = tid or 0 -- set per thread by setup() in common.lua

function request()
  n = n + 1
  local email = emails[(n % math.max(#emails, 1)) + 1] or ""
  local body = string.gsub(template, "{{n}}", tostring(tid) .. "-" .. tostring(n))
  body = string.gsub(body, "{{email}}", email)
  return wrk.format("POST", "/api/v1/tickets", headers, body)
end
