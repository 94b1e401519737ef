-- POST auth/login with the load user's right password ($HALLPASS_LOGIN_EMAIL,
-- $HALLPASS_LOGIN_PASSWORD): every answer is argon2 work, and every 200 an engine write (a new
-- session). Counts the answers by status; wrk's own summary counts only "non-2xx".
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, refused, other = 0, 0, 0
  local body = string.format('{"email": "%s", "password": "%s"}',
    os.getenv("HALLPASS_LOGIN_EMAIL"), os.getenv("HALLPASS_LOGIN_PASSWORD"))
  req = wrk.format("POST", "/_allauth/app/v1/auth/login",
    { ["Content-Type"] = "application/json" }, body)
end

function request()
  return req
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 503 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok_n, refused_n, other_n = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok_n = ok_n + thread:get("ok")
    refused_n = refused_n + thread:get("refused")
    other_n = other_n + thread:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "logins: %d answered in %.1fs: 200 %d (%.1f/s), 503 %d (%.1f/s), other %d; "
      .. "socket timeouts %d\n",
    summary.requests, secs, ok_n, ok_n / secs, refused_n, refused_n / secs, other_n,
    summary.errors.timeout))
end
