"""The application/health+json schema (draft-inadarei-api-health-check-06)
and its helper: the draft's kind of documents pass, and each rule can fail."""
import copy
import json
import re
import unittest

import jsonschema

from tests.integration.health_json import RFC3339_PATTERN, SCHEMA, VALIDATOR, validate_health_json

# Shaped like the draft's section 5 example (values of our own): every
# root field, several checks, a multi-node check, a user-defined "node"
# key (section 4.10), links with a registered and a URI relation.
FULL = {
    "status": "warn",
    "version": "2",
    "releaseId": "2.7.1-4c1f9e0",
    "notes": ["disk nearly full on node 2"],
    "output": "",
    "serviceId": "0b6a3a5e-3f1d-4c2e-9a57-2d8f0c1e7b44",
    "description": "health of the billing service",
    "checks": {
        "postgres:responseTime": [{
            "componentId": "9e2b7c1a-55d0-4f7e-8c43-1a2b3c4d5e6f",
            "componentType": "datastore",
            "observedValue": 12.5,
            "observedUnit": "ms",
            "status": "pass",
            "affectedEndpoints": ["/invoices/{invoiceId}", "/customers/{customerId}/balance"],
            "time": "2026-11-27T09:15:02Z",
            "output": "",
        }],
        "postgres:connections": [{
            "componentId": "9e2b7c1a-55d0-4f7e-8c43-1a2b3c4d5e6f",
            "componentType": "datastore",
            "observedValue": 180,
            "status": "warn",
            "time": "2026-11-27T09:15:02Z",
            "output": "180 of 200 connections in use",
            "links": {"self": "http://db.example.com/node/9e2b7c1a/health"},
        }],
        "uptime": [{
            "componentType": "system",
            "observedValue": 864000.5,
            "observedUnit": "s",
            "status": "pass",
            "time": "2026-11-27T09:15:02Z",
        }],
        "disk:utilization": [
            {"componentId": "a1", "node": 1, "componentType": "system", "observedValue": 40,
             "observedUnit": "percent", "status": "pass", "time": "2026-11-27T09:15:02Z"},
            {"componentId": "a1", "node": 2, "componentType": "system", "observedValue": 93,
             "observedUnit": "percent", "status": "warn", "time": "2026-11-27T09:15:02Z",
             "output": "93% used"},
        ],
    },
    "links": {
        "about": "http://api.example.com/about/billing",
        "http://api.example.com/rel/thresholds": "http://api.example.com/about/billing/thresholds",
    },
}

# What this project's responder writes (tests/unit/health_json_test.cpp).
RESPONDER_PASS = (b'{"status":"pass","checks":{"memory_backend:responseTime":[{"observedValue":0.012,'
                  b'"observedUnit":"ms","status":"pass","time":"2026-11-27T09:15:02.123Z"}]}}')
RESPONDER_DRAINED = b'{"status":"fail","output":"draining","checks":{}}'


def encode(document):
    return json.dumps(document).encode("utf-8")


def with_check(**fields):
    """A one-check document whose check has `fields`."""
    return {"status": "pass", "checks": {"db:responseTime": [dict(fields)]}}


