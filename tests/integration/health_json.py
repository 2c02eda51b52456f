"""Checks a response body against the application/health+json format of
draft-inadarei-api-health-check-06, with the JSON Schema beside this file
(health_json_schema.json, draft 2020-12) and the jsonschema package
(Debian: python3-jsonschema, 4.10 on bookworm; `make deps` installs it).

    document = validate_health_json(body)   # AssertionError if it does not conform
"""
import datetime
import json
import os
import re

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "health_json_schema.json")
with open(SCHEMA_PATH, encoding="utf-8") as _file:
    SCHEMA = json.load(_file)
jsonschema.Draft202012Validator.check_schema(SCHEMA)

# The RFC 3339 date-time the schema requires of a check's "time" (its
# $defs/dateTime pattern, so the two cannot drift apart).
RFC3339_PATTERN = SCHEMA["$defs"]["dateTime"]["pattern"]
_RFC3339 = re.compile(RFC3339_PATTERN)


def _is_date_time(instance):
    """The "date-time" format: the RFC 3339 shape and a real calendar date
    (no 31 February). Registered here because the checker jsonschema ships
    for it needs an optional package Debian's python3-jsonschema lacks, and
    the pattern alone cannot see the length of a month."""
    if not isinstance(instance, str):
        return True  # Not a string: "type" reports it, not "format".
    if not _RFC3339.search(instance):
        return False
    datetime.date(int(instance[0:4]), int(instance[5:7]), int(instance[8:10]))  # ValueError if not a day
    return True


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=FORMAT_CHECKER)


def _reject_duplicates(pairs):
    seen = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError("duplicate member name %s" % json.dumps(name))
        seen.add(name)
    return dict(pairs)


def _reject_constant(name):
    raise ValueError("%s is not JSON (RFC 8259)" % name)


def _where(path):
    """A JSON path for an error's location: $.checks["db:responseTime"][0].time"""
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += "[%d]" % part
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += "." + part
        else:
            text += "[%s]" % json.dumps(part)
    return text


def validate_health_json(body: bytes) -> dict:
    """Parses `body` as UTF-8 JSON and validates it against the schema;
    returns the document. Raises AssertionError naming the first (best)
    violation otherwise; also for text that is not strict JSON: bad UTF-8,
    a byte order mark, NaN/Infinity, or a member name given twice (which
    json.loads would silently settle on the last of, hiding e.g. a second
    "status")."""
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("validate_health_json takes the body's bytes, not %s" % type(body).__name__)
    try:
        text = bytes(body).decode("utf-8")
        document = json.loads(text, object_pairs_hook=_reject_duplicates,
                              parse_constant=_reject_constant)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors.
        raise AssertionError("not application/health+json: not JSON text: %s; body: %r"
                             % (error, bytes(body[:200]))) from None
    error = jsonschema.exceptions.best_match(VALIDATOR.iter_errors(document))
    if error is not None:
        raise AssertionError("not application/health+json (draft-inadarei-api-health-check-06): "
                             "at %s: %s" % (_where(error.absolute_path), error.message))
    return document
