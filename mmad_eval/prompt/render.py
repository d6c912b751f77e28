"""Render a jinja2 prompt template (top-level ``prompts/<name>.j2``) into typed messages.

A template emits plain text with placeholders: ``<<image:N>>`` (an image slot: template, query or hint
image, passed in as variables), ``<<role:NAME>>`` (starts a new message with that role; text before the
first role marker belongs to a ``user`` message) and ``<<part:break>>`` (ends a text part: the next text
is a separate part, as when a script sends a list of text parts). The renderer splits the
text on them and returns :class:`Message` objects with ordered :class:`TextPart` / :class:`ImagePart`.

Variables a template receives:
  ``references``   list of image placeholders of the normal templates (shown before the query)
  ``query``        the query image placeholder
  ``hint_image``   the expert hint image placeholder, or None
  ``hint_text``    the expert hint text, or None
  ``knowledge``    the category's domain knowledge text, or None
  ``questions``    list of {"number": 1.., "position": 1.., "text": str, "options": {letter: text}} in prompt
                   order (``number`` in this prompt, ``position`` in the image's conversation)
  ``mode``         "independent", "cumulative", "per-image" or "ad-then-rest"

A template whose first line is a comment holding ``mmad-eval: verbatim`` is rendered byte for byte: no
jinja block trimming, the trailing newline kept, and no whitespace stripped around messages or images (the
official-script presets in prompts/official/ need this). Other templates are trimmed for readability.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jinja2.meta

import mmad_eval

from ..errors import ConfigError
from .message import ImagePart, Message, TextPart

# The checkout's top-level prompts/ folder; a wheel ships the same files as mmad_eval/prompts_data.
_CHECKOUT_PROMPTS = Path(mmad_eval.__file__).resolve().parents[1] / "prompts"
PROMPT_DIR = (_CHECKOUT_PROMPTS if (_CHECKOUT_PROMPTS / "mmad.j2").is_file()
              else Path(mmad_eval.__file__).resolve().parent / "prompts_data")
_MARK = re.compile(r"<<(image|role|part):([A-Za-z0-9_-]+)>>")
VERBATIM = "mmad-eval: verbatim"


@dataclass(frozen=True)
class ImageSlot:
    sha256: str
    role: str          # "template" (a normal reference image: MMAD's word, kept because the role is part
                       # of every stored request's content and key) / "query" / "hint"
    label: str         # path relative to the data root, or a hint's name


class PromptTemplate:
    """One named template; ``sha256`` (of its source text) goes into the run record."""

    def __init__(self, name: str, prompt_dir: Path | None = None):
        self.dir = Path(prompt_dir) if prompt_dir else PROMPT_DIR
        path = self.dir / f"{name}.j2"
        if not path.is_file():
            known = sorted(p.stem for p in self.dir.glob("*.j2")) if self.dir.is_dir() else []
            raise ConfigError(f"no prompt template {path}; known: {', '.join(known) or 'none'}", culprit=name)
        self.name = name
        self.path = path
        self.source = path.read_text(encoding="utf-8")
        self.sha256 = hashlib.sha256(self.source.encode("utf-8")).hexdigest()
        self.verbatim = self.source.startswith("{#") and VERBATIM in self.source.split("#}", 1)[0]
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(self.dir)), undefined=jinja2.StrictUndefined,
                                 autoescape=False, keep_trailing_newline=self.verbatim,
                                 trim_blocks=not self.verbatim, lstrip_blocks=not self.verbatim)
        try:
            self._template = env.get_template(f"{name}.j2")
            self.variables = jinja2.meta.find_undeclared_variables(env.parse(self.source))
        except jinja2.TemplateSyntaxError as e:
            raise ConfigError(f"template syntax error line {e.lineno}: {e.message}", culprit=str(path)) from None

    def render(self, *, query: ImageSlot, questions: list[dict], mode: str = "independent",
               references: list[ImageSlot] = (), knowledge: str | None = None,
               hint_image: ImageSlot | None = None, hint_text: str | None = None) -> tuple[Message, ...]:
        for var, value in (("knowledge", knowledge), ("hint_text", hint_text), ("hint_image", hint_image)):
            if value and var not in self.variables:
                raise ConfigError(f"prompt template {self.name!r} has no place for {var.replace('_', ' ')} "
                                  "(the script it reproduces has none); drop that option", culprit=self.name)
        slots: list[ImageSlot] = []

        def mark(slot: ImageSlot) -> str:
            slots.append(slot)
            return f"<<image:{len(slots) - 1}>>"

        text = self._template.render(references=[mark(s) for s in references], query=mark(query),
                                     hint_image=mark(hint_image) if hint_image else None, hint_text=hint_text,
                                     knowledge=knowledge, questions=questions, mode=mode)
        return split_messages(text, slots, verbatim=self.verbatim)


def split_messages(text: str, slots: list[ImageSlot], verbatim: bool = False) -> tuple[Message, ...]:
    """Split rendered text on its placeholders into messages of ordered parts (blank text dropped and each
    message's outer whitespace stripped, unless ``verbatim``: then only empty text is dropped)."""
    messages: list[Message] = []
    role, parts, pos, used = "user", [], 0, set()

    def flush():
        if parts:
            ps = list(parts)
            if isinstance(ps[0], TextPart) and not verbatim:
                ps[0] = TextPart(ps[0].text.lstrip())
            if isinstance(ps[-1], TextPart) and not verbatim:
                ps[-1] = TextPart(ps[-1].text.rstrip())
            messages.append(Message(role=role, parts=tuple(p for p in ps if not isinstance(p, TextPart) or p.text)))

    for m in _MARK.finditer(text):
        chunk = text[pos:m.start()]
        if chunk.strip() or (chunk and (parts or verbatim)):
            parts.append(TextPart(chunk))
        pos = m.end()
        if m.group(1) == "role":
            flush()
            role, parts = m.group(2), []
        elif m.group(1) == "part":
            continue
        else:
            i = int(m.group(2))
            used.add(i)
            s = slots[i]
            parts.append(ImagePart(sha256=s.sha256, role=s.role, label=s.label))
    tail = text[pos:]
    if tail.strip() or (tail and verbatim):
        parts.append(TextPart(tail))
    flush()
    missing = [slots[i].label for i in range(len(slots)) if i not in used]
    if missing:
        raise ConfigError(f"the prompt template does not place image(s) {', '.join(missing)}", culprit="prompt")
    return tuple(messages)


def messages_to_text(messages) -> str:
    """A readable form with image placeholders (snapshot tests, reports): ``<image:role label>``."""
    out = []
    for msg in messages:
        body = "".join(p.text if isinstance(p, TextPart) else f"<image:{p.role} {p.label}>" for p in msg.parts)
        out.append(f"[{msg.role}]\n{body}")
    return "\n".join(out) + "\n"
