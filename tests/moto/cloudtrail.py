"""A stand-in for CloudTrail event history (`LookupEvents`) in front of moto, for the tests.

    python cloudtrail.py --upstream http://127.0.0.1:5000

moto has no event history. This front answers CloudTrail's `LookupEvents` itself and forwards
every other request to moto unchanged, so one endpoint URL serves IAM, STS, S3 and CloudTrail,
as AWS does. Prints `PORT <n>` on stdout once listening.

The shape of the real API ("LookupEvents", AWS CloudTrail API Reference):
- at most one lookup attribute (`InvalidLookupAttributesException` otherwise);
- at most 50 events a page (`MaxResults`, default 50), newest first, and a `NextToken`
  (`InvalidNextTokenException` when it does not belong to the same query);
- `StartTime`/`EndTime` (epoch seconds), inclusive;
- per account and Region: the account of the access key that signed the request (learnt from
  the `AssumeRole` answers this front forwards, or registered through the control endpoint), the
  Region from the SigV4 credential scope;
- 2 requests per second per account and Region: a third request within one second is answered
  `ThrottlingException` (HTTP 400).

Control endpoints (JSON):
- `POST /__cloudtrail/events` `{"account", "region", "records": [CloudTrail records]}` loads events;
- `POST /__cloudtrail/keys` `{"ACCESSKEYID": "ACCOUNT", ...}` says whose keys sign lookups;
- `POST /__cloudtrail/throttle` `{"account", "region", "times"}` throttles the next `times`
  lookups of that account and Region (a fault, not counted as a rate violation);
- `GET /__cloudtrail/stats?account=A` the lookups seen: each with time, Region, attribute, token
  and answer; the most lookups seen within any one second per Region; pages served and pages
  whose `NextToken` was never asked for (pages left unread).
"""

import argparse
import base64
import calendar
import http.client
import http.server
import json
import re
import threading
import time
import urllib.parse

lock = threading.Lock()
events = {}  # (account, region) -> [record]
key_account = {}  # access key id -> account id
recent = {}  # (account, region) -> [times of lookups answered]
forced = {}  # (account, region) -> throttles still to inject
log = []  # every lookup: {"account","region","time","attribute","token","status","next"}
upstream = None

RATE = 2  # requests per second, per account and Region
PAGE = 50


def epoch(text):
    t = text.strip().replace("z", "Z")
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$", t)
    if not m:
        return None
    y, mo, d, h, mi, s, off = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s)))
    if off != "Z":
        sign = 1 if off[0] == "+" else -1
        secs -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    return secs


def username(record):
    u = record.get("userIdentity") or {}
    if u.get("type") == "AssumedRole":
        return (u.get("arn") or "").rsplit("/", 1)[-1]
    return u.get("userName")


def matches(record, attribute):
    if attribute is None:
        return True
    key, value = attribute.get("AttributeKey"), attribute.get("AttributeValue")
    u = record.get("userIdentity") or {}
    if key == "AccessKeyId":
        return u.get("accessKeyId") == value
    if key == "Username":
        return username(record) == value
    if key == "EventName":
        return record.get("eventName") == value
    if key == "EventSource":
        return record.get("eventSource") == value
    if key == "EventId":
        return record.get("eventID") == value
    if key == "ReadOnly":
        return str(record.get("readOnly", "")).lower() == str(value).lower()
    if key in ("ResourceName", "ResourceType"):
        field = "ARN" if key == "ResourceName" else "type"
        return any(r.get(field) == value for r in record.get("resources") or [])
    return False


def as_event(record):
    out = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": str(record.get("readOnly", "false")).lower(),
        "EventTime": epoch(record.get("eventTime", "")),
        "EventSource": record.get("eventSource"),
        "Resources": [
            {"ResourceType": r.get("type"), "ResourceName": r.get("ARN")}
            for r in record.get("resources") or []
        ],
        "CloudTrailEvent": json.dumps(record),
    }
    key = (record.get("userIdentity") or {}).get("accessKeyId")
    if key:
        out["AccessKeyId"] = key
    name = username(record)
    if name:
        out["Username"] = name
    return out