class HealthJsonSchemaTest(unittest.TestCase):

    def assertFails(self, body, *fragments):
        """validate_health_json(body) raises AssertionError whose message
        contains each of `fragments`."""
        with self.assertRaises(AssertionError) as caught:
            validate_health_json(body)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))
        return str(caught.exception)

    # --- documents that conform ---

    def test_the_draft_example_shape_passes(self):
        self.assertEqual(validate_health_json(encode(FULL)), FULL)

    def test_status_alone_passes(self):
        self.assertEqual(validate_health_json(b'{"status":"pass"}'), {"status": "pass"})

    def test_the_responders_own_documents_pass(self):
        validate_health_json(RESPONDER_PASS)
        validate_health_json(RESPONDER_DRAINED)

    def test_every_status_draft_06_allows_passes_in_any_case(self):
        # 3.1: pass/fail/warn, aliases ok/up and error/down, case-insensitive.
        for status in ["pass", "fail", "warn", "ok", "up", "error", "down", "PASS", "Warn", "dOwN"]:
            with self.subTest(status=status):
                validate_health_json(encode({"status": status}))
                validate_health_json(encode(with_check(status=status)))

    def test_observed_value_may_be_any_json_value(self):
        for value in ["12 ms", 0, -1.5, {"p50": 1, "p99": 9}, [1, 2], True, False, None]:
            with self.subTest(value=value):
                validate_health_json(encode(with_check(observedValue=value, observedUnit="ms")))

    def test_additional_keys_are_allowed(self):
        validate_health_json(encode(with_check(node=3, region="eu-west")))   # 4.10
        validate_health_json(encode({"status": "pass", "x-build": {"sha": "4c1f9e0"}}))

    def test_rfc_3339_date_times_pass(self):
        for time in ["2026-11-27T09:15:02Z", "2026-11-27T09:15:02.123456Z", "2026-11-27t09:15:02z",
                     "2026-11-27T09:15:02+02:00", "2026-11-27T09:15:02.5-05:30",
                     "2016-12-31T23:59:60Z", "2024-02-29T00:00:00Z"]:
            with self.subTest(time=time):
                validate_health_json(encode(with_check(time=time)))
                self.assertTrue(re.search(RFC3339_PATTERN, time))

    def test_a_check_key_needs_no_colon_and_may_hold_a_uri(self):
        validate_health_json(encode({"status": "pass", "checks": {
            "uptime": [{"status": "pass"}], "db:http://example.com/rel/lag": [{"status": "pass"}],
            "cache:hits": []}}))

    # --- documents that must fail ---

    def test_missing_status_fails(self):
        self.assertFails(b'{"checks":{}}', "at $:", "'status' is a required property")
        self.assertFails(b'{}', "'status' is a required property")

    def test_status_green_fails(self):
        self.assertFails(b'{"status":"green"}', "at $.status:", "'green' does not match")
        self.assertFails(encode(with_check(status="green")),
                         'at $.checks["db:responseTime"][0].status:', "'green'")

    def test_status_of_another_type_or_with_extra_text_fails(self):
        for status in [True, 1, None, ["pass"], "", "passed", " pass", "pass\n", "pass fail"]:
            with self.subTest(status=status):
                self.assertFails(encode({"status": status}), "at $.status:")

    def test_checks_value_an_object_instead_of_an_array_fails(self):
        document = {"status": "pass",
                    "checks": {"db:responseTime": {"status": "pass", "observedValue": 1}}}
        self.assertFails(encode(document), 'at $.checks["db:responseTime"]:', "is not of type 'array'")

    def test_checks_not_an_object_and_array_elements_not_objects_fail(self):
        self.assertFails(encode({"status": "pass", "checks": [{"status": "pass"}]}),
                         "at $.checks:", "is not of type 'object'")
        self.assertFails(encode({"status": "pass", "checks": {"db:x": ["pass"]}}),
                         'at $.checks["db:x"][0]:', "is not of type 'object'")

    def test_observed_unit_a_number_fails(self):
        self.assertFails(encode(with_check(observedValue=250, observedUnit=1000)),
                         'at $.checks["db:responseTime"][0].observedUnit:', "1000 is not of type 'string'")

    def test_time_yesterday_fails(self):
        self.assertFails(encode(with_check(time="yesterday")),
                         'at $.checks["db:responseTime"][0].time:', "'yesterday'")

    def test_time_without_t_or_zone_fails(self):
        self.assertFails(encode(with_check(time="2026-11-27 10:00:00")),
                         'at $.checks["db:responseTime"][0].time:', "'2026-11-27 10:00:00'")

    def test_other_times_that_are_not_rfc_3339_fail(self):
        for time in ["2026-11-27T10:00:00",        # no zone
                     "2026-11-27 10:00:00Z",       # space for T
                     "2026-11-27T10:00Z",          # no seconds
                     "2026-11-27T24:00:00Z", "2026-13-01T10:00:00Z", "2026-11-32T10:00:00Z",
                     "2026-11-27T10:00:00+0200",   # offset without colon
                     "2026-11-27T10:00:00.Z",      # empty fraction
                     "2026-11-27T10:00:00Z\n",     # trailing newline (Python's $ would allow it)
                     "\u0662026-11-27T10:00:00Z",  # a non-ASCII digit (Python's \d would allow it)
                     "20261127T100000Z",           # ISO 8601 basic format, not RFC 3339
                     "2026-02-31T10:00:00Z",       # no such day: the format checker's part
                     1795770902, None]:
            with self.subTest(time=time):
                self.assertFails(encode(with_check(time=time)), 'at $.checks["db:responseTime"][0].time:')

    def test_the_other_member_types_are_enforced(self):
        cases = [({"status": "pass", "version": 1}, "at $.version:"),
                 ({"status": "pass", "releaseId": 1.2}, "at $.releaseId:"),
                 ({"status": "pass", "notes": "one note"}, "at $.notes:"),
                 ({"status": "pass", "notes": [1]}, "at $.notes[0]:"),
                 ({"status": "fail", "output": {"error": "x"}}, "at $.output:"),
                 ({"status": "pass", "serviceId": 7}, "at $.serviceId:"),
                 ({"status": "pass", "description": None}, "at $.description:"),
                 ({"status": "pass", "links": ["http://example.com/"]}, "at $.links:"),
                 ({"status": "pass", "links": {"self": "/health"}}, "at $.links.self:"),
                 ({"status": "pass", "links": {"about": "not a uri"}}, "at $.links.about:"),
                 (with_check(componentId=5), ".componentId:"),
                 (with_check(componentType=["datastore"]), ".componentType:"),
                 (with_check(affectedEndpoints="/users/{id}"), ".affectedEndpoints:"),
                 (with_check(affectedEndpoints=[1]), ".affectedEndpoints[0]:"),
                 (with_check(output=False), ".output:"),
                 (with_check(links={"self": 3}), ".links.self:")]
        for document, where in cases:
            with self.subTest(document=document):
                self.assertFails(encode(document), where)

    def test_the_root_must_be_an_object(self):
        for body in [b'[{"status":"pass"}]', b'"pass"', b'null', b'1']:
            with self.subTest(body=body):
                self.assertFails(body, "at $:", "is not of type 'object'")

    def test_text_that_is_not_strict_json_fails(self):
        for body, fragment in [(b'', "not JSON text"),
                               (b'{"status":"pass"', "not JSON text"),
                               (b'{"status":"pa\xffss"}', "not JSON text"),          # bad UTF-8
                               (b'\xef\xbb\xbf{"status":"pass"}', "not JSON text"),  # byte order mark
                               (b'{"status":"pass","checks":{"x":[{"observedValue":NaN}]}}', "NaN"),
                               (b'{"status":"pass","status":"fail"}', 'duplicate member name "status"')]:
            with self.subTest(body=body):
                self.assertFails(body, fragment)

    def test_a_str_is_refused(self):
        with self.assertRaises(TypeError):
            validate_health_json('{"status":"pass"}')

    # --- the schema itself ---

    def test_the_schema_is_draft_2020_12_and_names_the_draft_version(self):
        self.assertEqual(SCHEMA["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertIs(jsonschema.validators.validator_for(SCHEMA), jsonschema.Draft202012Validator)
        self.assertIsInstance(VALIDATOR, jsonschema.Draft202012Validator)
        self.assertIn("draft-inadarei-api-health-check-06", SCHEMA["description"])

    def test_the_schema_alone_rejects_the_required_failures(self):
        # Without any format checker (the 'format' keyword is then only an
        # annotation): the schema's own keywords, "pattern" for the times,
        # must catch each of them.
        bare = jsonschema.Draft202012Validator(SCHEMA)
        cases = [({"checks": {}}, "required"),
                 ({"status": "green"}, "pattern"),
                 ({"status": "pass", "checks": {"db:responseTime": {"status": "pass"}}}, "type"),
                 (with_check(observedUnit=1000), "type"),
                 (with_check(time="yesterday"), "pattern"),
                 (with_check(time="2026-11-27 10:00:00"), "pattern"),
                 (with_check(time="2026-11-27T10:00:00Z\n"), "pattern")]
        for document, keyword in cases:
            with self.subTest(document=document):
                self.assertEqual([error.validator for error in bare.iter_errors(document)], [keyword])
        self.assertEqual(list(bare.iter_errors(FULL)), [])

    def test_the_example_fails_once_any_rule_is_broken(self):
        # One broken rule inside the full example is enough to fail it.
        broken = copy.deepcopy(FULL)
        broken["checks"]["disk:utilization"][1]["time"] = "2026-11-27 09:15:02"
        self.assertFails(encode(broken), 'at $.checks["disk:utilization"][1].time:')


if __name__ == "__main__":
    unittest.main()
