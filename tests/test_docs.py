"""The docs stay honest: links resolve, pages keep their shape, runnable blocks run.

- Every relative link (Markdown ``[text](target)`` and HTML ``src="..."``) in README.md and
  docs/**/*.md points to an existing file, and an ``#anchor`` into a Markdown file names
  one of its headings (GitHub's slugs).
- A README link whose text is a number (``[1.2 %](docs/password.md#accuracy)``) points to a
  page that shows that number.
- README.md has at most 250 lines; each docs page (not docs/notes/) opens with a summary of
  at most 3 lines and has the sections "What it decides", "How", "API and CLI", "Accuracy"
  and, last, "Limits".
- Fenced blocks tagged ``runnable`` (```` ```sh runnable ````, ```` ```python runnable ````)
  are executed: ``sh`` with bash in the repository root, the venv's ``bin`` first on
  ``PATH`` and a temporary ``LIPAUTH_DATA_DIR``; ``python`` with this interpreter in a
  temporary folder. ``needs=PATH`` (relative to the repository) skips the block when PATH
  is absent; ``fixture=password-takes`` first writes synthetic ``take1.mp4`` ..
  ``take3.mp4``, ``attempt.mp4`` and ``answer.mp4`` into that folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250
SECTIONS = ("What it decides", "How", "API and CLI", "Accuracy", "Limits")
BLOCK_TIMEOUT_S = 300

FENCE_RE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
LINK_RE = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SRC_RE = re.compile(r"""\b(?:src|href)=["']([^"']+)["']""")
INLINE_CODE_RE = re.compile(r"`[^`]*`")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` outside fenced code blocks, inline code removed."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for no, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if m:
            mark = m.group(2)
            if fence is None:
                fence = mark[0] * 3
            elif mark.startswith(fence):
                fence = None
            continue
        if fence is None:
            out.append((no, INLINE_CODE_RE.sub("", line)))
    return out


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    text: str
    target: str


def _links(page: Path) -> list[Link]:
    out: list[Link] = []
    for no, line in _prose_lines(page.read_text(encoding="utf-8")):
        out.extend(Link(page, no, m.group(1), m.group(2)) for m in LINK_RE.finditer(line))
        out.extend(Link(page, no, "", m.group(1)) for m in SRC_RE.finditer(line))
    return out


def _relative(link: Link) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", link.target, re.IGNORECASE) and not link.target.startswith("//")


def _resolve(link: Link) -> tuple[Path, str]:
    target, _, anchor = link.target.partition("#")
    path = (link.page.parent / target).resolve() if target else link.page
    return path, anchor


ALL_LINKS = [link for page in _pages() for link in _links(page) if _relative(link)]


def test_there_are_docs_and_links() -> None:
    assert (DOCS / "page.png").is_file()
    assert len(ALL_LINKS) > 50


@pytest.mark.parametrize("link", ALL_LINKS, ids=lambda lk: f"{_rel(lk.page)}:{lk.line}:{lk.target}")
def test_relative_link_resolves(link: Link) -> None:
    path, anchor = _resolve(link)
    assert path.exists(), f"{_rel(link.page)}:{link.line}: link {link.target!r} points to a missing file"
    assert ROOT in path.parents or path == ROOT, f"{_rel(link.page)}:{link.line}: {link.target!r} leaves the repository"
    if anchor and path.suffix == ".md":
        assert anchor in _anchors(path), (
            f"{_rel(link.page)}:{link.line}: {link.target!r}: no heading with anchor #{anchor} in {_rel(path)}"
        )


def _squash(text: str) -> str:
    return re.sub(r"[\s*]", "", text)


NUMBER_LINKS = [lk for lk in ALL_LINKS if lk.page == README and re.search(r"\d", lk.text) and lk.target.endswith(
    tuple(f".md#{a}" for a in ("accuracy", "limits")))]


@pytest.mark.parametrize("link", NUMBER_LINKS, ids=lambda lk: f"README.md:{lk.line}:{lk.text}")
def test_readme_numbers_are_on_the_page_they_link_to(link: Link) -> None:
    path, _ = _resolve(link)
    assert _squash(link.text) in _squash(path.read_text(encoding="utf-8")), (
        f"README.md:{link.line}: {link.text!r} is not on {_rel(path)}: update the README or the page"
    )


def test_readme_is_short() -> None:
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; keep it at most {MAX_README_LINES} (details go to docs/)"


DOC_PAGES = sorted(p for p in DOCS.glob("*.md"))


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_docs_page_shape(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("# "), f"{page.name}: start with a '# Title' line"
    body = lines[1:]
    while body and not body[0].strip():
        body.pop(0)
    summary = []
    for line in body:
        if not line.strip():
            break
        summary.append(line)
    assert summary and not summary[0].startswith(("#", "|", "```", "<", "-")), (
        f"{page.name}: the title must be followed by a summary paragraph"
    )
    assert len(summary) <= 3, f"{page.name}: the opening summary has {len(summary)} lines; keep it at 3"
    headings = [line[3:].strip() for _, line in _prose_lines("\n".join(lines)) if line.startswith("## ")]
    missing = [s for s in SECTIONS if s not in headings]
    assert not missing, f"{page.name}: missing sections {missing} (every page: {', '.join(SECTIONS)})"
    order = [headings.index(s) for s in SECTIONS]
    assert order == sorted(order), f"{page.name}: sections out of order {headings}; expected {SECTIONS}"
    assert headings[-1] == "Limits", f"{page.name}: the page must end with its '## Limits' section, not {headings[-1]!r}"


# --------------------------------------------------------------------------------------
# runnable blocks


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    options: dict[str, str]
    code: str


def _blocks(page: Path) -> list[Block]:
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        mark, info = m.group(2), m.group(3).split()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(mark):
            j += 1
        if len(info) >= 2 and "runnable" in info[1:]:
            opts = dict(w.split("=", 1) for w in info[1:] if "=" in w)
            out.append(Block(page, i + 1, info[0], opts, "\n".join(lines[i + 1:j]) + "\n"))
        i = j + 1
    return out


BLOCKS = [b for page in _pages() for b in _blocks(page)]


def test_runnable_blocks_are_few() -> None:
    assert 1 <= len(BLOCKS) <= 8, f"{len(BLOCKS)} runnable blocks; keep them few and cheap"
    for b in BLOCKS:
        assert b.lang in ("sh", "python"), f"{_rel(b.page)}:{b.line}: runnable block in {b.lang!r}; use sh or python"
        assert set(b.options) <= {"needs", "fixture"}, f"{_rel(b.page)}:{b.line}: unknown options {b.options}"


def _password_takes(folder: Path) -> None:
    """Synthetic clips for the README's Python example (3 takes, an attempt, an answer)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from password_synth import render_take

    from lipauth.synth import make_talking_clip

    for i in range(3):
        render_take("A", seed=i, path=str(folder / f"take{i + 1}.mp4"))
    render_take("A", seed=5, speed=1.1, path=str(folder / "attempt.mp4"))
    make_talking_clip(str(folder / "answer.mp4"), duration_s=4.0, fps=25.0, size=(320, 240), audio="syllables", seed=3)


FIXTURES = {"password-takes": _password_takes}


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{_rel(b.page)}:{b.line}")
def test_runnable_block_runs(block: Block, tmp_path: Path) -> None:
    needs = block.options.get("needs")
    if needs and not (ROOT / needs).exists():
        pytest.skip(f"{_rel(block.page)}:{block.line} needs {needs}, which is absent")
    work = tmp_path / "work"
    work.mkdir()
    fixture = block.options.get("fixture")
    if fixture:
        assert fixture in FIXTURES, f"{_rel(block.page)}:{block.line}: unknown fixture {fixture!r}; one of {sorted(FIXTURES)}"
        FIXTURES[fixture](work)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["LIPAUTH_DATA_DIR"] = str(tmp_path / "data")
    if block.lang == "sh":
        cmd, cwd = ["bash", "-e", "-o", "pipefail", "-c", block.code], ROOT
    else:
        cmd, cwd = [sys.executable, "-c", block.code], work
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False)
    assert proc.returncode == 0, (
        f"{_rel(block.page)}:{block.line}: the runnable block failed (exit {proc.returncode}):\n{block.code}\n"
        f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
