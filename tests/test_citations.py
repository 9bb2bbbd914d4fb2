"""Every citation resolves inside the repository, to a heading a reader can open.

The code, tests, charts and docs cite protocol sections (``docs/protocol.md §3.7``), the other
clients' behaviour (``docs/anchors.md §3.2``, pitfalls ``docs/anchors.md P12``) and the seed
note (``docs/seed-note.md, Persistence``). A bare ``§3.7`` belongs to the document named
before it in its clause, else to the file's declared default; external standards are cited
with their name (``RFC 9110 §10.2.3``). ``tools/rewrite_citations.py`` rewrites old forms into
these; its reader (``citations``) is what this test checks the tree with.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOL_PATH = ROOT / "tools" / "rewrite_citations.py"
THIS = "tests/test_citations.py"
#: These two name the old documents on purpose: they are what finds and rewrites them.
EXEMPT = {"tools/rewrite_citations.py", THIS}
SKIP_SUFFIXES = (".svg", ".png", ".jpg", ".gif", ".ico", ".sqlite", ".db", ".whl", ".gz")


def _load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("rewrite_citations", TOOL_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rewrite_citations"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tool: Any = _load_tool()


def _tracked() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        return out.splitlines()
    except (OSError, subprocess.CalledProcessError):  # an unpacked tree without git
        skip = {".git", ".venv", "node_modules", "demo-output", "build", "dist"}
        found = []
        for base, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
            found += [str(Path(base, f).relative_to(ROOT)) for f in files]
        return sorted(found)


@cache
def text_files() -> dict[str, str]:
    """Tracked text files (not binary, not SVG), by repository-relative path."""
    files: dict[str, str] = {}
    for rel in _tracked():
        path = ROOT / rel
        if rel.endswith(SKIP_SUFFIXES) or not path.is_file():
            continue
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


# -- what a cited document offers ----------------------------------------------------------------


class Headings:
    """The numbered sections, pitfall ids, named sections and numbered items of one page."""

    def __init__(self, text: str) -> None:
        self.numbers: set[str] = set()
        self.pitfalls: set[str] = set()
        self.names: set[str] = set()
        self.items: dict[str, set[str]] = {}
        current: str | None = None
        fenced = False
        for line in text.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            heading = re.match(r"#{1,6}\s+(.*)", line)
            if heading:
                title = heading.group(1).strip()
                self.names.add(title)
                number = re.match(r"§?(\d+(?:\.\d+)*)\.?(?:\s|$)", title)
                pitfall = re.match(r"(P\d+)\b", title)
                if number:
                    current = number.group(1)
                    self.numbers.add(current)
                    self.items.setdefault(current, set())
                elif pitfall:
                    self.pitfalls.add(pitfall.group(1))
                continue
            item = re.match(r"\s*(\d+)\.\s", line)
            if item and current is not None:
                self.items[current].add(item.group(1))


def headings_of(doc: str, files: dict[str, str]) -> Headings | None:
    return Headings(files[doc]) if doc in files else None


def problems(path: str, text: str, files: dict[str, str]) -> list[str]:
    """What does not resolve among the file's ``§N`` and ``P<n>`` citations."""
    found: list[str] = []
    for c in tool.citations(path, text):
        line = text.count("\n", 0, c.offset) + 1
        where = f"{path}:{line}: {'§' if c.kind == 'section' else ''}{c.ref}"
        if c.doc is None:
            found.append(f"{where}: names no document (and the file declares no default)")
            continue
        if not c.doc.startswith("docs/") and not c.doc.endswith(".md"):
            continue  # an external standard cited by name: RFC 9110 §10.2.3
        heads = headings_of(c.doc, files)
        if heads is None:
            found.append(f"{where}: cites {c.doc}, which is not in the repository")
        elif c.kind == "pitfall":
            if c.ref not in heads.pitfalls:
                found.append(f"{where}: {c.doc} has no pitfall {c.ref}")
        else:
            for ref in (c.ref, c.end):
                if ref is not None and ref not in heads.numbers:
                    found.append(f"{where}: {c.doc} has no section §{ref}")
            for item in c.items:
                top = item.split(".")[0]
                if c.ref in heads.numbers and top not in heads.items[c.ref]:
                    found.append(f"{where}: {c.doc} §{c.ref} has no item {top}")
    return found


# -- the tree ------------------------------------------------------------------------------------


def test_no_file_names_a_document_outside_the_repository() -> None:
    hits = [
        f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {name}"
        for rel, text in text_files().items()
        if rel not in EXEMPT
        for name in tool.FORBIDDEN
        for m in re.finditer(re.escape(name), text)
    ]
    assert hits == []


