-- GET auth/session with X-Session-Token; the token comes from $HALLPASS_SESSION_TOKEN.
wrk.method = "GET"
wrk.path = "/_allauth/app/v1/auth/session"
wrk.headers["X-Session-Token"] = os.getenv("HALLPASS_SESSION_TOKEN")

function done(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", summary.errors.status))
end
