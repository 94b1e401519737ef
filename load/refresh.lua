-- POST tokens/refresh with rotation. Each wrk thread takes its share of the refresh tokens in
-- $HALLPASS_REFRESH_TOKENS (one chain per connection: run with -c equal to the number of
-- lines) and keeps them in a queue: a request presents the token at the head, a 200 puts
-- the successor at the tail. A connection waits for its answer before its next request, so
-- every chain has exactly one request in flight and each successor is presented exactly
-- once. No grace-window retries are measured: every request is a real rotation, durable
-- before it is answered.
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  threads[next_id] = thread
end

function init(args)
  local n = tonumber(os.getenv("HALLPASS_WRK_THREADS"))
  local f = assert(io.open(os.getenv("HALLPASS_REFRESH_TOKENS")))
  queue, head, tail = {}, 1, 0
  local i = 0
  for line in f:lines() do
    if i % n == id - 1 then
      tail = tail + 1
      queue[tail] = line
    end
    i = i + 1
  end
  f:close()
end

local function refresh(token)
  return wrk.format("POST", "/_allauth/app/v1/tokens/refresh",
    { ["Content-Type"] = "application/json" },
    '{"refresh_token": "' .. token .. '"}')
end

function request()
  -- wrk 4 calls request() once in the first thread's state before starting, to check the
  -- request, and never sends it: that call must not take a token off the queue.
  if id == 1 and not checked then
    checked = true
    return refresh(queue[head])
  end
  local token = queue[head]
  queue[head] = nil
  head = head + 1
  return refresh(token)
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if t then
      tail = tail + 1
      queue[tail] = t
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", summary.errors.status))
end