def test_every_section_and_pitfall_citation_resolves_to_a_heading() -> None:
    files = text_files()
    found = [
        p for rel, text in files.items() if rel not in EXEMPT for p in problems(rel, text, files)
    ]
    assert found == []


def test_the_tree_cites_all_three_documents() -> None:
    # Guards the reader itself: a reader that found nothing would pass the test above.
    docs = Counter(
        c.doc
        for rel, text in text_files().items()
        if rel not in EXEMPT
        for c in tool.citations(rel, text)
    )
    assert docs["docs/protocol.md"] > 100
    assert docs["docs/anchors.md"] > 20
    assert sum(n for doc, n in docs.items() if doc and doc.startswith("RFC")) >= 1


def test_no_section_sign_hides_in_code() -> None:
    """A ``§`` in a code string is neither read nor rewritten: citations live in comments,
    docstrings and pages."""
    hidden = []
    for rel, text in text_files().items():
        if rel in EXEMPT or "§" not in text:
            continue
        pieces = tool.pieces_of(rel, text) if tool.editable(rel) else []
        inside = sum(text[p.start : p.end].count("§") for p in pieces)
        if inside != text.count("§"):
            hidden.append(rel)
    assert hidden == []


def test_seed_note_citations_name_its_sections_and_quote_its_text() -> None:
    files = text_files()
    note = files["docs/seed-note.md"]
    sections = Headings(note).names
    flat_note = " ".join(note.split())
    bad = []
    for rel, text in files.items():
        if rel in EXEMPT:
            continue
        for m in re.finditer(r"docs/seed-note\.md(?:,\s*|\s+\()([A-Z][a-z]+)(?=[):;,.])", text):
            if m.group(1) not in sections:
                bad.append(f"{rel}: no section {m.group(1)!r}")
        for m in re.finditer(r'docs/seed-note\.md:\s*"([^"]+)"', text):
            quoted = " ".join(re.sub(r"\n\s*#:?", " ", m.group(1)).split())
            for part in quoted.split("..."):
                if part.strip(" ,.;") and part.strip(" ,.;") not in flat_note:
                    bad.append(f"{rel}: the seed note does not say {part.strip()!r}")
    assert bad == []


def test_every_docs_page_named_exists() -> None:
    files = text_files()
    missing = {
        f"{rel}: {m.group(0)}"
        for rel, text in files.items()
        if rel not in EXEMPT
        for m in re.finditer(r"(?<![\w/.-])docs/[\w-]+\.md(?!`?\]\(https?:)", text)
        if m.group(0) not in files
    }
    assert missing == set()


# -- the reader ----------------------------------------------------------------------------------

PAGES = {
    "docs/protocol.md": "## §3 API\n### §3.5 Paging\n### §3.8 Headers\n## §7 Notes\n1. a\n3. c\n",
    "docs/anchors.md": "## §3.4 Coll\n## §4 Desktop\n1. x\n2. y\n### P12 Backoff\n",
}


def _problems(text: str, path: str = "beacon/x.py") -> list[str]:
    return [p.split(": ", 2)[2] for p in problems(path, text, PAGES)]


def test_a_bare_citation_belongs_to_the_document_named_earlier_in_its_clause() -> None:
    text = '"""Contract (docs/anchors.md §3.4 ``Coll``, §4 item 2; docs/protocol.md §3.5)."""\n'
    assert [(c.doc, c.ref) for c in tool.citations("beacon/x.py", text)] == [
        ("docs/anchors.md", "3.4"),
        ("docs/anchors.md", "4"),
        ("docs/protocol.md", "3.5"),
    ]
    assert _problems(text) == []


def test_a_closed_parenthesis_or_a_sentence_ends_the_clause() -> None:
    text = (
        '"""A (docs/anchors.md §3.4) then §3.5. Then docs/anchors.md §4. And §3.8.\n\n'
        '§ numbers refer to docs/protocol.md.\n"""\n'
    )
    assert [c.doc for c in tool.citations("beacon/x.py", text)] == [
        "docs/anchors.md",
        "docs/protocol.md",
        "docs/anchors.md",
        "docs/protocol.md",
    ]


def test_unresolvable_citations_are_reported() -> None:
    assert _problems("# bare §3.5\nx = 1\n") == [
        "names no document (and the file declares no default)"
    ]
    assert _problems("# docs/protocol.md §9.1\n") == ["docs/protocol.md has no section §9.1"]
    assert _problems("# docs/anchors.md §4 item 7\n") == ["docs/anchors.md §4 has no item 7"]
    assert _problems("# docs/anchors.md P9 and P12\n") == ["docs/anchors.md has no pitfall P9"]
    assert _problems("# docs/gone.md §1\n") == [
        "cites docs/gone.md, which is not in the repository"
    ]
    assert _problems("# RFC 9110 §15.5 and docs/protocol.md §3.5-§3.8, §7 item 3\n") == []


