"""A fault-injecting HTTP proxy in front of moto, for the batch tests and the benchmark.

    python faultproxy.py --upstream http://127.0.0.1:5000 [--delay-ms 100] [--rules RULES.json]

Prints `PORT <n>` on stdout once listening. Every request is forwarded to the upstream, after
`--delay-ms` (the benchmark's simulated latency). Rules inject faults by account and action:

    [{"account": "111111111111", "action": "AssumeRole", "fault": "denied", "times": -1},
     {"account": "*", "action": "GetAccountAuthorizationDetails", "fault": "throttle", "times": 1}]

`times` is how many matching requests per (account, action) get the fault (-1: all of them), so
a run is deterministic: the same requests fail on every run. Faults: `throttle` (IAM/STS
`Throttling`, Organizations `TooManyRequestsException`), `500` (InternalFailure), `drop` (the
connection is closed without an answer), `slow` (`delay_ms` more, then forwarded), `denied`
(AccessDenied, not retried by the SDK), `lost` (forwarded to moto, so the request takes effect,
but the connection is closed before the answer: a write whose response is lost).

The account of a request: for sts:AssumeRole, the account in RoleArn; for later requests, the
account whose assumed-role access key signed them (learnt from AssumeRole answers); otherwise
`base`. `GET /__stats` returns the request counts per account and action, and the number of faults
injected, as JSON.
"""

import argparse
import http.client
import http.server
import json
import re
import threading
import time
import urllib.parse

lock = threading.Lock()
key_account = {}  # access key id -> account id
counts = {}  # (account, action) -> requests seen
faulted = {}  # (rule index, account, action) -> faults injected
rules = []
upstream = None
delay_ms = 0


def action_of(headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return params.get("Action", ["?"])[0]


def account_of(headers, body, action):
    if action == "AssumeRole":
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        m = re.match(r"arn:[^:]+:iam::(\d{12}):", params.get("RoleArn", [""])[0])
        if m:
            return m.group(1)
    m = re.search(r"Credential=([A-Z0-9]+)/", headers.get("Authorization", ""))
    if m:
        return key_account.get(m.group(1), "base")
    return "base"


def error_body(action, code, message):
    if action in ("ListAccounts", "ListTagsForResource", "DescribeOrganization"):
        return "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message})
    return "text/xml", (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>"
    )


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/__stats":
            with lock:
                out = {
                    "requests": {f"{a} {b}": n for (a, b), n in sorted(counts.items())},
                    "faults": sum(faulted.values()),
                }
            self.reply(200, "application/json", json.dumps(out))
            return
        self.forward(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.forward(self.rfile.read(length))

    def reply(self, status, ctype, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, body):
        action = action_of(self.headers, body)
        account = account_of(self.headers, body, action)
        fault = None
        with lock:
            counts[(account, action)] = counts.get((account, action), 0) + 1
            for i, r in enumerate(rules):
                if r.get("account", "*") not in ("*", account):
                    continue
                if r.get("action", "*") not in ("*", action):
                    continue
                key = (i, account, action)
                done = faulted.get(key, 0)
                if r.get("times", 1) >= 0 and done >= r.get("times", 1):
                    continue
                faulted[key] = done + 1
                fault = r
                break
        if delay_ms:
            time.sleep(delay_ms / 1000)
        kind = fault and fault.get("fault")
        if kind == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if kind == "throttle":
            code = "TooManyRequestsException" if action.startswith("List") and self.headers.get("X-Amz-Target") else "Throttling"
            self.reply(400, *error_body(action, code, "Rate exceeded (faultproxy)"))
            return
        if kind == "500":
            self.reply(500, *error_body(action, "InternalFailure", "internal error (faultproxy)"))
            return
        if kind == "denied":
            self.reply(403, *error_body(action, "AccessDenied", f"not authorized to perform sts:{action} (faultproxy)"))
            return
        if kind == "slow":
            time.sleep(fault.get("delay_ms", 2000) / 1000)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if kind == "lost":
            self.close_connection = True
            self.connection.close()
            return
        if action == "AssumeRole" and resp.status == 200:
            m = re.search(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>", data)
            if m:
                with lock:
                    key_account[m.group(1).decode()] = account
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global upstream, delay_ms, rules
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--rules", default=None, help="JSON file of fault rules")
    a = p.parse_args()
    upstream = urllib.parse.urlparse(a.upstream)
    delay_ms = a.delay_ms
    if a.rules:
        with open(a.rules) as f:
            rules = json.load(f)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
