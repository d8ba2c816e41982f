"""Apertium: rule-based, offline MT from Debian packages (``apt-get install apertium apertium-eng-spa``).

English→X directions shipped by Debian 12 (checked by installing each package and listing its modes):

=========  =====================  ==================  ====================================
code       mode                   package             note
=========  =====================  ==================  ====================================
es         eng-spa                apertium-eng-spa
ca         eng-cat                apertium-eng-cat    also eng-cat_valencia (and _uni, _iec2017)
gl         en-gl                  apertium-en-gl
eo         en-eo                  apertium-eo-en
hbs        eng-hbs                apertium-hbs-eng    low coverage: many words stay English
sr/hr/bs   eng-hbs_SR/_HR/_BS     apertium-hbs-eng    same data, local lexical choices
=========  =====================  ==================  ====================================

``apertium-eu-en``, ``apertium-isl-eng`` and ``apertium-mkd-eng`` only translate *into* English.
Other installed ``eng-xxx``/``en-xx`` modes are picked up automatically.

How a batch is translated: each sentence is escaped into Apertium's stream format, terminated by an
empty superblank ``[]`` (so no word can swallow the end, which stalls some modes) and a NUL; the
pair's pipeline runs once per translator in null-flush mode (``apertium-wblank-mode -z``), so every
NUL comes back exactly once, no rule can move text across sentences, and the dictionaries are loaded
once. Every returned segment must carry its ``[]`` exactly once and a sentinel sentence closing each
batch must come back unchanged, so line alignment is checked, not assumed. Some pairs crash on rare
sentences (``apertium-postchunk`` segfaults in en-gl on "Though many had tried to approach him, Lord
Wade was often cold and emotionless."; plain ``apertium en-gl`` silently prints nothing for it and
for every later line): the intact prefix is kept, the culprit is retried alone and left empty
(counted by the ``empty`` filter) if it fails again, and a fresh pipeline goes on with the rest.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ...errors import ConfigError, DataError, UnknownLanguageError
from ...langs import ISO3_TO_ISO1, canonical
from ..readers import resolve_code
from .base import fingerprint_files

log = logging.getLogger(__name__)

DEFAULT_DATADIR = "/usr/share/apertium"
# code -> (mode, Debian package)
KNOWN_PAIRS: dict[str, tuple[str, str]] = {
    "es": ("eng-spa", "apertium-eng-spa"),
    "ca": ("eng-cat", "apertium-eng-cat"),
    "gl": ("en-gl", "apertium-en-gl"),
    "eo": ("en-eo", "apertium-eo-en"),
    "hbs": ("eng-hbs", "apertium-hbs-eng"),
    "sr": ("eng-hbs_SR", "apertium-hbs-eng"),
    "hr": ("eng-hbs_HR", "apertium-hbs-eng"),
    "bs": ("eng-hbs_BS", "apertium-hbs-eng"),
}
# Packages that exist but only translate into English.
INTO_ENGLISH_ONLY = {"eu": "apertium-eu-en", "is": "apertium-isl-eng", "mk": "apertium-mkd-eng"}

_ESCAPE = set("\\[]^$/@<>{}")
_SENTINEL = "zqxsync 7319"
_MODE_RE = re.compile(r"^(?:en|eng)-([a-z]{2,3})(?:_([A-Za-z]+))?$")
_MARKED = re.compile(r"[*#@]")


def apertium_available() -> bool:
    return shutil.which("apertium") is not None and shutil.which("apertium-wblank-mode") is not None


def datadir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("APERTIUM_DATADIR") or DEFAULT_DATADIR)


def installed_modes(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Installed translation directions (what ``apertium -l`` lists)."""
    modes = datadir(data_dir) / "modes"
    return sorted(p.stem for p in modes.glob("*.mode")) if modes.is_dir() else []


def english_targets(data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Installed English→X directions as ``{code: mode}``: the known table, plus any other
    ``eng-xxx``/``en-xx`` mode (code from its name; variants like ``eng-cat_valencia`` are left to
    explicit ``mode_overrides``)."""
    modes = set(installed_modes(data_dir))
    out = {code: mode for code, (mode, _) in KNOWN_PAIRS.items() if mode in modes}
    known_modes = {mode for mode, _ in KNOWN_PAIRS.values()}
    for mode in sorted(modes - known_modes):
        m = _MODE_RE.match(mode)
        if not m or m.group(2):
            continue
        code = m.group(1)
        code = ISO3_TO_ISO1.get(code, code)
        out.setdefault(code, mode)
    return out


def escape(text: str) -> str:
    """Plain text → Apertium stream format (one sentence, no line breaks)."""
    out = []
    for ch in " ".join(text.replace("\0", " ").split()):
        if ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "~":  # the generator eats '~' even when escaped; a superblank passes it through
            out.append("[~]")
        else:
            out.append(ch)
    return "".join(out)


def unescape(text: str) -> str:
    """Stream format → plain text: drop backslash escapes, keep superblank contents."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif ch == "[":
            j = i + 1
            while j < n and text[j] != "]":
                j += 2 if text[j] == "\\" else 1
            out.append(unescape(text[i + 1 : j]))
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def strip_markers(output: str, source: str) -> str:
    """Remove Apertium's unknown/untranslatable-word marks (``*word``, ``@word``, ``#word``,
    ``go#``) unless the marked token is in the source as is (a real hashtag, an address)."""
    src_tokens = set(source.split())
    words = []
    for tok in output.split():
        if _MARKED.search(tok) and tok not in src_tokens:
            tok = re.sub(r"(?<!\S)[*@#]+|(?<=\w)#", "", tok)
        if tok:
            words.append(tok)
    return " ".join(words)


def _split_segment(raw: bytes) -> tuple[str, bool]:
    """A returned segment → (text in stream format without our end marker, whether the marker — the
    one empty superblank ``[]`` we put after each sentence — came back exactly once)."""
    text = raw.decode("utf-8", "replace")
    out, found = [], 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i : i + 2])
            i += 2
        elif ch == "[" and text.startswith("[]", i):
            found += 1
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out), found == 1


