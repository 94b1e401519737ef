-- GET auth/session with a Bearer access token from $HALLPASS_ACCESS_TOKEN.
wrk.method = "GET"
wrk.path = "/_allauth/app/v1/auth/session"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("HALLPASS_ACCESS_TOKEN")

function done(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", summary.errors.status))
end
