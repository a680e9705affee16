-- wrk: POST a non-streaming generate with a bearer token (TOKEN in the environment).
wrk.method = "POST"
wrk.body = '{"model": "tiny:1b", "prompt": "Why is the sky blue?", "stream": false}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
