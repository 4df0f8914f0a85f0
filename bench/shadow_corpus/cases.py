"""The shadow runs' corpus: real standard-library functions, each rewritten by hand once with a
behaviour change (off-by-one, a flipped comparison, a dropped branch, a changed default or constant, a
swallowed exception) and some rewritten correctly. Each rewrite is one textual replacement in the function's
own source (read from the standard library of the Python that runs the bench); `calls` are what the
corpus's tests pass it, without checking anything (each call in a try/except): the shadow run alone must
see the difference.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One rewrite of `module.function`: `old` replaced by `new` (its first occurrence); `kind` says how."""

    module: str
    function: str
    kind: str
    old: str
    new: str
    calls: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.module.replace('.', '_')}__{self.function}"


BEHAVIOUR_CHANGING = (
    Case(
        "colorsys",
        "rgb_to_hsv",
        "flipped comparison",
        "if minc == maxc:",
        "if minc != maxc:",
        ("0.2, 0.4, 0.4", "0.5, 0.5, 0.5"),
    ),
    Case(
        "colorsys",
        "rgb_to_hls",
        "changed sign",
        "h = 2.0+rc-bc",
        "h = 2.0+rc+bc",
        ("0.2, 0.8, 0.4", "0.1, 0.1, 0.1"),
    ),
    Case(
        "colorsys",
        "hls_to_rgb",
        "flipped comparison",
        "if l <= 0.5:",
        "if l >= 0.5:",
        ("0.3, 0.3, 0.5", "0.0, 0.5, 0.0"),
    ),
    Case(
        "colorsys",
        "_v",
        "changed constant",
        "    return m1\n",
        "    return m2\n",
        ("0.2, 0.8, 0.9", "0.2, 0.8, 0.1"),
    ),
    Case("colorsys", "rgb_to_yiq", "changed constant", "0.59*g", "0.95*g", ("0.1, 0.5, 0.9",)),
    Case(
        "colorsys",
        "yiq_to_rgb",
        "dropped branch",
        "    if b > 1.0:\n        b = 1.0\n",
        "",
        ("0.5, -0.5, 0.5", "0.2, 0.1, 0.1"),
    ),
    Case(
        "shlex",
        "quote",
        "dropped branch",
        "    if not s:\n        return \"''\"\n",
        "",
        ("''", "'abc'", "'a b'"),
    ),
    Case("shlex", "join", "changed constant", "' '.join", "','.join", ("['a', 'b c']",)),
    Case(
        "heapq",
        "heappush",
        "off-by-one",
        "len(heap)-1)",
        "len(heap)-2)",
        ("[1, 3, 5], 0", "[2], 1"),
    ),
    Case(
        "heapq",
        "_siftdown",
        "off-by-one",
        "parentpos = (pos - 1) >> 1",
        "parentpos = pos >> 1",
        ("[1, 2, 3, 4, 0], 0, 4",),
    ),
    Case(
        "heapq",
        "nlargest",
        "dropped argument",
        "result.sort(reverse=True)",
        "result.sort()",
        ("2, [5, 1, 4, 2]", "1, [3, 9]"),
    ),
    Case(
        "heapq",
        "nsmallest",
        "off-by-one",
        "            return sorted(iterable, key=key)[:n]",
        "            return sorted(iterable, key=key)[:n - 1]",
        ("3, [4, 1, 3]", "2, [5, 1, 4, 2]"),
    ),
    Case(
        "html",
        "escape",
        "changed default",
        "def escape(s, quote=True):",
        "def escape(s, quote=False):",
        ("'a \"b\"'", "'<i>'"),
    ),
    Case(
        "html",
        "escape",
        "dropped statement",
        '    s = s.replace("&", "&amp;") # Must be done first!\n',
        "",
        ("'a & b'",),
    ),
    Case(
        "calendar",
        "isleap",
        "flipped comparison",
        "year % 400 == 0",
        "year % 400 != 0",
        ("1900", "2000", "2024"),
    ),
    Case("calendar", "leapdays", "off-by-one", "    y2 -= 1\n", "", ("2000, 2024", "1999, 2001")),
    Case(
        "calendar",
        "monthrange",
        "swallowed exception",
        "    if not 1 <= month <= 12:\n        raise IllegalMonthError(month)\n",
        "",
        ("2024, 2", "2024, 13"),
    ),
    Case(
        "calendar",
        "weekday",
        "changed constant",
        "year = 2000 + year % 400",
        "year = 2000 + year % 100",
        ("10100, 1, 1", "2024, 5, 17"),
    ),
    Case(
        "string",
        "capwords",
        "changed default",
        "def capwords(s, sep=None):",
        "def capwords(s, sep=' '):",
        ("'hello   world'",),
    ),
    Case(
        "textwrap",
        "indent",
        "dropped condition",
        "            return line.strip()",
        "            return line",
        ("'a\\n\\nb\\n', '> '",),
    ),
    Case(
        "textwrap",
        "shorten",
        "off-by-one",
        "max_lines=1",
        "max_lines=2",
        ("'Hello world foo bar baz', 12",),
    ),
    Case(
        "fnmatch",
        "filter",
        "flipped condition",
        "            if match(name):",
        "            if not match(name):",
        ("['a.py', 'b.txt'], '*.py'",),
    ),
    Case(
        "fnmatch",
        "fnmatchcase",
        "flipped comparison",
        "is not None",
        "is None",
        ("'a.py', '*.py'", "'A.PY', '*.py'"),
    ),
    Case(
        "statistics",
        "median",
        "off-by-one",
        "(data[i - 1] + data[i]) / 2",
        "(data[i] + data[i + 1]) / 2",
        ("[1, 3, 5, 7]", "[1, 2, 3]"),
    ),
    Case(
        "statistics",
        "median_low",
        "off-by-one",
        "return data[n // 2 - 1]",
        "return data[n // 2]",
        ("[1, 3, 5, 7]",),
    ),
    Case(
        "statistics",
        "mode",
        "swallowed exception",
        "        raise StatisticsError('no mode for empty data') from None",
        "        return None",
        ("[]", "[1, 1, 2]"),
    ),
    Case(
        "urllib.parse",
        "urldefrag",
        "flipped condition",
        "if '#' in url:",
        "if '#' not in url:",
        ("'http://a/b#c'", "'http://a/b'"),
    ),
    Case(
        "urllib.parse",
        "quote",
        "changed default",
        "def quote(string, safe='/',",
        "def quote(string, safe='',",
        ("'a/b c'",),
    ),
    Case(
        "base64",
        "b16encode",
        "dropped call",
        "binascii.hexlify(s).upper()",
        "binascii.hexlify(s)",
        ("b'\\xab\\x01'",),
    ),
    Case(
        "posixpath",
        "basename",
        "off-by-one",
        "i = p.rfind(sep) + 1",
        "i = p.rfind(sep)",
        ("'/a/b.txt'", "'c'"),
    ),
    Case(
        "posixpath",
        "dirname",
        "dropped branch",
        "    if head and head != sep*len(head):\n        head = head.rstrip(sep)\n",
        "",
        ("'/a//b'", "'/x/y/z'"),
    ),
    Case(
        "genericpath",
        "commonprefix",
        "off-by-one",
        "            return s1[:i]",
        "            return s1[:i + 1]",
        ("['abc', 'abd']", "['/usr/lib', '/usr/local']"),
    ),
    Case(
        "textwrap",
        "dedent",
        "changed default state",
        "    margin = None\n",
        "    margin = ''\n",
        ("'    a\\n    b\\n'",),
    ),
)

