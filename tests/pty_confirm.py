"""Drive `forcemfa apply` in a real pseudo-terminal, as an operator would: answer the prompts
(y, an invalid answer, n, then q) or press Ctrl-C, and print what the screen showed.

Usage: python3 tests/pty_confirm.py BINARY FOLDER answers|ctrl-c
Prints the transcript, then a final line `EXIT=<code>`.
"""
import os
import pty
import select
import sys
import time


def read_until(fd, needle, timeout=60.0):
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if needle and needle in buf:
                return buf
    return buf


def main():
    binary, folder, mode = sys.argv[1:4]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["NO_COLOR"] = "1"
        os.execv(binary, [binary, "apply", "--color", "never", folder])
    out = b""
    prompt = b"[q]uit"
    if mode == "answers":
        for answer in [b"y", b"maybe", b"n", b"q"]:
            out += read_until(fd, prompt)
            os.write(fd, answer + b"\r")
            time.sleep(0.3)
    else:
        out += read_until(fd, prompt)
        os.write(fd, b"y\r")
        time.sleep(0.3)
        out += read_until(fd, prompt)
        os.write(fd, b"\x03")  # Ctrl-C as typed: the terminal turns it into SIGINT
    out += read_until(fd, None, timeout=5.0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stdout.write("\nEXIT=%d\n" % (code if code >= 0 else 128 - code))


if __name__ == "__main__":
    main()
