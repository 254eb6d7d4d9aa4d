#!/usr/bin/env python3
"""Summarises meson test logs (meson-logs/testlog.json) in Catch2 test cases.

  test_report.py --build NAME LOG        one build: a line per test executable, the failing test
                                         cases by name, and the build's totals
  test_report.py --total NAME=LOG ...    several builds; the last line printed is
                                         `tests: N passed, N failed` over all of them

Counting: a Catch2 executable counts the test cases its summary reports ("All tests passed
(.. in N test cases)" or "test cases: N | P passed | F failed"). An executable that failed
without a summary (crash, sanitizer abort, timeout), or that exited non-zero after its summary
(e.g. a sanitizer report at exit), adds one failure. A test that is not Catch2 (consumer and
header checks) counts as one test. A build whose log is missing (it did not build) counts as one
failure.
"""
import json
import pathlib
import re
import sys

ALL_PASSED = re.compile(r'^All tests passed \((\d+) assertions? in (\d+) test cases?\)', re.M)
TABLE = re.compile(r'^test cases:\s*(?:(\d+)|- none -)(.*)$', re.M)
SEPARATOR = '-' * 79
DOTS = '.' * 79


def catch2_counts(out):
    """(passed, failed) from a Catch2 console summary, or None if there is none."""
    m = ALL_PASSED.search(out)
    if m:
        return int(m.group(2)), 0
    m = TABLE.search(out)
    if m:
        rest = m.group(2)
        passed = re.search(r'(\d+) passed', rest)
        failed = re.search(r'(\d+) failed(?! as expected)', rest)
        return (int(passed.group(1)) if passed else 0), (int(failed.group(1)) if failed else 0)
    if re.search(r'^No tests ran', out, re.M):
        return 0, 0
    return None


def failing_cases(out):
    """Names of the test cases Catch2 reported failures in (its console failure blocks)."""
    names = []
    lines = out.splitlines()
    i = 0
    while i < len(lines):
        if lines[i] == SEPARATOR:
            j = i + 1
            while j < len(lines) and lines[j] != SEPARATOR:
                j += 1
            header = lines[i + 1:j]
            k = j + 1
            while k < len(lines) and lines[k] != DOTS and k < j + 4:
                k += 1
            end = k + 1
            while end < len(lines) and lines[end] not in (SEPARATOR, '=' * 79):
                end += 1
            body = '\n'.join(lines[k:end])
            if header and ('FAILED' in body or 'due to unexpected exception' in body
                           or 'due to a fatal error condition' in body):
                name = header[0].strip()
                if name not in names:
                    names.append(name)
            i = end
        else:
            i += 1
    return names


WATCHDOG = re.compile(r"weft test watchdog: test case '(.*)' did not finish")
SANITIZER = re.compile(r'^(SUMMARY: \w+Sanitizer: .*|.*: runtime error: .*)$', re.M)


def other_failures(err):
    """Hangs the test watchdog caught and sanitizer summaries, from a test's stderr."""
    notes = [f'hung (watchdog): {m.group(1)}' for m in WATCHDOG.finditer(err)]
    notes += [m.group(1)[:160] for m in SANITIZER.finditer(err)][:5]
    return notes


def read_log(path):
    results = []
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            results.append(json.loads(line))
    return results


def summarise(name, path, verbose):
    """Returns (passed, failed) for one build, printing details when verbose."""
    if not pathlib.Path(path).exists():
        print(f'{name}: no test results ({path} is missing: the build or the test run failed '
              f'before any test ran); counted as 1 failure')
        return 0, 1
    passed = failed = 0
    for r in read_log(path):
        out = r.get('stdout') or ''
        ok = r['result'] in ('OK', 'EXPECTEDFAIL')
        if r['result'] == 'SKIP':
            if verbose:
                print(f'  {r["name"]:<46} skipped')
            continue
        counts = catch2_counts(out)
        note = ''
        if counts is None:
            p, f = (1, 0) if ok else (0, 1)
            note = 'check' if ok else f'{r["result"]} without a Catch2 summary (crash or timeout?)'
        else:
            p, f = counts
            note = f'{p + f} test case{"s" if p + f != 1 else ""}'
            if not ok and f == 0:
                f = 1
                note += f', then the executable failed ({r["result"]}, e.g. a sanitizer report)'
        passed += p
        failed += f
        if verbose:
            status = 'ok  ' if ok else 'FAIL'
            print(f'  {status} {r["name"]:<46} {note}: {p} passed, {f} failed')
            if not ok:
                for case in failing_cases(out):
                    print(f'         failed test case: {case}')
                for note in other_failures(r.get('stderr') or ''):
                    print(f'         {note}')
    return passed, failed


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == '--build':
        print(f'\n{args[1]} results:')
        p, f = summarise(args[1], args[2], True)
        print(f'{args[1]}: {p} passed, {f} failed')
        return 1 if f else 0
    if len(args) >= 2 and args[0] == '--total':
        total_p = total_f = 0
        for spec in args[1:]:
            name, _, path = spec.partition('=')
            p, f = summarise(name, path, False)
            print(f'{name}: {p} passed, {f} failed')
            total_p += p
            total_f += f
        print(f'tests: {total_p} passed, {total_f} failed')
        return 1 if total_f else 0
    sys.exit(__doc__)


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Exception:  # a log this script cannot read must still end with the summary line
        import traceback
        traceback.print_exc()
        print('tests: 0 passed, 1 failed')
        sys.exit(2)
