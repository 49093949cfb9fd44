"""Checks Gatehouse's libinjection against the C library, through PyPI's libinjection-python.

Usage: libinjection_peer.py sqli|xss FILE. For `sqli`, FILE holds lines of
`hex(input)<TAB>fingerprint` (empty when Gatehouse found no SQL injection); for `xss`, lines of
`hex(input)<TAB>1` or `0`. Each input is asked of the C library and every disagreement printed.
Exit status 1 when there is one. Run by `crates/waf/tests/it/libinjection.rs` with
GH_TEST_PEERS=1.
"""
import sys

import libinjection


def verdict(mode, text):
    if mode == "xss":
        return "1" if libinjection.is_xss(text)["is_xss"] else "0"
    peer = libinjection.is_sql_injection(text)
    return peer["fingerprint"] if peer["is_sqli"] else ""


def main(mode, path):
    compared = 0
    differ = []
    with open(path, encoding="ascii") as cases:
        for line in cases:
            hexed, _, ours = line.rstrip("\n").partition("\t")
            text = bytes.fromhex(hexed).decode("utf-8")
            theirs = verdict(mode, text)
            compared += 1
            if theirs != ours:
                differ.append((text, ours, theirs))
    for text, ours, theirs in differ[:50]:
        print(f"DIFFER {text!r}: gatehouse {ours!r}, libinjection {theirs!r}")
    print(f"{compared} inputs compared, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
