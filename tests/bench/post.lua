-- POST /candidate/<name> with a name never used before, so every request
-- inserts a row. The name is the prefix bench.js passes (unique per run),
-- the wrk thread and a counter: bench-<run>-<thread>-<n>.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("id", threads)
end

local prefix, n = "bench", 0
function init(args)
	prefix = (args[1] or prefix) .. "-" .. tostring(id or 0)
end

function request()
	n = n + 1
	-- An empty body, with its Content-Length: 0 (lighttpd answers a POST
	-- without one with 411).
	return wrk.format("POST", "/candidate/" .. prefix .. "-" .. n, nil, "")
end
