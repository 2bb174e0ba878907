#!/usr/bin/env python3
"""A stand-in model provider on the loopback (no real one is reachable here): OpenAI's
chat completions, responses, embeddings and models, Anthropic's messages, plain and
streamed (SSE, in several writes), with usage fields. Every request's headers and body
are appended to LOG, so a test can show which credential reached the upstream.

Usage: FAKE_OPENAI_KEY=K FAKE_ANTHROPIC_KEY=K fake-model-upstream.py PORT LOG [DELAY_S]
(the keys in the environment: a command line is readable by every user)
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
OPENAI_KEY, ANTHROPIC_KEY = os.environ["FAKE_OPENAI_KEY"], os.environ["FAKE_ANTHROPIC_KEY"]
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for e in events:
            data = e.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with open(LOG, "ab") as f:
            f.write(("%s %s\n" % (method, self.path)).encode())
            f.write(bytes(self.headers))
            f.write(body + b"\n\n")
        if DELAY:
            time.sleep(DELAY)
        req = json.loads(body) if body else {}
        stream = req.get("stream") is True
        if self.path == "/v1/messages":
            if self.headers.get("x-api-key") != ANTHROPIC_KEY:
                return self.reply(401, {"type": "error", "error": {"type": "authentication_error"}})
            if stream:
                return self.stream([
                    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":13,"output_tokens":1}}}\n\n',
                    'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"hello from fake anthropic"}}\n\n',
                    'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":5}}\n\n',
                    'event: message_stop\ndata: {"type":"message_stop"}\n\n'])
            return self.reply(200, {"type": "message", "content": [{"type": "text", "text": "hello from fake anthropic"}],
                                    "usage": {"input_tokens": 13, "output_tokens": 5}})
        if self.headers.get("Authorization") != "Bearer " + OPENAI_KEY:
            return self.reply(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
        if self.path == "/v1/models":
            return self.reply(200, {"object": "list", "data": [{"id": "fake-1"}]})
        if self.path == "/v1/embeddings":
            return self.reply(200, {"data": [{"embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        if self.path in ("/v1/chat/completions", "/v1/responses"):
            if stream:
                return self.stream([
                    'data: {"choices":[{"delta":{"content":"hello from fake openai"}}]}\n\n',
                    'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}\n\n',
                    'data: [DONE]\n\n'])
            return self.reply(200, {"choices": [{"message": {"content": "hello from fake openai"}}],
                                    "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
        return self.reply(404, {"error": {"message": "no such path"}})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 256  # the default of 5 refuses bursts
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
