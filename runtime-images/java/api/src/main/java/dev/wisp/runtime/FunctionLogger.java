package dev.wisp.runtime;

/**
 * Writes one JSON log line per message, tagged with the invocation's request id.
 *
 * <p>{@code System.out} and {@code System.err} are captured the same way; this interface adds
 * levels.
 */
public interface FunctionLogger {

    /** Logs {@code message} at {@code level} (DEBUG, INFO, WARNING or ERROR). */
    void log(String level, String message);

    /** Logs {@code message} at INFO, as Lambda's {@code LambdaLogger.log} does. */
    default void log(String message) {
        log("INFO", message);
    }

    default void debug(String message) {
        log("DEBUG", message);
    }

    default void info(String message) {
        log("INFO", message);
    }

    default void warn(String message) {
        log("WARNING", message);
    }

    default void error(String message) {
        log("ERROR", message);
    }
}
