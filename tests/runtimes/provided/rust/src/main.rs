// A Rust function on lambda_runtime, unmodified: the provided runtime's tests build it as the
// bootstrap and call it through wisp's contract. The event's "op" picks a behaviour.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let op = payload.get("op").and_then(Value::as_str).unwrap_or("");
    match op {
        "echo" => Ok(payload.get("data").cloned().unwrap_or(Value::Null)),
        "context" => Ok(json!({
            "requestId": context.request_id,
            "functionArn": context.invoked_function_arn,
            "deadlineMs": context.deadline,
            "functionName": context.env_config.function_name,
            "memory": context.env_config.memory,
            "traceId": context.xray_trace_id,
            "custom": context.client_context.map(|c| c.custom),
            "identityId": context.identity.map(|i| i.identity_id),
            "handler": std::env::var("_HANDLER").ok(),
            "pid": std::process::id(),
        })),
        "fail" => {
            let what = payload.get("value").and_then(Value::as_str).unwrap_or("it");
            Err(format!("{what} was not found").into())
        }
        "exit" => std::process::exit(payload.get("code").and_then(Value::as_i64).unwrap_or(1) as i32),
        _ => Ok(json!({ "pid": std::process::id() })),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
