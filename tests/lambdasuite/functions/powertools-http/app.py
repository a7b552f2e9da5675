from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="todos")
app = APIGatewayHttpResolver()

TODOS = {"1": {"id": "1", "title": "write the docs", "completed": False}}


@app.get("/todos/<todo_id>")
def get_todo(todo_id: str) -> dict:
    todo = TODOS.get(todo_id)
    if todo is None:
        raise NotFoundError(f"todo {todo_id} not found")
    return {**todo, "via": app.current_event.request_context.http.method}


@app.post("/todos/new")
def create_todo() -> Response:
    todo = app.current_event.json_body
    logger.info("creating a todo", extra={"title": todo.get("title")})
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={"id": "2", **todo},
        cookies=["session=abc; Secure"],
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
