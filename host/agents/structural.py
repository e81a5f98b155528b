"""Golem 1.5's canonical structural format of agent-id parameters (golem-common
``model/agent/structural_format``): positional, no names, no whitespace.

=====================  ===============================================================
value                  text
=====================  ===============================================================
bool                   ``true`` / ``false``
integers               decimal, no leading zeros, no ``-0``
floats                 shortest round-trip digits, positional, always with a ``.``
                       (``1.0``, ``0.5``, ``100000000000000000000.0``); nan/inf refused
char                   ``c"x"`` (JSON escapes); string ``"..."`` (JSON escapes)
record, tuple          ``(a,b)``; trailing option fields may be left out on input
list                   ``[a,b]``
variant, enum          ``v<case index>`` with ``(payload)`` when the case has one
option                 ``s(v)`` / ``n``; result ``ok(v)``/``ok``/``err(e)``/``err``
flags                  ``f(0,2)`` (set indices, increasing)
unstructured text      ``@t"..."``, ``@t[en]"..."``, ``@tu"<url>"``
unstructured binary    ``@b[mime/type]"<base64>"``, ``@bu"<url>"``
multimodal             ``<schema index>(<element>)``, comma separated
=====================  ===============================================================
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from decimal import Decimal
from typing import Any

from host.agents.agenttypes import ComponentModel, DataSchema, ElementSchema, UnstructuredText
from host.agents.wittype import value_from_wit_value, wit_value_from_value
from host.errors import InvalidInput
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
    ResultT,
    Some,
    TupleT,
    Value,
    VariantT,
    WitType,
    round_f32,
)

MAX_DEPTH = 32


class StructuralError(InvalidInput):
    """Text that is not a valid structural parameter list for the schema."""


def _esc(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t\b\f":
            out.append(json.dumps(ch)[1:-1])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:  # Rust's char::is_control (Cc)
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def format_float(v: float, kind: str) -> str:
    if math.isnan(v) or math.isinf(v):
        raise InvalidInput("NaN and infinite floats cannot be part of an agent id")
    if v == 0.0:
        return "0.0"
    digits = repr(v)
    if kind == "f32":
        for p in range(1, 10):
            cand = f"{v:.{p}g}"
            try:
                same = round_f32(float(cand)) == v
            except OverflowError:
                # Near the top of the range a short candidate rounds up past the largest
                # f32 (3.4028235e38 at 4 digits is 3.403e38): not this value, try longer.
                continue
            if same:
                digits = cand
                break
    text = format(Decimal(digits), "f")
    return text if "." in text else text + ".0"


def _fmt(v: Value, ty: WitType, depth: int) -> str:
    if depth >= MAX_DEPTH:
        raise InvalidInput(f"agent id parameters nest deeper than {MAX_DEPTH} levels")
    d = depth + 1
    if isinstance(ty, Prim):
        if ty.kind == "bool":
            return "true" if v else "false"
        if ty.kind in INT_RANGES:
            return str(v)
        if ty.kind in ("f32", "f64"):
            assert isinstance(v, float)
            return format_float(v, ty.kind)
        assert isinstance(v, str)
        return f'c"{_esc(v)}"' if ty.kind == "char" else f'"{_esc(v)}"'
    if isinstance(ty, RecordT):
        assert isinstance(v, dict)
        return "(" + ",".join(_fmt(v[n], f, d) for n, f in ty.fields) + ")"
    if isinstance(ty, TupleT):
        assert isinstance(v, tuple)
        return "(" + ",".join(_fmt(x, e, d) for x, e in zip(v, ty.elems, strict=True)) + ")"
    if isinstance(ty, ListT):
        items = list(v) if isinstance(v, bytes) else v
        assert isinstance(items, list)
        return "[" + ",".join(_fmt(x, ty.elem, d) for x in items) + "]"
    if isinstance(ty, VariantT):
        assert isinstance(v, Case)
        i = [n for n, _ in ty.cases].index(v.name)
        pt = ty.cases[i][1]
        return f"v{i}" if pt is None else f"v{i}({_fmt(v.value, pt, d)})"
    if isinstance(ty, EnumT):
        return f"v{ty.names.index(str(v))}"
    if isinstance(ty, OptionT):
        return "n" if v is None else f"s({_fmt(v.value, ty.payload, d)})"  # type: ignore[union-attr]
    if isinstance(ty, ResultT):
        assert isinstance(v, Case)
        side = ty.ok if v.name == "ok" else ty.err
        return v.name if side is None else f"{v.name}({_fmt(v.value, side, d)})"
    if isinstance(ty, FlagsT):
        assert isinstance(v, frozenset)
        return "f(" + ",".join(str(i) for i, n in enumerate(ty.names) if n in v) + ")"
    raise InvalidInput("handles cannot be part of an agent id")


def _fmt_element(el: ElementSchema, ev: Value) -> str:
    assert isinstance(ev, Case)
    if isinstance(el, ComponentModel):
        return _fmt(value_from_wit_value(ev.value, el.wit_type), el.wit_type, 0)
    ref = ev.value
    assert isinstance(ref, Case)
    src: Any = ref.value
    t = "t" if isinstance(el, UnstructuredText) else "b"
    if ref.name == "url":
        return f'@{t}u"{_esc(src)}"'
    if t == "t":
        tt: Any = src["text-type"]
        tv: Any = tt.value if isinstance(tt, Some) else None
        lang = "" if tv is None else f"[{tv['language-code']}]"
        return f'@t{lang}"{_esc(src["data"])}"'
    b64 = base64.b64encode(src["data"]).decode("ascii")
    return f'@b[{src["binary-type"]["mime-type"]}]"{b64}"'


def format_structural(schema: DataSchema, value: Value) -> str:
    """The canonical text of a ``data-value`` (without the surrounding parentheses)."""
    assert isinstance(value, Case) and isinstance(value.value, list)
    if schema.kind == "tuple":
        return ",".join(
            _fmt_element(el, ev) for (_, el), ev in zip(schema.elements, value.value, strict=True)
        )
    names = list(schema.names)
    parts = []
    for item in value.value:
        assert isinstance(item, tuple)
        i = names.index(str(item[0]))
        parts.append(f"{i}({_fmt_element(schema.elements[i][1], item[1])})")
    return ",".join(parts)


def normalize_structural(text: str) -> str:
    """Drop spaces, tabs and newlines outside string literals (Golem's normalisation)."""
    out, in_str, esc = [], False, False
    for ch in text:
        if esc:
            esc = False
        elif in_str:
            if ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch in " \n\r\t":
            continue
        elif ch == '"':
            in_str = True
        out.append(ch)
    return "".join(out)


class _Parser:
    def __init__(self, text: str, where: str) -> None:
        self.s = text
        self.pos = 0
        self.where = where

    def err(self, message: str) -> StructuralError:
        return StructuralError(
            f"{self.where}: {message} at position {self.pos} of {self.s[:64]!r}", field=self.where
        )

    def peek(self) -> str:
        return self.s[self.pos : self.pos + 1]

    def eat(self, tok: str) -> bool:
        if self.s.startswith(tok, self.pos):
            self.pos += len(tok)
            return True
        return False

    def expect(self, tok: str) -> None:
        if not self.eat(tok):
            raise self.err(f"expected {tok!r}, got {self.peek()!r}")

    def digits(self, what: str) -> str:
        start = self.pos
        while self.peek().isdigit() and self.peek().isascii():
            self.pos += 1
        text = self.s[start : self.pos]
        if not text:
            raise self.err(f"expected {what}")
        if len(text) > 1 and text[0] == "0":
            raise self.err("leading zeros are not allowed")
        return text

    def nat(self) -> int:
        return int(self.digits("a natural number"))

    def string(self) -> str:
        start = self.pos
        self.pos += 1  # the opening quote, checked by the caller
        while True:
            ch = self.peek()
            if not ch:
                raise self.err("unterminated string")
            if ch == "\\":
                self.pos += 2
            elif ch == '"':
                self.pos += 1
                break
            else:
                self.pos += 1
        try:
            text = json.loads(self.s[start : self.pos])
        except ValueError:
            raise self.err("invalid escape in string") from None
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise self.err("lone surrogate in string")
        return str(text)

    def quoted(self) -> str:
        if self.peek() != '"':
            raise self.err(f"expected '\"', got {self.peek()!r}")
        return self.string()

    def value(self, ty: WitType, depth: int) -> Value:
        if depth >= MAX_DEPTH:
            raise self.err(f"nesting deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if isinstance(ty, Prim):
            return self.prim(ty.kind)
        if isinstance(ty, RecordT | TupleT):
            types = [f for _, f in ty.fields] if isinstance(ty, RecordT) else list(ty.elems)
            self.expect("(")
            items: list[Value] = []
            for i, t in enumerate(types):
                if i:
                    if self.peek() == ")" and all(isinstance(x, OptionT) for x in types[i:]):
                        items += [None] * (len(types) - i)
                        break
                    self.expect(",")
                items.append(self.value(t, d))
            self.expect(")")
            if isinstance(ty, TupleT):
                return tuple(items)
            return {n: v for (n, _), v in zip(ty.fields, items, strict=True)}
        if isinstance(ty, ListT):
            self.expect("[")
            out: list[Value] = []
            if not self.eat("]"):
                while True:
                    out.append(self.value(ty.elem, d))
                    if not self.eat(","):
                        break
                self.expect("]")
            return bytes(out) if ty.elem == U8 else out  # type: ignore[arg-type]
        if isinstance(ty, VariantT | EnumT):
            self.expect("v")
            i = self.nat()
            cases = ty.cases if isinstance(ty, VariantT) else [(n, None) for n in ty.names]
            if i >= len(cases):
                raise self.err(f"case index {i} out of range ({len(cases)} cases)")
            name, pt = cases[i]
            if isinstance(ty, EnumT):
                return name
            if pt is None:
                if self.peek() == "(":
                    raise self.err(f"case {i} has no payload")
                return Case(name)
            self.expect("(")
            payload = self.value(pt, d)
            self.expect(")")
            return Case(name, payload)
        if isinstance(ty, OptionT):
            if self.eat("s("):
                v = self.value(ty.payload, d)
                self.expect(")")
                return Some(v)
            if self.eat("n"):
                return None
            raise self.err("expected 's(' or 'n' for an option")
        if isinstance(ty, ResultT):
            for name, side in (("ok", ty.ok), ("err", ty.err)):
                if self.eat(name):
                    if side is None:
                        if self.peek() == "(":
                            raise self.err(f"{name} has no payload")
                        return Case(name)
                    self.expect("(")
                    v = self.value(side, d)
                    self.expect(")")
                    return Case(name, v)
            raise self.err("expected 'ok' or 'err' for a result")
        if isinstance(ty, FlagsT):
            self.expect("f(")
            chosen: list[int] = []
            if not self.eat(")"):
                while True:
                    i = self.nat()
                    if i >= len(ty.names):
                        raise self.err(f"flag index {i} out of range ({len(ty.names)} flags)")
                    if chosen and i <= chosen[-1]:
                        raise self.err("flag indices must be strictly increasing")
                    chosen.append(i)
                    if not self.eat(","):
                        break
                self.expect(")")
            return frozenset(ty.names[i] for i in chosen)
        raise self.err("handles cannot be part of an agent id")

    def prim(self, kind: str) -> Value:
        if kind == "bool":
            if self.eat("true"):
                return True
            if self.eat("false"):
                return False
            raise self.err("expected 'true' or 'false'")
        if kind in INT_RANGES:
            neg = kind.startswith("s") and self.eat("-")
            text = self.digits("an integer")
            if neg and text == "0":
                raise self.err("negative zero is not allowed for integers")
            n = -int(text) if neg else int(text)
            lo, hi = INT_RANGES[kind]
            if not lo <= n <= hi:
                raise self.err(f"{kind} out of range: {n}")
            return n
        if kind in ("f32", "f64"):
            start = self.pos
            self.eat("-")
            self.digits("a float")
            if not self.eat("."):
                raise self.err("a float must contain a decimal point")
            start_frac = self.pos
            while self.peek().isdigit() and self.peek().isascii():
                self.pos += 1
            if self.pos == start_frac:
                raise self.err("expected digits after the decimal point")
            if self.peek() in ("e", "E"):
                self.pos += 1
                if self.peek() in ("+", "-"):
                    self.pos += 1
                if not self.peek().isdigit():
                    raise self.err("expected digits in the exponent")
                while self.peek().isdigit() and self.peek().isascii():
                    self.pos += 1
            f = float(self.s[start : self.pos])
            if kind == "f32":
                try:
                    f = round_f32(f)
                except OverflowError:
                    raise self.err("f32 out of range") from None
            if math.isinf(f):
                raise self.err("float out of range")
            return f
        if kind == "char":
            self.expect("c")
            text = self.quoted()
            if len(text) != 1:
                raise self.err("a char literal holds exactly one character")
            return text
        return self.quoted()

    def element(self, el: ElementSchema, depth: int) -> Value:
        if isinstance(el, ComponentModel):
            v = self.value(el.wit_type, depth)
            return Case("component-model", wit_value_from_value(v, el.wit_type))
        if isinstance(el, UnstructuredText):
            self.expect("@t")
            if self.eat("u"):
                return Case("unstructured-text", Case("url", self.quoted()))
            lang = None
            if self.eat("["):
                end = self.s.find("]", self.pos)
                if end < 0:
                    raise self.err("unterminated [language]")
                lang, self.pos = self.s[self.pos : end], end + 1
            tt = None if lang is None else Some({"language-code": lang})
            return Case(
                "unstructured-text", Case("inline", {"data": self.quoted(), "text-type": tt})
            )
        self.expect("@b")
        if self.eat("u"):
            return Case("unstructured-binary", Case("url", self.quoted()))
        if not self.eat("["):
            raise self.err("expected 'u' or '[' after @b")
        end = self.s.find("]", self.pos)
        if end < 0:
            raise self.err("unterminated [mime-type]")
        mime, self.pos = self.s[self.pos : end], end + 1
        try:
            data = base64.b64decode(self.quoted(), validate=True)
        except (binascii.Error, ValueError):
            raise self.err("invalid base64") from None
        src: Value = {"data": data, "binary-type": {"mime-type": mime}}
        return Case("unstructured-binary", Case("inline", src))


def parse_structural(schema: DataSchema, text: str, where: str = "agent id") -> Value:
    """Parse canonical (or whitespace-padded) parameter text into a ``data-value``."""
    p = _Parser(normalize_structural(text), where)
    out: list[Value] = []
    if schema.kind == "tuple":
        for i, (_, el) in enumerate(schema.elements):
            if i:
                if p.peek() != "," and all(
                    isinstance(e, ComponentModel) and isinstance(e.wit_type, OptionT)
                    for _, e in schema.elements[i:]
                ):
                    out += [
                        Case("component-model", wit_value_from_value(None, e.wit_type))  # type: ignore[union-attr]
                        for _, e in schema.elements[i:]
                    ]
                    break
                p.expect(",")
            out.append(p.element(el, 0))
        value: Value = Case("tuple", out)
    else:
        first = True
        while p.pos < len(p.s):
            if not first:
                p.expect(",")
            first = False
            i = p.nat()
            if i >= len(schema.elements):
                raise p.err(f"multimodal element index {i} out of range")
            p.expect("(")
            name, el = schema.elements[i]
            out.append((name, p.element(el, 0)))
            p.expect(")")
        value = Case("multimodal", out)
    if p.pos < len(p.s):
        raise p.err(f"unexpected trailing input {p.s[p.pos : p.pos + 20]!r}")
    return value
