-- Loaded into every wrk run of tests/bench/bench.js. At the end wrk calls
-- done() once with the totals of all its threads; this prints them as one
-- JSON line, so bench.js does not have to parse wrk's human summary (which
-- rounds and changes units).
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('BENCH {"requests":%d,"duration_us":%d,' ..
	    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
	    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
	    summary.requests, summary.duration, e.connect, e.read, e.write,
	    e.status, e.timeout, latency:percentile(50),
	    latency:percentile(99), latency.max))
end