def token_for(query, offset):
    raw = json.dumps({"q": query, "o": offset}, sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode()


def json_error(code, message):
    return 400, json.dumps({"__type": code, "message": message})


def lookup(headers, body):
    m = re.search(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/", headers.get("Authorization", ""))
    if not m:
        return json_error("UnrecognizedClientException", "no SigV4 credential scope")
    account = key_account.get(m.group(1), "unknown")
    region = m.group(2)
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return json_error("SerializationException", "body is not JSON")
    attrs = req.get("LookupAttributes") or []
    now = time.time()
    entry = {
        "account": account,
        "region": region,
        "time": now,
        "attribute": attrs[0] if len(attrs) == 1 else attrs,
        "token": req.get("NextToken"),
    }
    with lock:
        log.append(entry)
        slot = (account, region)
        if forced.get(slot, 0) > 0:
            forced[slot] -= 1
            entry["status"] = "throttled (injected)"
            return json_error("ThrottlingException", "Rate exceeded")
        window = [t for t in recent.get(slot, []) if now - t < 1.0]
        if len(window) >= RATE:
            recent[slot] = window
            entry["status"] = "throttled"
            return json_error("ThrottlingException", "Rate exceeded")
        window.append(now)
        recent[slot] = window
        stored = list(events.get(slot, []))
    if len(attrs) > 1:
        entry["status"] = "invalid"
        return json_error("InvalidLookupAttributesException", "only one lookup attribute is allowed")
    page = int(req.get("MaxResults") or PAGE)
    if page < 1 or page > PAGE:
        entry["status"] = "invalid"
        return json_error("InvalidParameterException", "MaxResults must be 1 to 50")
    start, end = req.get("StartTime"), req.get("EndTime")
    query = {"a": attrs, "s": start, "e": end}
    offset = 0
    if req.get("NextToken"):
        try:
            t = json.loads(base64.urlsafe_b64decode(req["NextToken"].encode()))
            assert t["q"] == json.loads(json.dumps(query, sort_keys=True))
            offset = int(t["o"])
        except Exception:
            entry["status"] = "invalid"
            return json_error("InvalidNextTokenException", "invalid NextToken")
    chosen = []
    for r in stored:
        t = epoch(r.get("eventTime", ""))
        if t is None or (start is not None and t < start) or (end is not None and t > end):
            continue
        if matches(r, attrs[0] if attrs else None):
            chosen.append((t, r))
    chosen.sort(key=lambda x: (-x[0], x[1].get("eventID", "")))
    part = chosen[offset : offset + page]
    out = {"Events": [as_event(r) for _, r in part]}
    if offset + page < len(chosen):
        out["NextToken"] = token_for(query, offset + page)
    entry["status"] = "ok"
    entry["events"] = len(part)
    entry["next"] = out.get("NextToken")
    return 200, json.dumps(out)


def stats(account):
    with lock:
        mine = [dict(e) for e in log if account in (None, e["account"])]
    asked = {e["token"] for e in mine if e.get("token")}
    per_region = {}
    for e in mine:
        per_region.setdefault(e["region"], []).append(e["time"])
    busiest = {}
    for region, times in per_region.items():
        times.sort()
        most, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= 1.0:
                j += 1
            most = max(most, i - j + 1)
        busiest[region] = most
    return {
        "lookups": mine,
        "max_per_second": busiest,
        "throttled": sum(1 for e in mine if e.get("status") == "throttled"),
        "injected": sum(1 for e in mine if e.get("status") == "throttled (injected)"),
        "pages": sum(1 for e in mine if e.get("status") == "ok"),
        "unread_pages": sum(1 for e in mine if e.get("next") and e["next"] not in asked),
    }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, ctype, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "cloudtrail-stand-in")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/__cloudtrail/stats":
            account = urllib.parse.parse_qs(url.query).get("account", [None])[0]
            self.reply(200, "application/json", json.dumps(stats(account)))
            return
        self.forward(b"")

    def do_HEAD(self):
        self.forward(b"")

    def do_PUT(self):
        self.forward(self.read_body())

    def do_DELETE(self):
        self.forward(self.read_body())

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        body = self.read_body()
        path = urllib.parse.urlparse(self.path).path
        if path.startswith("/__cloudtrail/"):
            self.control(path, body)
            return
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".LookupEvents"):
            status, text = lookup(self.headers, body)
            self.reply(status, "application/x-amz-json-1.1", text)
            return
        self.forward(body)

    def control(self, path, body):
        data = json.loads(body or b"{}")
        with lock:
            if path == "/__cloudtrail/events":
                slot = (data["account"], data["region"])
                events.setdefault(slot, []).extend(data["records"])
            elif path == "/__cloudtrail/keys":
                key_account.update(data)
            elif path == "/__cloudtrail/throttle":
                slot = (data["account"], data["region"])
                forced[slot] = forced.get(slot, 0) + int(data.get("times", 1))
            else:
                self.reply(404, "application/json", "{}")
                return
        self.reply(200, "application/json", "{}")

    def forward(self, body):
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status == 200 and b"<AssumeRoleResult>" in data:
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            arn = params.get("RoleArn", [""])[0]
            acct = re.match(r"arn:[^:]+:iam::(\d{12}):", arn)
            key = re.search(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>", data)
            if acct and key:
                with lock:
                    key_account[key.group(1).decode()] = acct.group(1)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def main():
    global upstream
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    upstream = urllib.parse.urlparse(a.upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
