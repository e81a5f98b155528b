"""WAVE, the WebAssembly Value Encoding, read and written against WIT types.

WAVE is the text form ``wasmtime run --invoke`` and wasm-tools use: ``true``, ``-7``,
``3.5``/``nan``/``-inf``, ``'x'``, ``"text"`` (and ``\"\"\"`` multiline strings), ``[1, 2]``,
``(1, "a")``, ``{field: 1, other: none}``, ``case(payload)``, ``enum-case``, ``some(x)``/``none``
(or a bare ``x`` meaning ``some(x)`` unless the payload is itself an option), ``ok(x)``/``err(e)``
(or a bare ok payload unless it is itself a result), ``{flag-a, flag-b}``. Trailing commas,
whitespace and ``//`` comments are allowed; a label that is a keyword (``true``, ``false``,
``inf``, ``nan``, ``some``, ``none``, ``ok``, ``err``) is written ``%none``. Record fields of
option type may be omitted (meaning none); an empty record is ``{:}`` or ``{}``.

Parsing is typed, so errors say what the type wanted: ``at 14: expected u32, found string "x"``.
The printer, :mod:`host.values.wave_print`, writes one canonical form that this parser reads
back to the same value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from host.values.types import (
    INT_RANGES,
    U8,
    Case,
    EnumT,
    FlagsT,
    ListT,
    OptionT,
    Prim,
    RecordT,
    ResourceRef,
    ResultT,
    Some,
    TupleT,
    Value,
    ValuesError,
    VariantT,
    WitType,
    describe,
    is_scalar_char,
    round_f32,
    show,
    variant_cases,
)
from host.values.wave_print import KEYWORDS

_LABEL = re.compile(r"%?[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z][A-Za-z0-9]*)*")
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9a-fA-F]{1,6})\}")
_MULTILINE_OPEN = re.compile(r"[ \t]*\r?\n")
_MULTILINE_CLOSE = re.compile(r'( *)"""')
_WS = " \t\r\n"
_T = TypeVar("_T")


