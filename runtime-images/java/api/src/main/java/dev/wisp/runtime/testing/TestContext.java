package dev.wisp.runtime.testing;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.FunctionLogger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;

/**
 * A {@link Context} for unit tests of handlers: fixed values, a deadline, and a logger that
 * keeps what it was given ({@link #logged()}).
 *
 * <pre>{@code
 * TestContext context = new TestContext("hello").withRequestId("req-1");
 * Object out = new Hello().handleRequest(input, context);
 * assertEquals(List.of("INFO greeting ada"), context.logged());
 * }</pre>
 */
public final class TestContext implements Context {

    private final String functionName;
    private final String functionNamespace;
    private final String requestId;
    private final int memoryLimitInMB;
    private final long deadlineMillis;
    private final List<String> logged = Collections.synchronizedList(new ArrayList<>());

    /** A context for {@code functionName}: 256 MB, 30 s left, a random request id. */
    public TestContext(String functionName) {
        this(functionName, "default", UUID.randomUUID().toString(), 256,
                System.currentTimeMillis() + 30_000);
    }

    private TestContext(String functionName, String functionNamespace, String requestId,
                        int memoryLimitInMB, long deadlineMillis) {
        this.functionName = functionName;
        this.functionNamespace = functionNamespace;
        this.requestId = requestId;
        this.memoryLimitInMB = memoryLimitInMB;
        this.deadlineMillis = deadlineMillis;
    }

    public TestContext withRequestId(String id) {
        return new TestContext(functionName, functionNamespace, id, memoryLimitInMB, deadlineMillis);
    }

    public TestContext withNamespace(String namespace) {
        return new TestContext(functionName, namespace, requestId, memoryLimitInMB, deadlineMillis);
    }

    public TestContext withMemoryLimitInMB(int megabytes) {
        return new TestContext(functionName, functionNamespace, requestId, megabytes, deadlineMillis);
    }

    public TestContext withRemainingTimeInMillis(long millis) {
        return new TestContext(functionName, functionNamespace, requestId, memoryLimitInMB,
                System.currentTimeMillis() + millis);
    }

    /** What the handler logged, each entry "LEVEL message". */
    public List<String> logged() {
        return List.copyOf(logged);
    }

    @Override
    public String getAwsRequestId() {
        return requestId;
    }

    @Override
    public String getFunctionName() {
        return functionName;
    }

    @Override
    public String getFunctionNamespace() {
        return functionNamespace;
    }

    @Override
    public int getMemoryLimitInMB() {
        return memoryLimitInMB;
    }

    @Override
    public long getRemainingTimeInMillis() {
        return Math.max(0, deadlineMillis - System.currentTimeMillis());
    }

    @Override
    public FunctionLogger getLogger() {
        return (level, message) -> logged.add(level + " " + message);
    }
}
