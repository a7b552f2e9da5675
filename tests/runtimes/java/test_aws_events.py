"""aws-lambda-java-events classes bind as on Lambda (issue #19, Java).

The handlers (``aws/events/``) follow AWS's java-events sample (awsdocs/aws-lambda-developer-guide,
``sample-apps/java-events``), built against aws-lambda-java-core 1.2.3, aws-lambda-java-events
3.16.1 and Gson 2.10.1 from Maven Central. The events are AWS's documented sample events, with
AWS's JSON names (``Records``, ``eventSourceARN``, ``detail-type``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtimes.java.process import StartJava

pytestmark = pytest.mark.java

# From Lambda's "Using Lambda with Amazon SQS" example event.
SQS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": "Test message.",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185",
            },
            "messageAttributes": {
                "color": {
                    "stringValue": "red",
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "String",
                }
            },
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        }
    ]
}

# From EventBridge's "Scheduled Events" example.
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2015-10-08T16:53:06Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
    "detail": {"run": 7},
}

# An HTTP API (payload 2.0) event, shaped as Lambda's documentation shows it.
HTTP_API_EVENT: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "GET /orders/{id}",
    "rawPath": "/orders/42",
    "rawQueryString": "a=1",
    "cookies": ["c1=v1", "c2=v2"],
    "headers": {"host": "api.example.com"},
    "queryStringParameters": {"a": "1"},
    "pathParameters": {"id": "42"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "api.example.com",
        "http": {
            "method": "GET",
            "path": "/orders/42",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.9",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "GET /orders/{id}",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "isBase64Encoded": False,
}


# From Lambda's "Using Lambda with Amazon S3" example event.
S3_EVENT: dict[str, Any] = {
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": "EXAMPLE123456789",
                "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {
                    "name": "example-bucket",
                    "ownerIdentity": {"principalId": "EXAMPLE"},
                    "arn": "arn:aws:s3:::example-bucket",
                },
                "object": {
                    "key": "test%2Fkey",
                    "size": 1024,
                    "eTag": "0123456789abcdef0123456789abcdef",
                    "sequencer": "0A1B2C3D4E5F678901",
                },
            },
        }
    ]
}


# From Lambda's "Using Lambda with Amazon SNS" example event.
SNS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed",
            "EventSource": "aws:sns",
            "Sns": {
                "SignatureVersion": "1",
                "Timestamp": "2019-01-02T12:45:07.000Z",
                "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "Message": "Hello from SNS!",
                "MessageAttributes": {"Test": {"Type": "String", "Value": "TestString"}},
                "Type": "Notification",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
                "Subject": "TestInvoke",
            },
        }
    ]
}

# From Lambda's "Using Lambda with Kinesis" example event.
KINESIS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "1",
                "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                "approximateArrivalTimestamp": 1545084650.987,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
            "awsRegion": "us-east-2",
            "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
        }
    ]
}


# From Lambda's "Using Lambda with DynamoDB" example event.
DYNAMODB_STREAM = "arn:aws:dynamodb:us-west-2:123456789012:table/Example/stream/2015-06-27T00:48:05.899"
DYNAMODB_EVENT: dict[str, Any] = {
    "Records": [
        {
            "eventID": "1",
            "eventVersion": "1.0",
            "dynamodb": {
                "Keys": {"Id": {"N": "101"}},
                "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}, "Gone": {"NULL": True}},
                "ApproximateCreationDateTime": 1428537600,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "SequenceNumber": "111",
                "SizeBytes": 26,
            },
            "awsRegion": "us-west-2",
            "eventName": "INSERT",
            "eventSourceARN": DYNAMODB_STREAM,
            "eventSource": "aws:dynamodb",
        }
    ]
}


@pytest.fixture(scope="module")
def events_jar(aws_handlers: Callable[[str], Path]) -> Path:
    return aws_handlers("events")


def test_the_sqs_sample_reads_its_records(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerSQS", jar=events_jar)

    reply = runtime.invoke(SQS_EVENT, headers={"X-Wisp-Request-Id": "req-sqs-1"})

    assert reply.status == 200
    assert reply.json() is None  # Void
    lines = [r["message"] for r in runtime.records() if r.get("requestId") == "req-sqs-1"]
    assert (
        "059f36b4-87a3-44ab-83d2-661975830a7d arn:aws:sqs:us-east-2:123456789012:my-queue 1 red:"
        " Test message." in lines
    )


def test_an_events_class_is_written_with_aws_json_names(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerSQSEcho", jar=events_jar)

    reply = runtime.invoke(SQS_EVENT)

    assert reply.status == 200
    # AWS's names, and nulls left out (the empty lists and the absent fields).
    assert reply.json() == SQS_EVENT


def test_the_api_gateway_sample_gets_the_proxy_event_and_shapes_the_response(
    start_java: StartJava, events_jar: Path
) -> None:
    runtime = start_java("example.HandlerApiGateway", jar=events_jar)

    headers = {
        "X-Wisp-Event": "http",
        "X-Wisp-Request-Id": "req-api-1",
        "X-Wisp-Route": "/orders/{id}",
        "X-Wisp-Path-Params": "id=7",
        "X-Wisp-Source-Ip": "203.0.113.9",
        "Content-Type": "text/plain",
    }

    reply = runtime.request("POST", "/orders/7?q=tea", b"two cups", headers)

    assert reply.status == 201
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.body == b"POST /orders/7 q=tea requestId=req-api-1 ip=203.0.113.9 id=7 body=two cups"


def test_an_http_api_event_and_response_with_cookies(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerApiGatewayV2", jar=events_jar)

    reply = runtime.invoke(HTTP_API_EVENT)

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers.get_all("Set-Cookie") == ["session=abc; Path=/"]
    assert reply.body == b"GET /orders/42 route=GET /orders/{id} cookies=[c1=v1, c2=v2] base64=false"


def test_a_scheduled_event_binds_detail_type_and_its_joda_time(
    start_java: StartJava, events_jar: Path
) -> None:
    runtime = start_java("example.HandlerScheduled", jar=events_jar)

    reply = runtime.invoke(SCHEDULED_EVENT)

    assert reply.status == 200
    assert reply.json() == {
        "detailType": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
        "timeMillis": 1444323186000,
        "year": 2015,
        "detail": {"run": 7},
    }


def test_the_s3_sample_reads_its_record(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerS3", jar=events_jar)

    reply = runtime.invoke(S3_EVENT)

    assert reply.status == 200, reply.body
    assert reply.json() == "ObjectCreated:Put example-bucket/test/key 1024 1970 EXAMPLE123456789"


def test_the_sns_sample_reads_its_pascal_case_message(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerSNS", jar=events_jar)

    reply = runtime.invoke(SNS_EVENT)

    assert reply.status == 200, reply.body
    assert reply.json() == "Notification TestInvoke: Hello from SNS! at 1546433107000 TestString"


def test_the_kinesis_sample_decodes_its_data(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerKinesis", jar=events_jar)

    reply = runtime.invoke(KINESIS_EVENT)

    assert reply.status == 200, reply.body
    assert reply.json() == (
        "Hello, this is a test. @1545084650987 arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
    )


def test_the_dynamodb_sample_reads_its_typed_attributes(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerDynamoDB", jar=events_jar)

    reply = runtime.invoke(DYNAMODB_EVENT)

    assert reply.status == 200, reply.body
    assert reply.json() == f"INSERT 101 New item! null=true 1428537600000 {DYNAMODB_STREAM}"


def test_a_functions_own_subclass_of_an_events_class(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerOwnEvent", jar=events_jar)

    reply = runtime.invoke({**SQS_EVENT, "tenant": "acme"})

    assert reply.status == 200, reply.body
    assert reply.json() == "acme: Test message."


def test_an_event_that_does_not_fit_the_events_class_is_a_400(
    start_java: StartJava, events_jar: Path
) -> None:
    runtime = start_java("example.HandlerScheduled", jar=events_jar)

    reply = runtime.invoke({**SCHEDULED_EVENT, "time": "yesterday"})

    assert reply.status == 400
    assert reply.json()["errorType"] == "InvalidEvent"


def test_lambda_logger_levels_and_lambda_runtime_logger(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerLevels", jar=events_jar)

    reply = runtime.invoke({}, headers={"X-Wisp-Request-Id": "req-levels-1"})

    assert reply.json() == "logged"
    levels = {r["message"]: r["level"] for r in runtime.records() if r.get("requestId") == "req-levels-1"}
    assert levels["a warning"] == "WARNING"
    assert levels["an error"] == "ERROR"
    assert levels["some detail"] == "DEBUG"
    assert levels["from LambdaRuntime"] == "INFO"


def test_a_stream_handler_answering_api_gateway(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.HandlerStreamApi", jar=events_jar)

    reply = runtime.request("PUT", "/jobs/9", b"", {"X-Wisp-Event": "http", "X-Wisp-Request-Id": "req-s-1"})

    assert reply.status == 202
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.body == b"accepted PUT /jobs/9 for req-s-1"


def test_the_input_type_bound_by_a_generic_superclass(start_java: StartJava, events_jar: Path) -> None:
    runtime = start_java("example.OrderHandler", jar=events_jar)

    reply = runtime.invoke({"id": "o-1", "items": ["tea", "cake"]})

    assert reply.status == 200
    assert reply.json() == "o-1:2"
