package dev.wisp.runtime;

import java.util.Map;

/**
 * The {@link Context} of one call: its id, its deadline, the Function's identity and what the
 * caller sent of Lambda's client context and Cognito identity.
 */
final class InvocationContext implements Context {

    private final String requestId;
    private final Config config;
    private final long deadlineMillis;
    private final FunctionLogger logger;
    private final Map<String, Object> clientContext;
    private final Map<String, String> identity;

    /**
     * @param requestId the call's id
     * @param config the runtime's settings (function name, version, namespace, memory, region,
     *     account)
     * @param deadlineMillis the epoch milliseconds at which the call times out
     * @param clientContext the decoded {@code X-Wisp-Client-Context}, or null
     * @param identity the decoded {@code X-Wisp-Identity}, or null
     */
    InvocationContext(String requestId, Config config, long deadlineMillis,
                      Map<String, Object> clientContext, Map<String, String> identity) {
        this.requestId = requestId;
        this.config = config;
        this.deadlineMillis = deadlineMillis;
        this.clientContext = clientContext;
        this.identity = identity;
        this.logger = (level, message) ->
                JsonLog.write(level == null ? "INFO" : level, requestId, String.valueOf(message), Map.of());
    }

    InvocationContext(String requestId, Config config, long deadlineMillis) {
        this(requestId, config, deadlineMillis, null, null);
    }

    @Override
    public String getAwsRequestId() {
        return requestId;
    }

    @Override
    public String getFunctionName() {
        return config.functionName();
    }

    @Override
    public String getFunctionNamespace() {
        return config.functionNamespace();
    }

    @Override
    public int getMemoryLimitInMB() {
        return config.memoryMb();
    }

    @Override
    public long getRemainingTimeInMillis() {
        return Math.max(0, deadlineMillis - System.currentTimeMillis());
    }

    @Override
    public FunctionLogger getLogger() {
        return logger;
    }

    @Override
    public String getFunctionVersion() {
        return config.functionVersion();
    }

    @Override
    public String getInvokedFunctionArn() {
        return config.functionArn();
    }

    @Override
    public String getLogStreamName() {
        return config.logStreamName();
    }

    @Override
    public Map<String, Object> getClientContext() {
        return clientContext;
    }

    @Override
    public Map<String, String> getIdentity() {
        return identity;
    }

    @Override
    public String toString() {
        return "Context{requestId=" + requestId + ", function=" + config.functionName() + "}";
    }
}