class WaveError(ValuesError):
    """Malformed or ill-typed WAVE text; ``offset`` is the character offset of the problem."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"at {offset}: {message}")
        self.offset = offset
        self.message = message


class _Parser:
    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.pos = 0
        self.base = base  # added to offsets so errors point into the caller's larger text

    # --- lexing ------------------------------------------------------------------------

    def error(self, message: str, at: int | None = None) -> WaveError:
        return WaveError(self.base + (self.pos if at is None else at), message)

    def skip_ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            if text[self.pos] in _WS:
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            else:
                break

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def eat(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char: str, what: str | None = None) -> None:
        if not self.eat(char):
            raise self.error(f"expected {what or repr(char)}, found {self.found()}")

    def found(self) -> str:
        """Describe the token at the cursor, for 'expected X, found Y' messages."""
        c, start = self.peek(), self.pos
        try:
            if not c:
                return "end of input"
            if c == '"':
                return f"string {show(self.string())}"
            if c == "'":
                return f"char {self.char_literal()!r}"
            if self.text.startswith("-inf", start) or _NUMBER.match(self.text, start):
                return f"number {self.number_text()}"
            label = _LABEL.match(self.text, start)
            if label:
                word = label.group()
                return f"{'keyword' if word in KEYWORDS else 'label'} {word}"
        except WaveError:
            return "a malformed literal"
        finally:
            self.pos = start
        return repr(c)

    def label(self) -> tuple[str, bool] | None:
        """The label at the cursor as (name, was-%-escaped), consumed; None if there is none."""
        self.skip_ws()
        m = _LABEL.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        word = m.group()
        return (word[1:], True) if word.startswith("%") else (word, False)

    def keyword(self, word: str) -> bool:
        """Consume the unescaped keyword ``word`` if it is next."""
        self.skip_ws()
        m = _LABEL.match(self.text, self.pos)
        if m and m.group() == word:
            self.pos = m.end()
            return True
        return False

    def number_text(self) -> str:
        self.skip_ws()
        if self.text.startswith("-inf", self.pos):
            self.pos += 4
            return "-inf"
        m = _NUMBER.match(self.text, self.pos)
        if not m:
            raise self.error("expected a number")
        self.pos = m.end()
        return m.group()

    def escape(self) -> str:
        # The cursor is just past a backslash.
        c = self.text[self.pos : self.pos + 1]
        if c in _ESCAPES:
            self.pos += 1
            return _ESCAPES[c]
        m = _UNICODE_ESCAPE.match(self.text, self.pos)
        if not m:
            raise self.error("invalid escape (use \\n \\r \\t \\\\ \\' \\\" or \\u{hex})")
        code = int(m.group(1), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise self.error(f"\\u{{{m.group(1)}}} is not a Unicode scalar value")
        self.pos = m.end()
        return chr(code)

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated literal", start)
            c = self.text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if c == "\\":
                out.append(self.escape())
            elif c == "\n":
                raise self.error("line break inside a literal (write \\n)", self.pos - 1)
            else:
                out.append(c)

    def char_literal(self) -> str:
        start = self.pos
        s = self.quoted("'")
        if not is_scalar_char(s):
            raise self.error(f"a char literal holds exactly one character, found {show(s)}", start)
        return s

    def string(self) -> str:
        self.skip_ws()
        if self.text.startswith('"""', self.pos):
            return self.multiline()
        return self.quoted('"')

    def multiline(self) -> str:
        start = self.pos
        self.pos += 3
        m = _MULTILINE_OPEN.match(self.text, self.pos)
        if not m:
            raise self.error('a """ string starts with a line break', self.pos)
        self.pos = m.end()
        lines: list[tuple[int, str]] = []  # (raw leading spaces, decoded text)
        while True:
            close = _MULTILINE_CLOSE.match(self.text, self.pos)
            if close:
                self.pos = close.end()
                indent = len(close.group(1))
                # The closing delimiter's indentation is stripped from every line.
                return "\n".join(text[min(lead, indent) :] for lead, text in lines)
            lead = len(self.text) - self.pos - len(self.text[self.pos :].lstrip(" "))
            line: list[str] = []
            while True:
                if self.pos >= len(self.text):
                    raise self.error('unterminated """ string', start)
                c = self.text[self.pos]
                self.pos += 1
                if c == "\n":
                    break
                if c == "\\":
                    line.append(self.escape())
                elif not (c == "\r" and self.text.startswith("\n", self.pos)):
                    line.append(c)
            lines.append((lead, "".join(line)))

    def skip_value(self) -> None:
        """Skip one value without a type (to count surplus arguments)."""
        c = self.peek()
        if c in ('"', "'"):
            self.string() if c == '"' else self.quoted("'")
        elif c in "([{" and c:
            closers = {"(": ")", "[": "]", "{": "}"}
            stack = [closers[c]]
            self.pos += 1
            while stack:
                c = self.peek()
                if not c:
                    raise self.error(f"expected {stack[-1]!r}, found end of input")
                if c in ('"', "'"):
                    self.string() if c == '"' else self.quoted("'")
                    continue
                self.pos += 1
                if c in closers:
                    stack.append(closers[c])
                elif c == stack[-1]:
                    stack.pop()
        elif self.label():
            if self.peek() == "(":
                self.skip_value()
        elif self.text.startswith("-inf", self.pos) or _NUMBER.match(self.text, self.pos):
            self.number_text()
        else:
            raise self.error(f"expected a value, found {self.found()}")

    # --- typed values ------------------------------------------------------------------

    def value(self, ty: WitType) -> Value:
        self.skip_ws()
        if isinstance(ty, Prim):
            return self.prim(ty.kind)
        if isinstance(ty, ListT):
            self.expect("[", describe(ty))
            items = self.seq("]", lambda _: self.value(ty.elem))
            return bytes(cast(list[int], items)) if ty.elem == U8 else items
        if isinstance(ty, TupleT):
            return self.tuple(ty)
        if isinstance(ty, RecordT):
            return self.record(ty)
        if isinstance(ty, FlagsT):
            return self.flags(ty)
        if isinstance(ty, EnumT):
            start = self.pos
            label = self.label()
            if label is None or label[0] not in ty.names:
                self.pos = start
                raise self.error(f"expected {describe(ty)}, found {self.found()}")
            return label[0]
        if isinstance(ty, OptionT):
            if self.keyword("none"):
                return None
            if self.keyword("some"):
                return Some(self.payload(ty.payload))
            if isinstance(ty.payload, OptionT):
                raise self.error(
                    f"expected {describe(ty)} (none or some(...)), found {self.found()}"
                )
            return Some(self.value(ty.payload))
        if isinstance(ty, VariantT | ResultT):
            return self.case(ty)
        # A handle of an exported resource: Golem's handle text, as a string literal.
        self.skip_ws()
        start = self.pos
        if not self.text.startswith('"', self.pos):
            raise self.error(
                f'expected {describe(ty)} as a handle string "<uri>/<number>", found {self.found()}'
            )
        text = self.string()
        try:
            return ResourceRef.parse(text)
        except ValueError as exc:
            raise self.error(f"{describe(ty)}: {exc}", start) from None

    def prim(self, kind: str) -> Value:
        start = self.pos
        if kind == "bool":
            for word, truth in (("true", True), ("false", False)):
                if self.keyword(word):
                    return truth
        elif kind in INT_RANGES:
            m = _NUMBER.match(self.text, self.pos)
            if m and not m.group(1) and not m.group(2):
                self.pos = m.end()
                lo, hi = INT_RANGES[kind]
                if not lo <= int(m.group()) <= hi:
                    raise self.error(f"{kind} out of range ({lo}..={hi}): {m.group()}", start)
                return int(m.group())
        elif kind in ("f32", "f64"):
            for word, special in (("nan", math.nan), ("inf", math.inf)):
                if self.keyword(word):
                    return special
            if self.text.startswith("-inf", start) or _NUMBER.match(self.text, start):
                text = self.number_text()
                number = float(text)
                try:
                    rounded = round_f32(number) if kind == "f32" else number
                except OverflowError:
                    rounded = math.inf
                if math.isinf(rounded) and "inf" not in text:
                    raise self.error(f"{kind} out of range: {text}", start)
                return rounded
        elif kind == "char":
            if self.peek() == "'":
                return self.char_literal()
        elif self.peek() == '"':
            return self.string()
        raise self.error(f"expected {kind}, found {self.found()}")

    def seq(self, close: str, item: Callable[[int], _T]) -> list[_T]:
        """Comma-separated items up to ``close``, trailing comma allowed."""
        items: list[_T] = []
        while not self.eat(close):
            items.append(item(len(items)))
            if not self.eat(","):
                self.expect(close, f"',' or {close!r}")
                break
        return items

    def tuple(self, ty: TupleT) -> Value:
        start = self.pos
        self.expect("(", describe(ty))

        def element(i: int) -> Value:
            if i >= len(ty.elems):
                raise self.error(f"{describe(ty)} has {len(ty.elems)} elements, found more")
            return self.value(ty.elems[i])

        items = self.seq(")", element)
        if len(items) != len(ty.elems):
            raise self.error(
                f"{describe(ty)} has {len(ty.elems)} elements, found {len(items)}", start
            )
        return tuple(items)

    def record(self, ty: RecordT) -> Value:
        start = self.pos
        self.expect("{", describe(ty))
        types = dict(ty.fields)
        out: dict[str, Value] = {}
        if self.eat(":"):  # ``{:}``, WAVE's empty record
            self.expect("}")
        else:

            def field(_: int) -> None:
                at = self.pos
                label = self.label()
                if label is None:
                    raise self.error(
                        f"expected a field name of {describe(ty)}, found {self.found()}"
                    )
                name = label[0]
                if name not in types:
                    raise self.error(f"unknown field {name!r} for {describe(ty)}", at)
                if name in out:
                    raise self.error(f"field {name!r} given twice", at)
                self.expect(":")
                out[name] = self.value(types[name])

            self.seq("}", field)
        for name, field_ty in ty.fields:
            if name not in out:
                if not isinstance(field_ty, OptionT):
                    raise self.error(f"missing field {name!r} of {describe(ty)}", start)
                out[name] = None
        return {name: out[name] for name, _ in ty.fields}

    def flags(self, ty: FlagsT) -> Value:
        self.expect("{", describe(ty))
        names: set[str] = set()

        def flag(_: int) -> None:
            at = self.pos
            label = self.label()
            if label is None or label[0] not in ty.names:
                self.pos = at
                raise self.error(f"expected a flag of {describe(ty)}, found {self.found()}")
            if label[0] in names:
                raise self.error(f"flag {label[0]!r} given twice", at)
            names.add(label[0])

        self.seq("}", flag)
        return frozenset(names)

    def payload(self, ty: WitType) -> Value:
        self.expect("(")
        value = self.value(ty)
        self.expect(")")
        return value

    def case(self, ty: VariantT | ResultT) -> Value:
        start = self.pos
        cases = dict(variant_cases(ty))
        label = self.label()
        if isinstance(ty, ResultT):
            if label is None or label[1] or label[0] not in cases:
                self.pos = start
                if ty.ok is None or isinstance(ty.ok, ResultT):
                    raise self.error(f"expected {describe(ty)}, found {self.found()}")
                return Case("ok", self.value(ty.ok))  # WAVE's flat ok
        elif label is None or label[0] not in cases:
            self.pos = start
            raise self.error(f"expected {describe(ty)}, found {self.found()}")
        name = label[0]
        payload_ty = cases[name]
        if payload_ty is None:
            if self.peek() == "(":
                raise self.error(f"case {name} of {describe(ty)} has no payload")
            return Case(name)
        if self.peek() != "(":
            raise self.error(
                f"case {name} of {describe(ty)} needs a payload: {name}(<{describe(payload_ty)}>)"
            )
        return Case(name, self.payload(payload_ty))

    def end(self) -> None:
        if self.peek():
            raise self.error(f"expected end of input, found {self.found()}")


