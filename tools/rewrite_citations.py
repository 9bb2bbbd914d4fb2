#!/usr/bin/env python3
"""Point every citation in the tree at the repository's own documents (stdlib only, idempotent).

beacon's comments and docstrings cite protocol facts, the behaviour of other Sync clients and
the seed note. They used to name research notes kept outside the repository; the facts now
live in ``docs/protocol.md``, ``docs/anchors.md`` and ``docs/seed-note.md``, with the same
section numbers and pitfall ids. This tool rewrites the old names to the repository's:

* ``sync15-protocol §3.7``, ``protocol §3.7``, ``protocol note §1.7`` → ``docs/protocol.md §3.7``;
* ``anchor-state-machines(.md) §3.2``, ``anchor §3.2`` → ``docs/anchors.md §3.2``;
  ``anchor §7 P15``, ``pitfall P12``, ``pitfalls P1, P13`` → ``docs/anchors.md P15`` ...;
* the seed note's path, and ``seed note`` used as a citation (``(seed note, Persistence)``,
  ``(seed note: "...")``) → ``docs/seed-note.md``;
* ``style-anchors §N`` → the public project it described (unknown sections are reported);
* an unnamed ``§4 item N`` (desktop's numbered flow) → ``docs/anchors.md §4 item N``.

A bare ``§N`` belongs to the document named before it in the same clause (``docs/anchors.md
§3.4 ..., §2.5 ...``), else to the file's default: a file that still has bare citations after
the rewrite gets one line, ``§ numbers refer to docs/protocol.md.``, at the end of its module
docstring (or as a first comment line). Python files are edited only in comments,
docstrings and the ``--`` comment lines of embedded SQL (never in code or other strings);
YAML, TOML and Makefiles only in comments; Markdown everywhere. A comment or docstring line
pushed past 100 columns is wrapped.

Usage: ``python tools/rewrite_citations.py [--check] [FILE ...]`` (default: the tracked files
under beacon/, tests/, bench/, statecharts/, tools/, docs/ and README.md). ``--check`` changes
nothing and exits 1 when a file would change. Exit status 2: an old name that could not be
rewritten is left (each one is printed).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 100  # ruff's line-length

#: The repository's own citation targets; never rewritten, never given a default line.
OWN_DOCS = ("docs/protocol.md", "docs/anchors.md", "docs/seed-note.md")
SCOPES = ("beacon/", "tests/", "bench/", "statecharts/", "tools/", "docs/", "README.md")
SELF = "tools/rewrite_citations.py"
#: Files that name the old documents on purpose: this tool and the test of the citations.
EXEMPT = (SELF, "tests/test_citations.py")

#: Names of documents outside the repository: none may remain anywhere.
FORBIDDEN = (
    "sync15-protocol",
    "anchor-state-machines",
    "style-anchors",
    "sync-state-machine-note",
    "../shared",
    "/work/shared",
)

DEFAULT_DOC = "docs/protocol.md"
DECLARATION = "§ numbers refer to {doc}."
DECLARATION_RE = re.compile(r"§ numbers refer to (docs/[\w.-]+\.md)")

# -- the rewrite rules ---------------------------------------------------------------------------

_PATH = r"(?:/work/|(?:\.\./)*)(?:shared/)?(?:docs/)?"
_NOT_AFTER = r"(?<![\w/.-])"

#: style-anchors sections → the public project (or repository file) each one described.
STYLE_ANCHORS = {
    "2.1": "h11 (https://github.com/python-hyper/h11)",
    "2.2": "httpx (https://github.com/encode/httpx)",
    "2.3": "python-statemachine (https://github.com/fgmacedo/python-statemachine)",
    "2.4": "Hypothesis (https://github.com/HypothesisWorks/hypothesis)",
    "2.5": "application-services sync15 "
    "(https://github.com/mozilla/application-services/tree/main/components/sync15)",
    "2.6": "cryptography's Fernet recipe "
    "(https://github.com/pyca/cryptography/blob/main/src/cryptography/fernet.py)",
    "4.3": "the error tree of beacon/_errors.py",
    "4.5": "cryptography's Fernet recipe "
    "(https://github.com/pyca/cryptography/blob/main/src/cryptography/fernet.py)",
}


def _style(m: re.Match[str]) -> str:
    return STYLE_ANCHORS.get(m.group(1), m.group(0))


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    replace: str | Callable[[re.Match[str]], str]


RULES = (
    Rule(
        "seed note",
        re.compile(
            r"(?:/work/|(?:\.\./)*)(?:shared/)?seed/sync-state-machine-note\.md"
            r"|(?<![\w/.-])sync-state-machine-note\.md"
        ),
        "docs/seed-note.md",
    ),
    Rule(
        "seed note",
        re.compile(r"(?:\b[Tt]he )?" + _NOT_AFTER + r"seed note(?=\s*[,:;)])"),
        "docs/seed-note.md",
    ),
    Rule(
        "pitfall",
        re.compile(
            r"(?:" + _PATH + r"anchor-state-machines(?:\.md)?|docs/anchors\.md|"
            r"(?<![\w/.-])anchor)(\s+)§7\s+(?:[Pp]itfalls?\s+)?(?=P\d)"
        ),
        r"docs/anchors.md\1",
    ),
    Rule("anchors", re.compile(_PATH + r"anchor-state-machines(?:\.md)?"), "docs/anchors.md"),
    Rule("anchors", re.compile(_NOT_AFTER + r"anchor(?=\s+§)"), "docs/anchors.md"),
    Rule("pitfall", re.compile(_NOT_AFTER + r"[Pp]itfalls?(\s+)(?=P\d)"), r"docs/anchors.md\1"),
    Rule("protocol", re.compile(_PATH + r"sync15-protocol(?:\.md)?"), "docs/protocol.md"),
    Rule("protocol", re.compile(_NOT_AFTER + r"protocol(?: note)?(?=\s+§)"), "docs/protocol.md"),
    # "docs/anchors.md §3.5, docs/anchors.md P12" names the document once.
    Rule(
        "tidy",
        re.compile(r"(docs/anchors\.md\s+§\d+(?:\.\d+)*[^;().]*?,\s+)docs/anchors\.md\s+(?=P\d)"),
        r"\1",
    ),
    Rule(
        "style anchors",
        re.compile(_PATH + r"style-anchors(?:\.md)?\s+§(\d+(?:\.\d+)*)"),
        _style,
    ),
)


def apply_rules(text: str, counts: Counter[str]) -> str:
    """Apply every rewrite rule to one comment, docstring or Markdown text."""
    for rule in RULES:

        def sub(m: re.Match[str], rule: Rule = rule) -> str:
            new = rule.replace(m) if callable(rule.replace) else m.expand(rule.replace)
            if new != m.group(0):
                counts[rule.name] += 1
            return new

        text = rule.pattern.sub(sub, text)
    return text


# -- where a file may be edited: its comment and docstring pieces --------------------------------


@dataclass(frozen=True)
class Piece:
    """One editable span of a file: ``text[start:end]``, a comment, a docstring or a page."""

    start: int
    end: int
    kind: str  # "comment", "docstring", "sql" (a "--" line in embedded SQL) or "text"


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def python_pieces(text: str) -> list[Piece]:
    """Comments and docstrings (strings standing alone as a statement) of Python source."""
    offsets = _line_offsets(text)
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    boring = {tokenize.NL, tokenize.COMMENT}
    statement_start = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    pieces: list[Piece] = []
    previous: int | None = None  # type of the last token that is not a comment or NL
    for i, tok in enumerate(tokens):
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.COMMENT:
            pieces.append(Piece(start, end, "comment"))
        elif tok.type == tokenize.STRING:
            following = next((t.type for t in tokens[i + 1 :] if t.type not in boring), None)
            alone = previous is None or previous in statement_start
            if alone and following in (None, tokenize.NEWLINE, tokenize.ENDMARKER):
                pieces.append(Piece(start, end, "docstring"))
            else:  # SQL comments in embedded SQL: "-- ..." lines, which SQLite ignores
                for m in re.finditer(r"(?m)(?<=\n)[ \t]*--[ \t].*$", tok.string):
                    at = start + m.start() + m.group(0).index("--")
                    pieces.append(Piece(at, start + m.end(), "sql"))
        if tok.type not in boring:
            previous = tok.type
    return pieces


def hash_comment_pieces(text: str) -> list[Piece]:
    """``#`` comments of YAML, TOML, Makefiles and shell: a ``#`` outside quotes, at a line's
    start or after whitespace."""
    pieces: list[Piece] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        quote = ""
        for i, ch in enumerate(line):
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "\"'" and (i == 0 or not line[i - 1].isalnum()):
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1].isspace()):
                body = line[i:].rstrip("\r\n")
                pieces.append(Piece(pos + i, pos + i + len(body), "comment"))
                break
        pos += len(line)
    return pieces


def editable(path: str) -> bool:
    """Whether the tool reads and edits this kind of file at all."""
    return path.endswith((*_HASH_COMMENTED, ".py", ".md")) or Path(path).name == "Makefile"


_HASH_COMMENTED = (".yaml", ".yml", ".toml", ".cfg", ".sh")


def pieces_of(path: str, text: str) -> list[Piece]:
    """The spans of a file that hold prose: the only places a citation is read or edited."""
    if path.endswith(".py"):
        return python_pieces(text)
    if path.endswith(".md"):
        return [Piece(0, len(text), "text")]
    if editable(path):
        return hash_comment_pieces(text)
    return []


# -- reading citations: which document each § and P<n> belongs to --------------------------------


@dataclass(frozen=True)
class Citation:
    """One ``§N`` or ``P<n>`` in a comment, docstring or page, and the document it cites."""

    path: str
    offset: int  # in the file's text
    kind: str  # "section" or "pitfall"
    ref: str  # "3.7" or "P12"
    doc: str | None  # "docs/protocol.md", "RFC 9110", ... or None: nothing names one
    end: str | None = None  # the last section of a range "§4.3-§4.6"
    items: tuple[str, ...] = ()  # "§4 item 9", "§1.4 rules 3, 6"
    via: str = ""  # how ``doc`` was found: "name" (right before it), "clause", "default"


_TOKEN = re.compile(
    r"""
    (?P<decl>§\ numbers\ refer\ to\ docs/[\w.-]+\.md)
  | (?P<head>`{0,2}(?P<doc>docs/[\w.-]+\.md)`{0,2}(?=\s+(?:§|P\d)))
  | (?P<ext>\b(?:RFC|PEP|ISO|ECMA|FIPS)[\ -]?\d+(?:-\d+)?(?=\s+§))
  | (?P<sec>§\s?(?P<num>\d+(?:\.\d+)*)
        (?:\s*[-–]\s*§?(?P<end>\d+(?:\.\d+)*))?
        (?:\s+(?:items?|rules?)\s+(?P<items>\d+(?:\.\d+)?(?:(?:,\s*|\s+and\s+)\d+(?:\.\d+)?)*))?)
  | (?P<pit>(?<![\w+/=-])P(?P<pn>\d{1,2})(?![\w+/=]))
  | (?P<open>\()
  | (?P<close>\))
  | (?P<blank>\n[ \t]*(?:\#:?[ \t]*)?\n)
  | (?P<stop>[.!?](?=\s+[\W_]*[A-Z])|[.!?]\s*$)
    """,
    re.X,
)


@dataclass
class _Block:
    """Consecutive pieces read as one text (a comment block, a docstring, a paragraph)."""

    parts: list[tuple[int, int]] = field(default_factory=list)  # (file offset, length)
    text: str = ""

    def add(self, offset: int, text: str) -> None:
        if self.text:
            self.text += "\n"
        self.parts.append((offset, len(text)))
        self.text += text

    def file_offset(self, i: int) -> int:
        pos = 0
        for offset, length in self.parts:
            if i <= pos + length:
                return offset + i - pos
            pos += length + 1
        raise IndexError(i)


def _blocks(path: str, text: str) -> Iterator[_Block]:
    """The texts citations are read in: a docstring, a run of comments on consecutive lines,
    a Markdown paragraph."""
    if path.endswith(".md"):
        yield from _markdown_blocks(text)
        return
    block = _Block()
    last_line = -2
    for piece in pieces_of(path, text):
        line = text.count("\n", 0, piece.start)
        if piece.kind not in ("comment", "sql") or line != last_line + 1:
            if block.text:
                yield block
            block = _Block()
        block.add(piece.start, text[piece.start : piece.end])
        last_line = line if piece.kind in ("comment", "sql") else -2
    if block.text:
        yield block


def _markdown_blocks(text: str) -> Iterator[_Block]:
    """Paragraphs of a page; heading lines (outside code fences) define, they do not cite."""
    block = _Block()
    fenced = False
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.lstrip().startswith("```"):
            fenced = not fenced
        heading = not fenced and re.match(r"#{1,6}\s", body) is not None
        if not body.strip() or heading:
            if block.text:
                yield block
            block = _Block()
        else:
            block.add(pos, body)
        pos += len(line)
    if block.text:
        yield block


def file_default(path: str, text: str) -> str | None:
    """The document a bare ``§N`` of this file cites: its declaration, or a page's own self."""
    m = DECLARATION_RE.search(text)
    if m:
        return m.group(1)
    if path.endswith(".md"):
        return path
    return None


def citations(path: str, text: str) -> Iterator[Citation]:
    """Every ``§N`` and ``P<n>`` in the file's comments, docstrings and pages, resolved.

    A document named right before a citation (``docs/anchors.md §3.4``) also owns the bare
    ones that follow it in the same clause, until its parenthesis closes, a sentence ends or
    another document is named; a citation owned by none takes the file's default.
    """
    default = file_default(path, text)
    for block in _blocks(path, text):
        heads: list[str | None] = [None]
        head_end = -1
        for m in _TOKEN.finditer(block.text):
            kind = m.lastgroup
            if kind == "open":
                heads.append(None)
            elif kind == "close":
                if len(heads) > 1:
                    heads.pop()
            elif kind == "blank":
                heads = [None]
            elif kind == "stop":
                heads[-1] = None
            elif kind in ("head", "ext"):
                heads[-1] = m.group("doc") or m.group("ext")
                head_end = m.end()
            elif kind in ("sec", "pit"):
                doc, via = heads[-1], "clause"
                if doc is not None and not block.text[head_end : m.start()].strip():
                    via = "name"
                elif doc is None:
                    doc, via = default, ("default" if default else "")
                offset = block.file_offset(m.start())
                if kind == "sec":
                    items = tuple(re.findall(r"\d+(?:\.\d+)?", m.group("items") or ""))
                    yield Citation(
                        path, offset, "section", m.group("num"), doc, m.group("end"), items, via
                    )
                else:
                    yield Citation(path, offset, "pitfall", "P" + m.group("pn"), doc, via=via)


# -- rewriting one file --------------------------------------------------------------------------


def _edit(path: str, text: str, edit: Callable[[str, int], str]) -> str:
    """Apply ``edit(piece_text, piece_offset)`` to each editable piece of the file."""
    out: list[str] = []
    pos = 0
    for piece in pieces_of(path, text):
        out.append(text[pos : piece.start])
        out.append(edit(text[piece.start : piece.end], piece.start))
        pos = piece.end
    out.append(text[pos:])
    return "".join(out)


_ITEM = re.compile(r"(?:[*-]|\d+\.)\s+")
_RULE_LINE = re.compile(r"(\s*#:? .*\S) -{3,}")
_PRAGMA = re.compile(r"type:|noqa|pragma")


def _line_kinds(path: str, text: str) -> tuple[list[str], list[int]]:
    """Per line: "doc" (inside a docstring), "comment" (a whole-line comment), "trailing"
    (code, then a comment), or "" (anything else); and the column of a trailing comment."""
    lines = text.split("\n")
    kinds = [""] * len(lines)
    columns = [0] * len(lines)
    starts = _line_offsets(text)
    for piece in pieces_of(path, text):
        first = text.count("\n", 0, piece.start)
        last = text.count("\n", 0, piece.end)
        if piece.kind == "docstring":
            for i in range(first, last + 1):
                kinds[i] = "doc"
        elif piece.kind == "sql":
            kinds[first] = "sql"
        elif piece.kind == "comment":
            code = text[starts[first] : piece.start]
            kinds[first] = "comment" if not code.strip() else "trailing"
            columns[first] = len(code)
    return kinds, columns


def _cut(line: str, keep: int) -> tuple[str, str] | None:
    """Split ``line`` at its last space within LIMIT columns but after column ``keep``, never
    between a document and its ``§N`` nor between ``§N`` and its ``item M``."""
    end = LIMIT + 1
    while True:
        cut = line.rfind(" ", keep + 1, end)
        if cut <= keep or not line[:cut].strip(" #:\"'"):
            return None
        head, rest = line[:cut].rstrip(), line[cut:].strip()
        glued = re.search(r"docs/[\w.-]+\.md`*$", head) or (
            re.search(r"§[\d.]*\d$", head) and re.match(r"(?:items?|rules?)\b", rest)
        )
        if not glued and head.strip(" #:\"'"):
            return head, rest
        end = cut


def reflow(path: str, old: str, new: str, warnings: list[str]) -> str:
    """Wrap the comment and docstring lines that the rewrite pushed past LIMIT columns.

    Words that no longer fit move to the start of the next line of the same paragraph, or to
    a new line with the paragraph's indentation; a trailing comment that no longer fits moves
    above its code line; a ``# -- title ----`` rule loses dashes instead.
    """
    old_lines, lines = old.split("\n"), new.split("\n")
    if len(old_lines) != len(lines):
        return new
    kinds, columns = _line_kinds(path, new)
    changed = [a != b for a, b in zip(old_lines, lines, strict=True)]
    i = 0
    while i < len(lines):
        line = lines[i]
        if not changed[i] or len(line) <= LIMIT or not kinds[i]:
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        kind = kinds[i]
        if kind == "trailing":
            at = columns[i]
            comment = line[at:]
            if _PRAGMA.search(comment):
                warnings.append(f"{path}:{i + 1}: a pragma comment is longer than {LIMIT}")
                i += 1
                continue
            lines[i : i + 1] = [indent + comment, line[:at].rstrip()]
            kinds[i : i + 1] = ["comment", ""]
            columns[i : i + 1] = [0, 0]
            changed[i : i + 1] = [True, False]
            continue
        rule = _RULE_LINE.fullmatch(line)
        if kind == "comment" and rule and len(rule.group(1)) + 4 <= LIMIT:
            lines[i] = rule.group(1) + " " + "-" * (LIMIT - len(rule.group(1)) - 1)
            i += 1
            continue
        if kind in ("comment", "sql"):
            marker = "-- " if kind == "sql" else "#: " if line.lstrip().startswith("#:") else "# "
            prefix = indent + marker
            body = line[len(prefix) :]
        else:
            quotes = re.match(r"\s*[rRuUbB]{0,2}(\"\"\"|\'\'\')", line)
            prefix = indent
            body = line[quotes.end() if quotes else len(indent) :]
        item = _ITEM.match(body)
        hanging = prefix + " " * (item.end() if item else 0)
        split = _cut(line, len(hanging) if item else len(prefix))
        if split is None:
            warnings.append(f"{path}:{i + 1}: cannot wrap a line longer than {LIMIT}")
            i += 1
            continue
        head, carry = split
        lines[i] = head
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        follows = (
            nxt is not None
            and kinds[i + 1] == kind
            and nxt.startswith(hanging)
            and nxt[len(hanging) : len(hanging) + 1] not in ("", " ")
            and not _ITEM.match(nxt[len(hanging) :])
            and not re.match(r"\s*(?:\"\"\"|\'\'\'|-{3,}|\w+:$)", nxt[len(hanging) :])
        )
        if follows and nxt is not None:
            lines[i + 1] = hanging + carry + " " + nxt[len(hanging) :]
            changed[i + 1] = True
        else:
            lines.insert(i + 1, hanging + carry)
            kinds.insert(i + 1, kind)
            columns.insert(i + 1, 0)
            changed.insert(i + 1, True)
        i += 1
    return "\n".join(lines)


def _add_declaration(path: str, text: str, doc: str) -> str:
    line = DECLARATION.format(doc=doc)
    if path.endswith(".py"):
        docstrings = [p for p in python_pieces(text) if p.kind == "docstring"]
        first_code = _first_statement(text)
        if docstrings and docstrings[0].start == first_code:
            p = docstrings[0]
            body = text[p.start : p.end]
            quote = body[-3:] if body[-3:] in ('"""', "'''") else None
            if quote:
                inner = body[: -len(quote)]
                if "\n" in inner:
                    if inner.endswith("\n"):
                        new = inner.rstrip() + "\n\n" + line + "\n" + quote
                    else:
                        new = inner.rstrip() + "\n\n" + line + quote
                else:
                    new = inner.rstrip() + "\n\n" + line + "\n" + quote
                return text[: p.start] + new + text[p.end :]
        comment = "# " + line + "\n"
    elif path.endswith(".md"):
        return text
    else:
        comment = "# " + line + "\n"
    if text.startswith("#!"):
        first, _, rest = text.partition("\n")
        return first + "\n" + comment + rest
    return comment + text


def _first_statement(text: str) -> int:
    """Offset of the first token that is not a comment, newline or encoding."""
    offsets = _line_offsets(text)
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in skip:
            return offsets[tok.start[0] - 1] + tok.start[1]
    return len(text)


def rewrite(path: str, text: str, counts: Counter[str]) -> tuple[str, list[str]]:
    """The file's text with every citation in the repository's form, and warnings."""
    wrap = not path.endswith(".md")
    warnings: list[str] = []
    before = text
    text = _edit(path, text, lambda piece, _: apply_rules(piece, counts))

    # An unnamed "§4 item N" is desktop's numbered flow (docs/anchors.md §4), whatever the
    # file's default: docs/protocol.md's §4 has no numbered items.
    default = file_default(path, text)
    fix = {
        c.offset
        for c in citations(path, text)
        if c.kind == "section" and c.ref == "4" and c.items and c.via in ("", "default")
        if default != "docs/anchors.md"
    }
    if fix:

        def insert(piece: str, offset: int) -> str:
            for at in sorted(o - offset for o in fix if offset <= o < offset + len(piece))[::-1]:
                piece = piece[:at] + "docs/anchors.md " + piece[at:]
                counts["anchors"] += 1
            return piece

        text = _edit(path, text, insert)

    if wrap:
        text = reflow(path, before, text, warnings)
    bare = any(c.kind == "section" and c.doc is None for c in citations(path, text))
    if default is None and bare:
        text = _add_declaration(path, text, DEFAULT_DOC)
        counts["default declaration"] += 1
    for name in FORBIDDEN:
        for m in re.finditer(re.escape(name), text):
            line = text.count("\n", 0, m.start()) + 1
            warnings.append(f"{path}:{line}: {name!r} is still cited; rewrite it by hand")
    return text, warnings


# -- the command ---------------------------------------------------------------------------------


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [
        p
        for p in out.splitlines()
        if p.startswith(SCOPES) and p not in OWN_DOCS and p not in EXEMPT and editable(p)
    ]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"] or tracked_files()
    counts: Counter[str] = Counter()
    changed: list[str] = []
    warnings: list[str] = []
    for rel in paths:
        file = ROOT / rel
        if not file.is_file() or rel in OWN_DOCS or rel in EXEMPT:
            continue
        try:
            old = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new, warned = rewrite(rel, old, counts)
        warnings += warned
        if new != old:
            changed.append(rel)
            if not check:
                file.write_text(new, encoding="utf-8")
    for w in warnings:
        print("warning:", w, file=sys.stderr)
    total = sum(n for name, n in counts.items() if name not in ("default declaration", "tidy"))
    verb = "would change" if check else "changed"
    print(f"{total} citations rewritten ({dict(sorted(counts.items()))}); {verb} {len(changed)}")
    for rel in changed:
        print("  " + rel)
    if any("still cited" in w for w in warnings):
        return 2
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