def pipeline_commands(script: str, mode: str) -> list[list[str]]:
    """The stages of a mode's shell pipeline as argument lists, with ``$1`` = ``-n`` (no unknown-word
    marks) and ``$2`` (tagger option) dropped. Anything beyond plain ``a | b | c`` runs under bash."""
    lex = shlex.shlex(script, posix=True, punctuation_chars="|")
    lex.whitespace_split = True
    try:
        tokens = list(lex)
    except ValueError:
        tokens = ["<unparsable>"]
    stages: list[list[str]] = [[]]
    for tok in tokens:
        if tok == "|":
            stages.append([])
        elif tok == "$1":
            stages[-1].append("-n")
        elif tok != "$2":
            stages[-1].append(tok)
    if any(not st or any(ch in tok for tok in st for ch in "<>;&`$(){}*?") for st in stages):
        return [["bash", "-c", script, f"apertium-{mode}", "-n", ""]]
    return stages


class _Pipe:
    """One running Apertium pipeline in null-flush mode, one process per stage (so that a stage that
    dies ends the output at once instead of leaving a waiting shell holding it open)."""

    def __init__(self, commands: list[list[str]], mode: str):
        self.mode = mode
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, LC_ALL="C.UTF-8")
        self.procs: list[subprocess.Popen] = []
        prev = subprocess.PIPE
        try:
            for cmd in commands:
                proc = subprocess.Popen(cmd, stdin=prev, stdout=subprocess.PIPE, stderr=self.stderr, env=env)
                if self.procs:
                    self.procs[-1].stdout.close()  # only the next stage holds it now
                self.procs.append(proc)
                prev = proc.stdout
        except OSError as e:
            self.kill()
            raise DataError(f"cannot start the apertium {mode} pipeline: {e}") from None
        self.stdin = self.procs[0].stdin
        self.stdout = self.procs[-1].stdout

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def error_tail(self) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read()[-300:].decode("utf-8", "replace").strip()
        except ValueError:
            return ""

    def run(
        self, payload: bytes, expect: int, stall_timeout: float, close_input: bool = False
    ) -> tuple[list[bytes], bool]:
        """Write ``payload``; read until ``expect`` NUL-terminated segments came back, the pipeline
        exits, or nothing arrives for ``stall_timeout`` s. Returns (segments, finished normally)."""

        def write():
            try:
                self.stdin.write(payload)
                self.stdin.flush()
                if close_input:
                    self.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        buf = bytearray()
        seen = 0
        fd = self.stdout.fileno()
        ok = True
        while seen < expect:
            ready, _, _ = select.select([fd], [], [], stall_timeout)
            chunk = os.read(fd, 1 << 20) if ready else b""
            if not chunk:  # stalled or exited
                ok = False
                break
            seen += chunk.count(b"\0")
            buf += chunk
        if not ok:
            self.kill()
        writer.join()
        parts = bytes(buf).split(b"\0")
        if ok and (len(parts) != expect + 1 or parts[-1]):
            ok = False
        return parts[:-1], ok

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
            for f in (p.stdin, p.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass

    def close(self) -> None:
        try:
            self.stdin.close()
            self.procs[-1].wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.kill()
        self.stderr.close()


class ApertiumTranslator:
    """English → X with Apertium. ``mode_overrides`` maps a code to another installed English→X mode
    (``{"ca": "eng-cat_valencia"}``, ``{"ca-valencia": "eng-cat_valencia"}``)."""

    name = "apertium"
    default_batch_size = 1000

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        mode_overrides: dict[str, str] | None = None,
        stall_timeout: float = 30.0,
        keep_markers: bool = False,
    ):
        if not apertium_available():
            raise ConfigError("apertium is not installed: apt-get install apertium apertium-eng-spa (etc.)")
        self.data_dir = datadir(data_dir)
        self.targets = english_targets(self.data_dir)
        modes = set(installed_modes(self.data_dir))
        for code, mode in (mode_overrides or {}).items():
            if mode not in modes:
                raise ConfigError(
                    f"apertium mode {mode!r} is not installed; installed: {', '.join(sorted(modes))}"
                )
            self.targets[code] = mode
        self.stall_timeout = stall_timeout
        self.keep_markers = keep_markers
        self._pipes: dict[str, _Pipe] = {}
        self._scripts: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.model_id = "apertium"
        self.options = {"markers": keep_markers}

    # -- languages -------------------------------------------------------------------------------
    def supported_targets(self) -> list[str]:
        return sorted(self.targets)

    def resolve_target(self, lang: str) -> str:
        if lang in self.targets:
            return lang
        key = canonical(lang)
        for code in self.targets:
            if canonical(code) == key:
                return code
        for code, (mode, package) in KNOWN_PAIRS.items():
            if canonical(code) == key:
                raise ConfigError(
                    f"apertium pair for {lang!r} ({mode}) is not installed: apt-get install {package} "
                    f"(installed English→X: {', '.join(self.supported_targets()) or 'none'})"
                )
        for code, package in INTO_ENGLISH_ONLY.items():
            if canonical(code) == key:
                raise ConfigError(
                    f"{package} only translates {code}→en, not en→{code}; "
                    f"apertium English→X here: {', '.join(self.supported_targets()) or 'none'}"
                )
        raise UnknownLanguageError(lang, self.supported_targets(), "apertium (English→X modes installed)")

    def mode_for(self, tgt: str) -> str:
        return self.targets[resolve_code(tgt, self.targets, where="apertium")]

    def model_id_for(self, tgt: str) -> str:
        """Mode name + fingerprint of its data files: a package update invalidates the cache."""
        mode = self.mode_for(tgt)
        text = (self.data_dir / "modes" / f"{mode}.mode").read_text(encoding="utf-8")
        files = re.findall(r"'(/[^']+)'", text)
        return f"apertium:{mode}:{fingerprint_files(files)}"

    # -- translation -----------------------------------------------------------------------------
    def _commands(self, mode: str) -> list[list[str]]:
        return pipeline_commands(self._script(mode), mode)

    def _script(self, mode: str) -> str:
        if mode not in self._scripts:
            path = self.data_dir / "modes" / f"{mode}.mode"
            res = subprocess.run(["apertium-wblank-mode", "-z", str(path)], capture_output=True, text=True)
            if res.returncode != 0 or not res.stdout.strip():
                raise DataError(f"apertium-wblank-mode failed for {mode}: {res.stderr.strip()[:300]}")
            self._scripts[mode] = res.stdout.strip()
        return self._scripts[mode]

    def translate(self, texts: list[str], tgt: str) -> list[str]:
        if not texts:
            return []
        mode = self.mode_for(tgt)
        raw: list[str] = []
        rest = list(texts)
        while rest:
            got, complete = self._stream(mode, rest)
            raw += got
            if complete:
                break
            # The pipeline crashed or stalled on rest[len(got)]: try it alone, go on after it.
            bad = rest[len(got)]
            single = self._single(mode, bad)
            if single is None:
                self.failures[mode] = self.failures.get(mode, 0) + 1
                log.warning(
                    "apertium %s crashes or stalls on this sentence; left untranslated: %r", mode, bad[:200]
                )
                single = ""
            raw.append(single)
            rest = rest[len(got) + 1 :]
        return [self._clean(r, src) for r, src in zip(raw, texts)]

    def _stream(self, mode: str, texts: list[str]) -> tuple[list[str], bool]:
        """Outputs for the longest prefix of ``texts`` that came back intact, and whether that is all."""
        pipe = self._pipes.get(mode)
        if pipe is None or not pipe.alive():
            pipe = self._pipes[mode] = _Pipe(self._commands(mode), mode)
        payload = "".join(escape(t) + "[]\0" for t in [*texts, _SENTINEL]).encode("utf-8")
        parts, finished = pipe.run(payload, len(texts) + 1, self.stall_timeout)
        segments = []
        for part in parts[: len(texts)]:
            text, marked = _split_segment(part)
            if not marked:
                break
            segments.append(text)
        sentinel_ok = (
            finished
            and len(parts) == len(texts) + 1
            and " ".join(unescape(_split_segment(parts[-1])[0]).split()) == _SENTINEL
        )
        if not sentinel_ok:
            log.debug("apertium %s: restarting the pipeline (%s)", mode, pipe.error_tail() or "no output")
            pipe.kill()
            del self._pipes[mode]
        return segments, len(segments) == len(texts)

    def _single(self, mode: str, text: str) -> str | None:
        """One sentence in a fresh pipeline that reads to end of input; None if it still fails."""
        pipe = _Pipe(self._commands(mode), mode)
        try:
            parts, _ = pipe.run(
                (escape(text) + "[]\0").encode("utf-8"), 1, self.stall_timeout, close_input=True
            )
        finally:
            pipe.close()
        if not parts:
            return None
        segment, marked = _split_segment(parts[0])
        return segment if marked else None

    def _clean(self, raw: str, source: str) -> str:
        text = " ".join(unescape(raw).split())
        return text if self.keep_markers else strip_markers(text, source)

    def close(self) -> None:
        for pipe in self._pipes.values():
            pipe.close()
        self._pipes.clear()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
