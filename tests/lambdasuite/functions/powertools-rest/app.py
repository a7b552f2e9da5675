import os

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayRestResolver(cors=CORSConfig(allow_origin="https://example.com", max_age=300))


@app.get("/hello/<name>")
def hello(name: str) -> dict:
    greeting = app.current_event.get_query_string_value(name="greeting", default_value="hello")
    return {
        "message": f"{greeting}, {name}",
        "stage": app.current_event.request_context.stage,
        "sourceIp": app.current_event.request_context.identity.source_ip,
        "region": os.environ["AWS_REGION"],
    }


def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
