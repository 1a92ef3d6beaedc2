"""Items from plain dicts (proto3 JSON) and back, and inbox filters.

An item can be given to the client as a generated message
(``havengate.v1.item_pb2.Item``), as a dict in the proto3 JSON mapping (what
``havenctl items push`` reads; see ``deploy/samples/*.json``), or as that
JSON text. Parsing is strict, as ``havenctl``'s: an unknown field or enum
name is a :class:`~havengate.errors.ValidationError` naming the field path,
e.g. ``alert.containers[0]: unknown field "colour"``. Both spellings of field
names (``date_of_birth``, ``dateOfBirth``) are accepted.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Iterable, Mapping, Optional, Union

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from havengate.errors import ValidationError, Violation
from havengate.v1 import inbox_pb2, item_pb2

__all__ = ["ItemLike", "to_item", "to_dict", "to_json", "make_filter"]

#: What the client accepts as an item.
ItemLike = Union[item_pb2.Item, Mapping[str, Any], str, bytes]

_WELL_KNOWN = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Struct",
               "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.FieldMask",
               "google.protobuf.Any"}


def to_item(item: ItemLike) -> item_pb2.Item:
    """An ``Item`` message from a message, a proto3 JSON dict or JSON text.

    Raises :class:`~havengate.errors.ValidationError` (``INVALID_ARGUMENT``)
    naming the field path if a dict does not fit the ``Item`` message.
    """
    if isinstance(item, item_pb2.Item):
        return item
    if isinstance(item, Message):
        raise TypeError(f"expected a havengate.v1.Item, got {item.DESCRIPTOR.full_name}")
    if isinstance(item, (str, bytes)):
        try:
            item = json.loads(item)
        except ValueError as e:
            raise ValidationError(f"item: malformed JSON: {e}") from None
    if not isinstance(item, Mapping):
        raise TypeError(f"expected an Item message, a dict or JSON text, got {type(item).__name__}")
    return _parse(item, item_pb2.Item)


def _parse(data: Mapping[str, Any], message_class) -> Any:
    message = message_class()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        violation = _locate(data, message_class.DESCRIPTOR, "") or Violation("item", _reason(str(e)))
        raise ValidationError(str(violation), [violation]) from None
    return message


def _field(descriptor: Descriptor, key: str) -> Optional[FieldDescriptor]:
    field = descriptor.fields_by_name.get(key)
    if field is None:
        field = descriptor.fields_by_camelcase_name.get(key)
    return field


def _fails(descriptor: Descriptor, data: Mapping[str, Any]) -> Optional[str]:
    """The parser's message if ``data`` does not parse as ``descriptor``'s message."""
    try:
        json_format.ParseDict(data, _class_of(descriptor)(), ignore_unknown_fields=False)
    except json_format.ParseError as e:
        return str(e)
    return None


def _class_of(descriptor: Descriptor):
    from google.protobuf import symbol_database

    return symbol_database.Default().GetSymbol(descriptor.full_name)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _locate(data: Any, descriptor: Descriptor, path: str) -> Optional[Violation]:
    """The first field of ``data`` that does not parse, with its full path."""
    where = path or "item"
    if not isinstance(data, Mapping):
        return Violation(where, "must be a JSON object")
    for key, value in data.items():
        field = _field(descriptor, key)
        if field is None:
            return Violation(where, f'unknown field "{key}"')
        problem = _fails(descriptor, {key: value})
        if problem is None:
            continue
        name = _join(path, field.name)
        is_message = (field.type == FieldDescriptor.TYPE_MESSAGE
                      and field.message_type.full_name not in _WELL_KNOWN
                      and not field.message_type.GetOptions().map_entry)
        if field.label == FieldDescriptor.LABEL_REPEATED and isinstance(value, list):
            for index, element in enumerate(value):
                element_problem = _fails(descriptor, {key: [element]})
                if element_problem is None:
                    continue
                if is_message and isinstance(element, Mapping):
                    found = _locate(element, field.message_type, f"{name}[{index}]")
                    if found:
                        return found
                return Violation(f"{name}[{index}]", _reason(element_problem))
        if is_message and isinstance(value, Mapping):
            found = _locate(value, field.message_type, name)
            if found:
                return found
        return Violation(name, _reason(problem))
    return None


_CHAIN = re.compile(r"^(?:Failed to parse \w+ field: )+")
_AT = re.compile(r"\.? at \"?[\w.\[\]]+\"?\.?$")


def _reason(message: str) -> str:
    """The parser's innermost reason, worded like havenctl's where it matters."""
    message = message.split("\n")[0]
    message = _CHAIN.sub("", message)
    message = _AT.sub("", message).rstrip(".")
    if "timestamp" in message.lower() or "time format" in message.lower():
        return "is not a time in RFC 3339 form, e.g. 2026-11-28T14:05:00Z"
    match = re.match(r"Invalid enum value (.*) for enum type (\S+)", message)
    if match:
        return f"invalid value {match.group(1)} (expected a value of {match.group(2)})"
    match = re.match(r'Message type "\S+" has no field named "([^"]+)"', message)
    if match:
        return f'unknown field "{match.group(1)}"'
    return message


def to_dict(message: Message) -> dict:
    """The proto3 JSON mapping of a message as a dict, as ``havenctl ... --json`` prints it.

    Field names are the protobuf names (``date_of_birth``); 64-bit integers
    are strings; fields with default values are left out.
    """
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def to_json(message: Message, pretty: bool = True) -> str:
    """The proto3 JSON text of a message (see :func:`to_dict`)."""
    return json.dumps(to_dict(message), indent=2 if pretty else None, ensure_ascii=False,
                      separators=None if pretty else (",", ":"))


def _timestamp(value: Union[datetime.datetime, str]):
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    if isinstance(value, str):
        ts.FromJsonString(value)
    else:
        if value.tzinfo is None:
            raise ValueError("received_after/received_before need a timezone-aware datetime")
        ts.FromDatetime(value.astimezone(datetime.timezone.utc).replace(tzinfo=None))
    return ts


def make_filter(*, origins: Optional[Iterable[str]] = None, kind: Optional[str] = None,
                categories: Optional[Iterable[Union[str, int]]] = None, item_id: str = "",
                include_retracted: bool = False,
                received_after: Optional[Union[datetime.datetime, str]] = None,
                received_before: Optional[Union[datetime.datetime, str]] = None) -> inbox_pb2.ItemFilter:
    """An ``ItemFilter`` for :meth:`Client.list` and :meth:`Client.watch`; empty arguments do not filter.

    ``kind`` is ``"alert"`` or ``"report"``; ``categories`` are alert
    category names such as ``"PIN_CODE_FRAUD"``; times are timezone-aware
    datetimes or RFC 3339 strings.
    """
    result = inbox_pb2.ItemFilter(item_id=item_id, include_retracted=include_retracted)
    result.origins.extend(origins or [])
    if kind:
        names = {"alert": item_pb2.ALERT, "report": item_pb2.REPORT}
        if kind.lower() not in names:
            raise ValueError(f"kind: must be alert or report, not {kind!r}")
        result.kind = names[kind.lower()]
    for category in categories or []:
        if isinstance(category, str):
            try:
                category = item_pb2.Alert.Category.Value(category.upper())
            except ValueError:
                raise ValueError(f"categories: unknown category {category}") from None
        result.categories.append(category)
    if received_after is not None:
        result.received_after.CopyFrom(_timestamp(received_after))
    if received_before is not None:
        result.received_before.CopyFrom(_timestamp(received_before))
    return result


def filter_from(filter: Union[inbox_pb2.ItemFilter, Mapping[str, Any], None]) -> inbox_pb2.ItemFilter:
    """An ``ItemFilter`` from a message, a dict of :func:`make_filter` arguments, or None."""
    if filter is None:
        return inbox_pb2.ItemFilter()
    if isinstance(filter, inbox_pb2.ItemFilter):
        return filter
    return make_filter(**dict(filter))

