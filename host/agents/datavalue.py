"""``data-value``\\ s (an agent's constructor and method inputs and outputs) from and to JSON
and WAVE, through the :class:`~host.agents.model.DataSchema` that types them.

The host Value of a ``data-value`` is ``Case("tuple", [element, ...])`` or
``Case("multimodal", [(name, element), ...])``; an element is
``Case("component-model", <wit-value>)``, ``Case("unstructured-text", Case("inline",
{"data": str, "text-type": None | Some({"language-code": str})}) | Case("url", str))`` or
``Case("unstructured-binary", Case("inline", {"data": bytes, "binary-type": {"mime-type":
str}}) | Case("url", str))``.

JSON accepted by :func:`data_value_from_json`:

- **Golem's REST shape** (``UntypedJsonDataValue`` of Golem 1.5's worker service:
  ``invoke-agent``'s ``parameters``, ``methodParameters`` and ``result``)::

      {"type": "Tuple", "elements": [{"type": "ComponentModel", "value": <json>},
          {"type": "UnstructuredText", "value": {"type": "Inline", "data": "hi",
                                                 "textType": {"languageCode": "en"}}},
          {"type": "UnstructuredBinary", "value": {"type": "Inline", "data": [1, 2],
                                                   "binaryType": {"mimeType": "image/png"}}},
          {"type": "UnstructuredText", "value": {"type": "Url", "value": "https://..."}}]}
      {"type": "Multimodal", "elements": [{"name": "text", "value": <element>}, ...]}

- **The plain form** (our CLI and simple clients): for a tuple schema an array of the
  parameters in order, or an object keyed by parameter name (trailing / missing
  ``option`` parameters may be left out: none); for a multimodal schema an array of
  ``{"name": ..., "value": ...}`` or an object keyed by element name. A component-model
  element is :mod:`host.values.jsonvalue`'s JSON for its type (Golem's); unstructured text
  is a string, ``{"data": str, "languageCode"?: str}``, ``{"url": str}`` or Golem's
  element form above; unstructured binary is ``{"data": <base64>, "mimeType": str}``,
  ``{"url": str}`` or Golem's form (``data`` as an array of bytes).

:func:`data_value_to_json` writes the plain form, :func:`data_value_to_rest_json` Golem's.

WAVE (:func:`data_value_from_wave`): the argument list of a call, ``"alice", 5``: each
component-model element in WAVE for its type; an unstructured text element is a WAVE string.
Binary and multimodal inputs have no WAVE form: use JSON.

A value that does not fit raises :class:`~host.errors.InvalidInput` whose ``field`` names the
place (``$.methodParameters[0]``) and whose message names the parameter and what was expected.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from host.agents.agenttypes import (
    ComponentModel,
    DataSchema,
    ElementSchema,
    UnstructuredBinary,
    UnstructuredText,
)
from host.agents.wittype import value_from_wit_value, wit_value_from_value
from host.errors import InvalidInput
from host.values.jsonvalue import Json, ValueJsonError, from_json, to_json
from host.values.types import STRING, Case, OptionT, Some, Value, ValueTypeError, WitType, show
from host.values.wave import WaveError, parse_args
from host.values.wave_print import format_value


def _bad(field: str, name: str | None, message: str) -> InvalidInput:
    which = f"parameter {name!r} ({field})" if name is not None else field
    return InvalidInput(f"{which}: {message}", field=field)


def _elem_kind(el: ElementSchema) -> str:
    if isinstance(el, ComponentModel):
        return "component-model"
    return "unstructured-text" if isinstance(el, UnstructuredText) else "unstructured-binary"


# --- elements ----------------------------------------------------------------------------


def _text(data: str, lang: str | None, el: UnstructuredText, field: str, name: str) -> Value:
    if lang is not None and el.restrictions is not None and lang not in el.restrictions:
        allowed = ", ".join(el.restrictions)
        raise _bad(field, name, f"language {lang!r} is not allowed (allowed: {allowed})")
    tt = None if lang is None else Some({"language-code": lang})
    return Case("unstructured-text", Case("inline", {"data": data, "text-type": tt}))


def _binary(data: bytes, mime: str, el: UnstructuredBinary, field: str, name: str) -> Value:
    if el.restrictions is not None and mime not in el.restrictions:
        allowed = ", ".join(el.restrictions)
        raise _bad(field, name, f"MIME type {mime!r} is not allowed (allowed: {allowed})")
    return Case(
        "unstructured-binary", Case("inline", {"data": data, "binary-type": {"mime-type": mime}})
    )


def _str_field(obj: dict[str, Any], key: str, field: str, name: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str):
        raise _bad(f"{field}.{key}", name, f"expected a string, got {show(v)}")
    return v


def element_from_json(el: ElementSchema, obj: Any, field: str, name: str) -> Value:
    """One element from JSON (plain or Golem's element form)."""
    if isinstance(obj, dict) and obj.get("type") in (
        "ComponentModel", "UnstructuredText", "UnstructuredBinary"
    ):  # fmt: skip
        return _golem_element(el, obj, field, name)
    if isinstance(el, ComponentModel):
        return Case("component-model", _cm_from_json(el.wit_type, obj, field, name))
    if isinstance(el, UnstructuredText):
        if isinstance(obj, str):
            return _text(obj, None, el, field, name)
        if isinstance(obj, dict) and set(obj) == {"url"}:
            return Case("unstructured-text", Case("url", _str_field(obj, "url", field, name)))
        if isinstance(obj, dict) and "data" in obj and set(obj) <= {"data", "languageCode"}:
            lang = obj.get("languageCode")
            if lang is not None and not isinstance(lang, str):
                raise _bad(f"{field}.languageCode", name, f"expected a string, got {show(lang)}")
            return _text(_str_field(obj, "data", field, name), lang, el, field, name)
        raise _bad(
            field,
            name,
            f'expected text: a string, {{"data", "languageCode"}} or {{"url"}}, got {show(obj)}',
        )
    if isinstance(obj, dict) and set(obj) == {"url"}:
        return Case("unstructured-binary", Case("url", _str_field(obj, "url", field, name)))
    if isinstance(obj, dict) and set(obj) == {"data", "mimeType"}:
        text = _str_field(obj, "data", field, name)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"{field}.data", name, "expected base64 data") from None
        return _binary(data, _str_field(obj, "mimeType", field, name), el, field, name)
    raise _bad(
        field,
        name,
        f'expected binary: {{"data": <base64>, "mimeType"}} or {{"url"}}, got {show(obj)}',
    )