CORRECT = (
    Case(
        "colorsys",
        "rgb_to_yiq",
        "tuple unparenthesized",
        "return (y, i, q)",
        "return y, i, q",
        ("0.1, 0.5, 0.9",),
    ),
    Case(
        "shlex",
        "quote",
        "len test",
        "    if not s:\n",
        "    if len(s) == 0:\n",
        ("''", "'abc'", "'a b'"),
    ),
    Case(
        "calendar",
        "isleap",
        "regrouped condition",
        "year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
        "(year % 4 == 0 and year % 100 != 0) or year % 400 == 0",
        ("1900", "2000", "2024", "2023"),
    ),
    Case(
        "string",
        "capwords",
        "comprehension",
        "map(str.capitalize, s.split(sep))",
        "[word.capitalize() for word in s.split(sep)]",
        ("'hello   world'", "'a-b', '-'"),
    ),
    Case(
        "html",
        "escape",
        "chained replace",
        '    s = s.replace("&", "&amp;") # Must be done first!\n    s = s.replace("<", "&lt;")\n',
        '    s = s.replace("&", "&amp;").replace("<", "&lt;")  # "&" first\n',
        ("'a & <b>'", "'\"q\"', False"),
    ),
    Case(
        "heapq",
        "heappush",
        "extend",
        "heap.append(item)",
        "heap.extend([item])",
        ("[1, 3, 5], 0", "[2], 1"),
    ),
    Case(
        "statistics",
        "median",
        "truthy remainder",
        "if n % 2 == 1:",
        "if n % 2:",
        ("[1, 3, 5, 7]", "[1, 2, 3]", "[]"),
    ),
    Case(
        "fnmatch",
        "filter",
        "comprehension",
        "        for name in names:\n            if match(name):\n                result.append(name)\n",
        "        result.extend(name for name in names if match(name))\n",
        ("['a.py', 'b.txt', 'c.py'], '*.py'",),
    ),
    Case(
        "posixpath",
        "basename",
        "rpartition",
        "    i = p.rfind(sep) + 1\n    return p[i:]",
        "    return p.rpartition(sep)[2]",
        ("'/a/b.txt'", "'c'", "b'/x/y'"),
    ),
    Case(
        "urllib.parse",
        "urldefrag",
        "find",
        "if '#' in url:",
        "if url.find('#') >= 0:",
        ("'http://a/b#c'", "'http://a/b'"),
    ),
    Case(
        "calendar",
        "monthrange",
        "split comparison",
        "if not 1 <= month <= 12:",
        "if month < 1 or month > 12:",
        ("2024, 2", "2023, 2", "2024, 13"),
    ),
    Case(
        "statistics",
        "mode",
        "counter of the data",
        "Counter(iter(data))",
        "Counter(data)",
        ("[]", "[1, 1, 2]", "['a', 'b', 'b']"),
    ),
    Case(
        "textwrap",
        "indent",
        "list join",
        "return ''.join(prefixed_lines())",
        "return ''.join(list(prefixed_lines()))",
        ("'a\\n\\nb\\n', '> '",),
    ),
)
