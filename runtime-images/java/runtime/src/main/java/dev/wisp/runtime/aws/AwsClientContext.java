package dev.wisp.runtime.aws;

import com.amazonaws.services.lambda.runtime.ClientContext;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AWS's {@link ClientContext}, from the client context JSON the caller sent
 * ({@code {"client": {...}, "custom": {...}, "env": {...}}}, as Lambda's Invoke API takes it).
 */
public final class AwsClientContext implements ClientContext {

    private final AwsClient client;
    private final Map<String, String> custom;
    private final Map<String, String> env;

    AwsClientContext(Map<String, Object> json) {
        Object clientJson = json.get("client");
        this.client = clientJson instanceof Map<?, ?> map ? new AwsClient(map) : null;
        this.custom = strings(json.get("custom"));
        this.env = strings(json.get("env"));
    }

    @Override
    public AwsClient getClient() {
        return client;
    }

    @Override
    public Map<String, String> getCustom() {
        return custom;
    }

    @Override
    public Map<String, String> getEnvironment() {
        return env;
    }

    /** A JSON object's entries as strings (numbers and booleans as their JSON text). */
    static Map<String, String> strings(Object value) {
        if (!(value instanceof Map<?, ?> map)) {
            return null;
        }
        Map<String, String> out = new LinkedHashMap<>();
        map.forEach((k, v) -> out.put(String.valueOf(k), v == null ? null : text(v)));
        return out;
    }

    private static String text(Object value) {
        if (value instanceof Double d && d == Math.rint(d) && !Double.isInfinite(d)) {
            return Long.toString(d.longValue());
        }
        return String.valueOf(value);
    }
}