def _cm_from_json(ty: WitType, obj: Any, field: str, name: str) -> Value:
    try:
        value = from_json(obj, ty, field)
    except ValueJsonError as exc:
        raise _bad(exc.path, name, exc.message) from None
    return wit_value_from_value(value, ty)


def _golem_element(el: ElementSchema, obj: dict[str, Any], field: str, name: str) -> Value:
    kind = {"ComponentModel": "component-model", "UnstructuredText": "unstructured-text"}.get(
        obj["type"], "unstructured-binary"
    )
    if kind != _elem_kind(el):
        raise _bad(field, name, f"expected a {_elem_kind(el)} element, got {obj['type']}")
    if "value" not in obj:
        raise _bad(field, name, "missing 'value'")
    v = obj["value"]
    if isinstance(el, ComponentModel):
        return Case("component-model", _cm_from_json(el.wit_type, v, f"{field}.value", name))
    f = f"{field}.value"
    if not isinstance(v, dict) or v.get("type") not in ("Inline", "Url"):
        raise _bad(f, name, f'expected {{"type": "Inline" | "Url", ...}}, got {show(v)}')
    if v["type"] == "Url":
        return Case(kind, Case("url", _str_field(v, "value", f, name)))
    if isinstance(el, UnstructuredText):
        tt = v.get("textType")
        lang = None
        if tt is not None:
            if not isinstance(tt, dict):
                raise _bad(f"{f}.textType", name, f'expected {{"languageCode"}}, got {show(tt)}')
            lang = _str_field(tt, "languageCode", f"{f}.textType", name)
        return _text(_str_field(v, "data", f, name), lang, el, f, name)
    data = v.get("data")
    if not isinstance(data, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in data
    ):
        raise _bad(f"{f}.data", name, "expected an array of bytes (0..255)")
    bt = v.get("binaryType")
    if not isinstance(bt, dict):
        raise _bad(f"{f}.binaryType", name, f'expected {{"mimeType"}}, got {show(bt)}')
    assert isinstance(el, UnstructuredBinary)
    return _binary(bytes(data), _str_field(bt, "mimeType", f"{f}.binaryType", name), el, f, name)


