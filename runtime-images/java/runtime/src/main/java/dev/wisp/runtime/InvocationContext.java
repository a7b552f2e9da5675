package dev.wisp.runtime;

import java.util.Map;

/** The {@link Context} of one call: its id, its deadline and the Function's identity. */
final class InvocationContext implements Context {

    private final String requestId;
    private final Config config;
    private final long deadlineMillis;
    private final FunctionLogger logger;

    /**
     * @param requestId the call's id
     * @param config the runtime's settings (function name, namespace, memory)
     * @param deadlineMillis the epoch milliseconds at which the call times out
     */
    InvocationContext(String requestId, Config config, long deadlineMillis) {
        this.requestId = requestId;
        this.config = config;
        this.deadlineMillis = deadlineMillis;
        this.logger = (level, message) ->
                JsonLog.write(level == null ? "INFO" : level, requestId, String.valueOf(message), Map.of());
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
    public String toString() {
        return "Context{requestId=" + requestId + ", function=" + config.functionName() + "}";
    }
}
