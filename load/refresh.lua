-- POST tokens/refresh with rotation: each wrk thread (run with -c equal to -t, one connection
-- per thread) follows its own chain of refresh tokens, starting from line <thread id> of the
-- file $HALLPASS_REFRESH_TOKENS, and presents each successor exactly once. No grace-window
-- retries are measured: every request is a real rotation, durable before it is answered.
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  local f = assert(io.open(os.getenv("HALLPASS_REFRESH_TOKENS")))
  local i = 0
  for line in f:lines() do
    i = i + 1
    if i == id then token = line end
  end
  f:close()
  failures = 0
end

function request()
  return wrk.format("POST", "/_allauth/app/v1/tokens/refresh",
    { ["Content-Type"] = "application/json" },
    '{"refresh_token": "' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if t then token = t end
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", summary.errors.status))
end