def parse_value(text: str, ty: WitType, *, base: int = 0) -> Value:
    """Parse WAVE ``text`` as a value of ``ty``; ``base`` shifts error offsets."""
    parser = _Parser(text, base)
    value = parser.value(ty)
    parser.end()
    return value


def _call_paren(text: str) -> int:
    """The index of the ``(`` that opens the argument list, or -1: the first one outside
    braces, so that Golem's ``iface.{counter("c1").inc-by}(5)`` keeps its name whole."""
    depth = 0
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"' and depth:
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif c == "(" and not depth:
            return i
        i += 1
    return -1


def parse_call(text: str) -> tuple[str, str]:
    """Split ``name(args...)`` into the function name and the argument text.

    The name is everything before the first ``(`` outside braces (WIT names never contain
    one, and qualified names such as ``golem:it/api.{create}``, ``pkg:ns/iface#fn`` or
    Golem's indexed resources ``pkg:ns/iface.{counter("c1").inc-by}`` are kept whole); the
    argument text runs to the final ``)``. A bare name means a call without arguments.
    The argument text starts at ``text.find("(") + 1``: pass that as ``base`` to
    :func:`parse_args` so error offsets point into the whole call.
    """
    open_at = _call_paren(text)
    if open_at < 0:
        name, args = text.strip(), ""
    else:
        name = text[:open_at].strip()
        close_at = text.rstrip().rfind(")")
        if close_at != len(text.rstrip()) - 1:
            raise WaveError(len(text.rstrip()), "expected ')' to close the argument list")
        args = text[open_at + 1 : close_at]
    if not name or any(c in _WS for c in name.split(".{", 1)[0]):  # `{r( "x" ).m}` is fine
        raise WaveError(0, f"expected a function name before '(', found {show(name)}")
    return name, args


