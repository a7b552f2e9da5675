package handlers;

import dev.wisp.runtime.Context;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The runtime contract table's handlers in Java: one static method per behaviour, named as in
 * handlers/python/handlers.py ({@code handlers.Handlers::echo} and so on).
 */
public final class Handlers {

    private static final String[] HTTP_FIELDS = {
        "httpMethod", "path", "headers", "queryStringParameters",
        "multiValueQueryStringParameters", "body", "isBase64Encoded", "requestContext",
    };

    private Handlers() {}

    /** Prints two lines of what it is told, then a last one (Lambda's log tail). */
    public static Map<String, Object> echo_log(Map<String, Object> event, Context context) {
        System.out.println("saying " + event.get("say"));
        System.out.println("saying " + event.get("say"));
        System.out.println("end of call");
        return Map.of("ok", true);
    }

    public static Object echo(Object event, Context context) {
        return event;
    }

    /** The same, without a Context parameter. */
    public static Object echo_object(Object event) {
        return event;
    }

    public static Object value(Map<String, Object> event, Context context) {
        return event.get("value");
    }

    public static Map<String, Object> http_echo(Map<String, Object> event, Context context) {
        Map<String, Object> echoed = new LinkedHashMap<>();
        for (String field : HTTP_FIELDS) {
            echoed.put(field, event.get(field));
        }
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("statusCode", 201);
        response.put("headers", Map.of("content-type", "application/json", "x-handler", "http_echo"));
        response.put("body", echoed);  // a non-string body is sent as JSON
        return response;
    }

    public static Map<String, Object> binary_echo(Map<String, Object> event, Context context) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("statusCode", 200);
        response.put("headers", Map.of("content-type", "application/octet-stream"));
        response.put("body", event.get("body"));
        response.put("isBase64Encoded", event.get("isBase64Encoded"));
        return response;
    }

    public static Map<String, Object> boom(Map<String, Object> event, Context context) {
        if (Boolean.TRUE.equals(event.get("fail"))) {
            Object why = event.getOrDefault("why", "no reason");
            throw new ValueError("boom: " + why);
        }
        return Map.of("ok", true);
    }

    /** Blocks its thread and ignores interruption: the runtime cannot stop it. */
    public static Map<String, Object> sleep(Map<String, Object> event, Context context) {
        long until = System.nanoTime() + nanos(event.getOrDefault("seconds", 5));
        boolean interrupted = false;
        for (long left = until - System.nanoTime(); left > 0; left = until - System.nanoTime()) {
            try {
                Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return Map.of("slept", true);
    }

    /** Waits the way well-behaved Java code does: interruptibly (the runtime's timeout stops it). */
    public static Map<String, Object> async_sleep(Map<String, Object> event, Context context)
            throws InterruptedException {
        long nanos = nanos(event.getOrDefault("seconds", 5));
        Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        return Map.of("slept", true);
    }

    public static Map<String, Object> context_fields(Map<String, Object> event, Context context) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("requestId", context.getRequestId());
        out.put("awsRequestId", context.getAwsRequestId());
        out.put("functionName", context.getFunctionName());
        out.put("functionNamespace", context.getFunctionNamespace());
        out.put("memoryLimitInMB", context.getMemoryLimitInMB());
        out.put("remainingMs", context.getRemainingTimeInMillis());
        return out;
    }

    public static Map<String, Object> logs(Map<String, Object> event, Context context) {
        Object marker = event.get("marker");
        System.out.println("printed " + marker);
        context.getLogger().info("logged " + marker);
        Logger.getLogger("some.library").warning("library " + marker);
        return Map.of("ok", true);
    }

    private static long nanos(Object seconds) {
        return (long) (((Number) seconds).doubleValue() * 1e9);
    }
}
