package dev.wisp.runtime;

/** What a handler knows about the invocation in progress (Lambda-shaped). */
public interface Context {

    /** The invocation id (the gateway's {@code X-Wisp-Request-Id}). */
    String getAwsRequestId();

    /** The same as {@link #getAwsRequestId()}, under wisp's own name. */
    default String getRequestId() {
        return getAwsRequestId();
    }

    /** The Function's name. */
    String getFunctionName();

    /** The Function's namespace. */
    String getFunctionNamespace();

    /** The Function's memory limit in MiB. */
    int getMemoryLimitInMB();

    /** Milliseconds left before the call times out (never negative). */
    long getRemainingTimeInMillis();

    /** A logger whose lines carry this invocation's request id. */
    FunctionLogger getLogger();
}
