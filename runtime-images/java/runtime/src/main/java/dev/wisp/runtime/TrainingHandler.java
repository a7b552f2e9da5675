package dev.wisp.runtime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The handler of the class-data-sharing training run: it exercises what real handlers make the
 * runtime load (maps, POJO mapping, shaped responses, exceptions, logging).
 */
public final class TrainingHandler implements RequestHandler<Map<String, Object>, Object> {

    /** A POJO the training run maps events to, so Gson's reflective adapters are archived. */
    public static final class Greeting {
        public String name;
        public int count;
        public List<String> tags;
    }

    /** Records take Gson's record path (canonical constructor), classes the field path. */
    public record Reply(String hello, int count) {}

    @Override
    public Object handleRequest(Map<String, Object> input, Context context) {
        context.getLogger().info("training call " + context.getAwsRequestId());
        System.out.println("remaining " + context.getRemainingTimeInMillis());
        if (input.containsKey("fail")) {
            throw new IllegalArgumentException("training failure");
        }
        if (input.containsKey("httpMethod")) {
            Map<String, Object> response = new LinkedHashMap<>();
            response.put("statusCode", 201);
            response.put("headers", Map.of("content-type", "text/plain"));
            response.put("body", "created " + input.get("path"));
            return response;
        }
        Greeting greeting = Json.GSON.fromJson(Json.toTree(input), Greeting.class);
        Reply reply = Json.GSON.fromJson(Json.toTree(Map.of("hello", "x", "count", 1)), Reply.class);
        return Map.of("hello", greeting.name == null ? "world" : greeting.name,
                "function", context.getFunctionName(), "memory", context.getMemoryLimitInMB(),
                "reply", reply);
    }
}
