"""The Docker build context, as the .dockerignore rules make it, without Docker.

Why: the image's build stage sees only this context, so the wheel test builds from a copy made by
the same rules; a file the build needs but the rules leave out fails here, not in a registry.

Docker's rules, as far as ours use them: one pattern a line, `#` comments, paths from the
context's root, `*` and `?` within one path part, `**` across parts, a pattern that names a folder
leaves out everything in it, `!` takes a path back in, the last matching line decides.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    prefix: str  # the literal start of the pattern, to tell whether it can reach into a folder
    keep: bool  # a `!` line


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def rules(dockerignore: Path = REPO / ".dockerignore") -> list[Rule]:
    found = []
    for raw in dockerignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        prefix = re.split(r"[*?\[]", pattern)[0]
        found.append(Rule(_regex(pattern), prefix, keep))
    return found


def left_out(path: str, found: list[Rule]) -> bool:
    """Whether `path` (relative, `/`-separated) stays out of the context."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    out = False
    for rule in found:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            out = not rule.keep
    return out


def context_files(root: Path = REPO) -> list[str]:
    """The files (and links) of `root` that the build context holds, relative, `/`-separated."""
    found = rules(root / ".dockerignore")
    kept: list[str] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder).relative_to(root)
        for name in list(dirs):
            path = (here / name).as_posix()
            taken_back = any(r.keep and r.prefix.startswith(path + "/") for r in found)
            if (root / path).is_symlink() or (left_out(path, found) and not taken_back):
                dirs.remove(name)  # a link to a folder is copied as a link, not walked
                if (root / path).is_symlink():
                    files.append(name)
        kept += [p for p in ((here / name).as_posix() for name in files) if not left_out(p, found)]
    return sorted(kept)


def copy_context(destination: Path, root: Path = REPO) -> list[str]:
    """Copy what the build context holds into `destination` (links as links); returns the files."""
    files = context_files(root)
    for path in files:
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, target, follow_symlinks=False)
    return files