def parse_args(argtext: str, params: Sequence[WitType], *, base: int = 0) -> list[Value]:
    """Parse comma-separated WAVE arguments, one per parameter type.

    A wrong number of arguments is a :class:`WaveError` naming expected and given counts.
    """
    parser = _Parser(argtext, base)
    wanted = f"{len(params)} argument{'s' if len(params) != 1 else ''}"
    signature = f"({', '.join(describe(t) for t in params)})"
    values: list[Value] = []
    for i, ty in enumerate(params):
        if i and not parser.eat(","):
            if not parser.peek():
                raise parser.error(f"expected {wanted} {signature}, given {i}")
            raise parser.error(f"expected ',' or ')', found {parser.found()}")
        if not parser.peek():
            raise parser.error(f"expected {wanted} {signature}, given {i}")
        values.append(parser.value(ty))
    if params and parser.peek() not in ("", ","):
        raise parser.error(f"expected ',' or ')', found {parser.found()}")
    if not params or parser.eat(","):
        parser.skip_ws()
        surplus_at, given = parser.pos, len(params)
        while parser.peek():
            parser.skip_value()
            given += 1
            if not parser.eat(","):
                break
        if given > len(params):
            raise parser.error(f"expected {wanted} {signature}, given {given}", surplus_at)
    parser.end()
    return values
