"""``## template: jinja`` user-data parts, rendered as cloud-init renders them (pure).

The variables are the instance-data (``instance-data-sensitive.json``'s shape): every
``v1`` key is also a top-level name, and a key holding an operator (``-`` or ``.``)
gets an alias with ``_`` in its place (``local-hostname`` -> ``local_hostname``).
Rendering runs in jinja2's sandbox, so a template can read data but not reach
Python internals. A variable that is not there renders as
``CI_MISSING_JINJA_VAR/<name>`` (cloud-init's marker) and is reported.
"""

from __future__ import annotations

import copy
import re

HEADER = re.compile(rb"^##[ \t]*template:[ \t]*jinja[ \t]*\r?\n", re.I)
MISSING = "CI_MISSING_JINJA_VAR/"


class TemplateError(ValueError):
    """The template cannot be rendered (syntax, sandbox refusal, type error): the part is skipped."""


def is_template(data: bytes) -> bool:
    return bool(HEADER.match(data.lstrip(b"\r\n")))


def variables(instance_data: dict) -> dict:
    """The names a template sees (cloud-init's convert_jinja_instance_data with key aliases)."""
    from jinja2 import lexer

    def convert(data: dict) -> dict:
        out: dict = {}
        for key, value in sorted(data.items(), key=lambda kv: str(kv[0])):
            key = str(key)
            out[key] = convert(value) if isinstance(value, dict) else value
            if isinstance(value, dict) and re.fullmatch(r"v\d+", key):
                for sub, subval in out[key].items():
                    out[sub] = copy.deepcopy(subval)
            alias = re.sub(lexer.operator_re, "_", key)
            if alias != key:
                out[alias] = copy.deepcopy(out[key])
        return out

    return convert(instance_data)


def render(data: bytes, names: dict, source: str) -> tuple[bytes, list[str]]:
    """(rendered bytes without the header line, warnings); TemplateError when it cannot render."""
    from jinja2 import DebugUndefined, TemplateSyntaxError, exceptions
    from jinja2.sandbox import SandboxedEnvironment

    class Missing(DebugUndefined):
        def __str__(self) -> str:
            return f"{MISSING}{self._undefined_name}"

    body = HEADER.sub(b"", data.lstrip(b"\r\n"), count=1)
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{source}: template is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    env = SandboxedEnvironment(undefined=Missing, keep_trailing_newline=True, autoescape=False)
    try:
        out = env.from_string(text).render(**names)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{source}: jinja syntax error on line {(exc.lineno or 0) + 1}: {exc.message}") from None
    except (TypeError, ValueError, exceptions.UndefinedError, exceptions.SecurityError) as exc:
        raise TemplateError(f"{source}: jinja template not rendered: {' '.join(str(exc).split())[:200]}") from None
    missing = sorted(set(re.findall(re.escape(MISSING) + r"[^\s'\"]+", out)))
    warns = [f"{source}: jinja variables not found (rendered as {MISSING}<name>): "
             + ", ".join(m[len(MISSING):] for m in missing)] if missing else []
    return out.encode(), warns
