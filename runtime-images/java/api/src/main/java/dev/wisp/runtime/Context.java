package dev.wisp.runtime;

import java.util.Map;

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

    /**
     * The function's version, as Lambda names it: {@code $LATEST}, or the number of the published
     * version whose pods run the call ({@code 3}).
     */
    default String getFunctionVersion() {
        return "$LATEST";
    }

    /**
     * The function's ARN, {@code arn:aws:lambda:<region>:<account>:function:<name>}, qualified
     * with the version in a published version's pods ({@code ...:function:<name>:3}).
     */
    default String getInvokedFunctionArn() {
        return "arn:aws:lambda:us-east-1:" + getFunctionNamespace() + ":function:" + getFunctionName();
    }

    /** Lambda's log group name, {@code /aws/lambda/<name>}. */
    default String getLogGroupName() {
        return "/aws/lambda/" + getFunctionName();
    }

    /**
     * Lambda's log stream name, {@code YYYY/MM/DD/[<version>]<pod name>}: {@code [$LATEST]}, or
     * {@code [3]} in version 3's pods.
     */
    default String getLogStreamName() {
        return null;
    }

    /**
     * The client context the caller sent (Lambda's {@code {"client", "custom", "env"}} JSON), or
     * null when the call carried none.
     */
    default Map<String, Object> getClientContext() {
        return null;
    }

    /**
     * The caller's Cognito identity ({@code cognitoIdentityId}, {@code cognitoIdentityPoolId}),
     * or null when the call carried none.
     */
    default Map<String, String> getIdentity() {
        return null;
    }
}
