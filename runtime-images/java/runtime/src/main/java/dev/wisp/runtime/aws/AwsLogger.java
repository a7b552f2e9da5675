package dev.wisp.runtime.aws;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import dev.wisp.runtime.FunctionLogger;
import java.nio.charset.StandardCharsets;

/**
 * AWS's {@link LambdaLogger} over wisp's: every message is one JSON log line carrying the call's
 * request id. {@code log(message, LogLevel)} (aws-lambda-java-core 1.2.3 and later) keeps its
 * level; the method is only linked when called, so a function built against an older
 * aws-lambda-java-core, without {@code LogLevel}, loads this class all the same.
 */
public final class AwsLogger implements LambdaLogger {

    private final transient FunctionLogger sink;

    AwsLogger(FunctionLogger sink) {
        this.sink = sink;
    }

    @Override
    public void log(String message) {
        sink.log("INFO", line(message));
    }

    @Override
    public void log(byte[] message) {
        log(new String(message, StandardCharsets.UTF_8));
    }

    @Override
    public void log(String message, LogLevel level) {
        String wispLevel = switch (level == null ? "UNDEFINED" : level.name()) {
            case "TRACE", "DEBUG" -> "DEBUG";
            case "WARN" -> "WARNING";
            case "ERROR", "FATAL" -> "ERROR";
            default -> "INFO";
        };
        sink.log(wispLevel, line(message));
    }

    @Override
    public void log(byte[] message, LogLevel level) {
        log(new String(message, StandardCharsets.UTF_8), level);
    }

    /** Lambda code often ends its messages with a newline: the log line is the line. */
    private static String line(String message) {
        if (message == null) {
            return "null";
        }
        return message.endsWith("\n") ? message.substring(0, message.length() - 1) : message;
    }
}
