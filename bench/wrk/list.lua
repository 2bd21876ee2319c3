-- GET one ticket-list page. BENCH_PATH: the path with query (first or deep cursor page).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/api/v1/tickets"
wrk.headers = auth_headers({ ["Accept"] = "application/json" })