def element_to_json(el: ElementSchema, value: Value, *, rest: bool = False) -> Json:
    """One element as plain JSON, or as Golem's element form with ``rest=True``."""
    if not isinstance(value, Case) or value.name != _elem_kind(el):
        raise InvalidInput(f"expected a {_elem_kind(el)} element value, got {show(value)}")
    if isinstance(el, ComponentModel):
        j = to_json(value_from_wit_value(value.value, el.wit_type), el.wit_type)
        return {"type": "ComponentModel", "value": j} if rest else j
    ref = value.value
    assert isinstance(ref, Case)
    kind = "UnstructuredText" if isinstance(el, UnstructuredText) else "UnstructuredBinary"
    url: Any = ref.value
    if ref.name == "url":
        return {"type": kind, "value": {"type": "Url", "value": url}} if rest else {"url": url}
    src: Any = ref.value
    if isinstance(el, UnstructuredText):
        tt: Any = src["text-type"]
        tv: Any = tt.value if isinstance(tt, Some) else None
        lang: str | None = None if tv is None else tv["language-code"]
        data_text: str = src["data"]
        if rest:
            inline: dict[str, Json] = {"type": "Inline", "data": data_text}
            if lang is not None:
                inline["textType"] = {"languageCode": lang}
            return {"type": kind, "value": inline}
        return data_text if lang is None else {"data": data_text, "languageCode": lang}
    data: bytes = src["data"]
    mime: str = src["binary-type"]["mime-type"]
    if rest:
        bin_inline: Json = {"type": "Inline", "data": list(data), "binaryType": {"mimeType": mime}}
        return {"type": kind, "value": bin_inline}
    return {"data": base64.b64encode(data).decode("ascii"), "mimeType": mime}


# --- data values -------------------------------------------------------------------------


def _is_option(el: ElementSchema) -> bool:
    return isinstance(el, ComponentModel) and isinstance(el.wit_type, OptionT)


def _none_element(el: ElementSchema) -> Value:
    assert isinstance(el, ComponentModel)
    return Case("component-model", wit_value_from_value(None, el.wit_type))


def data_value_from_json(schema: DataSchema, obj: Any, where: str = "$") -> Value:
    """A ``data-value`` host Value from JSON in the plain form or Golem's REST shape."""
    if isinstance(obj, dict) and obj.get("type") in ("Tuple", "Multimodal") and "elements" in obj:
        want = "Tuple" if schema.kind == "tuple" else "Multimodal"
        if obj["type"] != want:
            raise _bad(f"{where}.type", None, f"expected {want} for this schema, got {obj['type']}")
        items = obj["elements"]
        if not isinstance(items, list):
            raise _bad(f"{where}.elements", None, f"expected an array, got {show(items)}")
        if schema.kind == "tuple":
            return _tuple_from_list(schema, items, f"{where}.elements")
        pairs = []
        for i, item in enumerate(items):
            f = f"{where}.elements[{i}]"
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise _bad(f, None, f'expected {{"name", "value"}}, got {show(item)}')
            pairs.append((item["name"], item["value"], f"{f}.value"))
        return _multimodal(schema, pairs, f"{where}.elements")
    if schema.kind == "tuple":
        if isinstance(obj, list):
            return _tuple_from_list(schema, obj, where)
        if isinstance(obj, dict):
            return _tuple_from_object(schema, obj, where)
        if not schema.elements:
            raise _bad(where, None, f"expected no parameters ([]), got {show(obj)}")
        raise _bad(
            where,
            None,
            f"expected an array of parameters ({', '.join(schema.names)}), got {show(obj)}",
        )
    if isinstance(obj, dict):
        return _multimodal(schema, [(k, v, f"{where}.{k}") for k, v in obj.items()], where)
    if isinstance(obj, list):
        pairs = []
        for i, item in enumerate(obj):
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise _bad(f"{where}[{i}]", None, f'expected {{"name", "value"}}, got {show(item)}')
            pairs.append((item["name"], item["value"], f"{where}[{i}].value"))
        return _multimodal(schema, pairs, where)
    raise _bad(
        where, None, f"expected multimodal elements ({', '.join(schema.names)}), got {show(obj)}"
    )


def _tuple_from_list(schema: DataSchema, items: list[Any], where: str) -> Value:
    n = len(schema.elements)
    if len(items) > n or any(not _is_option(el) for _, el in schema.elements[len(items) :]):
        sig = ", ".join(schema.names)
        raise _bad(
            where, None, f"expected {n} parameter{'s' if n != 1 else ''} ({sig}), got {len(items)}"
        )
    pairs = zip(schema.elements, items, strict=False)
    out = [element_from_json(el, v, f"{where}[{i}]", n) for i, ((n, el), v) in enumerate(pairs)]
    out += [_none_element(el) for _, el in schema.elements[len(items) :]]
    return Case("tuple", out)


def _tuple_from_object(schema: DataSchema, obj: dict[str, Any], where: str) -> Value:
    unknown = [k for k in obj if k not in schema.names]
    if unknown:
        raise _bad(
            f"{where}.{unknown[0]}",
            None,
            f"unknown parameter {unknown[0]!r} (parameters: {', '.join(schema.names) or 'none'})",
        )
    out = []
    for name, el in schema.elements:
        if name in obj:
            out.append(element_from_json(el, obj[name], f"{where}.{name}", name))
        elif _is_option(el):
            out.append(_none_element(el))
        else:
            raise _bad(f"{where}.{name}", name, "missing")
    return Case("tuple", out)