def test_pitfall_lists_continue_across_comment_lines() -> None:
    text = "x = 1\n# the token server refuses them (docs/anchors.md P12,\n# P12), so nothing\n"
    assert [(c.doc, c.ref) for c in tool.citations("tests/x.py", text)] == [
        ("docs/anchors.md", "P12"),
        ("docs/anchors.md", "P12"),
    ]


# -- the rewriter --------------------------------------------------------------------------------

OLD = '''"""The storage client (sync15-protocol §3, §3.5).

Contract (seed/sync-state-machine-note.md; anchor-state-machines §2.3, §3.2, §8;
sync15-protocol §4.3): keys are dropped (seed note, Persistence).
"""

NOTE = "read the seed note"  # a code string: (seed note, protocol §3.5) stays as it is
CODE = "§ in code"
# Conditional writes (§3.8).
SQL = """
-- Token server users (protocol §1.4): a new client state or a node move makes a new row (uid);
-- the old row is marked replaced.
"""


def f() -> None:
    """The thing (anchor §3.3): desktop writes itself in (§4 item 11)."""
    return None  # pitfall P12: backoff is per server (anchor §7 P8, P11; protocol note §1.7)
'''


def test_the_rewriter_names_the_repository_documents_and_nothing_else() -> None:
    new, warnings = tool.rewrite("beacon/x.py", OLD, Counter())
    assert warnings == []
    assert "docs/protocol.md §3, §3.5" in new
    assert (
        "Contract (docs/seed-note.md; docs/anchors.md §2.3, §3.2, §8;\ndocs/protocol.md §4.3)"
        in new
    )
    assert "(docs/seed-note.md, Persistence)" in new
    assert 'NOTE = "read the seed note"' in new
    assert 'CODE = "§ in code"' in new
    assert "-- Token server users (docs/protocol.md §1.4): a new client state or a node" in new
    assert "(docs/anchors.md §3.3): desktop writes itself in (docs/anchors.md §4 item 11)" in new
    assert "docs/anchors.md P12: backoff is per server" in new
    assert "(docs/anchors.md P8, P11; docs/protocol.md §1.7)" in new
    assert "\n§ numbers refer to docs/protocol.md.\n" in new  # "§3.5" of the first line is bare
    assert all(len(line) <= 100 for line in new.splitlines())
    compile(new, "x.py", "exec")


def test_the_rewriter_is_idempotent() -> None:
    once, _ = tool.rewrite("beacon/x.py", OLD, Counter())
    twice, _ = tool.rewrite("beacon/x.py", once, Counter())
    assert twice == once


def test_the_rewriter_wraps_what_it_pushed_past_the_line_length() -> None:
    item = "* " + "w " * 37 + "(pitfall P12) to end"  # 96 columns, 104 once rewritten
    trailing = "x = 1  # " + "w " * 34 + "(anchor §3.4 a)"  # 92 columns, 101 once rewritten
    old = (
        f'"""Doc.\n\n{item}\n  and more.\n\n§ numbers refer to docs/protocol.md.\n"""\n{trailing}\n'
    )
    new, _ = tool.rewrite("beacon/x.py", old, Counter())
    assert all(len(line) <= 100 for line in new.splitlines())
    assert "\n  end and more.\n" in new  # the words flow into the next line of the item
    assert "\n# w w" in new  # the trailing comment moved above its code line
    assert new.rstrip().endswith("\nx = 1")
    compile(new, "x.py", "exec")
    assert tool.rewrite("beacon/x.py", new, Counter())[0] == new


def test_yaml_is_rewritten_in_comments_only() -> None:
    old = 'a: "protocol §3.8"   # protocol §3.8: a 412 means someone wrote first\n'
    new, _ = tool.rewrite("statecharts/x.yaml", old, Counter())
    assert new == 'a: "protocol §3.8"   # docs/protocol.md §3.8: a 412 means someone wrote first\n'


def test_a_name_the_rewriter_cannot_place_is_reported() -> None:
    new, warnings = tool.rewrite(
        "docs/x.md", "See ../shared/docs/design.md and anchor §3.2.\n", Counter()
    )
    assert new == "See ../shared/docs/design.md and docs/anchors.md §3.2.\n"
    assert warnings == ["docs/x.md:1: '../shared' is still cited; rewrite it by hand"]
