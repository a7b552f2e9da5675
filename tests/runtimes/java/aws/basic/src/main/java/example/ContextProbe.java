package example;

import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

// Not from a sample: reports every getter of AWS's Context, ClientContext, Client and
// CognitoIdentity, and logs through LambdaLogger.log(byte[]).
// Handler value: example.ContextProbe
public class ContextProbe implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        context.getLogger().log("bytes line\n".getBytes(StandardCharsets.UTF_8));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("awsRequestId", context.getAwsRequestId());
        out.put("functionName", context.getFunctionName());
        out.put("functionVersion", context.getFunctionVersion());
        out.put("invokedFunctionArn", context.getInvokedFunctionArn());
        out.put("logGroupName", context.getLogGroupName());
        out.put("logStreamName", context.getLogStreamName());
        out.put("memoryLimitInMB", context.getMemoryLimitInMB());
        out.put("remainingTimeInMillis", context.getRemainingTimeInMillis());
        CognitoIdentity identity = context.getIdentity();
        if (identity != null) {
            out.put("identityId", identity.getIdentityId());
            out.put("identityPoolId", identity.getIdentityPoolId());
        }
        ClientContext client = context.getClientContext();
        if (client != null) {
            out.put("installationId", client.getClient().getInstallationId());
            out.put("appTitle", client.getClient().getAppTitle());
            out.put("appVersionName", client.getClient().getAppVersionName());
            out.put("appVersionCode", client.getClient().getAppVersionCode());
            out.put("appPackageName", client.getClient().getAppPackageName());
            out.put("custom", client.getCustom());
            out.put("environment", client.getEnvironment());
        }
        return out;
    }
}
