"""The declared Arrow schema of the lake: one constant, never inferred from data.

Field names are CloudTrail's own (camelCase) so that queries from the AWS documentation work as written. Fields
whose shape varies from event to event (``requestParameters`` and friends) are kept as JSON text, marked with
the field metadata ``trailduck.json``; the DuckDB views expose them as the JSON type. The complete record is
kept as delivered in ``event_json``, so a field we do not model, or a value that does not fit its typed column,
is never lost.
"""

from __future__ import annotations

import pyarrow as pa

JSON_META = {b"trailduck.json": b"true"}


def _s(name: str) -> pa.Field:
    return pa.field(name, pa.string())


def _json(name: str) -> pa.Field:
    return pa.field(name, pa.string(), metadata=JSON_META)


SESSION_ISSUER = pa.struct([_s("type"), _s("principalId"), _s("arn"), _s("accountId"), _s("userName")])
WEB_ID_FEDERATION = pa.struct([_s("federatedProvider"), _json("attributes")])
SESSION_ATTRIBUTES = pa.struct([_s("creationDate"), _s("mfaAuthenticated")])
SESSION_CONTEXT = pa.struct(
    [
        pa.field("sessionIssuer", SESSION_ISSUER),
        pa.field("webIdFederationData", WEB_ID_FEDERATION),
        pa.field("attributes", SESSION_ATTRIBUTES),
        _s("sourceIdentity"),
        _s("ec2RoleDelivery"),
        _s("assumedRoot"),
    ]
)
ON_BEHALF_OF = pa.struct([_s("userId"), _s("identityStoreArn")])
USER_IDENTITY = pa.struct(
    [
        _s("type"),
        _s("principalId"),
        _s("arn"),
        _s("accountId"),
        _s("accessKeyId"),
        _s("userName"),
        _s("invokedBy"),
        _s("identityProvider"),
        _s("credentialId"),
        pa.field("onBehalfOf", ON_BEHALF_OF),
        pa.field("sessionContext", SESSION_CONTEXT),
    ]
)
RESOURCE = pa.struct([_s("ARN"), _s("accountId"), _s("type")])
TLS_DETAILS = pa.struct([_s("tlsVersion"), _s("cipherSuite"), _s("clientProvidedHostHeader")])
ADDENDUM = pa.struct([_s("reason"), _s("updatedFields"), _s("originalRequestID"), _s("originalEventID")])

EVENT_TIME_TYPE = pa.timestamp("us", tz="UTC")

#: The record fields, in CloudTrail's documented order.
RECORD_FIELDS: list[pa.Field] = [
    _s("eventVersion"),
    pa.field("userIdentity", USER_IDENTITY),
    pa.field("eventTime", EVENT_TIME_TYPE),
    _s("eventSource"),
    _s("eventName"),
    _s("awsRegion"),
    _s("sourceIPAddress"),
    _s("userAgent"),
    _s("errorCode"),
    _s("errorMessage"),
    _json("requestParameters"),
    _json("responseElements"),
    _json("additionalEventData"),
    _s("requestID"),
    _s("eventID"),
    pa.field("readOnly", pa.bool_()),
    pa.field("resources", pa.list_(RESOURCE)),
    _s("eventType"),
    _s("apiVersion"),
    pa.field("managementEvent", pa.bool_()),
    _s("recipientAccountId"),
    _json("serviceEventDetails"),
    _s("sharedEventID"),
    _s("vpcEndpointId"),
    _s("vpcEndpointAccountId"),
    _s("eventCategory"),
    pa.field("addendum", ADDENDUM),
    _s("sessionCredentialFromConsole"),
    _json("edgeDeviceDetails"),
    pa.field("tlsDetails", TLS_DETAILS),
    _json("insightDetails"),
]

#: Lineage and the original record, after the typed fields.
EXTRA_FIELDS: list[pa.Field] = [
    _json("event_json"),
    _s("source_key"),
]

#: What one Parquet file holds. ``account``, ``region`` and ``date`` are Hive partition folders, not columns.
EVENT_SCHEMA = pa.schema(RECORD_FIELDS + EXTRA_FIELDS)

#: The record fields kept as raw JSON text (the shape varies from event to event).
JSON_TEXT_FIELDS = tuple(f.name for f in RECORD_FIELDS if f.metadata == JSON_META)
