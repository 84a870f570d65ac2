#!/usr/bin/env python3
"""Evaluates the differential corpus with Terraform, for the tests to compare hive against.

Reads tests/fixtures/terraform/corpus.txt (one expression per line; `#` starts a comment
line; a line `!differs REASON` marks the expression above it as one where hive deliberately
differs) and writes tests/fixtures/terraform/expected.json: for each expression, the text of
`jsonencode(EXPR)` as Terraform's console gives it, or that Terraform refused it (with its
message). Run it where a `terraform` binary is on PATH; the tests need only its output.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "terraform")


def unquote(text):
    """An HCL quoted string as the console prints it, decoded."""
    assert text.startswith('"') and text.endswith('"'), text
    body, out, i = text[1:-1], [], 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
            elif nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            elif nxt == "U":
                out.append(chr(int(body[i + 2 : i + 10], 16)))
                i += 10
            else:
                raise ValueError(f"unknown escape in {text}")
        elif body.startswith("$${", i) or body.startswith("%%{", i):
            out.append(c + "{")
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def evaluate(expr, workdir):
    env = dict(os.environ, TF_CLI_CONFIG_FILE="/dev/null", NO_COLOR="1")
    done = subprocess.run(
        ["terraform", "console", "-no-color"],
        input=f"jsonencode({expr})\n",
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=60,
    )
    out = done.stdout.strip()
    if done.returncode == 0 and out.startswith('"'):
        return {"json": unquote(out)}
    message = " ".join(
        line.strip()
        for line in (done.stderr + done.stdout).splitlines()
        if line.strip()
        and not line.startswith(("on <console-input>", "(source code"))
        and "CLI configuration" not in line
    )
    return {"error": message}


def corpus():
    entries = []
    with open(os.path.join(FIXTURES, "corpus.txt"), encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("!differs "):
                entries[-1]["differs"] = line[len("!differs ") :].strip()
                continue
            entries.append({"expr": line})
    return entries


def main():
    entries = corpus()
    with tempfile.TemporaryDirectory() as workdir:
        for n, entry in enumerate(entries, 1):
            entry.update(evaluate(entry["expr"], workdir))
            print(f"{n}/{len(entries)} {entry['expr']}", file=sys.stderr)
    version = subprocess.run(
        ["terraform", "version", "-json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CLI_CONFIG_FILE="/dev/null"),
    )
    terraform = json.loads(version.stdout).get("terraform_version", "unknown")
    with open(os.path.join(FIXTURES, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"terraform": terraform, "entries": entries}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