def _multimodal(schema: DataSchema, pairs: Sequence[tuple[Any, Any, str]], where: str) -> Value:
    by_name = dict(schema.elements)
    out: list[Value] = []
    for name, v, f in pairs:
        if name not in by_name:
            raise _bad(
                f, None, f"unknown element {show(name)} (elements: {', '.join(schema.names)})"
            )
        out.append((name, element_from_json(by_name[name], v, f, name)))
    return Case("multimodal", out)


def _elements(schema: DataSchema, value: Value) -> list[tuple[str, ElementSchema, Value]]:
    if (
        not isinstance(value, Case)
        or value.name != schema.kind
        or not isinstance(value.value, list)
    ):
        raise InvalidInput(f"expected a {schema.kind} data-value, got {show(value)}")
    if schema.kind == "tuple":
        if len(value.value) != len(schema.elements):
            raise InvalidInput(f"expected {len(schema.elements)} elements, got {len(value.value)}")
        return [(n, el, v) for (n, el), v in zip(schema.elements, value.value, strict=True)]
    by_name = dict(schema.elements)
    out = []
    for item in value.value:
        if not isinstance(item, tuple) or len(item) != 2 or item[0] not in by_name:
            raise InvalidInput(f"unknown multimodal element {show(item)}")
        out.append((str(item[0]), by_name[str(item[0])], item[1]))
    return out


def data_value_to_json(schema: DataSchema, value: Value) -> Json:
    """The plain JSON form: an array for a tuple, ``[{"name", "value"}]`` for multimodal."""
    els = _elements(schema, value)
    if schema.kind == "tuple":
        return [element_to_json(el, v) for _, el, v in els]
    return [{"name": n, "value": element_to_json(el, v)} for n, el, v in els]


def data_value_to_rest_json(schema: DataSchema, value: Value) -> Json:
    """Golem's REST shape (``UntypedJsonDataValue``), as invoke-agent's ``result``."""
    els = _elements(schema, value)
    if schema.kind == "tuple":
        return {
            "type": "Tuple",
            "elements": [element_to_json(el, v, rest=True) for _, el, v in els],
        }
    return {
        "type": "Multimodal",
        "elements": [{"name": n, "value": element_to_json(el, v, rest=True)} for n, el, v in els],
    }


def result_to_json(schema: DataSchema, value: Value) -> Json:
    """A method's result as one JSON value: null for none, the element for one, else an array."""
    plain = data_value_to_json(schema, value)
    if schema.kind == "tuple" and isinstance(plain, list) and len(plain) <= 1:
        return plain[0] if plain else None
    return plain


# --- WAVE --------------------------------------------------------------------------------


def _wave_type(schema: DataSchema, where: str) -> list[WitType]:
    if schema.kind != "tuple":
        raise _bad(where, None, "multimodal inputs have no WAVE form: send them as JSON")
    types: list[WitType] = []
    for i, (name, el) in enumerate(schema.elements):
        if isinstance(el, ComponentModel):
            types.append(el.wit_type)
        elif isinstance(el, UnstructuredText):
            types.append(STRING)
        else:
            raise _bad(f"{where}[{i}]", name, "binary inputs have no WAVE form: send them as JSON")
    return types


def data_value_from_wave(schema: DataSchema, text: str, where: str = "$") -> Value:
    """A ``data-value`` from a call's WAVE argument list (``"alice", 5``)."""
    types = _wave_type(schema, where)
    try:
        values = parse_args(text, types)
    except WaveError as exc:
        raise InvalidInput(f"{where}: {exc}", field=where) from None
    out: list[Value] = []
    for (name, el), ty, v in zip(schema.elements, types, values, strict=True):
        if isinstance(el, UnstructuredText):
            assert isinstance(v, str)
            out.append(_text(v, None, el, where, name))
        else:
            out.append(Case("component-model", wit_value_from_value(v, ty)))
    return Case("tuple", out)


def data_value_to_wave(schema: DataSchema, value: Value) -> str:
    """A tuple ``data-value`` as WAVE arguments (``"alice", 5``); inverse of the above for
    component-model and inline text elements."""
    types = _wave_type(schema, "$")
    parts = []
    for (_, el, v), ty in zip(_elements(schema, value), types, strict=True):
        if isinstance(el, ComponentModel):
            assert isinstance(v, Case)
            parts.append(format_value(value_from_wit_value(v.value, ty), ty))
        else:
            ref = v.value if isinstance(v, Case) else None
            if not isinstance(ref, Case) or ref.name != "inline":
                raise InvalidInput("only inline text has a WAVE form")
            try:
                inline_src: Any = ref.value
                parts.append(format_value(inline_src["data"], ty))
            except ValueTypeError as exc:
                raise InvalidInput(str(exc)) from None
    return ", ".join(parts)
