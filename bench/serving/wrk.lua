-- wrk script of bench/serving.sh: POSTs the body in $BODY_FILE (GET when it is empty) with
-- $CONTENT_TYPE, an optional $AUTH header value and an optional $HOST_HEADER, and prints one
-- JSON line: requests per second, p50/p99 latency in milliseconds, non-2xx answers and
-- socket errors.
local body_file = os.getenv("BODY_FILE") or ""
if body_file ~= "" then
    local f = assert(io.open(body_file, "rb"))
    wrk.body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
end
local auth = os.getenv("AUTH") or ""
if auth ~= "" then
    wrk.headers["Authorization"] = auth
end
local host = os.getenv("HOST_HEADER") or ""
if host ~= "" then
    wrk.headers["Host"] = host
end

done = function(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        '{"rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "requests": %d, "non_2xx": %d, "socket_errors": %d}\n',
        summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
