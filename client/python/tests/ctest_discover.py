#!/usr/bin/python3
"""Writes a CTest include file with one test per pytest case (run by the build).

    ctest_discover.py --python /usr/bin/python3 --tests DIR --pythonpath DIR \
        --source-dir SRC --binary-dir BUILD --label python --timeout 300 --out FILE

Each case becomes ``python.<module>.<test>`` running exactly that case. If
collection fails or finds nothing (pytest exit 5), the file registers one
test, ``python.collection``, that runs the collection again and fails with
its output: the suite can never pass by silently running no tests.
"""

import argparse
import os
import re
import subprocess
import sys


def cmake_quote(text: str) -> str:
    return "[==[" + text + "]==]"


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("python", "tests", "pythonpath", "source-dir", "binary-dir", "label", "out"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()

    env = dict(os.environ, PYTHONPATH=args.pythonpath, HAVENGATE_SOURCE_DIR=args.source_dir,
               HAVENGATE_BINARY_DIR=args.binary_dir, PYTHONDONTWRITEBYTECODE="1")
    pytest = [args.python, "-m", "pytest", "-c", os.path.join(os.path.dirname(args.tests), "pytest.ini"),
              "--rootdir", args.tests]
    collect = pytest + ["--collect-only", "-q", args.tests]
    result = subprocess.run(collect, env=env, cwd=args.tests, capture_output=True, text=True)
    node_ids = [line.strip() for line in result.stdout.splitlines() if "::" in line]

    environment = ";".join(f"{k}={env[k]}" for k in ("PYTHONPATH", "HAVENGATE_SOURCE_DIR",
                                                      "HAVENGATE_BINARY_DIR", "PYTHONDONTWRITEBYTECODE"))
    lines = [f"# Written by {os.path.basename(__file__)}: one CTest test per pytest case."]

    def add(name: str, command: list) -> None:
        lines.append(f"add_test({cmake_quote(name)} {' '.join(cmake_quote(c) for c in command)})")
        lines.append(f"set_tests_properties({cmake_quote(name)} PROPERTIES "
                     f"LABELS {cmake_quote(args.label)} TIMEOUT {args.timeout} "
                     f"WORKING_DIRECTORY {cmake_quote(args.tests)} "
                     f"ENVIRONMENT {cmake_quote(environment)})")

    if result.returncode != 0 or not node_ids:
        sys.stderr.write(f"{os.path.basename(__file__)}: pytest collection failed (exit "
                         f"{result.returncode}); registering a failing test\n"
                         + result.stdout[-4000:] + result.stderr[-4000:])
        # At test time: collect again, and fail even if that finds nothing
        # (exit 5), since the build found nothing to run.
        add("python.collection", [args.python, "-c",
                                  "import subprocess, sys; subprocess.run(sys.argv[1:]); "
                                  "print('no Python tests were registered; fix the collection "
                                  "and rebuild'); sys.exit(1)"] + collect)
    else:
        for node_id in node_ids:
            path, _, test = node_id.partition("::")
            module = os.path.splitext(os.path.basename(path))[0]
            name = "python." + module + "." + re.sub(r"[^A-Za-z0-9_.\-\[\]]", "_", test.replace("::", "."))
            add(name, pytest + ["-q", "-rA", os.path.join(args.tests, node_id)])
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.out + ".tmp", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
