package dev.wisp.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Map;

/**
 * The runtime's settings, read from the {@code WISP_*} environment (docs/runtime-contract.md).
 *
 * @param functionName the Function's name
 * @param functionVersion the published version the pod serves ({@code WISP_FUNCTION_VERSION},
 *     e.g. {@code 3}), else {@code $LATEST}
 * @param functionNamespace its namespace
 * @param handler {@code package.Class} or {@code package.Class::method}
 * @param codeDir where the function's jars and/or {@code classes/} folder live
 * @param depsDir extra dependency jars, when the folder exists
 * @param timeoutMillis the per-call timeout
 * @param memoryMb the memory limit reported to handlers
 * @param concurrency the most calls in flight at once
 * @param maxBodyBytes the largest request body accepted
 * @param stackTraces whether error bodies carry stack traces
 * @param host the address to listen on
 * @param port the port to listen on (0: any free port)
 * @param region the region Lambda code is told ({@code WISP_REGION}, else the Function's
 *     {@code AWS_REGION}, else {@code us-east-1})
 * @param accountId the account part of the function's ARN ({@code WISP_ACCOUNT_ID}, else the
 *     namespace)
 * @param logStreamName Lambda's log stream name: {@code YYYY/MM/DD/[<version>]<host name>}, dated
 *     when the runtime started (or {@code AWS_LAMBDA_LOG_STREAM_NAME}, as the image's entrypoint
 *     sets it)
 */
public record Config(
        String functionName,
        String functionVersion,
        String functionNamespace,
        String handler,
        Path codeDir,
        Path depsDir,
        long timeoutMillis,
        int memoryMb,
        int concurrency,
        long maxBodyBytes,
        boolean stackTraces,
        String host,
        int port,
        String region,
        String accountId,
        String logStreamName) {

    static final long DEFAULT_MAX_BODY_BYTES = 6L * 1024 * 1024;
    /** Lambda's name for the unpublished function, the version a Function's own pods serve. */
    static final String LATEST = "$LATEST";

    /** Reads the settings from {@code env}; a malformed number is an error naming the variable. */
    public static Config fromEnvironment(Map<String, String> env) {
        double timeoutSeconds = parseDouble(env, "WISP_TIMEOUT_SECONDS", 30.0);
        if (!(timeoutSeconds > 0)) {
            throw new IllegalArgumentException("WISP_TIMEOUT_SECONDS must be positive");
        }
        String version = firstSet(env, LATEST, "WISP_FUNCTION_VERSION");
        return new Config(
                env.getOrDefault("WISP_FUNCTION_NAME", "function"),
                version,
                env.getOrDefault("WISP_FUNCTION_NAMESPACE", "default"),
                env.getOrDefault("WISP_HANDLER", ""),
                Path.of(env.getOrDefault("WISP_CODE_DIR", "/var/wisp/code")),
                Path.of(env.getOrDefault("WISP_DEPS_DIR", "/tmp/wisp-deps")),
                Math.round(timeoutSeconds * 1000),
                (int) parseLong(env, "WISP_MEMORY_MB", 256, 1),
                (int) parseLong(env, "WISP_CONCURRENCY", 100, 1),
                parseLong(env, "WISP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 0),
                "true".equalsIgnoreCase(env.getOrDefault("WISP_STACK_TRACES", "false").trim()),
                env.getOrDefault("WISP_HOST", "0.0.0.0"),
                (int) parseLong(env, "WISP_PORT", 8080, 0),
                firstSet(env, "us-east-1", "WISP_REGION", "AWS_REGION"),
                firstSet(env, env.getOrDefault("WISP_FUNCTION_NAMESPACE", "default"), "WISP_ACCOUNT_ID"),
                logStreamName(env, version));
    }

    /**
     * The function's ARN, as Lambda's context gives it: qualified with the version's number in a
     * published version's pods ({@code ...:function:orders:3}).
     */
    String functionArn() {
        String qualified = LATEST.equals(functionVersion) ? functionName : functionName + ":" + functionVersion;
        return "arn:aws:lambda:" + region + ":" + accountId + ":function:" + qualified;
    }

    private static String firstSet(Map<String, String> env, String fallback, String... names) {
        for (String name : names) {
            String value = env.get(name);
            if (value != null && !value.isBlank()) {
                return value.trim();
            }
        }
        return fallback;
    }

    private static String logStreamName(Map<String, String> env, String version) {
        // The image's entrypoint names it for Lambda's environment variable: the same name here.
        String given = env.get("AWS_LAMBDA_LOG_STREAM_NAME");
        if (given != null && !given.isBlank()) {
            return given;
        }
        // The pod's name. Read from the kernel rather than resolved: no DNS lookup at start.
        String host = env.get("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            } catch (IOException | RuntimeException e) {
                host = "localhost";
            }
        }
        String day = LocalDate.now(ZoneOffset.UTC).toString().replace('-', '/');
        return day + "/[" + version + "]" + host;
    }

    private static long parseLong(Map<String, String> env, String name, long fallback, long min) {
        String raw = env.get(name);
        if (raw == null || raw.isBlank()) {
            return fallback;
        }
        try {
            long value = Long.parseLong(raw.trim());
            if (value < min) {
                throw new IllegalArgumentException(name + " must be at least " + min + ", got " + raw);
            }
            return value;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " is not an integer: " + raw, e);
        }
    }

    private static double parseDouble(Map<String, String> env, String name, double fallback) {
        String raw = env.get(name);
        if (raw == null || raw.isBlank()) {
            return fallback;
        }
        try {
            return Double.parseDouble(raw.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " is not a number: " + raw, e);
        }
    }
}
