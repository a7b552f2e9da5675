package function;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {{name}} function. The event arrives as a Map (a JSON object); the returned Map is sent
 * back as JSON. Return {"statusCode": ..., "headers": {...}, "body": "..."} to shape the HTTP
 * response yourself. A POJO or record works as the input or output type too.
 */
public class Handler implements RequestHandler<Map<String, Object>, Map<String, Object>> {

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Object name = event.getOrDefault("name", "world");
        context.getLogger().info("hello " + name);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("hello", name);
        result.put("requestId", context.getAwsRequestId());
        return result;
    }
}
