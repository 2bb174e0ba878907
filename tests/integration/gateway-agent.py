#!/usr/bin/env python3
"""An agent-like script for inside a sandbox: calls both model APIs, plain and streamed,
through the gateway with only what its environment gives (the *_BASE_URL and the
per-sandbox token as *_API_KEY). Prints one JSON line per call: name, status, text.
Usage: gateway-agent.py [N_EXTRA]   (N_EXTRA more plain calls, to reach a limit)"""
import json
import os
import sys
import urllib.error
import urllib.request

oa, ok = os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"]
an, ak = os.environ["ANTHROPIC_BASE_URL"], os.environ["ANTHROPIC_API_KEY"]


def call(name, url, headers, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    if data:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(json.dumps({"name": name, "status": status, "text": text}), flush=True)


chat = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
msg = {"model": "claude-fake", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
oh = {"Authorization": "Bearer " + ok}
ah = {"x-api-key": ak, "anthropic-version": "2023-06-01"}
call("openai-plain", oa + "/chat/completions", oh, chat)
call("openai-stream", oa + "/chat/completions", oh, dict(chat, stream=True))
call("anthropic-plain", an + "/v1/messages", ah, msg)
call("anthropic-stream", an + "/v1/messages", ah, dict(msg, stream=True))
call("openai-models", oa + "/models", oh)
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 0):
    call("extra-%d" % i, oa + "/chat/completions", oh, chat)
