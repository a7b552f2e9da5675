package dev.wisp.runtime.aws;

import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.util.Map;

/**
 * AWS's {@link Context} for one call, copied from wisp's. The field names are those of AWS's own
 * implementation, so {@code new Gson().toJson(context)} prints what it prints on Lambda.
 */
public final class AwsContext implements Context {

    private final int memoryLimit;
    private final String awsRequestId;
    private final String logGroupName;
    private final String logStreamName;
    private final String functionName;
    private final String functionVersion;
    private final String invokedFunctionArn;
    private final long deadlineTimeInMs;
    private final AwsCognitoIdentity cognitoIdentity;
    private final AwsClientContext clientContext;
    private final AwsLogger logger;

    /** The AWS view of {@code wisp}, the context wisp made for this call. */
    public AwsContext(dev.wisp.runtime.Context wisp) {
        this.memoryLimit = wisp.getMemoryLimitInMB();
        this.awsRequestId = wisp.getAwsRequestId();
        this.logGroupName = wisp.getLogGroupName();
        this.logStreamName = wisp.getLogStreamName();
        this.functionName = wisp.getFunctionName();
        this.functionVersion = wisp.getFunctionVersion();
        this.invokedFunctionArn = wisp.getInvokedFunctionArn();
        this.deadlineTimeInMs = System.currentTimeMillis() + wisp.getRemainingTimeInMillis();
        Map<String, String> identity = wisp.getIdentity();
        this.cognitoIdentity = identity == null ? null : new AwsCognitoIdentity(identity);
        Map<String, Object> client = wisp.getClientContext();
        this.clientContext = client == null ? null : new AwsClientContext(client);
        this.logger = new AwsLogger(wisp.getLogger());
    }

    @Override
    public String getAwsRequestId() {
        return awsRequestId;
    }

    @Override
    public String getLogGroupName() {
        return logGroupName;
    }

    @Override
    public String getLogStreamName() {
        return logStreamName;
    }

    @Override
    public String getFunctionName() {
        return functionName;
    }

    @Override
    public String getFunctionVersion() {
        return functionVersion;
    }

    @Override
    public String getInvokedFunctionArn() {
        return invokedFunctionArn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        return cognitoIdentity;
    }

    @Override
    public ClientContext getClientContext() {
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, deadlineTimeInMs - System.currentTimeMillis()));
    }

    @Override
    public int getMemoryLimitInMB() {
        return memoryLimit;
    }

    @Override
    public LambdaLogger getLogger() {
        return logger;
    }

    @Override
    public String toString() {
        return "AwsContext{awsRequestId=" + awsRequestId + ", functionName=" + functionName + "}";
    }
}
