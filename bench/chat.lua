-- wrk script: POST one chat message (set by the MESSAGE environment variable).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"' .. (os.getenv("MESSAGE") or "hello") .. '"}'
