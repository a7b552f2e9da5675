package dev.wisp.runtime;

import java.time.LocalDate;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Lambda's reserved environment variables (docs/lambda.md, "Environment variables") for a
 * function: what the image's {@code entrypoint.sh} sets before a function's own JVM starts, made
 * here for a pool pod's JVM, which started before it had a function ({@link Generic}).
 * {@code AWS_REGION}, {@code AWS_DEFAULT_REGION} and {@code TZ} keep a value the function's
 * environment gives; the others are always the runtime's.
 */
final class LambdaEnvironment {

    private LambdaEnvironment() {}

    /**
     * @param function the function's environment (its {@code WISP_*} settings, a published
     *     version's {@code WISP_FUNCTION_VERSION} among them, and its own env)
     * @param image the variables the image's JVM started with ({@code WISP_JAVA_FEATURE},
     *     {@code WISP_JAVA_DIR})
     * @param host the pod's name
     * @param today the day the log stream is named after (UTC)
     */
    static Map<String, String> of(Map<String, String> function, Map<String, String> image, String host,
                                  LocalDate today) {
        String name = function.getOrDefault("WISP_FUNCTION_NAME", "function");
        String version = firstSet(Config.LATEST, function.get("WISP_FUNCTION_VERSION"));
        String region = firstSet("us-east-1", function.get("WISP_REGION"), function.get("AWS_REGION"));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("AWS_REGION", firstSet(region, function.get("AWS_REGION")));
        env.put("AWS_DEFAULT_REGION", firstSet(region, function.get("AWS_DEFAULT_REGION")));
        env.put("TZ", firstSet(":UTC", function.get("TZ")));
        env.put("AWS_EXECUTION_ENV", "AWS_Lambda_java" + image.getOrDefault("WISP_JAVA_FEATURE", ""));
        env.put("AWS_LAMBDA_FUNCTION_NAME", name);
        env.put("AWS_LAMBDA_FUNCTION_VERSION", version);
        env.put("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", firstSet("256", function.get("WISP_MEMORY_MB")));
        env.put("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + name);
        env.put("AWS_LAMBDA_LOG_STREAM_NAME", today.toString().replace('-', '/') + "/[" + version + "]" + host);
        env.put("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
        env.put("_HANDLER", function.getOrDefault("WISP_HANDLER", ""));
        env.put("LAMBDA_TASK_ROOT", function.getOrDefault("WISP_CODE_DIR", "/var/wisp/code"));
        env.put("LAMBDA_RUNTIME_DIR", firstSet("/opt/wisp", image.get("WISP_JAVA_DIR")));
        return env;
    }

    private static String firstSet(String fallback, String... values) {
        for (String value : values) {
            if (value != null && !value.isEmpty()) {
                return value;
            }
        }
        return fallback;
    }
}
